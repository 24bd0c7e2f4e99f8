"""``GET /stream/{lang}.ogg`` (``/stream/{room}/{lang}.ogg``; ``.mp3`` and ``.aac`` too): one language
as a continuous audio stream over plain HTTP, for an ``<audio>`` element that keeps playing with the
screen off, and for VLC, ffmpeg, OBS's media source or a smart speaker.

Each language has one `Broadcast` per container while anyone listens: it takes the room's programme
(``outputs/playout.py``: the channel played out in real time, silence between utterances, whole
utterances skipped when it runs more than 2 s behind) and encodes it once for all its HTTP clients,
in a thread of its own: an MP3 or AAC encoder on the event loop made every caption late.
A client that takes the stream slower than it plays is dropped; nobody else notices. HTTP clients
count in the channel's audience.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.response import Stream

from translator.audio.containers import CONTAINERS, StreamEncoder
from translator.outputs.playout import Programme
from translator.outputs.thread import OutputThread
from translator.printable import printable
from translator.server import slow_clients
from translator.server.origins import same_site
from translator.server.rooms import Rooms, room_or_404

log = logging.getLogger(__name__)

MAX_CLIENT_BACKLOG = 64 * 1024
"""Bytes a client may leave unsent (~20 s of Opus) before it is dropped."""


class Broadcast:
    """One language's stream: the programme's channel, encoded once, to every client."""

    def __init__(self, programme: Programme, lang: str, kind: str) -> None:
        self.programme = programme
        self.lang = lang
        self.clients: set[asyncio.Queue[bytes | None]] = set()
        self._backlog: dict[asyncio.Queue[bytes | None], int] = {}
        self._encoder = StreamEncoder(CONTAINERS[kind])
        self._loop = asyncio.get_running_loop()
        self._thread = OutputThread(f"stream-{programme.room.id}-{lang}.{kind}")

    @property
    def header(self) -> bytes:
        return self._encoder.header

    def start(self) -> None:
        """Start taking the programme's channel."""
        self.programme.add_sink(self)

    def stop(self) -> None:
        """Stop; every client's stream ends."""
        self.programme.remove_sink(self)
        for client in list(self.clients):
            self.leave(client)
        self._thread.submit(self._encoder.close)
        self._thread.close()

    def join(self) -> asyncio.Queue[bytes | None]:
        """A new client: the stream's header first, then every page from now on."""
        client: asyncio.Queue[bytes | None] = asyncio.Queue()
        client.put_nowait(self.header)
        self.clients.add(client)
        self._backlog[client] = 0
        self._count(+1)
        return client

    def leave(self, client: asyncio.Queue[bytes | None]) -> None:
        if client in self.clients:
            self.clients.discard(client)
            self._backlog.pop(client, None)
            self._count(-1)
            client.put_nowait(None)

    def sent(self, client: asyncio.Queue[bytes | None], data: bytes) -> None:
        """``data`` left for ``client``'s connection."""
        if client in self._backlog:
            self._backlog[client] -= len(data)

    def _count(self, change: int) -> None:
        channel = self.programme.room.hub.channels.get(self.lang)
        if channel is not None:
            channel.audience += change

    def played(self, frame: int, frames: dict[str, bytes]) -> None:
        """The programme's tick: this language's 20 ms encoded, and sent."""
        pcm = frames.get(self.lang)
        if pcm is None:
            # The language is no longer offered: the stream ends for everyone.
            for client in list(self.clients):
                self.leave(client)
            return
        self._thread.submit(self._encode, pcm)

    def _encode(self, pcm: bytes) -> None:
        """In the thread: 20 ms more of the stream; its pages go out from the event loop."""
        if (pages := self._encoder.feed(pcm)) and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._send, pages)

    def _send(self, pages: bytes) -> None:
        for client in list(self.clients):
            self._backlog[client] += len(pages)
            if self._backlog[client] > MAX_CLIENT_BACKLOG:
                log.info("stream %s: a client that cannot keep up was dropped", self.lang)
                self.leave(client)
                continue
            client.put_nowait(pages)


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
        _pages(request.scope, rooms, rooms.programmes[found.id], code, kind),
        media_type=CONTAINERS[kind].media_type,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _pages(
    scope: Any, rooms: Rooms, programme: Programme, lang: str, kind: str
) -> AsyncIterator[bytes]:
    # Joined once the response is being sent: a client gone before then holds nothing.
    key = (programme.room.id, lang, kind)
    broadcast = rooms.broadcasts.get(key)
    if broadcast is None:
        broadcast = rooms.broadcasts[key] = Broadcast(programme, lang, kind)
        broadcast.start()
    client = broadcast.join()
    try:
        async with slow_clients.watched(scope, f"stream {lang}.{kind}"):
            while (data := await client.get()) is not None:
                yield data
                broadcast.sent(client, data)
    finally:
        broadcast.leave(client)
        if not broadcast.clients and rooms.broadcasts.get(key) is broadcast:
            del rooms.broadcasts[key]
            broadcast.stop()
