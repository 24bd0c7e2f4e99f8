"""``translator check --probe`` on gpt-realtime-translate: the experiments that settle what the
public docs and live logs leave open (../shared/docs/voicelive.md), on the user's own resource,
each answered in a line; the whole exchange saved as JSON Lines, each event with its wall time, the
audio appended by then, its ``elapsed_ms``, type and size (no audio, no secret), which the test
service replays (`FakeTranslate(replay=...)`).

Each experiment has a connection of its own, through the real SDK, and its own bound:

- the handshake: is the translations path served here, and when does a session expire?
- an interpretation of the check utterance: does the transcription deployment exist, what does
  the output look like (delta lengths, heartbeats, a translated transcript or none), what does
  ``elapsed_ms`` count, and how much comes after ``session.close``?
- a session sent no audio: does the service close it, and after how long?
- an update that asks for a language the model does not speak: the error's code, and whether the
  session still answers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openai.resources.realtime.translations.translations import AsyncTranslationsConnection
from websockets.exceptions import ConnectionClosed

from translator.config import Settings
from translator.engines.credentials import SharedCredential
from translator.engines.translate.connection import client_for, session_update
from translator.engines.translate.engine import TOKEN_SCOPE
from translator.engines.translate.faults import describe
from translator.probe import Recording

EXPERIMENT_TIMEOUT_S = 30.0
IDLE_WAIT_S = 60.0
"""How long a session sent no audio is watched for a close."""
FRAME_BYTES = 24 * 200 * 2
"""One append: 200 ms of 24 kHz PCM16, the service's frame."""
TRAILING_SILENCE_S = 4.0
"""Silence after the utterance, for the interpretation to come out."""
DRAIN_WAIT_S = 20.0
CLOSED = "connection.closed"
"""Recorded when the service closes the connection (the test service's replay closes it too)."""
Answers = list[tuple[str, str]]


class Closed(Exception):
    """The service closed the connection."""


@dataclass
class _Session:
    """One experiment's connection: every event sent and received goes to the recording, with the
    audio appended by then."""

    conn: AsyncTranslationsConnection
    recording: Recording
    appended_ms: int = 0
    received: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    """Every event received, with the audio appended when it came."""

    async def send(self, event: dict[str, Any]) -> None:
        if event["type"] == "session.input_audio_buffer.append":
            self.appended_ms += len(base64.b64decode(event["audio"])) // 48
        self.recording.write("sent", event, appended_ms=self.appended_ms)
        await self.conn.send(event)  # type: ignore[arg-type]

    async def recv(self) -> dict[str, Any]:
        try:
            event = json.loads(await self.conn.recv_bytes())
        except ConnectionClosed as exc:
            code, reason = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (1006, "")
            closed = {"type": CLOSED, "code": code, "reason": reason}
            self.recording.write("received", closed, appended_ms=self.appended_ms)
            raise Closed(f"{code} {reason}".strip()) from exc
        facts: dict[str, object] = {"appended_ms": self.appended_ms}
        if "elapsed_ms" in event:
            facts["elapsed_ms"] = event["elapsed_ms"]
        if event.get("type") == "session.output_audio.delta":
            facts["bytes"] = len(base64.b64decode(event.get("delta") or ""))
        self.recording.write("received", event, **facts)
        self.received.append((self.appended_ms, event))
        return event

    async def until(self, *kinds: str) -> dict[str, Any]:
        """The next event of one of ``kinds`` (or an error)."""
        while (event := await self.recv())["type"] not in (*kinds, "error"):
            pass
        return event

    async def configure(self, settings: Settings, target: str) -> str:
        """Send the engine's own configuration; the refusal's words, or "" once it is confirmed."""
        await self.until("session.created")
        session = session_update(target, settings.translate)
        await self.send({"type": "session.update", "session": session})
        answer = await self.until("session.updated")
        return answer["error"].get("message", "") if answer["type"] == "error" else ""

    async def speak(self, pcm: bytes, seconds_after: float) -> None:
        """``pcm`` and then silence, at real-time pace in 200 ms appends."""
        padded = pcm + bytes(int(24_000 * seconds_after) * 2)
        for start in range(0, len(padded), FRAME_BYTES):
            chunk = padded[start : start + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
            await self.send(
                {"type": "session.input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
            )
            await asyncio.sleep(0.2)


async def probe_translate(
    settings: Settings, pcm: bytes, out: Path, progress: Callable[[str], None] = print
) -> None:
    """Run every experiment against the configured resource and deployment; print each answer."""
    config = settings.translate
    target = settings.targets[0]
    progress(f"probing gpt-realtime-translate (deployment {config.deployment!r}), into {target} …")
    credential, token = _credential(settings)
    client = client_for(config, token)
    experiments: list[tuple[str, Callable[[_Session, Settings, str, bytes], Awaitable[Answers]]]] = [
        ("handshake", _handshake),
        ("interpretation", _interpretation),
        ("idle session", _idle),
        ("a language it does not speak", _refused_language),
    ]
    with out.open("w", encoding="utf-8") as file:
        recording = Recording(file)
        for name, experiment in experiments:
            bound = IDLE_WAIT_S + 10 if experiment is _idle else EXPERIMENT_TIMEOUT_S
            try:
                async with (
                    asyncio.timeout(bound),
                    client.realtime.translations.connect(model=config.deployment) as conn,
                ):
                    answers = await experiment(_Session(conn, recording), settings, target, pcm)
            except TimeoutError:
                answers = [(name, f"no answer within {bound:.0f} s")]
            except Exception as exc:  # every experiment answers, whatever the service did
                answers = [(name, f"could not run: {describe(exc, config).message}")]
            for question, answer in answers:
                progress(f"  {question}: {answer}")
            recording.connection += 1
    await client.close()
    if credential is not None:
        await credential.close()
    progress(f"the whole exchange is in {out} (audio and secrets left out)")


def _credential(settings: Settings) -> tuple[Any, Callable[[], Awaitable[str]] | None]:
    if settings.translate.api_key:
        return None, None
    from azure.identity.aio import DefaultAzureCredential

    credential = SharedCredential(DefaultAzureCredential())

    async def token() -> str:
        return (await credential.get_token(TOKEN_SCOPE)).token

    return credential, token


async def _handshake(session: _Session, settings: Settings, *_: object) -> Answers:
    created = await session.until("session.created")
    if created["type"] == "error":
        return [("handshake", f"refused: {created['error'].get('message')}")]
    expires = (created.get("session") or {}).get("expires_at")
    where = f"served at {settings.translate.api_base()}/realtime/translations"
    if not expires:
        return [("handshake", f"{where}; no expires_at announced")]
    return [
        (
            "handshake",
            f"{where}; a session expires {(float(expires) - time.time()) / 60:.0f} min after it opens",
        )
    ]


async def _interpretation(session: _Session, settings: Settings, target: str, pcm: bytes) -> Answers:
    if refused := await session.configure(settings, target):
        return [("interpretation", f"could not run: the configuration was refused ({refused})")]
    reader = asyncio.create_task(_read_all(session), name="probe-translate-read")
    try:
        await session.speak(pcm, TRAILING_SILENCE_S)
        closed_at = len(session.received)
        await session.send({"type": "session.close"})
        await asyncio.wait({reader}, timeout=DRAIN_WAIT_S)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    events = [event for _, event in session.received]
    return [
        ("transcription model", _transcription(events, settings.translate.transcription_model)),
        ("output", _output(events)),
        ("elapsed_ms", _elapsed(session.received)),
        ("drain after session.close", _drain(events, closed_at)),
    ]


async def _read_all(session: _Session) -> None:
    """Every event until ``session.closed`` (or the service closes the connection)."""
    try:
        while (await session.recv())["type"] != "session.closed":
            pass
    except Closed:
        return


def _transcription(events: list[dict[str, Any]], model: str) -> str:
    if not model:
        return "not asked for (translate.transcription_model is empty)"
    errors = [e["error"] for e in events if e["type"] == "error"]
    if any(error.get("code") == "DeploymentNotFound" for error in errors):
        return f"{model!r} is not deployed on this resource: DeploymentNotFound, no source captions"
    deltas = [e for e in events if e["type"] == "session.input_transcript.delta"]
    if deltas:
        return f"{model!r} transcribes the speaker ({len(deltas)} deltas)"
    other = f" (errors: {', '.join(str(e.get('code')) for e in errors)})" if errors else ""
    return f"no source transcript came from {model!r}{other}"


def _output(events: list[dict[str, Any]]) -> str:
    audio = [
        base64.b64decode(e.get("delta") or "") for e in events if e["type"] == "session.output_audio.delta"
    ]
    if not audio:
        return "no translated audio came"
    lengths = [len(pcm) // 48 for pcm in audio]
    zeros = sum(not any(pcm) for pcm in audio)
    texts = sum(e["type"] == "session.output_transcript.delta" for e in events)
    transcript = f"{texts} translated transcript deltas" if texts else "NO translated transcript"
    return (
        f"{len(audio)} audio deltas of {statistics.median(lengths):.0f} ms (median), "
        f"{zeros} of them all-zero heartbeats; {transcript}"
    )


def _elapsed(received: list[tuple[int, dict[str, Any]]]) -> str:
    """What ``elapsed_ms`` counts, told from its readings against the audio appended by then."""
    readings = [(appended, int(e["elapsed_ms"])) for appended, e in received if "elapsed_ms" in e]
    if not readings:
        return "not sent"
    ahead = max(elapsed - appended for appended, elapsed in readings)
    behind = max(appended - elapsed for appended, elapsed in readings)
    steps = [b - a for (_, a), (_, b) in zip(readings, readings[1:], strict=False)]
    back = sum(step < 0 for step in steps)
    jumps = [step for step in steps if step >= 1000]
    said = [f"{len(readings)} readings from {readings[0][1]} ms"]
    if back:
        said.append(f"went back {back} times")
    if jumps:
        said.append(f"jumped ahead {len(jumps)} times (up to {max(jumps) / 1000:.1f} s)")
    if ahead > 200:
        said.append(f"up to {ahead / 1000:.1f} s AHEAD of the audio sent: not this connection's input clock")
    else:
        said.append(f"never ahead of the audio sent, at most {behind / 1000:.1f} s behind it")
    return "; ".join(said)


def _drain(events: list[dict[str, Any]], closed_at: int) -> str:
    audio = [i for i, e in enumerate(events) if e["type"] == "session.output_audio.delta"]
    after = sum(i >= closed_at for i in audio)
    share = f"{after} of {len(audio)} audio deltas came after session.close" if audio else "no audio came"
    ended = any(e["type"] == "session.closed" for e in events[closed_at:])
    return f"{share}; {'then session.closed' if ended else f'no session.closed within {DRAIN_WAIT_S:.0f} s'}"


async def _idle(session: _Session, settings: Settings, target: str, _: bytes) -> Answers:
    if refused := await session.configure(settings, target):
        return [("idle session", f"could not run: the configuration was refused ({refused})")]
    began = time.monotonic()
    try:
        async with asyncio.timeout(IDLE_WAIT_S):
            while True:
                await session.recv()
    except TimeoutError:
        return [("idle session", f"still open after {IDLE_WAIT_S:.0f} s without audio")]
    except Closed as exc:
        return [
            (
                "idle session",
                f"closed by the service after {time.monotonic() - began:.0f} s without audio ({exc})",
            )
        ]


async def _refused_language(session: _Session, settings: Settings, target: str, _: bytes) -> Answers:
    await session.until("session.created")
    await session.send({"type": "session.update", "session": {"audio": {"output": {"language": "xx"}}}})
    answer = await session.until("session.updated")
    if answer["type"] != "error":
        return [("a language it does not speak", "accepted (no error for output language 'xx')")]
    error = answer["error"]
    said = f"{error.get('type')} / {error.get('code')}: {error.get('message')}"
    await session.send({"type": "session.update", "session": session_update(target, settings.translate)})
    again = await session.until("session.updated")
    after = "the session still answers" if again["type"] != "error" else "the session refuses what follows"
    return [("a language it does not speak", f"{said}; {after}")]
