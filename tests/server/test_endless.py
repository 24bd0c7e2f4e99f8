"""Endless responses (an HTTP audio stream, Server-Sent Events) hold no place once their client has
gone: HEAD ends after the headers, and a close is seen even behind a pipelined request."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from harness.live import LiveServer, live_server
from tests.helpers import until
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.server import slow_clients

CLOSE_WAIT = "08"


def close_waits(port: int) -> int:
    """The server's sockets on ``port`` whose client has closed and that it has not (CLOSE-WAIT)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == CLOSE_WAIT:
            count += 1
    return count


async def listeners(server: LiveServer) -> int:
    async with httpx.AsyncClient(base_url=server.url) as client:
        body = (await client.get("/api/languages")).json()
    return next(t["listeners"] for t in body["targets"] if t["code"] == "es")


@pytest.mark.parametrize("path", ["/stream/es.ogg", "/sse/captions/es"])
@pytest.mark.parametrize("method", ["HEAD", "GET"])
async def test_an_endless_response_with_a_request_pipelined_behind_it_lets_go_on_close(
    talk: Path, path: str, method: str
) -> None:
    settings = load_settings(
        env={}, overrides={"engine": "local", "targets": ["es"], "audio.input": str(talk)}
    )
    async with live_server(settings, WavSource(talk, loop=True)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        pipelined = "GET /api/languages HTTP/1.1\r\nHost: x\r\n\r\n"
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n{pipelined}".encode())
        async with asyncio.timeout(10):
            answer = await reader.read(4096)
            assert answer.startswith(b"HTTP/1.1 200"), answer
            if method == "HEAD":
                # The headers, then the pipelined request's own answer: HEAD did not wait on the stream.
                while b"protocol" not in answer:
                    answer += await reader.read(4096)
        writer.close()
        await writer.wait_closed()
        await until(lambda: close_waits(server.port) == 0, within_s=5)
        await until(lambda: server.room.listeners("es") == 0, within_s=5)
        assert await listeners(server) == 0


async def test_a_stream_client_that_stops_reading_is_closed_and_a_reading_one_is_not(
    talk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slow_clients, "STALL_S", 2.0)
    settings = load_settings(
        env={}, overrides={"engine": "local", "targets": ["es"], "audio.input": str(talk)}
    )
    async with live_server(settings, WavSource(talk, loop=True)) as server:
        loop = asyncio.get_running_loop()
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # full in a second or two
        stalled.setblocking(False)
        await loop.sock_connect(stalled, ("127.0.0.1", server.port))
        await loop.sock_sendall(stalled, b"GET /stream/es.ogg HTTP/1.1\r\nHost: x\r\n\r\n")
        read = 0
        try:
            async with (
                httpx.AsyncClient(base_url=server.url) as client,
                client.stream("GET", "/stream/es.ogg") as steady,
            ):
                await until(lambda: server.room.listeners("es") == 2, within_s=10)
                # The steady client reads on until the stalled one is gone (its own place is kept).
                async with asyncio.timeout(40):
                    async for chunk in steady.aiter_bytes():
                        read += len(chunk)
                        if server.room.listeners("es") == 1:
                            break
                assert close_waits(server.port) == 0
        finally:
            stalled.close()
    assert read > 0
