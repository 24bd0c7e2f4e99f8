"""The audio source contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

import msgspec


class NetworkBuffer(msgspec.Struct, frozen=True):
    """A network input's jitter buffer, as the operator sees it (`translator.audio.jitter`)."""

    buffered_s: float
    """Audio waiting to be played: what the network adds to the input's delay now."""
    gaps: int
    """Times the sender's audio ran out while it was publishing (each a stretch of silence)."""
    dropped_s: float
    """Audio lost because it came in a burst beyond the buffer's bound."""


class FailoverReport(msgspec.Struct, frozen=True):
    """A room's two inputs (`translator.audio.failover`), as the operator sees them."""

    active: str
    """``primary`` or ``backup``: which carries the talk now."""
    mode: str
    """``auto``, or the input the operator holds (``primary``, ``backup``)."""
    switches: int
    primary: str
    """Its description and state."""
    backup: str
    behind_s: float
    """How far the backup's audio runs behind (a switch went back to where the primary went
    quiet); played away in its pauses."""


class AudioSource(ABC):
    """A stream of 20 ms frames of 24 kHz mono PCM16, opened and closed as an async context manager."""

    description: str = "audio"

    @property
    def detail(self) -> str:
        """What the source says of itself now (who publishes to it, say); empty when nothing."""
        return ""

    @property
    def delay_s(self) -> float:
        """How long its sound is held before it reaches the engines, as far as this process can
        tell (a device's buffers, a jitter buffer; not a network's transit)."""
        return 0.0

    @property
    def network(self) -> NetworkBuffer | None:
        """The jitter buffer of an input that comes over the network; None for a local one."""
        return None

    @property
    def failover(self) -> FailoverReport | None:
        """A source of two inputs: which carries the talk; None for one input."""
        return None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:  # noqa: B027 - sources without set-up need not override it
        """Acquire the input; raise SourceError with a clear message when it cannot be had."""

    async def close(self) -> None:  # noqa: B027
        """Release the input."""

    @abstractmethod
    def frames(self) -> AsyncIterator[bytes]:
        """Yield frames in real time until the input ends."""
