"""``GET /sse/captions/{room}/{lang}`` (``/sse/captions/{lang}`` on a one-room server): a
language's captions as Server-Sent Events, for overlays and scripts that need no audio
(``EventSource`` in a page, ``curl -N`` in a terminal).

Each event is named for its message (``hello``, ``caption``, ``status``, ``error``) and carries the
same JSON as the WebSocket's text frames. Listeners here are not counted as the audience.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from litestar import Request, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.response import Stream

from translator.hub import AudioChunk, Outgoing
from translator.messages import ListenerMessage
from translator.printable import printable
from translator.server import slow_clients
from translator.server.origins import same_site
from translator.server.rooms import room_or_404
from translator.talk.room import RoomBase

KEEP_ALIVE_S = 15.0
"""A comment line this often while nothing is said: proxies close connections idle for longer."""
KEEP_ALIVE = b": keep-alive\n\n"


class SseFramer:
    """Server-Sent Events: one event per message, named for its type; no audio."""

    def text(self, message: ListenerMessage, json: str) -> Outgoing:
        kind = cast(str, type(message).__struct_config__.tag)
        event = f"event: {kind}\ndata: {json}\n\n".encode()
        return Outgoing(event, event)

    def audio(self, chunk: AudioChunk) -> Outgoing:
        # Listeners on this transport subscribe without audio: the hub never hands it any.
        raise TypeError("Server-Sent Events carry no audio")


SSE = SseFramer()


@get(
    ["/sse/captions/{lang:str}", "/sse/captions/{room:str}/{lang:str}"],
    sync_to_thread=False,
    guards=[same_site],
)
def captions(request: Request[Any, Any, Any], state: State, lang: str, room: str | None = None) -> Stream:
    """The hello, then every message of ``lang``'s channel, until the client leaves or is evicted."""
    found = room_or_404(state.rooms, room)
    if lang not in found.hub.channels:
        available = ", ".join(found.hub.channels)
        raise NotFoundException(f"unknown language {printable(lang)!r}; available: {available}")
    return Stream(
        _events(request.scope, found, lang),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(scope: Any, room: RoomBase, lang: str) -> AsyncIterator[bytes]:
    # Subscribed once the response is being sent: a client gone before then holds no listener.
    hub = room.hub
    if lang not in hub.channels:
        return
    listener = hub.subscribe(lang, SSE, audio=False, first=room.hello(lang, False, "pcm"), audience=False)
    try:
        async with slow_clients.watched(scope, f"captions {lang}"):
            while True:
                try:
                    out = await asyncio.wait_for(listener.next(), KEEP_ALIVE_S)
                except TimeoutError:
                    yield KEEP_ALIVE
                    continue
                if out is None:
                    return
                yield cast(bytes, out.payload)
    finally:
        hub.unsubscribe(listener)
