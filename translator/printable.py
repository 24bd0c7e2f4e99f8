"""Text that someone else supplied, made safe to show in one line of a log or an error message."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MAX_SHOWN_CHARS = 200


def printable(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """``text`` with control and invisible characters (and backslashes) escaped as ``\\xNN`` or
    ``\\uNNNN``, cut to ``limit`` characters: a line break in it cannot forge a log line, a
    bidirectional override cannot disguise it."""
    escaped = "".join(ch if ch.isprintable() and ch != "\\" else ascii(ch)[1:-1] for ch in text)
    if len(escaped) > limit:
        return escaped[:limit] + "…"
    return escaped


def shown_url(url: str) -> str:
    """``url`` as logs and pages may show it: no user, password or query (a stream key often
    travels in one), escaped."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return printable(urlunsplit((parts.scheme, host, parts.path, "", "")), limit=120)
