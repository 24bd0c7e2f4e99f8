"""Background-task helpers shared by every layer."""

from __future__ import annotations

import asyncio


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
