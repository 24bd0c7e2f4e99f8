"""Background-task helpers shared by every layer."""

from __future__ import annotations

import asyncio
import contextlib


async def cancel_and_wait(task: asyncio.Task[object], grace_s: float = 5.0) -> None:
    """Cancel ``task`` and wait for it, at most ``grace_s`` seconds."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(task, grace_s)
