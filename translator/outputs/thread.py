"""The boundary between the event loop and an output's blocking work (encoders, files).

Each output has one thread, so its writes happen in the order they were handed over. The event loop
never waits on it. An output whose work fails (a full disk, a folder gone) stops there, with the
operating system's words kept for the operator: the talk and the other outputs go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final

from translator.cpu_use import Part, claim
from translator.tasks import in_daemon_thread

log = logging.getLogger(__name__)

MAX_PENDING: Final = 3000
"""Work items waiting (five minutes of 100 ms batches): past it the output has fallen behind for
good (a disk far too slow) and stops, rather than holding ever more audio in memory."""
STOP_TIMEOUT_S: Final = 5.0
"""Time to finish what is queued when the output stops: a fraction of the service's stop bound."""


class OutputThread:
    """One output's worker thread: `submit` from the event loop, `stop` to finish what is queued."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=name, initializer=claim, initargs=(Part.OUTPUTS,)
        )
        self._pending = 0
        self.error: str | None = None
        """Why the output stopped; None while it works."""
        self.on_error: Callable[[str], None] | None = None
        """Told (in the thread) when the output stops for an error."""

    def submit(self, work: Callable[..., object], *args: object) -> None:
        """Run ``work(*args)`` in the thread, after everything submitted before; nothing once failed."""
        if self.error is not None:
            return
        if self._pending >= MAX_PENDING:
            self._fail("it cannot keep up (the disk is too slow)")
            return
        self._pending += 1
        future = self._executor.submit(self._run, work, *args)
        future.add_done_callback(self._done)

    def _run(self, work: Callable[..., object], *args: object) -> None:
        if self.error is not None:
            return
        try:
            work(*args)
        except OSError as exc:
            self._fail(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        except Exception as exc:
            log.exception("%s failed", self.name)
            self._fail(str(exc) or type(exc).__name__)

    def _done(self, future: Future[None]) -> None:
        self._pending -= 1

    def _fail(self, why: str) -> None:
        if self.error is None:
            self.error = why
            log.error("%s stopped: %s (the talk goes on)", self.name, why)
            if self.on_error is not None:
                self.on_error(why)

    def close(self) -> None:
        """End the thread once what is queued has run, without waiting for it."""
        self._executor.shutdown(wait=False)

    async def stop(self) -> None:
        """Finish what is queued (at most `STOP_TIMEOUT_S`) and end the thread; one stuck past that
        (a disk that hangs) is left behind, so that stopping always stops."""
        if not await in_daemon_thread(self._executor.shutdown, STOP_TIMEOUT_S):
            log.warning("%s did not finish within %.0f s; left behind", self.name, STOP_TIMEOUT_S)
