"""A room's input that a publisher brings over the network (the speaker page, WHIP).

The source runs for as long as the room does, on the talk's clock: one frame every 20 ms, the
publisher's audio through a jitter buffer, silence while nobody publishes. So the engines see one
continuous input whoever publishes, and a publisher that drops and comes back loses nothing but the
time it was away.
"""

from __future__ import annotations

import asyncio

from translator.audio.format import SAMPLE_RATE
from translator.audio.jitter import BufferedSource
from translator.audio.video import VideoFeed
from translator.errors import TranslatorError

ROOM_STOPPED = "the room is stopped"


class PublisherBusy(TranslatorError):
    """Another publisher is live on this room."""


class RoomStopped(TranslatorError):
    """The room is stopped: it takes no audio until it is started again."""


class Publication:
    """One publisher's session: what it pushes goes to the room until it ends."""

    def __init__(self, source: PublishedSource, who: str, rate: int, codec: str) -> None:
        self._source = source
        self.who = who
        self.rate = rate
        """The sample rate the publisher sends at."""
        self.codec = codec
        """How its audio travels (``pcm16``, ``opus``): it is decoded before it is pushed."""
        self.revoked = asyncio.Event()
        """Set when the publisher must go (its key was changed, the room stopped)."""
        self.revoked_because = ""

    def push(self, pcm: bytes) -> None:
        """Add mono PCM16 at the publication's rate (any length) to the room's input."""
        if self._source.publication is self:
            self._source.buffer.push(pcm)

    def picture(self, timestamp_ms: int, body: bytes) -> None:
        """One FLV video tag of the publisher's picture, for what passes it on (`video.VideoFeed`)."""
        if self._source.publication is self:
            self._source.video.publish(timestamp_ms, body)

    def revoke(self, because: str) -> None:
        """End the publication and tell its connection to close, saying why."""
        self.end()
        self.revoked_because = because
        self.revoked.set()

    def end(self, lost: bool = False, refused: str | None = None) -> None:
        """The publisher is gone (``lost``: without saying goodbye, as a dropped network does;
        ``refused``: sent away for what it sent, and why): what it sent still plays out, then
        silence until the next one."""
        if self._source.publication is self:
            self._source.publication = None
            self._source.lost = self.who if lost else None
            self._source.refused = f"{self.who} was refused: {refused}" if refused else None
            self._source.buffer.end()
            self._source.video.end()


class PublishedSource(BufferedSource):
    """Frames from whoever publishes to the room, one at a time; silence between publishers."""

    def __init__(self) -> None:
        super().__init__()
        self.description = "published over the network"
        self.publication: Publication | None = None
        self.lost: str | None = None
        """Who dropped without ending, while nobody has taken over: likely to reconnect."""
        self.refused: str | None = None
        """Who was last sent away and why, while nobody has taken over (an encoder cannot show it)."""
        self.video = VideoFeed()
        """The publisher's picture, where it sends one."""

    @property
    def detail(self) -> str:
        """What the operator reads: who publishes, or that nobody does."""
        if self.publication is not None:
            return f"live: {self.publication.who}"
        if self.lost is not None:
            return f"reconnecting: {self.lost} dropped"
        if self.refused is not None:
            return f"waiting for the speaker ({self.refused})"
        return "waiting for the speaker"

    def publish(self, who: str, rate: int = SAMPLE_RATE, codec: str = "pcm16") -> Publication:
        """Start a publication whose decoded audio is mono PCM16 at ``rate``; raises PublisherBusy
        while another one is live, RoomStopped while the room is stopped."""
        if self._closed.is_set():
            raise RoomStopped(ROOM_STOPPED)
        if self.publication is not None:
            raise PublisherBusy(f"{self.publication.who} is publishing to this room")
        self.publication = Publication(self, who, rate, codec)
        self.lost = self.refused = None
        self.buffer.begin(rate)
        return self.publication

    async def open(self) -> None:
        self._closed.clear()

    async def close(self) -> None:
        self._closed.set()
        if self.publication is not None:
            self.publication.revoke(ROOM_STOPPED)
