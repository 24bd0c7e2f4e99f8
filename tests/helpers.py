"""What only the tests need: log records caught as they are emitted."""

from __future__ import annotations

import logging


class Records(logging.Handler):
    """The log records that reach the handler's logger (after its filters)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [self.format(r) for r in self.records]
