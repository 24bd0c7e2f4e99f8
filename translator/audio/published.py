"""A room's input that a publisher brings over the network (the speaker page, WHIP).

The source runs for as long as the room does, on the talk's clock: one frame every 20 ms, the
publisher's audio through a jitter buffer, silence while nobody publishes. So the engines see one
continuous input whoever publishes, and a publisher that drops and comes back loses nothing but the
time it was away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from translator.audio.format import FRAME_MS, SAMPLE_RATE
from translator.audio.jitter import JitterBuffer
from translator.audio.source import AudioSource, NetworkBuffer
from translator.errors import TranslatorError

ROOM_STOPPED = "the room is stopped"


class PublisherBusy(TranslatorError):
    """Another publisher is live on this room."""


class RoomStopped(TranslatorError):
    """The room is stopped: it takes no audio until it is started again."""


class Publication:
    """One publisher's session: what it pushes goes to the room until it ends."""

    def __init__(self, source: PublishedSource, who: str, rate: int) -> None:
        self._source = source
        self.who = who
        self.rate = rate
        """The sample rate the publisher sends at."""
        self.revoked = asyncio.Event()
        """Set when the publisher must go (its key was changed, the room stopped)."""
        self.revoked_because = ""

    def push(self, pcm: bytes) -> None:
        """Add mono PCM16 at the publication's rate (any length) to the room's input."""
        if self._source.publication is self:
            self._source.buffer.push(pcm)

    def revoke(self, because: str) -> None:
        """End the publication and tell its connection to close, saying why."""
        self.end()
        self.revoked_because = because
        self.revoked.set()

    def end(self, lost: bool = False) -> None:
        """The publisher is gone (``lost``: without saying goodbye, as a dropped network does):
        what it sent still plays out, then silence until the next one."""
        if self._source.publication is self:
            self._source.publication = None
            self._source.lost = self.who if lost else None
            self._source.buffer.end()


class PublishedSource(AudioSource):
    """Frames from whoever publishes to the room, one at a time; silence between publishers."""

    def __init__(self) -> None:
        self.description = "published over the network"
        self.buffer = JitterBuffer()
        self.publication: Publication | None = None
        self.lost: str | None = None
        """Who dropped without ending, while nobody has taken over: likely to reconnect."""
        self._closed = asyncio.Event()

    @property
    def detail(self) -> str:
        """What the operator reads: who publishes, or that nobody does."""
        if self.publication is not None:
            return f"live: {self.publication.who}"
        if self.lost is not None:
            return f"reconnecting: {self.lost} dropped"
        return "waiting for the speaker"

    @property
    def delay_s(self) -> float:
        """What waits in the jitter buffer."""
        return self.buffer.buffered_s

    @property
    def network(self) -> NetworkBuffer:
        """The jitter buffer's fill and what it had to drop or fill in."""
        buffer = self.buffer
        return NetworkBuffer(
            round(buffer.buffered_s, 3), buffer.gaps, round(buffer.dropped_samples / SAMPLE_RATE, 3)
        )

    def publish(self, who: str, rate: int = SAMPLE_RATE) -> Publication:
        """Start a publication of mono PCM16 at ``rate``; raises PublisherBusy while another one is
        live, RoomStopped while the room is stopped."""
        if self._closed.is_set():
            raise RoomStopped(ROOM_STOPPED)
        if self.publication is not None:
            raise PublisherBusy(f"{self.publication.who} is publishing to this room")
        self.publication = Publication(self, who, rate)
        self.lost = None
        self.buffer.begin(rate)
        return self.publication

    async def open(self) -> None:
        self._closed.clear()

    async def close(self) -> None:
        self._closed.set()
        if self.publication is not None:
            self.publication.revoke(ROOM_STOPPED)

    async def frames(self) -> AsyncIterator[bytes]:
        """The talk's clock: a frame every 20 ms on an absolute schedule, until the source closes."""
        loop = asyncio.get_running_loop()
        interval = FRAME_MS / 1000
        start = loop.time()
        sent = 0
        while not self._closed.is_set():
            delay = start + sent * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -interval and self.buffer.dry:
                # Behind by more than a frame with nothing to play: this process was held up (a
                # busy machine), and the sender's audio of that time is still on its way in
                # through the loop. The clock slips by the hold-up rather than playing silence the
                # sender never sent.
                start -= delay
                await asyncio.sleep(interval / 2)
                continue
            sent += 1
            owed = max(0, int((loop.time() - start) / interval) + 1 - sent)
            yield self.buffer.take(owed)
