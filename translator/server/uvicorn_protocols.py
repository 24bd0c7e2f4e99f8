"""uvicorn's HTTP and WebSocket protocols with the bounds a hostile network needs.

uvicorn gives a request that has begun unlimited time (its keep-alive timer stops at the first
byte), reads and discards the body of a request already answered however long it is, and answers
every WebSocket ping with a pong whatever the client reads and however often it pings. These
subclasses put a deadline on every request, close instead of draining, hold pings and pongs to a
budget, and count every connection at accept against the server's `ConnectionBudget`.

The WebSocket protocol also offers the app an ASGI extension, ``HAND_OVER``: a listener, once
accepted and subscribed, is handed to a `ListenerConnection` that the hub writes to directly, and
its ASGI app returns (``listener_connection.py``). The HTTP protocol offers ``SOCKET_QUEUE``: how
much a client has left unread, for the endless responses to drop one that stopped reading.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import socket
import sys
import termios
from collections.abc import Callable
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame
from websockets.http11 import Request
from websockets.protocol import Protocol, Side

from translator.hub import Listener
from translator.server.hand_over import HAND_OVER
from translator.server.limits import ConnectionBudget
from translator.server.listener_connection import (
    CLOSE_POLICY,
    MAX_OUTGOING_BYTES,
    ControlBudget,
    KeepAlive,
    ListenerConnection,
)

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0
"""A request must arrive whole (headers and body) within this, counted from the connection's
opening or the previous response; between requests, uvicorn's keep-alive timeout applies."""
MAX_HEADER_BYTES = 32 * 1024
"""Request headers beyond this are refused: by h11 while they arrive, by `edge.py` once whole."""


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


class BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
    """A WebSocket whose unread outgoing bytes are bounded, pongs included, whose pings and pongs
    are held to a budget, and that a listener's handler hands over once it is accepted."""

    budget: ConnectionBudget
    keepalive: KeepAlive

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._control = ControlBudget(self.loop)

    def connection_lost(self, exc: Exception | None) -> None:
        self.budget.release(self.transport)
        super().connection_lost(exc)

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if getattr(self, "scope", None) is not None:
            extensions: dict[str, object] = self.scope.setdefault("extensions", {})  # type: ignore[assignment]
            extensions[HAND_OVER] = self._hand_over

    def _hand_over(self, listener: Listener, on_gone: Callable[[], None]) -> None:
        """The connection becomes ``listener``'s `ListenerConnection`; ``on_gone`` is called when it
        ends. A connection already closing ends here (``on_gone`` at once)."""
        if not self.handshake_complete or self.close_sent or self.transport.is_closing():
            on_gone()
            return
        self.stop_keepalive()
        # uvicorn's shutdown no longer reaches it: the hub closes its listeners first (`_Server`).
        self.connections.discard(self)
        budget, transport = self.budget, self.transport

        def gone() -> None:
            # Refers to nothing of this protocol's: once handed over, it is freed with its scope.
            budget.release(transport)
            on_gone()

        # A state machine of its own for the frames to come: the handshake's keeps its request (~4 KB
        # a listener). The client sends nothing between its handshake and this, all in one run of
        # the app's task, unless it broke the protocol (then its next frame closes it with 1002).
        frames = Protocol(Side.SERVER, max_size=self.config.ws_max_size, logger=self.conn.logger)
        connection = ListenerConnection(
            transport,
            frames,
            listener,
            paused=not self.writable.is_set(),
            keepalive=self.keepalive,
            on_gone=gone,
        )
        self.transport.set_protocol(connection)
        if self.read_paused:
            self.transport.resume_reading()
        # uvicorn closes the transport when the app returns unless a closing handshake is under way
        # (its close timer is set): the connection lives on past the app, so one is said to be.
        self.close_timer = self.loop.call_later(0, _nothing)
        self.close_timer.cancel()
        connection.start()

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
        if self._control.take():
            return True
        log.debug("closing a WebSocket that sends too many pings")
        if not self.close_sent:
            self.conn.send_close(CLOSE_POLICY, "too many pings: listeners only receive")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": CLOSE_POLICY})
        self.transport.close()
        return False


def bounded_protocols(
    budget: ConnectionBudget, ping_interval_s: float | None
) -> tuple[type[H11Protocol], type[WebSocketsSansIOProtocol]]:
    """The HTTP and WebSocket protocol classes of one server, counting into its ``budget``; its
    handed-over listeners pinged every ``ping_interval_s``."""
    http = type("BoundedH11Protocol", (BoundedH11Protocol,), {"budget": budget})
    websocket = type(
        "BoundedWebSocketProtocol",
        (BoundedWebSocketProtocol,),
        {"budget": budget, "keepalive": KeepAlive(ping_interval_s)},
    )
    return http, websocket


def _nothing() -> None:
    pass
