"""What every HTTP request meets before the app: unusable paths and oversized headers refused,
HEAD answered as GET, ending with the headers, and the security headers on every response (errors and
refusals included)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from translator.server import plain
from translator.server.uvicorn_protocols import MAX_HEADER_BYTES
from translator.tasks import cancel_and_wait

HEAD_STOP_S = 2.0

# Everything the pages load is their own: no inline script, no third party. WebSockets are 'self'.
# 'wasm-unsafe-eval' lets the page compile the WebAssembly Opus decoder it serves itself (for
# browsers without WebCodecs); it allows no eval of JavaScript. The HLS page's player (hls.js) feeds
# the media element from a blob: (Media Source Extensions) and parses in a blob: worker.
_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob: data:; worker-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", f"{_CSP}; frame-ancestors 'self'".encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"SAMEORIGIN"),
)
FRAMEABLE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", _CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
"""The overlay's (a one-room server's and each room's): streaming studios frame it."""
FRAMEABLE_PATH = re.compile(r"/overlay|/r/[^/]+/overlay")
# No path the service serves holds a control character; a NUL reaches the file system as an error.
_UNUSABLE = re.compile(r"[\x00-\x1f\x7f]")


class Edge:
    """ASGI middleware in front of the app (see the module's docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        size = len(scope["raw_path"]) + len(scope["query_string"])
        size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        problem = (
            (431, "request headers too large")
            if size > MAX_HEADER_BYTES
            else (404, "not found")
            if _UNUSABLE.search(scope["path"])
            else None
        )
        if scope["type"] == "websocket":
            if problem is not None:
                await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
                return
            await self.app(scope, receive, send)
            return
        extra = FRAMEABLE_HEADERS if FRAMEABLE_PATH.fullmatch(scope["path"]) else SECURITY_HEADERS

        async def secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", ())}
                message["headers"] = [*message.get("headers", ()), *(h for h in extra if h[0] not in names)]
            await send(message)

        if problem is not None:
            await plain.answer(secured, *problem, (b"connection", b"close"))
            return
        if scope["method"] == "HEAD":
            await _headers_of_get(self.app, scope, receive, secured)
            return
        await self.app(scope, receive, secured)


async def _headers_of_get(app: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """HEAD: the app answers GET, and the answer ends with its headers. Then the app is told the
    client has gone, so that an endless body (an audio stream, Server-Sent Events) stops rather than
    run on for a client that will never read it, holding its connection, a place and an encoder;
    one that does not stop within `HEAD_STOP_S` is cancelled."""
    headed = asyncio.Event()
    read = False

    async def headers_only(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and not headed.is_set():
            await send(message)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            headed.set()

    async def gone_once_headed() -> dict[str, Any]:
        nonlocal read
        if not read:
            read = True
            return dict(await receive())  # the request (HEAD has no body)
        await headed.wait()
        return {"type": "http.disconnect"}

    answer = asyncio.create_task(app(dict(scope, method="GET"), gone_once_headed, headers_only), name="head")
    waiting = asyncio.create_task(headed.wait(), name="head-headers")
    try:
        await asyncio.wait({answer, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():
            await asyncio.wait({answer}, timeout=HEAD_STOP_S)
    finally:
        waiting.cancel()
        if not answer.done():
            # What the app does once stopped after the headers is nobody's concern.
            with contextlib.suppress(Exception):
                await cancel_and_wait(answer, HEAD_STOP_S)
    if not headed.is_set():
        answer.result()  # the app's own error, as for GET
