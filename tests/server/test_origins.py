"""Only this service's pages, and those the operator allowed, make browsers listen: on WebSockets,
audio streams and Server-Sent Events alike; a page on a rebound name is another site's."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import websockets

from harness.live import LiveServer, live_server
from translator.audio.wav import WavSource
from translator.config import load_settings

STREAMS = ("/stream/es.ogg", "/sse/captions/es")


async def websocket_answer(server: LiveServer, headers: dict[str, str]) -> int | str:
    """The start of the hello, or the close code (a "Host" header names the host asked for)."""
    extra = {name: value for name, value in headers.items() if name != "Host"}
    asked = headers.get("Host", f"127.0.0.1:{server.port}")
    try:
        async with websockets.connect(
            f"ws://{asked}/ws/listen/es?audio=0",
            host="127.0.0.1",  # wherever the name points: here
            additional_headers=extra,
            compression=None,
        ) as ws:
            return str(await ws.recv())[:16]
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code


async def http_answer(server: LiveServer, path: str, headers: dict[str, str]) -> int:
    async with (
        httpx.AsyncClient(base_url=server.url) as client,
        client.stream("GET", path, headers=headers, timeout=10) as response,
    ):
        return response.status_code


@pytest.fixture
async def server(talk: Path):
    settings = load_settings(
        env={}, overrides={"engine": "local", "targets": ["es"], "audio.input": str(talk)}
    )
    settings.server.allowed_origins = ["https://partner.example"]
    async with live_server(settings, WavSource(talk, loop=True)) as running:
        yield running


async def test_a_page_on_a_rebound_name_or_another_site_cannot_listen(server: LiveServer) -> None:
    rebound = {"Origin": f"http://rebind.example:{server.port}", "Host": f"rebind.example:{server.port}"}
    cross_site = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "audio"}
    assert await websocket_answer(server, rebound) == 1008
    for path in STREAMS:
        assert await http_answer(server, path, rebound) == 403
        assert await http_answer(server, path, cross_site) == 403
        assert await http_answer(server, path, {"Origin": "null"}) == 403


async def test_own_pages_allowed_pages_and_players_listen(server: LiveServer) -> None:
    own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    by_address = {"Origin": f"http://127.0.0.1:{server.port}", "Host": f"127.0.0.1:{server.port}"}
    partner = {"Origin": "https://partner.example", "Sec-Fetch-Site": "cross-site"}
    for headers in (own, by_address, partner):
        assert str(await websocket_answer(server, headers)).startswith('{"type":"hello"')
    for path in STREAMS:
        for headers in (own, partner, {}):  # {}: OBS, VLC, ffmpeg send neither header
            assert await http_answer(server, path, headers) == 200
