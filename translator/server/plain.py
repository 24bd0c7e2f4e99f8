"""A plain-text HTTP answer sent straight through ASGI: for refusals made before the app is reached."""

from __future__ import annotations

from typing import Any


async def answer(send: Any, status: int, text: str, *headers: tuple[bytes, bytes]) -> None:
    """Send ``status`` with ``text`` as the whole body (and any extra headers)."""
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
