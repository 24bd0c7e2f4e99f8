"""The audio source contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self


class AudioSource(ABC):
    """A stream of 20 ms frames of 24 kHz mono PCM16, opened and closed as an async context manager."""

    description: str = "audio"

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
