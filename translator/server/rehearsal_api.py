"""The console's Rehearse (operator token): a recording uploaded as WAV and played through the room
(`rehearsal.py`), its progress and checklist; and the rehearsals the service runs, one a room."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.exceptions import ClientException, ValidationException
from litestar.status_codes import HTTP_409_CONFLICT

from translator.audio.wav import read_wav
from translator.errors import SourceError
from translator.printable import printable
from translator.server.operator import require_operator
from translator.server.rehearsal import NO_REHEARSAL, Rehearsal, RehearsalStatus, static_lines
from translator.server.rooms import local_room
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

MAX_RECORDING_BYTES = 256 * 1024 * 1024
"""About 23 minutes of a 48 kHz stereo WAV: a rehearsal needs a few."""
STOP_S = 10.0
"""A rehearsal cancelled at shutdown stops its room within this."""


class Rehearsals:
    """The rehearsals started from the console, at most one a room, each a task owned here."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[Rehearsal, asyncio.Task[Any]]] = {}

    def status(self, room_id: str) -> RehearsalStatus:
        """The room's last rehearsal, or `NO_REHEARSAL`."""
        run = self._runs.get(room_id)
        return run[0].status() if run else NO_REHEARSAL

    def playing(self, room_id: str) -> bool:
        """Whether the room's rehearsal is still playing or finishing."""
        run = self._runs.get(room_id)
        return run is not None and not run[1].done()

    def start(self, rehearsal: Rehearsal, uploaded: Path) -> None:
        """Run ``rehearsal`` (its recording ``uploaded``, deleted once it has played)."""
        room_id = rehearsal.room.id

        async def run() -> None:
            try:
                static = await static_lines(rehearsal.settings, rehearsal.room.config, serving=True)
                checklist = await rehearsal.run(static, restart=True)
                fails = sum(line.verdict == "fail" for line in checklist.lines)
                log.info("room %s: rehearsal done: %d line(s) failed", room_id, fails)
            except Exception as exc:
                rehearsal.fail(str(exc) or type(exc).__name__)
                log.exception("room %s: the rehearsal failed", room_id)
            finally:
                await asyncio.to_thread(uploaded.unlink, missing_ok=True)

        self._runs[room_id] = (rehearsal, asyncio.create_task(run(), name=f"rehearsal-{room_id}"))

    async def close(self) -> None:
        """Stop every rehearsal still running (the service is shutting down)."""
        for _, task in self._runs.values():
            await cancel_and_wait(task, STOP_S)


def _save(body: bytes) -> Path:
    """The upload in a file of its own (a WAV is read from a file), checked as WAV; SourceError."""
    handle, name = tempfile.mkstemp(prefix="translator-rehearsal-", suffix=".wav")
    path = Path(name)
    with os.fdopen(handle, "wb") as file:
        file.write(body)
    try:
        read_wav(path)
    except SourceError:
        path.unlink(missing_ok=True)
        raise
    return path


@post(
    ["/api/rehearsal", "/api/rooms/{room:str}/rehearsal"],
    status_code=202,
    guards=[require_operator],
    request_max_body_size=MAX_RECORDING_BYTES,
)
async def start_rehearsal(
    state: State, request: Request[Any, Any, Any], room: str | None = None, hours: float = 2.0, name: str = ""
) -> RehearsalStatus:
    """Play the body (a WAV recording of a speaker) through the room in real time: the room's talk
    stops meanwhile, and its own input comes back after. ``hours``: the expected talk, for the disk
    and the quota; ``name``: the recording's file name, as shown. 409 while one plays."""
    found = local_room(state.rooms, room)
    # Read whole before any refusal: a client still sending when the answer comes sees a reset.
    body = await request.body()
    rehearsals: Rehearsals = state.rehearsals
    if rehearsals.playing(found.id):
        raise ClientException(
            f"a rehearsal is already playing in room {found.id}", status_code=HTTP_409_CONFLICT
        )
    if not 0 < hours <= 24 * 7:
        raise ValidationException(f"hours: between 0 and 168, not {hours}")
    if not body:
        raise ValidationException("no recording: send a WAV file as the body")
    shown = printable(os.path.basename(name))[:100] or "the uploaded recording"
    try:
        uploaded = await asyncio.to_thread(_save, body)
    except SourceError as exc:
        raise ValidationException(f"{shown}: {str(exc).partition(': ')[2] or exc}") from None
    outputs = state.rooms.outputs.get(found.id, [])
    rehearsal = Rehearsal(found, state.rooms.settings, outputs, uploaded, hours, shown)
    rehearsals.start(rehearsal, uploaded)
    log.info("room %s: rehearsal of %s started by the operator", found.id, shown)
    return rehearsal.status()


@get(["/api/rehearsal", "/api/rooms/{room:str}/rehearsal"], sync_to_thread=False, guards=[require_operator])
def rehearsal_status(state: State, room: str | None = None) -> RehearsalStatus:
    """The room's last rehearsal: how far it has played, then its checklist."""
    found = local_room(state.rooms, room)
    rehearsals: Rehearsals = state.rehearsals
    return rehearsals.status(found.id)


handlers = [start_rehearsal, rehearsal_status]
