"""A listener's WebSocket once it is accepted: the connection itself, with no task.

Served through ASGI, a listener costs three tasks and the framework's objects for as long as it
listens (~36 KB), and every message that waits costs a task switch. Once the handler has checked and
subscribed a listener, its connection is handed to this protocol (`BoundedWebSocketProtocol`'s
``HAND_OVER`` extension): the hub writes each prebuilt frame straight to the transport at publish
time, a backlog is written when the transport can take more (`resume_writing`), and what the client
sends is read by a websockets state machine of its own, held to a listener's limits: a few
messages a second, pings and pongs to a budget. One timer pings every listener of the server in
turn, as uvicorn pings each connection, and closes those that did not answer the last one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from websockets.frames import Frame, Opcode
from websockets.protocol import SEND_EOF, Protocol

from translator.hub import Listener

log = logging.getLogger(__name__)

MAX_OUTGOING_BYTES = 256 * 1024
"""Bytes a WebSocket may leave unread in the server's buffer. Replies to the app's own sends wait
for the client (uvicorn pauses at 64 KiB); only pongs and closes can pile up past it."""
CONTROL_FRAMES_BURST = 8
CONTROL_FRAMES_PER_S = 0.2
"""Pings and pongs a listener may send: a burst of 8, then one every 5 s (a client's keep-alive
pings every 20 s or so). Past it, 1008: each one costs the server a write and a wake-up."""
MAX_CLIENT_MESSAGES_PER_S = 20
"""Listeners have nothing to say; a few keep-alive messages a second are tolerated, a flood is not."""
CLOSE_POLICY = 1008
CLOSE_INVALID_DATA = 1007
CLOSE_KEEPALIVE = 1011
CLOSE_TIMEOUT_S = 2.0
"""How long a close waits for the client's reply before the connection is cut."""
MAX_REASON_BYTES = 123
"""RFC 6455: a close frame's reason is at most 123 bytes of UTF-8."""


def close_reason(reason: str) -> str:
    """``reason`` cut to fit a close frame, whole characters only."""
    data = reason.encode()
    if len(data) <= MAX_REASON_BYTES:
        return reason
    return data[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


class ControlBudget:
    """A token bucket for one connection's pings and pongs."""

    __slots__ = ("_at", "_loop", "_tokens")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._tokens = float(CONTROL_FRAMES_BURST)
        self._at = loop.time()

    def take(self) -> bool:
        """Take one ping or pong; False past the budget."""
        now = self._loop.time()
        self._tokens = min(CONTROL_FRAMES_BURST, self._tokens + (now - self._at) * CONTROL_FRAMES_PER_S)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class KeepAlive:
    """Pings every handed-over listener of one server each ``interval_s``; a listener that has not
    answered the previous ping by the next one is closed (1011), as uvicorn does per connection."""

    def __init__(self, interval_s: float | None) -> None:
        self.interval_s = interval_s
        self.connections: set[ListenerConnection] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, connection: ListenerConnection) -> None:
        """Keep ``connection`` alive until `discard`."""
        self.connections.add(connection)
        if self._timer is None and self.interval_s:
            self._timer = asyncio.get_running_loop().call_later(self.interval_s, self._round)

    def discard(self, connection: ListenerConnection) -> None:
        """Stop pinging ``connection`` (it has ended)."""
        self.connections.discard(connection)
        if not self.connections and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _round(self) -> None:
        assert self.interval_s
        for connection in tuple(self.connections):
            connection.keep_alive()
        self._timer = asyncio.get_running_loop().call_later(self.interval_s, self._round)


class ListenerConnection(asyncio.Protocol):
    """One listener's connection after its hello: written to by the hub, read for the client's
    close, pings and pongs; closed with a code and a reason when the hub evicts the listener."""

    __slots__ = (
        "_budget",
        "_closer",
        "_closing",
        "_conn",
        "_control",
        "_keepalive",
        "_listener",
        "_messages",
        "_on_gone",
        "_paused",
        "_pinged",
        "_transport",
        "_window",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        conn: Protocol,
        listener: Listener,
        *,
        paused: bool,
        keepalive: KeepAlive,
        on_gone: Callable[[], None],
    ) -> None:
        """Take over ``transport`` (its protocol swapped by the caller), reading its frames with
        ``conn`` (a websockets state machine, open); ``paused``: the transport's buffer is full;
        ``on_gone`` is called once the connection has ended, whoever ended it."""
        self._transport = transport
        self._conn = conn
        self._listener = listener
        self._paused = paused
        self._keepalive = keepalive
        self._on_gone = on_gone
        loop = asyncio.get_running_loop()
        self._control = ControlBudget(loop)
        self._window, self._messages = loop.time(), 0
        self._closing = False
        self._pinged = False
        self._closer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Begin: what the listener has queued (its hello) is written, and the hub writes the rest
        straight to the transport while it has room (`_writable`)."""
        self._listener.attach(self._transport.write)
        self._listener.on_evict(self._evicted)
        self._keepalive.add(self)
        self._writable()
        self._drain()

    def _writable(self) -> None:
        """Tell the listener whether the transport takes a frame now: not while its buffer is full
        or the connection is closing."""
        self._listener.writable = not (self._paused or self._closing)

    def _stop_writing(self) -> None:
        """The connection is closing: the hub writes nothing more to it."""
        self._closing = True
        self._writable()

    def pause_writing(self) -> None:
        self._paused = True
        self._writable()

    def resume_writing(self) -> None:
        self._paused = False
        self._writable()
        self._drain()

    def _drain(self) -> None:
        listener = self._listener
        while not self._paused and not self._closing and (out := listener.take()) is not None:
            self._transport.write(out.wire)

    def _evicted(self) -> None:
        closed = self._listener.closed
        if closed is not None:
            self.close(*closed)

    def data_received(self, data: bytes) -> None:
        conn = self._conn
        conn.receive_data(data)
        for frame in conn.events_received():
            # Past a close, only the client's reply matters; before the hand-over, its request.
            if self._closing or not isinstance(frame, Frame):
                continue
            if frame.opcode is Opcode.PING:
                if not self._control_frame():
                    return
                if self._transport.get_write_buffer_size() > MAX_OUTGOING_BYTES:
                    log.debug("aborting a WebSocket that pings and does not read")
                    self._stop_writing()
                    self._transport.abort()
                    return
            elif frame.opcode is Opcode.PONG:
                self._pinged = False
                if not self._control_frame():
                    return
            elif frame.opcode is Opcode.CLOSE:
                self._stop_writing()  # nothing more is written but the reply
            elif frame.opcode is Opcode.TEXT and frame.fin and not _utf8(frame.data):
                # As uvicorn says it, through the same filter (`log_limits`): one line a minute.
                logging.getLogger("uvicorn.error").warning("Invalid UTF-8 sequence received from client.")
                self._cut(CLOSE_INVALID_DATA, "invalid UTF-8")
                return
            elif frame.fin and not self._within_message_budget():
                self._cut(CLOSE_POLICY, "too many messages: listeners only receive")
                return
        self._flush()  # pongs, the reply to a close, or the close a broken frame calls for

    def _flush(self) -> None:
        """Write what the websockets state machine has to send; close at its end of stream."""
        output = self._conn.data_to_send()
        if not output:
            return
        self._transport.write(b"".join(output))
        if output[-1] == SEND_EOF:  # the closing handshake is over, or the client broke the protocol
            self._stop_writing()
            self._transport.close()

    def _control_frame(self) -> bool:
        if self._control.take():
            return True
        log.debug("closing a WebSocket that sends too many pings")
        self._cut(CLOSE_POLICY, "too many pings: listeners only receive")
        return False

    def _cut(self, code: int, reason: str) -> None:
        """Close at once, reading nothing more: a client that floods or breaks the protocol is not
        waited for."""
        self.close(code, reason)
        self._transport.close()

    def _within_message_budget(self) -> bool:
        now = asyncio.get_running_loop().time()
        if now - self._window >= 1.0:
            self._window, self._messages = now, 0
        self._messages += 1
        return self._messages <= MAX_CLIENT_MESSAGES_PER_S

    def keep_alive(self) -> None:
        """The keep-alive round: close if the last ping went unanswered, else ping."""
        if self._closing:
            return
        if self._pinged:
            log.debug("closing a listener that did not answer a keep-alive ping")
            self.close(CLOSE_KEEPALIVE, "keepalive ping timeout")
            return
        self._pinged = True
        self._conn.send_ping(b"")
        self._flush()

    def close(self, code: int, reason: str) -> None:
        """Send a close frame; the connection ends at the client's reply, or after CLOSE_TIMEOUT_S."""
        if self._closing or self._transport.is_closing():
            return
        self._stop_writing()
        self._conn.send_close(code, close_reason(reason))
        self._flush()
        self._closer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S, self._transport.abort)

    def eof_received(self) -> None:
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_writing()
        if self._closer is not None:
            self._closer.cancel()
        self._keepalive.discard(self)
        self._on_gone()


def _utf8(data: bytes | bytearray | memoryview) -> bool:
    try:
        bytes(data).decode()
    except UnicodeDecodeError:
        return False
    return True
