"""uvicorn's HTTP and WebSocket protocols with the bounds a hostile network needs.

uvicorn gives a client that has not finished its request headers unlimited time, and answers every
WebSocket ping with a pong written whatever the client reads: one socket that pings and never
reads grows the server's memory without end. These subclasses close such connections.

The WebSocket protocol also offers the app an ASGI extension, ``PREBUILT_FRAMES``: write a frame
built once for thousands of listeners straight to the connection, instead of an ASGI send that
frames the same bytes again for each of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

log = logging.getLogger(__name__)

HEADER_TIMEOUT_S = 10.0
"""A connection must complete its first request's headers within this."""
MAX_HEADER_BYTES = 32 * 1024
"""Request headers beyond this are refused (431/400) by h11."""
ACCEPT_HEADROOM = 64
"""Connections accepted past ``limit_concurrency`` (they get uvicorn's 503); beyond, they are
closed at once, before they cost more than their socket. Kept below the reserve of open files."""
MAX_OUTGOING_BYTES = 256 * 1024
"""Bytes a WebSocket may leave unread in the server's buffer. Replies to the app's own sends wait
for the client (uvicorn pauses at 64 KiB); only pongs and closes can pile up past it."""


class BoundedH11Protocol(H11Protocol):
    """HTTP/1.1 whose first request must arrive in time, with connections capped at accept."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._header_timeout)
        if (
            self.limit_concurrency is not None
            and len(self.connections) > self.limit_concurrency + ACCEPT_HEADROOM
        ):
            log.debug("closing a connection at accept: %d open", len(self.connections))
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._header_deadline.cancel()
        super().connection_lost(exc)

    def _header_timeout(self) -> None:
        # Once upgraded, the transport belongs to the WebSocket protocol and is no longer ours to close.
        if self.cycle is None and self.transport.get_protocol() is self and not self.transport.is_closing():
            log.debug("closing a connection that sent no complete request in %.0f s", HEADER_TIMEOUT_S)
            self.transport.close()


PREBUILT_FRAMES = "translator.prebuilt_frames"
"""The scope extension holding a connection's `PrebuiltFrames`."""


@dataclass(frozen=True)
class PrebuiltFrames:
    """Writes complete, unmasked WebSocket frames to one connection (data frames only, never
    fragmented, so they may sit between the frames the server itself writes)."""

    try_write: Callable[[bytes], bool]
    """Write now; False when the connection's buffer is full or it is closing (then `write`)."""
    write: Callable[[bytes], Awaitable[None]]
    """Write once the connection can take it; raises ClientDisconnected when it is gone."""


class BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
    """A WebSocket whose unread outgoing bytes are bounded, pongs included, that takes prebuilt frames."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if getattr(self, "scope", None) is not None:
            self.scope["extensions"][PREBUILT_FRAMES] = PrebuiltFrames(self._try_write, self._write)  # type: ignore[index]

    def _open(self) -> bool:
        return self.handshake_complete and not self.close_sent and not self.transport.is_closing()

    def _try_write(self, frame: bytes) -> bool:
        if not (self.writable.is_set() and self._open()):
            return False
        self.transport.write(frame)
        return True

    async def _write(self, frame: bytes) -> None:
        await self.writable.wait()
        if not self._open():
            raise ClientDisconnected()
        self.transport.write(frame)

    def handle_ping(self) -> None:
        super().handle_ping()
        if self.transport.get_write_buffer_size() > MAX_OUTGOING_BYTES:
            log.debug("aborting a WebSocket that pings and does not read")
            self.transport.abort()
