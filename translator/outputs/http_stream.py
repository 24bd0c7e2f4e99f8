"""One language as a continuous audio stream over plain HTTP (``GET /stream/{lang}.ogg``, ``.mp3``,
``.aac``: the route is ``server/stream.py``), for an ``<audio>`` element that keeps playing with the
screen off, and for VLC, ffmpeg, OBS's media source or a smart speaker.

A room's `HttpStreams` keeps one `Broadcast` per language and container while anyone listens: it
takes the room's programme (the channel played out in real time, silence between utterances, whole
utterances skipped when it runs more than 2 s behind) and encodes it once for all its HTTP clients,
in a thread of its own: an MP3 or AAC encoder on the event loop made every caption late. A client
that takes the stream slower than it plays is dropped; nobody else notices. HTTP clients count in
the channel's audience.
"""

from __future__ import annotations

import asyncio
import logging

from translator.audio.containers import CONTAINERS, StreamEncoder
from translator.outputs.playout import Programme
from translator.outputs.thread import OutputThread
from translator.talk.state import OutputStatus

log = logging.getLogger(__name__)

MAX_CLIENT_BACKLOG = 64 * 1024
"""Bytes a client may leave unsent (~20 s of Opus) before it is dropped."""

Client = asyncio.Queue[bytes | None]
"""What one HTTP client is sent: the stream's bytes, then None when its stream ends."""


class Broadcast:
    """One language's stream: the programme's channel, encoded once, to every client."""

    def __init__(self, programme: Programme, lang: str, kind: str, streams: HttpStreams) -> None:
        self.programme = programme
        self.lang = lang
        self.kind = kind
        self.clients: set[Client] = set()
        self._streams = streams
        self._backlog: dict[Client, int] = {}
        self._encoder = StreamEncoder(CONTAINERS[kind])
        self._loop = asyncio.get_running_loop()
        self._thread = OutputThread(f"stream-{programme.room.id}-{lang}.{kind}")

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

    def join(self) -> Client:
        """A new client: the stream's header first, then every page from now on."""
        client: Client = asyncio.Queue()
        client.put_nowait(self._encoder.header)
        self.clients.add(client)
        self._backlog[client] = 0
        self._count(+1)
        return client

    def leave(self, client: Client) -> None:
        if client in self.clients:
            self.clients.discard(client)
            self._backlog.pop(client, None)
            self._count(-1)
            client.put_nowait(None)

    def sent(self, client: Client, data: bytes) -> None:
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
                log.info("stream %s.%s: a client that cannot keep up was dropped", self.lang, self.kind)
                self._streams.dropped += 1
                self.leave(client)
                continue
            client.put_nowait(pages)


class HttpStreams:
    """A room's HTTP streams (an `Output`): a `Broadcast` per language and container while anyone
    listens, none otherwise."""

    def __init__(self, programme: Programme) -> None:
        self.programme = programme
        self.broadcasts: dict[tuple[str, str], Broadcast] = {}
        self.dropped = 0
        """Clients dropped for taking the stream slower than it plays."""

    def start(self) -> None:
        """Nothing plays until a client comes."""

    async def stop(self) -> None:
        """Every stream ends."""
        for broadcast in list(self.broadcasts.values()):
            broadcast.stop()
        self.broadcasts.clear()

    def join(self, lang: str, kind: str) -> tuple[Broadcast, Client]:
        """A client of ``lang`` in container ``kind``: its broadcast (started for the first) and
        what it is sent."""
        broadcast = self.broadcasts.get((lang, kind))
        if broadcast is None:
            broadcast = self.broadcasts[lang, kind] = Broadcast(self.programme, lang, kind, self)
            broadcast.start()
        return broadcast, broadcast.join()

    def leave(self, broadcast: Broadcast, client: Client, slow: bool = False) -> None:
        """The client is gone (``slow``: closed for not reading); the last of a broadcast stops it
        (nothing plays for nobody)."""
        self.dropped += slow
        broadcast.leave(client)
        key = (broadcast.lang, broadcast.kind)
        if not broadcast.clients and self.broadcasts.get(key) is broadcast:
            del self.broadcasts[key]
            broadcast.stop()

    def status(self) -> OutputStatus:
        clients = {f"{lang}.{kind}": len(b.clients) for (lang, kind), b in sorted(self.broadcasts.items())}
        listening = ", ".join(f"{name} {count}" for name, count in clients.items()) or "no listener"
        dropped = f"; {self.dropped} dropped for taking it slower than it plays" if self.dropped else ""
        return OutputStatus("stream", "serving" if clients else "off", f"{listening}{dropped}")
