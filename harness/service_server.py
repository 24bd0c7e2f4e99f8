"""What the test servers of remote services share: an aiohttp app on a free port of 127.0.0.1 and,
for a WebSocket service, its one route, its open sockets (to drop them all, as a network failure
would), and ids for the events it sends."""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from typing import Self

from aiohttp import web


class LocalServer(ABC):
    """An aiohttp app on a free port of 127.0.0.1; start with `start()` (or ``async with``)."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.endpoint = ""
        """``http://127.0.0.1:PORT``, once started."""

    @abstractmethod
    def _routes(self, app: web.Application) -> None:
        """Add the service's routes to ``app``."""

    async def start(self) -> None:
        app = web.Application()
        self._routes(app)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.endpoint = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


class ServiceServer(LocalServer):
    """A remote service's test server; `endpoint` is what an engine is configured with."""

    route = "/"
    """The path the service's WebSocket is at."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self.sockets: list[web.WebSocketResponse] = []

    @abstractmethod
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one connection."""

    def _routes(self, app: web.Application) -> None:
        app.router.add_get(self.route, self._handle)

    async def drop_all(self) -> None:
        """Close every open connection, as a network failure or a service restart would."""
        for ws in list(self.sockets):
            await ws.close(code=1011, message=b"going away")

    def next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"
