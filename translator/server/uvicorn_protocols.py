"""uvicorn's HTTP and WebSocket protocols with the bounds a hostile network needs.

uvicorn gives a request that has begun unlimited time (its keep-alive timer stops at the first
byte), reads and discards the body of a request already answered however long it is, and answers
every WebSocket ping with a pong whatever the client reads and however often it pings. These
subclasses put a deadline on every request, close instead of draining, hold pings and pongs to a
budget, and count every connection at accept against the server's `ConnectionBudget`.

The WebSocket protocol also offers the app an ASGI extension, ``PREBUILT_FRAMES``: write a frame
built once for thousands of listeners straight to the connection, instead of an ASGI send that
frames the same bytes again for each of them. The HTTP protocol offers ``SOCKET_QUEUE``: how much a
client has left unread, for the endless responses to drop one that stopped reading.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import socket
import sys
import termios
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame
from websockets.http11 import Request

from translator.server.limits import ConnectionBudget

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0
"""A request must arrive whole (headers and body) within this, counted from the connection's
opening or the previous response; between requests, uvicorn's keep-alive timeout applies."""
MAX_HEADER_BYTES = 32 * 1024
"""Request headers beyond this are refused: by h11 while they arrive, by `edge.py` once whole."""
MAX_OUTGOING_BYTES = 256 * 1024
"""Bytes a WebSocket may leave unread in the server's buffer. Replies to the app's own sends wait
for the client (uvicorn pauses at 64 KiB); only pongs and closes can pile up past it."""
CONTROL_FRAMES_BURST = 8
CONTROL_FRAMES_PER_S = 0.2
"""Pings and pongs a listener may send: a burst of 8, then one every 5 s (a client's keep-alive
pings every 20 s or so). Past it, 1008: each one costs the server a write and a wake-up."""
CLOSE_POLICY = 1008


class BoundedH11Protocol(H11Protocol):
    """HTTP/1.1 whose every request must arrive in time, with connections counted at accept.

    A response written before its request's body was read closes the connection rather than reading
    (and discarding) a body that may never end. A client's close is seen even while its pipelined
    requests wait behind an endless response.
    """

    budget: ConnectionBudget

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        sock = transport.get_extra_info("socket")
        self._queue = SocketQueue(
            lambda: transport.get_write_buffer_size() + _kernel_unsent(sock), transport.abort
        )
        host = (self.client or ("", 0))[0]
        if not self.budget.admit(transport, host):
            log.debug("closing a connection at accept: %d open", self.budget.total)
            transport.close()
            return
        self._watch_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        self.budget.release(self.transport)
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.transport.get_protocol() is not self:
            self._stop_deadline()  # upgraded: the WebSocket's own bounds apply
            return
        self._watch_request()
        if (scope := getattr(self, "scope", None)) is not None:
            # Read by the app when the request's task runs, which is after this.
            scope.setdefault("extensions", {})[SOCKET_QUEUE] = self._queue
        if self.flow.read_paused and self.conn.their_state is h11.DONE and not self.transport.is_closing():
            # A request pipelined behind one still being answered: uvicorn stops reading until the
            # answer ends, and behind an endless stream would never see the client close (the
            # socket left in CLOSE-WAIT, holding a place for good). Read on, holding at most one
            # request's worth of what follows.
            if len(self.conn.trailing_data[0]) > MAX_HEADER_BYTES:
                self.transport.close()
                return
            self.flow.resume_reading()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            # Answered without reading the body (413, 401, 404): stop reading it.
            self.transport.close()

    def _watch_request(self) -> None:
        """A deadline while a request is awaited or arriving; none while the app answers it."""
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            if self._deadline is None:
                self._deadline = self.loop.call_later(REQUEST_TIMEOUT_S, self._request_timeout)
        else:
            self._stop_deadline()

    def _stop_deadline(self) -> None:
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._deadline = None

    def _request_timeout(self) -> None:
        self._deadline = None
        # Once upgraded, the transport belongs to the WebSocket protocol and is no longer ours to close.
        if self.transport.get_protocol() is self and not self.transport.is_closing():
            log.debug("closing a connection whose request did not arrive in %.0f s", REQUEST_TIMEOUT_S)
            self.transport.close()


SOCKET_QUEUE = "translator.socket_queue"
"""The scope extension holding an HTTP connection's `SocketQueue`."""


@dataclass(frozen=True)
class SocketQueue:
    """What an HTTP connection has not yet delivered to its client, and a way to drop it."""

    unsent: Callable[[], int]
    """Bytes written and not yet taken by the client: in the server's buffer and the kernel's."""
    abort: Callable[[], None]
    """Close the connection at once, whatever waits to be sent."""


def _kernel_unsent(sock: socket.socket | None) -> int:
    if sock is None:
        return 0
    try:
        return int.from_bytes(fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, bytes(4)), sys.byteorder)
    except OSError:
        return 0


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
    """A WebSocket whose unread outgoing bytes are bounded, pongs included, whose pings and pongs
    are held to a budget, and that takes prebuilt frames."""

    budget: ConnectionBudget

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._control_tokens = float(CONTROL_FRAMES_BURST)
        self._control_at = self.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self.budget.release(self.transport)
        super().connection_lost(exc)

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if getattr(self, "scope", None) is not None:
            extensions: dict[str, object] = self.scope.setdefault("extensions", {})  # type: ignore[assignment]
            extensions[PREBUILT_FRAMES] = PrebuiltFrames(self._try_write, self._write)

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
        if self.transport.is_closing() or not self._within_control_budget():
            return
        super().handle_ping()
        if self.transport.get_write_buffer_size() > MAX_OUTGOING_BYTES:
            log.debug("aborting a WebSocket that pings and does not read")
            self.transport.abort()

    def handle_pong(self, event: Frame) -> None:
        if self.transport.is_closing() or not self._within_control_budget():
            return
        super().handle_pong(event)

    def _within_control_budget(self) -> bool:
        """Take one ping or pong from the budget; past it, close with 1008 and tell the app."""
        now = self.loop.time()
        self._control_tokens = min(
            CONTROL_FRAMES_BURST, self._control_tokens + (now - self._control_at) * CONTROL_FRAMES_PER_S
        )
        self._control_at = now
        if self._control_tokens >= 1:
            self._control_tokens -= 1
            return True
        log.debug("closing a WebSocket that sends too many pings")
        if not self.close_sent:
            self.conn.send_close(CLOSE_POLICY, "too many pings: listeners only receive")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": CLOSE_POLICY})
        self.transport.close()
        return False


def bounded_protocols(budget: ConnectionBudget) -> tuple[type[H11Protocol], type[WebSocketsSansIOProtocol]]:
    """The HTTP and WebSocket protocol classes of one server, counting into its ``budget``."""
    http = type("BoundedH11Protocol", (BoundedH11Protocol,), {"budget": budget})
    websocket = type("BoundedWebSocketProtocol", (BoundedWebSocketProtocol,), {"budget": budget})
    return http, websocket
