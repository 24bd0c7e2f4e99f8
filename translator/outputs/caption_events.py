"""A room's captions as Server-Sent Events (``GET /sse/captions/{room}/{lang}``: the route is
``server/sse.py``), for overlays and scripts that need no audio (``EventSource`` in a page, ``curl
-N`` in a terminal), from the live feed.

Each event is named for its message (``hello``, ``caption``, ``status``, ``error``) and carries the
same JSON as the WebSocket's text frames. Readers here are not counted as the audience; one that
stops reading is let go by the hub's rules, and nobody else notices.
"""

from __future__ import annotations

from typing import cast

from translator.hub import AudioChunk, Listener, Outgoing
from translator.hub.delivery import CLOSE_TOO_SLOW
from translator.messages import ListenerMessage
from translator.talk.room import RoomBase
from translator.talk.state import OutputStatus


class SseFramer:
    """Server-Sent Events: one event per message, named for its type; no audio."""

    def text(self, message: ListenerMessage, json: str) -> Outgoing:
        kind = cast(str, type(message).__struct_config__.tag)
        event = f"event: {kind}\ndata: {json}\n\n".encode()
        return Outgoing(event, event)

    def audio(self, chunk: AudioChunk) -> Outgoing:
        # Readers subscribe without audio: the hub never hands this transport any.
        raise TypeError("Server-Sent Events carry no audio")


SSE = SseFramer()


class CaptionEvents:
    """A room's Server-Sent Event readers (an `Output`): a hub listener each, without audio."""

    def __init__(self, room: RoomBase) -> None:
        self.room = room
        self.readers: set[Listener] = set()
        self.dropped = 0
        """Readers let go for not reading."""

    def start(self) -> None:
        """Nothing is sent until a reader comes."""

    async def stop(self) -> None:
        """Every reader's stream ends."""
        for reader in list(self.readers):
            reader.evict(1001, "the service is stopping")
            self.leave(reader)

    def join(self, lang: str) -> Listener:
        """A reader of ``lang``: the hello first, then every message of its channel."""
        first = self.room.hello(lang, False, "pcm")
        reader = self.room.hub.subscribe(lang, SSE, audio=False, first=first, audience=False)
        self.readers.add(reader)
        return reader

    def leave(self, reader: Listener, slow: bool = False) -> None:
        """The reader is gone, or was let go (``slow``: its connection closed for not reading)."""
        if reader in self.readers:
            self.readers.discard(reader)
            self.dropped += slow or (reader.closed is not None and reader.closed[0] == CLOSE_TOO_SLOW)
            self.room.hub.unsubscribe(reader)

    def status(self) -> OutputStatus:
        counts: dict[str, int] = {}
        for reader in self.readers:
            counts[reader.lang] = counts.get(reader.lang, 0) + 1
        reading = ", ".join(f"{lang} {count}" for lang, count in sorted(counts.items())) or "no reader"
        dropped = f"; {self.dropped} let go for not reading" if self.dropped else ""
        return OutputStatus("sse", "serving" if counts else "off", f"{reading}{dropped}")
