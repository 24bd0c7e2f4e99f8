"""A rehearsal: a recording played through a room as configured (its engines, outputs, glossary) in
real time, then a checklist of what to fix before the talk (`rehearsal_checks`).

The same run serves ``translator rehearse TALK.wav`` (a service of its own, the room opened with the
recording) and the console's Rehearse (the running room stopped, the recording played through it,
and its own input back afterwards). The checklist is kept beside the rehearsal's transcript, with
its recordings and report, as ``{talk}.rehearsal.json``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx
import msgspec

from translator.audio.format import FRAME_MS, SAMPLE_RATE
from translator.audio.inputs import uses_publisher
from translator.audio.wav import WavSource, read_wav
from translator.config import RoomConfig, Settings
from translator.messages import Caption
from translator.outputs.playout import Output
from translator.server import rehearsal_checks as checks
from translator.server.operator import token_file
from translator.server.urls import is_loopback, public_url
from translator.talk.lags import LagFigures
from translator.talk.room import Room
from translator.talk.state import FidelityCounts, OutputStatus, RoomSummary
from translator.transcripts.store import transcripts_directory

log = logging.getLogger(__name__)

QUIET_S = 4.0
"""After the recording ends, the rehearsal waits until no caption has come for this long…"""
MAX_WAIT_S = 30.0
"""…or this long at most."""
POLL_S = 0.25
RESOLVE_TIMEOUT_S = 3.0
REACH_TIMEOUT_S = 5.0
RECORDING_BYTES_PER_HOUR = 11_000_000
"""A channel's recording an hour at 24 kb/s, where the rehearsal wrote none to measure."""
STREAMED = ("stream", "sse")
"""Outputs that serve the clients who come (none come to a rehearsal): not checked."""
_SEVERITY = {"retrying": 1, "stopped": 2}


class RehearsalStatus(msgspec.Struct, frozen=True):
    """``GET …/rehearsal``: the room's last rehearsal, while it plays and once it has ended."""

    state: Literal["none", "playing", "finishing", "done", "failed"]
    recording: str = ""
    played_s: float = 0.0
    duration_s: float = 0.0
    detail: str = ""
    checklist: checks.Checklist | None = None


NO_REHEARSAL = RehearsalStatus("none")


async def static_lines(
    settings: Settings, room: RoomConfig, *, serving: bool = False
) -> list[checks.CheckLine]:
    """What needs no playing: the address phones are given, and the operator token. Call it with
    the settings as the talk will run (``translator rehearse`` serves its own run on loopback).
    ``serving``: this service is up at that address now (the console's rehearsal): it is asked
    there for the room, as a phone would."""
    url = public_url(settings)
    line = checks.address_check(url, is_loopback(url), uses_publisher(room.audio))
    host = urlsplit(url).hostname or ""
    if line.verdict == "pass" and not await _resolves(host):
        line = checks.CheckLine(
            line.check,
            "fail",
            f"the public address is {url}, but {host} does not resolve here",
            "fix the name in server.public_url, or its DNS record",
        )
    elif line.verdict == "pass" and serving and (problem := await _unreachable(url, room.id)):
        line = checks.CheckLine(
            line.check,
            "fail",
            f"the public address is {url}, but from this machine {problem}",
            "check the address and port in server.public_url, and that a firewall or proxy lets it through",
        )
    if settings.server.operator_token:
        token = checks.token_check("configured", "")
    else:
        path = token_file()
        token = checks.token_check("stored" if path.is_file() else "missing", str(path))
    return [line, token]


async def _unreachable(url: str, room_id: str) -> str:
    """Why the service is not found at ``url`` (its room list, as a phone's page asks for it);
    empty when it is."""
    try:
        async with httpx.AsyncClient(timeout=REACH_TIMEOUT_S) as client:
            answer = await client.get(f"{url}api/rooms")
    except httpx.HTTPError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return "its certificate is not one this machine trusts (phones will warn, or refuse)"
        return f"it cannot be reached ({type(exc).__name__})"
    if answer.status_code != 200:
        return f"it answers {answer.status_code}"
    try:
        rooms = msgspec.json.decode(answer.content, type=list[RoomSummary])
    except msgspec.DecodeError:
        return "something else answers there"
    if room_id not in {found.id for found in rooms}:
        return f"another service answers there (no room {room_id!r})"
    return ""


async def _resolves(host: str) -> bool:
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        return False
    return True


class Rehearsal:
    """One rehearsal of a room; `status` says how far it is (the console polls it)."""

    def __init__(
        self,
        room: Room,
        settings: Settings,
        outputs: list[Output],
        recording: Path,
        hours: float,
        name: str = "",
    ) -> None:
        self.room = room
        self.settings = settings
        self.outputs = outputs
        """The room's outputs (HLS, recordings, caption services, pushes)."""
        self.recording = recording
        self.name = name or recording.name
        """The recording as the operator named it (an upload is kept under another name)."""
        self.hours = hours
        """The expected duration of the talk, for the disk and the quota."""
        self._state: Literal["playing", "finishing", "done", "failed"] = "playing"
        self._detail = ""
        self._duration_s = 0.0
        self.checklist: checks.Checklist | None = None

    def status(self) -> RehearsalStatus:
        """Where it is: playing (how far), finishing (the last captions), done (the checklist), failed."""
        pipeline = self.room.pipeline
        if self._state == "playing" and pipeline is not None:
            played = min(self._duration_s, pipeline.input.frames * FRAME_MS / 1000)
        else:
            played = self._duration_s if self._state != "failed" else 0.0
        return RehearsalStatus(
            self._state, self.name, round(played, 1), round(self._duration_s, 1), self._detail, self.checklist
        )

    def fail(self, why: str) -> None:
        """It could not run (its status says why), unless it has ended already."""
        if self._state not in ("done", "failed"):
            self._state, self._detail = "failed", why

    async def run(self, static: list[checks.CheckLine], *, restart: bool) -> checks.Checklist:
        """Play the recording and make the checklist, ``static`` (`static_lines`) among its lines.
        ``restart``: stop the room, play the recording through it, and start the room's own input
        again if it was running (the console); else the room already plays it (``translator
        rehearse``). SourceError for a recording that cannot be read."""
        try:
            return await self._run(static, restart)
        except BaseException as exc:
            self._state, self._detail = "failed", str(exc) or type(exc).__name__
            raise

    async def _run(self, static: list[checks.CheckLine], restart: bool) -> checks.Checklist:
        room = self.room
        pcm = await asyncio.to_thread(read_wav, self.recording)
        self._duration_s = len(pcm) / 2 / SAMPLE_RATE
        levels = await asyncio.to_thread(checks.input_levels, pcm)
        was_running = room.state == "running"
        finals: dict[str, list[Caption]] = {target.code: [] for target in room.targets}
        came = asyncio.Event()

        def noting(kept: list[Caption]) -> Callable[[Caption], None]:
            def note(caption: Caption) -> None:
                kept.append(caption)
                came.set()

            return note

        unfollow = [room.hub.follow_finals(code, noting(kept)) for code, kept in finals.items()]
        started_at = int(time.time() * 1000)
        talk: str | None = None
        try:
            if restart:
                await room.stop("a rehearsal plays a recording through the room")
                await room.start(WavSource(self.recording))
            worst = await self._play(came)
            pipeline = room.pipeline
            assert pipeline is not None
            talk = pipeline.transcript.talk if pipeline.transcript is not None else None
            lines = [checks.input_check(levels), *static, *self._language_lines(finals)]
            lines += self._output_lines(worst) + self._disk_lines() + self._billing_lines()
        except asyncio.CancelledError:
            was_running = False  # the service is stopping: the room's own input is not opened again
            raise
        finally:
            for stop in unfollow:
                stop()
            await room.stop("the rehearsal has ended")
            if restart and was_running:
                try:
                    await room.start()
                except Exception as exc:
                    # The room shows it failed, and why; the rehearsal's checklist stands.
                    log.error("room %s: its input did not start again after the rehearsal: %s", room.id, exc)
        self.checklist = checks.Checklist(
            room.id, self.name, started_at, round(self._duration_s, 1), self.hours, lines, talk
        )
        if talk is not None:
            path = transcripts_directory(self.settings.transcripts) / f"{talk}.rehearsal.json"
            await asyncio.to_thread(
                path.write_bytes, msgspec.json.format(msgspec.json.encode(self.checklist))
            )
        self._state = "done"
        return self.checklist

    async def _play(self, came: asyncio.Event) -> dict[tuple[str, str], OutputStatus]:
        """Until the recording has played and its last captions have come (no caption for
        `QUIET_S`); returns the worst state each output was in meanwhile."""
        worst: dict[tuple[str, str], OutputStatus] = {}
        ended_at: float | None = None
        while True:
            self._note_outputs(worst)
            pipeline = self.room.pipeline
            if pipeline is None or self.room.state != "running":
                raise RuntimeError(f"the room stopped during the rehearsal: {self.room.detail}")
            if ended_at is None and pipeline.input.state == "failed":
                raise RuntimeError(f"the recording could not be played: {pipeline.input.detail}")
            if ended_at is None and pipeline.input.state == "ended":
                ended_at, self._state = time.monotonic(), "finishing"
            if ended_at is not None and time.monotonic() - ended_at > MAX_WAIT_S:
                return worst
            came.clear()
            try:
                await asyncio.wait_for(came.wait(), QUIET_S if ended_at is not None else POLL_S)
            except TimeoutError:
                if ended_at is not None:
                    return worst

    def _statuses(self) -> list[OutputStatus]:
        return [status for status in (o.status() for o in self.outputs) if status.name not in STREAMED]

    def _note_outputs(self, worst: dict[tuple[str, str], OutputStatus]) -> None:
        # The latest state, unless an earlier one was worse (a refusal, a failed write).
        for status in self._statuses():
            kept = worst.get((status.name, status.lang))
            if kept is None or _SEVERITY.get(status.state, 0) >= _SEVERITY.get(kept.state, 0):
                worst[(status.name, status.lang)] = status

    def _language_lines(self, finals: dict[str, list[Caption]]) -> list[checks.CheckLine]:
        pipeline = self.room.pipeline
        assert pipeline is not None
        glossary = self.room.glossary
        lines: list[checks.CheckLine] = []
        for code, captions in finals.items():
            state = pipeline.languages.get(code)
            if state is None:
                facts = checks.LanguageFacts(
                    code, self.room.engine_of(code), "absent", "no longer offered", len(captions), 0, 0, 0,
                    LagFigures(None, None, 0), FidelityCounts(), [],
                )  # fmt: skip
            else:
                shown, detail = state.shown
                facts = checks.LanguageFacts(
                    code, pipeline.engine.engine_of(code), shown, detail, len(captions), state.failures,
                    state.reconnects, state.stalls, state.lags.caption.summary(), state.fidelity,
                    [miss for caption in captions for miss in caption.misses],
                )  # fmt: skip
            lines += [
                checks.language_check(facts),
                checks.lag_check(facts),
                checks.fidelity_check(facts, len(glossary.terms) + len(glossary.keep)),
            ]
        return lines

    def _output_lines(self, worst: dict[tuple[str, str], OutputStatus]) -> list[checks.CheckLine]:
        return [
            checks.output_check(status, worst.get((status.name, status.lang), status))
            for status in self._statuses()
        ]

    def _disk_lines(self) -> list[checks.CheckLine]:
        lines = []
        played_h = max(self._duration_s, 1.0) / 3600
        channels = 1 + len(self.room.targets)
        for status in self._statuses():
            if status.name == "recording":
                # As the rehearsal wrote them (silence takes less than speech), else the bitrate's.
                hourly = status.written / played_h if status.written else RECORDING_BYTES_PER_HOUR * channels
                need = checks.DiskNeed(
                    "recordings", status.path, int(hourly * self.hours), _free(status.path)
                )
            elif status.name == "hls":
                # HLS keeps a window of segments: what is there now is what it needs, whatever the hours.
                need = checks.DiskNeed("HLS", status.path, _size(status.path), _free(status.path))
            else:
                continue
            lines.append(checks.disk_check(need, self.hours))
        return lines

    def _billing_lines(self) -> list[checks.CheckLine]:
        pipeline = self.room.pipeline
        assert pipeline is not None
        minutes = max(self._duration_s, 1.0) / 60
        by_engine: dict[str, list[str]] = {}
        for code in pipeline.languages:
            by_engine.setdefault(pipeline.engine.engine_of(code), []).append(code)
        lines = []
        if voicelive := by_engine.get("voicelive"):
            tokens = sum(
                state.billed.tokens
                for code in voicelive
                if (state := pipeline.languages[code]).billed is not None
            )
            quota = self.room.config.azure.tokens_per_minute
            lines.append(checks.quota_check(tokens / minutes, len(voicelive), quota))
        if translated := by_engine.get("realtime-translate"):
            lines.append(checks.minutes_check(len(translated), self.hours))
        if not lines:
            lines.append(checks.CheckLine("quota", "pass", "the offline engine: nothing billed, no quota"))
        return lines


def _free(path: str) -> int:
    """Free bytes on the disk that holds ``path`` (its nearest existing folder)."""
    where = Path(path)
    while not where.exists() and where != where.parent:
        where = where.parent
    return shutil.disk_usage(where).free


def _size(path: str) -> int:
    with suppress(OSError):
        return sum(file.stat().st_size for file in Path(path).rglob("*") if file.is_file())
    return 0
