"""What a failure means for the user, and how long to wait before trying again: shared by the
engines that talk to a service."""

from __future__ import annotations

import random

import msgspec

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0


class Fault(msgspec.Struct, frozen=True):
    """A failure as the user reads it."""

    message: str
    retry: bool
    retry_after_s: float = 0.0
    """The service's own ``Retry-After``: the next try waits at least this long."""


class Backoff:
    """Exponential back-off with jitter, so that languages (and machines) do not retry in step."""

    def __init__(self) -> None:
        self._next = BACKOFF_FIRST_S

    def reset(self) -> None:
        self._next = BACKOFF_FIRST_S

    def delay(self) -> float:
        """The next wait, in seconds: half to all of a doubling step, capped."""
        step, self._next = self._next, min(self._next * 2, BACKOFF_MAX_S)
        return step * random.uniform(0.5, 1.0)
