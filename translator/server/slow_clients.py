"""Clients of the endless HTTP responses (audio streams, Server-Sent Events) that stop reading are
closed as a WebSocket listener is: behind for `STALL_S`, gone.

A stalled client's bytes first fill the kernel's send buffer (up to ~4 MB: a quarter of an hour of
a stream), then uvicorn's; the response's own task then waits in a send that never returns, so the
watch runs beside it and aborts the connection, which ends that send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from translator.hub.delivery import STALL_S
from translator.server.uvicorn_protocols import SOCKET_QUEUE, SocketQueue
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

BEHIND_BYTES = 16 * 1024
"""Unread bytes past which a client is behind: five seconds of a stream, hundreds of captions."""
LOOK_S = 1.0


@dataclass
class Dropped:
    """Whether `watched` closed its client for not reading (an output counts it)."""

    dropped: bool = False


async def _drop_when_stalled(queue: SocketQueue, what: str, told: Dropped) -> None:
    behind_since: float | None = None
    while True:
        await asyncio.sleep(LOOK_S)
        now = time.monotonic()
        if queue.unsent() <= BEHIND_BYTES:
            behind_since = None
            continue
        behind_since = behind_since or now
        if now - behind_since >= STALL_S:
            log.info("%s: closed a client that stopped reading", what)
            told.dropped = True
            queue.abort()
            return


@contextlib.asynccontextmanager
async def watched(scope: dict[str, Any], what: str, told: Dropped | None = None) -> AsyncIterator[None]:
    """Close the connection of ``scope`` if its client stops reading while the block runs (and
    say so in ``told``)."""
    queue: SocketQueue | None = (scope.get("extensions") or {}).get(SOCKET_QUEUE)
    if queue is None:
        yield
        return
    watching = _drop_when_stalled(queue, what, told or Dropped())
    watch = asyncio.create_task(watching, name=f"slow-client {what}")
    try:
        yield
    finally:
        await cancel_and_wait(watch, LOOK_S)
