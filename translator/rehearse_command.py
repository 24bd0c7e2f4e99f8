"""``translator rehearse TALK.wav``: the room as configured, on a service of its own on loopback, fed
the recording in real time; the checklist printed line by line, and kept with the talks."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import TextIO

import msgspec

from translator.audio.wav import WavSource
from translator.config import Settings
from translator.errors import ConfigError, SourceError
from translator.server.app import running
from translator.server.rehearsal import Rehearsal, static_lines
from translator.server.rehearsal_checks import Checklist
from translator.talk.room import Room

PROGRESS_S = 5.0
MARKS = {"pass": "ok  ", "warn": "WARN", "fail": "FAIL"}


def rehearse(
    settings: Settings, recording: Path, room_id: str | None, hours: float, out: TextIO = sys.stdout
) -> Checklist:
    """Rehearse ``room_id`` (the first room by default) with ``recording``; print and return the checklist."""
    rooms = settings.room_configs()
    room = next((r for r in rooms if r.id == room_id), None) if room_id else rooms[0]
    if room is None:
        raise ConfigError("--room", f"no room {room_id!r}; rooms: {', '.join(r.id for r in rooms)}")
    if not recording.is_file():
        raise SourceError(f"{recording}: no such file")
    return asyncio.run(_rehearse(settings, room.id, recording, hours, out))


async def _rehearse(
    settings: Settings, room_id: str, recording: Path, hours: float, out: TextIO
) -> Checklist:
    # Found as the talk will run; then the rehearsal serves itself on loopback, alone: it must not
    # take the event's port, nor join its processes through the broker.
    static = await static_lines(settings, next(r for r in settings.room_configs() if r.id == room_id))
    run = msgspec.structs.replace(
        settings,
        rooms=[r for r in settings.rooms if r.id == room_id],
        server=msgspec.structs.replace(settings.server, host="127.0.0.1", port=0, workers=1),
        broker=msgspec.structs.replace(settings.broker, url=None, listener_only=False),
    )
    source = WavSource(recording)
    print(f"rehearse: {recording.name} through room {room_id}, in real time…", file=out, flush=True)
    async with running(run, {room_id: source}) as rooms:
        room = rooms.rooms[room_id]
        assert isinstance(room, Room)
        rehearsal = Rehearsal(room, run, rooms.outputs.get(room_id, []), recording, hours)
        task = asyncio.create_task(rehearsal.run(static, restart=False), name="rehearsal")
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=PROGRESS_S)
                status = rehearsal.status()
                if not task.done():
                    print(f"  {status.state}: {status.played_s:.0f} / {status.duration_s:.0f} s", file=out)
            checklist = task.result()
        finally:
            task.cancel()
    print(render(checklist), file=out, flush=True)
    return checklist


def render(checklist: Checklist) -> str:
    """The checklist as the terminal shows it: a line each, the fix under what is not a pass."""
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(checklist.started_at / 1000))
    lines = [
        f"rehearsal of room {checklist.room}, {started}, {checklist.recording} ({checklist.played_s:.0f} s):"
    ]
    for line in checklist.lines:
        lines.append(f"  {MARKS[line.verdict]}  {line.check}: {line.found}")
        if line.fix:
            lines.append(f"        fix: {line.fix}")
    fails = sum(line.verdict == "fail" for line in checklist.lines)
    warns = sum(line.verdict == "warn" for line in checklist.lines)
    lines.append(f"{fails} to fix, {warns} to look at" if fails or warns else "ready: nothing to fix")
    if checklist.talk:
        lines.append(
            f"kept with the talks as {checklist.talk} "
            f"(everything of it: translator export --talk {checklist.talk} --bundle)"
        )
    return "\n".join(lines)
