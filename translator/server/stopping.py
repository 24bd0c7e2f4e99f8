"""How the service stops: SIGINT, SIGTERM and SIGHUP all take one path, within a bound, whatever is
stuck.

A thread watches for the signals through the interpreter's wakeup descriptor, so that they are seen
even while the event loop is blocked: the first asks the service to stop (listeners hear 1001, rooms
close, transcripts are written) and starts a deadline; at the deadline every thread's stack is
logged and the process exits. A second signal exits at once. Threads still running once the service
has stopped (a recognition that never returns) are abandoned, not waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable
from types import FrameType

log = logging.getLogger(__name__)

STOP_BOUND_S = 10.0
"""From the first signal to the process's end, whatever is stuck."""
HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_FORCED = 1


def thread_stacks() -> str:
    """Every thread's name and stack, for a log line about a hang."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        stack = "".join(traceback.format_stack(frame))
        parts.append(f"thread {names.get(ident, ident)}:\n{stack}")
    return "\n".join(parts)


def _exit_now(code: int) -> None:
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


class Stopping:
    """The process's signals while the service runs; `on_request` says what a stop does now."""

    def __init__(self, bound_s: float = STOP_BOUND_S) -> None:
        self.bound_s = bound_s
        self.requested = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._action: Callable[[], object] = lambda: None
        self._lock = threading.Lock()

    def on_request(self, action: Callable[[], object]) -> None:
        """Run ``action`` in the event loop when a stop is asked for (at once if it has been)."""
        self._action = action
        if self.requested.is_set():
            self._loop.call_soon(action)

    def signalled(self, number: int) -> None:
        """A stop signal arrived (called from the watching thread)."""
        name = signal.Signals(number).name
        if self._first():
            log.warning(
                "stopping: %s received (within %.0f s; once more to exit at once)", name, self.bound_s
            )
            return
        log.warning("%s received again: exiting now", name)
        _exit_now(128 + number)

    def request(self, why: str) -> None:
        """Stop from within, as a first signal does (``why``: in the log)."""
        if self._first():
            log.warning("stopping: %s", why)

    def _first(self) -> bool:
        """Start stopping, unless that has begun already (False then)."""
        with self._lock:
            if self.requested.is_set():
                return False
            self.requested.set()
        self._loop.call_soon_threadsafe(lambda: self._action())
        threading.Thread(target=self._deadline, name="stop-deadline", daemon=True).start()
        return True

    def _deadline(self) -> None:
        time.sleep(self.bound_s)
        log.error(
            "the service did not stop within %.0f s: exiting anyway; what each thread was doing:\n%s",
            self.bound_s,
            thread_stacks(),
        )
        _exit_now(EXIT_FORCED)


@contextlib.asynccontextmanager
async def signals(bound_s: float = STOP_BOUND_S) -> AsyncIterator[Stopping]:
    """Own SIGINT, SIGTERM and SIGHUP while the block runs (in the main thread; elsewhere, nothing).

    The interpreter writes each caught signal's number to its wakeup descriptor from C, whatever the
    main thread is doing; a thread reads it there. The event loop's own descriptor (uvloop wakes on
    it) is still told.
    """
    stopping = Stopping(bound_s)
    if threading.current_thread() is not threading.main_thread():
        yield stopping
        return
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)

    def caught(number: int, frame: FrameType | None) -> None:
        """Nothing here: the watching thread acts, even while this thread cannot."""

    previous_handlers = {number: signal.signal(number, caught) for number in HANDLED}
    previous_fd = signal.set_wakeup_fd(theirs.fileno(), warn_on_full_buffer=False)

    def watch() -> None:
        while data := ours.recv(64):
            if previous_fd != -1:
                with contextlib.suppress(OSError):
                    os.write(previous_fd, data)
            for number in data:
                if number in HANDLED:
                    stopping.signalled(number)

    watcher = threading.Thread(target=watch, name="signal-watch", daemon=True)
    watcher.start()
    try:
        yield stopping
    finally:
        signal.set_wakeup_fd(previous_fd)
        for number, handler in previous_handlers.items():
            signal.signal(number, handler)
        theirs.close()  # the watcher reads the end of its stream and returns
        await asyncio.to_thread(watcher.join, 1.0)
        ours.close()


def leave(grace_s: float = 2.0) -> None:
    """After the service has stopped: wait at most ``grace_s`` for threads still running, then end
    the process (exit 0) without the interpreter's own teardown. The service has closed all it
    opened; the teardown would wait for ever on a thread that never finishes (a recognition stuck
    in native code), and report native objects still alive as leaks."""
    deadline = time.monotonic() + grace_s
    stuck = []
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            stuck.append(thread.name)
    if stuck:
        log.warning("stopped; abandoning threads that did not finish: %s", ", ".join(stuck))
    _exit_now(0)
