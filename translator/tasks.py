"""Background-task helpers shared by every layer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable


async def cancel_and_wait(task: asyncio.Task[object], grace_s: float = 5.0) -> None:
    """Cancel ``task`` and wait for it, at most ``grace_s`` seconds.

    The caller's own cancellation is never swallowed: if the caller is cancelled while it waits,
    it raises CancelledError (the task has been told to stop). A task that failed with another
    error raises it here.
    """
    task.cancel()
    # asyncio.wait neither raises the task's CancelledError nor hides the caller's.
    done, _ = await asyncio.wait({task}, timeout=grace_s)
    if done and not task.cancelled() and (error := task.exception()) is not None:
        raise error


async def in_daemon_thread(work: Callable[[], object], timeout_s: float) -> bool:
    """Run blocking ``work`` in a daemon thread of its own and wait for it at most ``timeout_s``.

    False when it did not finish: it is left running, and being a daemon it never holds up the
    process's exit (a thread of the loop's default executor would: the loop waits for them all).
    """
    loop = asyncio.get_running_loop()
    finished = asyncio.Event()

    def run() -> None:
        try:
            work()
        finally:
            loop.call_soon_threadsafe(finished.set)

    threading.Thread(target=run, name=f"finishing-{getattr(work, '__name__', 'work')}", daemon=True).start()
    try:
        await asyncio.wait_for(finished.wait(), timeout_s)
    except TimeoutError:
        return False
    return True
