"""``GET /sse/captions/{room}/{lang}`` (``/sse/captions/{lang}`` on a one-room server): the route of a
room's caption events (``outputs/caption_events.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from litestar import Request, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.response import Stream

from translator.outputs.caption_events import CaptionEvents
from translator.printable import printable
from translator.server import slow_clients
from translator.server.origins import same_site
from translator.server.rooms import Rooms, room_or_404

KEEP_ALIVE_S = 15.0
"""A comment line this often while nothing is said: proxies close connections idle for longer."""
KEEP_ALIVE = b": keep-alive\n\n"


@get(
    ["/sse/captions/{lang:str}", "/sse/captions/{room:str}/{lang:str}"],
    sync_to_thread=False,
    guards=[same_site],
)
def captions(request: Request[Any, Any, Any], state: State, lang: str, room: str | None = None) -> Stream:
    """The hello, then every message of ``lang``'s channel, until the client leaves or is let go."""
    rooms: Rooms = state.rooms
    found = room_or_404(rooms, room)
    if lang not in found.hub.channels:
        available = ", ".join(found.hub.channels)
        raise NotFoundException(f"unknown language {printable(lang)!r}; available: {available}")
    return Stream(
        _events(request.scope, rooms.output(found.id, CaptionEvents), lang),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(scope: Any, events: CaptionEvents, lang: str) -> AsyncIterator[bytes]:
    # Subscribed once the response is being sent: a client gone before then holds no listener.
    if lang not in events.room.hub.channels:
        return
    reader = events.join(lang)
    stalled = slow_clients.Dropped()
    try:
        async with slow_clients.watched(scope, f"captions {lang}", stalled):
            while True:
                try:
                    out = await asyncio.wait_for(reader.next(), KEEP_ALIVE_S)
                except TimeoutError:
                    yield KEEP_ALIVE
                    continue
                if out is None:
                    return
                yield cast(bytes, out.payload)
    finally:
        events.leave(reader, slow=stalled.dropped)
