"""``cancel_and_wait``: the task stops, and the caller's own cancellation is not lost."""

from __future__ import annotations

import asyncio

import pytest

from translator.tasks import cancel_and_wait


async def test_the_task_is_cancelled_and_awaited() -> None:
    stopped = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    task = asyncio.create_task(work())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled() and stopped.is_set()


async def test_the_callers_cancellation_is_raised() -> None:
    """A caller cancelled while it waits for a task that is slow to stop is cancelled itself."""
    release = asyncio.Event()
    waiting = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            waiting.set()
            await release.wait()  # takes its time to clean up

    async def caller(task: asyncio.Task[None]) -> str:
        await cancel_and_wait(task, grace_s=30)
        return "carried on as if nothing happened"

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    outer = asyncio.create_task(caller(task))
    await waiting.wait()
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    release.set()
    await task


async def test_a_failure_while_stopping_is_raised() -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    task = asyncio.create_task(fails_on_cancel())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="cleanup failed"):
        await cancel_and_wait(task)
