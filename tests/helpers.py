"""What only the tests need: log records caught as they are emitted; a wait on a condition."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable


class Records(logging.Handler):
    """The log records that reach the handler's logger (after its filters)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [self.format(r) for r in self.records]


async def until(condition: Callable[[], bool], within_s: float = 30.0) -> None:
    """Wait until ``condition`` holds, looking again every 100 ms (what it watches has no event)."""
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - what it watches has no event
            await asyncio.sleep(0.1)
