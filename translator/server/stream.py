"""``GET /stream/{lang}.ogg`` (``/stream/{room}/{lang}.ogg``; ``.mp3`` and ``.aac`` too): the route of
a room's HTTP streams (``outputs/http_stream.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.response import Stream

from translator.audio.containers import CONTAINERS
from translator.outputs.http_stream import HttpStreams
from translator.printable import printable
from translator.server import slow_clients
from translator.server.origins import same_site
from translator.server.rooms import Rooms, room_or_404


@get(["/stream/{lang:str}", "/stream/{room:str}/{lang:str}"], sync_to_thread=False, guards=[same_site])
def stream(request: Request[Any, Any, Any], state: State, lang: str, room: str | None = None) -> Stream:
    """``{lang}.ogg`` (Ogg/Opus), ``.mp3`` or ``.aac``: the language's interpretation as one endless
    stream."""
    rooms: Rooms = state.rooms
    found = room_or_404(rooms, room)
    code, _, kind = lang.rpartition(".")
    if kind not in CONTAINERS:
        kinds = ", ".join(f".{kind}" for kind in CONTAINERS)
        raise NotFoundException(f"{printable(lang)!r}: a stream is a language and one of {kinds} (es.ogg)")
    if code not in found.hub.channels:
        available = ", ".join(f"{c}.{kind}" for c in found.hub.channels)
        raise NotFoundException(f"unknown language {printable(code)!r}; available: {available}")
    return Stream(
        _pages(request.scope, rooms.output(found.id, HttpStreams), code, kind),
        media_type=CONTAINERS[kind].media_type,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _pages(scope: Any, streams: HttpStreams, lang: str, kind: str) -> AsyncIterator[bytes]:
    # Joined once the response is being sent: a client gone before then holds nothing.
    broadcast, client = streams.join(lang, kind)
    stalled = slow_clients.Dropped()
    try:
        async with slow_clients.watched(scope, f"stream {lang}.{kind}", stalled):
            while (data := await client.get()) is not None:
                yield data
                broadcast.sent(client, data)
    finally:
        streams.leave(broadcast, client, slow=stalled.dropped)
