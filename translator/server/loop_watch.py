"""A watch on the event loop from outside it.

A blocked loop answers nothing, not even ``/healthz``, and logs nothing: only a thread of its own
can tell. The loop marks itself alive every `BEAT_S`; a thread looks every `BEAT_S`, and once the
loop has missed `BLOCKED_S` it logs, once, what every thread is doing (so that a report of a hang
comes with its cause), and again when the loop answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import ClassVar

from translator.server.stopping import thread_stacks
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

BEAT_S = 0.5
BLOCKED_S = 5.0
"""Longer than anything the loop runs in one go (the slowest is a few hundred ms of start-up)."""


class LoopWatch:
    """Counts the loop's stalls."""

    process_stalls: ClassVar[int] = 0
    """Stalls seen in this process by every watch it ran (the metrics read it)."""

    def __init__(self, blocked_s: float = BLOCKED_S) -> None:
        self.blocked_s = blocked_s
        self._beat = time.monotonic()
        self._stop = threading.Event()

    def beat(self) -> None:
        """Called by the loop: it is alive."""
        self._beat = time.monotonic()

    def run(self) -> None:
        """The watching thread's work, until `stop`."""
        blocked_at: float | None = None
        while not self._stop.wait(BEAT_S):
            missed = time.monotonic() - self._beat
            if missed >= self.blocked_s and blocked_at is None:
                blocked_at = self._beat
                LoopWatch.process_stalls += 1
                log.error(
                    "the event loop has not run for %.1f s (nothing is served meanwhile); "
                    "what each thread is doing:\n%s",
                    missed,
                    thread_stacks(),
                )
            elif missed < self.blocked_s and blocked_at is not None:
                log.warning("the event loop runs again after %.1f s blocked", self._beat - blocked_at)
                blocked_at = None

    def stop(self) -> None:
        self._stop.set()


@contextlib.asynccontextmanager
async def watching(blocked_s: float = BLOCKED_S) -> AsyncIterator[LoopWatch]:
    """Watch this event loop while the block runs."""
    watch = LoopWatch(blocked_s)

    async def beat() -> None:
        while True:
            watch.beat()
            await asyncio.sleep(BEAT_S)

    threading.Thread(target=watch.run, name="loop-watch", daemon=True).start()
    beating = asyncio.create_task(beat(), name="loop-watch-beat")
    try:
        yield watch
    finally:
        watch.stop()
        await cancel_and_wait(beating, 1.0)
