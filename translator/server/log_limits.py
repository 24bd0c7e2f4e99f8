"""Log lines caused by clients, counted instead of repeated: a misbehaving client must not fill the disk.

uvicorn logs each bad request or bad frame, some with a traceback, and an unexpected error in a
handler is logged with its traceback. Whoever causes them, the first line of each kind a minute is
kept (a client's fault without its traceback), and the rest are counted into the next line of that
kind. Whatever a client sent is escaped before it reaches a line (`translator.printable`), so a
path with a line break cannot forge a log line.
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
SERVER_FAULTS = ("Exception in ASGI application",)


class Windows:
    """Per kind of event, the first in each window passes; the others are counted for the next."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}

    def passes(self, kind: str) -> int | None:
        """None when this event is to be counted only; else how many were counted since the last."""
        now = time.monotonic()
        started, suppressed = self._windows.get(kind, (-self.window_s, 0))
        if now - started < self.window_s:
            self._windows[kind] = (started, suppressed + 1)
            return None
        self._windows[kind] = (now, 0)
        return suppressed


class ClientNoiseFilter(logging.Filter):
    """Keeps one line per kind of client fault (without its traceback) or server fault a minute,
    with the count of those suppressed."""

    def __init__(self) -> None:
        super().__init__()
        self._windows = Windows()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        kind = next((k for k in CLIENT_FAULTS + SERVER_FAULTS if message.startswith(k)), None)
        if kind is None:
            return True
        suppressed = self._windows.passes(kind)
        if suppressed is None:
            return False
        if kind in CLIENT_FAULTS:
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
