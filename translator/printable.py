"""Text that someone else supplied, made safe to show in one line of a log or an error message."""

from __future__ import annotations

MAX_SHOWN_CHARS = 200


def printable(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """``text`` with control and invisible characters (and backslashes) escaped as ``\\xNN`` or
    ``\\uNNNN``, cut to ``limit`` characters: a line break in it cannot forge a log line, a
    bidirectional override cannot disguise it."""
    escaped = "".join(ch if ch.isprintable() and ch != "\\" else ascii(ch)[1:-1] for ch in text)
    if len(escaped) > limit:
        return escaped[:limit] + "…"
    return escaped
