"""What the request handlers share: the server's rooms by id, the settings and the operator's token.

Handlers only look rooms up here and call them. A room-less path (``/api/languages``,
``/ws/listen/es``) is the room of a server that has one; on a server of several, it is refused with
the list of rooms.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypeVar

from litestar.datastructures import Headers
from litestar.exceptions import ClientException, NotFoundException
from litestar.status_codes import HTTP_409_CONFLICT

from translator.config import Settings
from translator.errors import TranslatorError, UnknownRoomError
from translator.languages import FLOOR
from translator.outputs.playout import Output, Programme
from translator.printable import printable
from translator.server.operator import WrongGuesses, matches, presented
from translator.server.urls import is_loopback, operator_url, public_url
from translator.talk.remote import RemoteRoom
from translator.talk.room import Room, RoomBase
from translator.talk.state import LanguageName, RoomSummary, Urls

OutputT = TypeVar("OutputT")


@dataclass
class Rooms:
    """Held in ``app.state.rooms``; handlers read, never replace, its parts."""

    settings: Settings
    rooms: dict[str, Room | RemoteRoom]
    """In the config's order."""
    operator_token: str
    """Guards the operator surfaces; see `operator.py`."""
    started_at: float = field(default_factory=time.time)
    wrong_guesses: WrongGuesses = field(default_factory=WrongGuesses)
    """Wrong operator tokens per client address (`operator.require_operator`)."""
    wrong_keys: WrongGuesses = field(default_factory=lambda: WrongGuesses("publishing key"))
    """Wrong publishing keys per client address (`publish.py`)."""
    pcm_listeners: Counter[str] = field(default_factory=Counter)
    """Listeners of uncompressed audio per client address, over every room (`listen.py`)."""
    programmes: dict[str, Programme] = field(default_factory=dict)
    """Each room's channels played out on one clock, for its streams, HLS and recordings."""
    outputs: dict[str, list[Output]] = field(default_factory=dict)
    """Each room's outputs beyond its listeners (HLS, recordings), where its talk runs."""
    srt_ports: dict[str, int] = field(default_factory=dict)
    """The UDP port each room that takes publishers listens for SRT on (`srt.py`)."""

    def output(self, room_id: str, kind: type[OutputT]) -> OutputT:
        """The room's output of class ``kind``: one the table builds wherever the room is served
        (`outputs/table.py`: the HTTP streams, the caption events)."""
        return next(output for output in self.outputs[room_id] if isinstance(output, kind))

    def find(self, room_id: str | None) -> Room | RemoteRoom:
        """The room ``room_id`` names, or a one-room server's room for None; UnknownRoomError."""
        if room_id is None:
            if len(self.rooms) == 1:
                return next(iter(self.rooms.values()))
            raise UnknownRoomError("", list(self.rooms))
        room = self.rooms.get(room_id)
        if room is None:
            raise UnknownRoomError(printable(room_id), list(self.rooms))
        return room

    def carries_operator_token(self, scope: dict[str, Any]) -> bool:
        """Whether an ASGI request carries the operator token (it may use the operator's reserve)."""
        return matches(presented(Headers.from_scope(scope)), self.operator_token)  # type: ignore[arg-type]

    @property
    def base_url(self) -> str:
        """The server's address as the audience reaches it (printed, and in the QR codes)."""
        return public_url(self.settings)

    def audience_url(self, room: RoomBase) -> str:
        """A room's audience page: the server's own address when it has one room."""
        return self.base_url if len(self.rooms) == 1 else f"{self.base_url}r/{room.id}/"

    def urls(self, room: RoomBase) -> Urls:
        """What the operator hands out for ``room``, and whether phones can reach it."""
        audience = self.audience_url(room)
        stream = f"{self.base_url}stream/" if len(self.rooms) == 1 else f"{self.base_url}stream/{room.id}/"
        return Urls(
            audience,
            f"{audience}join",
            {t.code: f"{audience}overlay?lang={t.code}" for t in room.targets},
            not is_loopback(audience),
            {lang: f"{stream}{lang}.ogg" for lang in [FLOOR, *(t.code for t in room.targets)]},
            f"{audience}hls/master.m3u8" if self.settings.outputs.hls.enabled else "",
            f"{audience}watch" if self.settings.outputs.hls.enabled else "",
            self.speaker_url(room),
        )

    def speaker_url(self, room: RoomBase) -> str:
        """The speaker page of a room a publisher feeds, where the talks run (`urls.operator_url`);
        empty for any other room."""
        if not isinstance(room, Room) or room.published is None:
            return ""
        base = operator_url(self.settings)
        return f"{base}speak" if len(self.rooms) == 1 else f"{base}r/{room.id}/speak"

    def summary(self, room: RoomBase) -> RoomSummary:
        """One room for ``GET /api/rooms``."""
        return RoomSummary(
            room.id,
            room.name,
            room.state,
            room.detail,
            LanguageName.of(room.source),
            room.input_health,
            room.language_reports(),
            self.audience_url(room),
        )


def room_or_404(rooms: Rooms, room_id: str | None) -> Room | RemoteRoom:
    """The room, or 404 listing the rooms there are."""
    try:
        return rooms.find(room_id)
    except UnknownRoomError as exc:
        if room_id is None:
            raise NotFoundException(
                f"this server has several rooms; use /api/rooms/{{room}}/…: {', '.join(exc.available)}"
            ) from None
        raise NotFoundException(str(exc)) from None


def local_room(rooms: Rooms, room_id: str | None) -> Room:
    """The room, whose talk runs in this process (the operator surfaces run only there)."""
    room = room_or_404(rooms, room_id)
    assert isinstance(room, Room), "operator surfaces are served only where the talks run"
    return room


def conflict(exc: TranslatorError) -> ClientException:
    """409 for a control the room's state refuses (stopped, or its last language)."""
    return ClientException(str(exc), status_code=HTTP_409_CONFLICT)
