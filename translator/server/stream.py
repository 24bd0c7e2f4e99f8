"""``GET /stream/{lang}.ogg`` (``/stream/{room}/{lang}.ogg``; ``.mp3`` and ``.aac`` too): one language
as a continuous audio stream over plain HTTP, for an ``<audio>`` element that keeps playing with the
screen off, and for VLC, ffmpeg, OBS's media source or a smart speaker.

Each language has one `Broadcast` per container while anyone listens: it is one listener of the
room's hub and plays the channel out on the talk's timeline, in real time (silence between
utterances), encoded once for all its HTTP clients. Being a listener that plays in real time, it
obeys the delivery rules as a page does: when the interpretation runs more than 2 s behind, whole
utterances it has not started are skipped. A client that takes the stream slower than it plays is
dropped; nobody else notices. HTTP clients count in the channel's audience.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator

from litestar import get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.response import Stream

from translator.audio import FRAME_BYTES, FRAME_MS
from translator.audio.containers import CONTAINERS, StreamEncoder
from translator.hub import Hub, Listener
from translator.messages import AUDIO_HEADER, FLAG_END
from translator.printable import printable
from translator.server.listen import WEBSOCKET
from translator.server.rooms import Rooms, room_or_404
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

AHEAD_S = 0.3
"""Audio taken from the hub ahead of playback: the rest waits in the hub, under its delivery rules."""
MAX_CLIENT_BACKLOG = 64 * 1024
"""Bytes a client may leave unsent (~20 s of Opus) before it is dropped."""
STOP_TIMEOUT_S = 2.0


class Broadcast:
    """One language's stream: the hub's audio played out in real time, Ogg pages to every client."""

    def __init__(self, hub: Hub, lang: str, kind: str) -> None:
        self.hub = hub
        self.lang = lang
        self.clients: set[asyncio.Queue[bytes | None]] = set()
        self._backlog: dict[asyncio.Queue[bytes | None], int] = {}
        self._encoder = StreamEncoder(kind)
        self._pcm: deque[bytes] = deque()
        """Decoded audio taken from the hub, 20 ms frames, at most `AHEAD_S` of it."""
        self._room = asyncio.Event()
        self._listener: Listener | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def header(self) -> bytes:
        return self._encoder.header

    def start(self) -> None:
        """Subscribe to the channel and start playing it out."""
        self._listener = self.hub.subscribe(self.lang, WEBSOCKET, audio=True, codec="pcm", audience=False)
        self._tasks = [
            asyncio.create_task(self._take(self._listener), name=f"stream-{self.lang}-take"),
            asyncio.create_task(self._play(), name=f"stream-{self.lang}-play"),
        ]

    async def stop(self) -> None:
        """Stop playing; every client's stream ends."""
        await asyncio.gather(*(cancel_and_wait(task, STOP_TIMEOUT_S) for task in self._tasks))
        if self._listener is not None:
            self.hub.unsubscribe(self._listener)
        for client in list(self.clients):
            self.leave(client)
        self._encoder.close()

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
        channel = self.hub.channels.get(self.lang)
        if channel is not None:
            channel.audience += change

    async def _take(self, listener: Listener) -> None:
        """The channel's audio into the play-out buffer, never more than `AHEAD_S` ahead of it."""
        pending = b""
        ahead = int(AHEAD_S * 1000 / FRAME_MS)
        while (message := await listener.next()) is not None:
            if not isinstance(message.payload, bytes):
                continue  # captions and states: the stream is audio only
            flags = AUDIO_HEADER.unpack_from(message.payload)[2]
            if flags & FLAG_END:
                # The utterance's last partial frame, padded with silence: utterances never run together.
                if pending:
                    self._pcm.append(pending.ljust(FRAME_BYTES, b"\0"))
                    pending = b""
                continue
            pending += message.payload[AUDIO_HEADER.size :]
            while len(pending) >= FRAME_BYTES:
                self._pcm.append(pending[:FRAME_BYTES])
                pending = pending[FRAME_BYTES:]
            while len(self._pcm) >= ahead:
                self._room.clear()
                await self._room.wait()
        # Evicted (the language is no longer offered): the stream ends for everyone.
        for client in list(self.clients):
            self.leave(client)

    async def _play(self) -> None:
        """Every 20 ms of the wall clock, 20 ms of audio (or silence) encoded and sent."""
        silence = bytes(FRAME_BYTES)
        tick = time.monotonic()
        while True:
            tick += FRAME_MS / 1000
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
            frame = self._pcm.popleft() if self._pcm else silence
            self._room.set()
            if pages := self._encoder.feed(frame):
                self._send(pages)

    def _send(self, pages: bytes) -> None:
        for client in list(self.clients):
            self._backlog[client] += len(pages)
            if self._backlog[client] > MAX_CLIENT_BACKLOG:
                log.info("stream %s: a client that cannot keep up was dropped", self.lang)
                self.leave(client)
                continue
            client.put_nowait(pages)


@get(["/stream/{lang:str}", "/stream/{room:str}/{lang:str}"], sync_to_thread=False)
def stream(state: State, lang: str, room: str | None = None) -> Stream:
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
        _pages(rooms, found.id, found.hub, code, kind),
        media_type=CONTAINERS[kind].media_type,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _pages(rooms: Rooms, room: str, hub: Hub, lang: str, kind: str) -> AsyncIterator[bytes]:
    # Joined once the response is being sent: a client gone before then holds nothing.
    key = (room, lang, kind)
    broadcast = rooms.broadcasts.get(key)
    if broadcast is None or broadcast.hub is not hub:
        broadcast = rooms.broadcasts[key] = Broadcast(hub, lang, kind)
        broadcast.start()
    client = broadcast.join()
    try:
        while (data := await client.get()) is not None:
            yield data
            broadcast.sent(client, data)
    finally:
        broadcast.leave(client)
        if not broadcast.clients and rooms.broadcasts.get(key) is broadcast:
            del rooms.broadcasts[key]
            with contextlib.suppress(Exception):
                await broadcast.stop()
