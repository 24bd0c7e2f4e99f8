"""Log lines caused by clients, counted instead of repeated: a misbehaving client must not fill the disk.

uvicorn logs each bad request or bad frame, some with a traceback. What a client does wrong is no
fault of the server: the first line of each kind is kept (without its traceback), and the rest in
the next minute are counted into one summary line.
"""

from __future__ import annotations

import logging
import time

WINDOW_S = 60.0
# uvicorn's messages for faults that the client causes.
CLIENT_FAULTS = (
    "Invalid HTTP request received",
    "Invalid UTF-8 sequence received from client",
    "Unsupported upgrade request",
    "Exceeded concurrency limit",
    "Invalid WebSocket",
)


class ClientNoiseFilter(logging.Filter):
    """Keeps one line per kind of client fault a minute, with the count of those suppressed."""

    def __init__(self) -> None:
        super().__init__()
        self._windows: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        kind = next((k for k in CLIENT_FAULTS if message.startswith(k)), None)
        if kind is None:
            return True
        now = time.monotonic()
        started, suppressed = self._windows.get(kind, (-WINDOW_S, 0))
        if now - started < WINDOW_S:
            self._windows[kind] = (started, suppressed + 1)
            return False
        self._windows[kind] = (now, 0)
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        if suppressed:
            record.msg, record.args = f"{message} ({suppressed} more in the last minute)", None
        return True


def install() -> None:
    """Filter uvicorn's client-fault lines (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, ClientNoiseFilter) for f in logger.filters):
        logger.addFilter(ClientNoiseFilter())
