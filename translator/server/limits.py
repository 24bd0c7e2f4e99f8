"""Connection limits: the open-file limit raised; connections counted per client address at accept
and again once a request names its client; a share per address that shrinks as the server fills; a
reserve that only the operator may use."""

from __future__ import annotations

import ipaddress
import logging
import resource
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from translator.config import ServerConfig
from translator.hub import Listener
from translator.server import assets, plain
from translator.server.hand_over import HAND_OVER

log = logging.getLogger(__name__)

# Files the process needs besides its connections: models, subprocess pipes, logs.
RESERVED_FILES = 256
CLOSE_TRY_AGAIN_LATER = 1013
OPERATOR_RESERVE = 16
"""Connections beyond ``server.max_connections`` kept for the operator: the console always gets in."""
NEAR_FULL = 0.75
"""The share of the server's places past which each address's share shrinks."""
MIN_SHARE = 16
"""What one address may always hold, however full the server: a phone opens a page's few
connections and a WebSocket."""
ACCEPT_HEADROOM = 64
"""Connections accepted past the server's limit, to be told why (503, 1013); beyond, they are
closed at accept, before they cost more than their socket. Kept below the reserve of open files."""
ADDRESS_HEADROOM = 8
"""Connections one address may open past its share at accept, to be told why (429, 1013)."""


def connection_limit(server: ServerConfig) -> int:
    """Raise the soft open-file limit to the hard one; return how many public connections fit under it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted_files = server.max_connections + OPERATOR_RESERVE + ACCEPT_HEADROOM + RESERVED_FILES
    if hard == resource.RLIM_INFINITY or soft < hard:
        needed = max(soft, wanted_files)
        wanted = hard if hard != resource.RLIM_INFINITY else needed
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            log.warning("cannot raise the open-file limit above %d", soft)
    limit = min(server.max_connections, soft - RESERVED_FILES - OPERATOR_RESERVE - ACCEPT_HEADROOM)
    if limit < server.max_connections:
        log.warning(
            "the open-file limit (%d) allows %d connections, not the %d configured; raise it with ulimit -n",
            soft,
            limit,
            server.max_connections,
        )
    return max(1, limit)


def address_key(host: str) -> str:
    """What connections are counted by: an IPv4 address, or an IPv6 /64 (one household or phone
    holds a whole /64, and picks new addresses in it at will)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class _Trusted:
    """The trusted proxies' addresses (entries may be networks; ``*`` trusts every peer)."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.any = False
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.names: set[str] = set()
        for entry in entries:
            if entry == "*":
                self.any = True
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry)

    def __contains__(self, host: str) -> bool:
        if self.any or host in self.names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


class ConnectionBudget:
    """One server's open connections, counted at accept in all and per client address.

    Shared by every connection of one server (`uvicorn_protocols.py` counts them, `AdmissionLimit` reads
    the counts). A trusted proxy's connections are not counted per address here: the addresses
    behind it are, once its X-Forwarded-For is read.
    """

    def __init__(self, public: int, per_address: int, trusted: Iterable[str] = ()) -> None:
        self.public = public
        """Connections the public may open (``server.max_connections``, under the open-file limit)."""
        self.limit = public + OPERATOR_RESERVE
        """With the operator's reserve: past it, even the operator is refused."""
        self.per_address = per_address
        self.trusted = _Trusted(trusted)
        self.total = 0
        self.peers: Counter[str] = Counter()
        self._keys: dict[int, str | None] = {}

    def share(self) -> int:
        """Connections one address may hold now: all of ``per_address`` until the server is
        `NEAR_FULL`, then half of the free places (at least `MIN_SHARE`): a few addresses never
        take them all."""
        if self.total < NEAR_FULL * self.public:
            return self.per_address
        return min(self.per_address, max(MIN_SHARE, (self.public - self.total) // 2))

    def admit(self, connection: object, host: str) -> bool:
        """Count a connection just accepted from ``host``; False when it must be closed at once."""
        if self.total >= self.limit + ACCEPT_HEADROOM:
            return False
        key = None if host in self.trusted else address_key(host)
        if key is not None and self.peers[key] >= self.share() + ADDRESS_HEADROOM:
            return False
        self.total += 1
        self._keys[id(connection)] = key
        if key is not None:
            self.peers[key] += 1
        return True

    def release(self, connection: object) -> None:
        """The connection closed (idempotent: its protocol changes on a WebSocket upgrade)."""
        if id(connection) not in self._keys:
            return
        key = self._keys.pop(id(connection))
        self.total -= 1
        if key is not None:
            self.peers[key] -= 1
            if not self.peers[key]:
                del self.peers[key]


class AdmissionLimit:
    """ASGI middleware: requests and WebSockets admitted per client address and in all.

    The address is the one uvicorn resolved (X-Forwarded-For from a trusted proxy, else the peer),
    held to the budget's share. Past ``server.max_connections`` in all, only the operator gets in
    (a request carrying the token, or the console's own files, these with half the reserve).
    A WebSocket refused is accepted and closed with 1013 and the reason; HTTP gets 429 or 503.
    """

    def __init__(
        self, app: Any, budget: ConnectionBudget, is_operator: Callable[[dict[str, Any]], bool]
    ) -> None:
        self.app = app
        self.budget = budget
        self.is_operator = is_operator
        self.open: Counter[str] = Counter()
        self.console_files = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        budget = self.budget
        if budget.total <= budget.public:
            await self._per_address(scope, receive, send)
        elif self.is_operator(scope):
            await self.app(scope, receive, send)
        elif scope["path"] in CONSOLE_FILES and self.console_files < OPERATOR_RESERVE // 2:
            self.console_files += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self.console_files -= 1
        else:
            await _refuse(scope, send, 503, "the service is full; try again later")

    async def _per_address(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        address = address_key((scope.get("client") or ("unknown", 0))[0])
        if self.open[address] >= self.budget.share() and not self.is_operator(scope):
            await _refuse(scope, send, 429, "too many connections from your address; try again later")
            return
        self.open[address] += 1
        handed_over = False
        extensions = scope.get("extensions") or {}
        if (hand_over := extensions.get(HAND_OVER)) is not None:
            # A listener handed over outlives its app: it holds its place until its connection ends.

            def counted_hand_over(listener: Listener, on_gone: Callable[[], None]) -> None:
                nonlocal handed_over
                handed_over = True

                def gone() -> None:
                    on_gone()
                    self._leave(address)

                hand_over(listener, gone)

            extensions[HAND_OVER] = counted_hand_over
        try:
            await self.app(scope, receive, send)
        finally:
            if not handed_over:
                self._leave(address)

    def _leave(self, address: str) -> None:
        self.open[address] -= 1
        if not self.open[address]:
            del self.open[address]


CONSOLE_FILES = frozenset({"/console", *assets.loaded_by("console.html")})
"""The console page and everything it loads before it can present the token."""


async def _refuse(scope: dict[str, Any], send: Any, status: int, reason: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER, "reason": reason})
        return
    await plain.answer(send, status, reason, (b"retry-after", b"10"))
