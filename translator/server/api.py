"""REST endpoints: rooms, languages, status, health. Each room's under ``/api/rooms/{room}/``; the
room-less paths serve a server's only room."""

from __future__ import annotations

import asyncio
import time

from litestar import Response, get
from litestar.datastructures import State

from translator.messages import PROTOCOL_VERSION
from translator.server.operator import require_operator
from translator.server.rooms import Rooms, local_room, room_or_404
from translator.talk.remote import RemoteRoom
from translator.talk.room import Room
from translator.talk.state import LanguageName, LanguagesBody, ReadyBody, RoomName, RoomSummary, StatusBody


@get("/api/rooms", sync_to_thread=False)
def rooms(state: State) -> list[RoomSummary]:
    """Every room with its languages, their state and listener counts."""
    directory: Rooms = state.rooms
    return [directory.summary(room) for room in directory.rooms.values()]


@get(["/api/languages", "/api/rooms/{room:str}/languages"], sync_to_thread=False)
def languages(state: State, room: str | None = None) -> LanguagesBody:
    """The room's source language and its targets, with their state and listener counts."""
    found = room_or_404(state.rooms, room)
    return LanguagesBody(
        PROTOCOL_VERSION,
        state.rooms.settings.server.event_name,
        RoomName(found.id, found.name),
        LanguageName.of(found.source),
        found.language_reports(),
        [LanguageName.of(language) for language in found.spoken],
        found.floor_report(),
        found.config.delay_s,
        found.config.questions,
        found.aloud_languages(),
        found.turn(),
    )


@get(["/api/status", "/api/rooms/{room:str}/status"], sync_to_thread=False, guards=[require_operator])
def status(state: State, room: str | None = None) -> StatusBody:
    """What an operator wants to see of a room: engine, input, languages, transcript, URLs."""
    directory: Rooms = state.rooms
    found = local_room(directory, room)
    return StatusBody(
        room=RoomName(found.id, found.name),
        state=found.state,
        detail=found.detail,
        engine=found.engine_name,
        uptime_s=round(time.time() - directory.started_at, 1),
        tasks=len(asyncio.all_tasks()),
        input=found.input_report(),
        languages=found.language_reports(operator=True),
        transcript=found.transcript_status(),
        addable=found.addable(),
        urls=directory.urls(found),
        outputs=[output.status() for output in directory.outputs.get(found.id, [])],
        turn=found.turn(),
    )


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@get(["/readyz", "/readyz/{room:str}"], sync_to_thread=False)
def readyz(state: State, room: str | None = None) -> Response[ReadyBody | dict[str, ReadyBody]]:
    """200 when every language's session is up and the input is live (in the room named, or in every
    room but those the operator stopped), 503 otherwise."""
    directory: Rooms = state.rooms
    if room is None and len(directory.rooms) > 1:
        bodies = {found.id: _ready(found) for found in directory.rooms.values()}
        ready = all(bodies[found.id].ready for found in directory.rooms.values() if found.state != "stopped")
        return Response(bodies, status_code=200 if ready else 503)
    body = _ready(room_or_404(directory, room))
    return Response(body, status_code=200 if body.ready else 503)


def _ready(room: Room | RemoteRoom) -> ReadyBody:
    known = {t.code: room.language_state(t.code) for t in room.targets}
    languages = {code: s.state if s else "connecting" for code, s in known.items()}
    lags = {code: s.lag_s for code, s in known.items() if s and s.lag_s is not None}
    if isinstance(room, Room):
        # A failing transcript is retried and does not stop the talk: shown, not counted against it.
        return ReadyBody(room.ready, room.input_health, languages, lags, room.transcript_status().state)
    return ReadyBody(room.ready, room.input_health, languages, lags)
