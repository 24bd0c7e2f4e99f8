"""Connection limits: the open-file limit raised, connections capped in all and per client address."""

from __future__ import annotations

import logging
import resource
from collections import Counter
from typing import Any

from translator.config import ServerConfig

log = logging.getLogger(__name__)

# Files the process needs besides its connections: models, subprocess pipes, logs.
RESERVED_FILES = 256
CLOSE_TRY_AGAIN_LATER = 1013


def connection_limit(server: ServerConfig) -> int:
    """Raise the soft open-file limit to the hard one; return how many connections fit under it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        needed = max(soft, server.max_connections + RESERVED_FILES)
        wanted = hard if hard != resource.RLIM_INFINITY else needed
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            log.warning("cannot raise the open-file limit above %d", soft)
    limit = min(server.max_connections, soft - RESERVED_FILES)
    if limit < server.max_connections:
        log.warning(
            "the open-file limit (%d) allows %d connections, not the %d configured; raise it with ulimit -n",
            soft,
            limit,
            server.max_connections,
        )
    return max(1, limit)


class PerAddressLimit:
    """ASGI middleware: at most ``limit`` concurrent connections from one client address.

    The address is the one uvicorn resolved (X-Forwarded-For from a trusted proxy, else the peer).
    A WebSocket over the limit is accepted and closed with 1013 and the reason; HTTP gets 429.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.open: Counter[str] = Counter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        if self.open[address] >= self.limit:
            await _refuse(scope, send)
            return
        self.open[address] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open[address] -= 1
            if not self.open[address]:
                del self.open[address]


async def _refuse(scope: dict[str, Any], send: Any) -> None:
    reason = "too many connections from your address; try again later"
    if scope["type"] == "websocket":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER, "reason": reason})
        return
    body = reason.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
