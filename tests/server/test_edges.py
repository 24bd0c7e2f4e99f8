"""The service's edges under careless or hostile use: a real server on the offline engine, real
clients, raw sockets where a client library would refuse to misbehave."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

from harness.live import listen, live_server, masked_frame, raw_websocket
from tests.helpers import Records, without_azure
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.server import limits, uvicorn_protocols
from translator.server.operator import resolve_token


def local_settings(talk: Path):
    return load_settings(env={}, overrides={"engine": "local", "targets": ["es"], "audio.input": str(talk)})


async def closed_with(url: str) -> tuple[int, str]:
    async with websockets.connect(url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_long_names_get_their_close_code_with_a_reason_that_fits(talk: Path) -> None:
    async with live_server(local_settings(talk), WavSource(talk)) as server:
        code, reason = await closed_with(f"{server.ws}/ws/listen/{'x' * 100}")
        assert code == 4404 and len(reason.encode()) <= 123 and reason.endswith("...")
        code, reason = await closed_with(f"{server.ws}/ws/listen/es?codec={'é' * 100}")
        assert code == 4400 and len(reason.encode()) <= 123


async def test_listeners_hear_going_away_on_shutdown(talk: Path) -> None:
    async with live_server(local_settings(talk), WavSource(talk, loop=True)) as server:
        ws = await websockets.connect(f"{server.ws}/ws/listen/es")
        await ws.recv()
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


async def test_pages_carry_security_headers_and_the_schema_is_off(talk: Path) -> None:
    async with (
        live_server(local_settings(talk), WavSource(talk)) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        audience, overlay, room_overlay, script = [
            await client.get(path) for path in ("/", "/overlay", "/r/main/overlay", "/static/audience.js")
        ]
        status = await client.get("/api/status", headers=server.operator)
        schema = [(await client.get(path)).status_code for path in ("/schema", "/schema/swagger")]
    for response in (audience, overlay, script, status):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    # Scripts are the service's own; WebAssembly may be compiled (the Opus decoder), JavaScript never eval'd.
    assert "script-src 'self' 'wasm-unsafe-eval';" in audience.headers["content-security-policy"]
    assert "'unsafe-eval'" not in audience.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in audience.headers["content-security-policy"]
    assert audience.headers["x-frame-options"] == "SAMEORIGIN"
    # OBS and streaming studios may frame the overlay, a one-room server's and each room's.
    for framed in (overlay, room_overlay):
        assert framed.status_code == 200
        assert "frame-ancestors" not in framed.headers["content-security-policy"]
        assert "x-frame-options" not in framed.headers
    assert schema == [404, 404]
    assert status.json()["input"]["description"] == f"WAV file {talk.name}"
    assert str(talk.parent) not in status.text


async def test_invalid_utf8_is_closed_1007_and_logged_once_without_a_traceback(talk: Path) -> None:
    records = Records()
    try:
        async with live_server(local_settings(talk), WavSource(talk, loop=True)) as server:
            # After uvicorn has configured its loggers.
            logging.getLogger("uvicorn.error").addHandler(records)
            healthy = asyncio.create_task(listen(f"{server.ws}/ws/listen/es", lambda r: len(r.finals()) >= 1))

            def misbehave() -> bytes:
                sock = raw_websocket(server.port, "/ws/listen/es")
                sock.sendall(masked_frame(0x1, b"\xff\xfe not utf-8"))
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                sock.close()
                return data

            for _ in range(20):
                assert struct.pack("!H", 1007) in await asyncio.to_thread(misbehave)
            received = await healthy
    finally:
        logging.getLogger("uvicorn.error").removeHandler(records)
    assert received.finals(), "the other listener noticed nothing"
    utf8 = [r for r in records.records if "UTF-8" in r.getMessage()]
    assert len(utf8) == 1 and utf8[0].exc_info is None, "one line a minute, no traceback"


async def test_a_client_that_pings_and_never_reads_is_cut_off(talk: Path) -> None:
    async with live_server(local_settings(talk), WavSource(talk, loop=True)) as server:
        healthy = asyncio.create_task(listen(f"{server.ws}/ws/listen/es", lambda r: len(r.finals()) >= 2))

        def flood() -> int:
            sock = raw_websocket(server.port, "/ws/listen/es")
            sock.settimeout(10)
            pings = masked_frame(0x9, b"p" * 125) * 1000
            sent = 0
            try:
                while sent < 200_000_000:
                    sock.sendall(pings)
                    sent += len(pings)
            except OSError:
                return sent
            finally:
                sock.close()
            return -1

        sent = await asyncio.to_thread(flood)
        received = await healthy
    # Loopback buffers hold a few MB each way; past them the server's own buffer is bounded.
    assert 0 < sent < 50_000_000
    assert len(received.finals()) >= 2


async def test_slow_and_huge_request_headers_are_cut_off(talk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uvicorn_protocols, "REQUEST_TIMEOUT_S", 1.0)
    async with live_server(local_settings(talk), WavSource(talk)) as server:

        def slow() -> float:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            assert sock.recv(1024) == b""
            sock.close()
            return time.monotonic() - started

        def huge() -> bytes:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            with contextlib.suppress(OSError):
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n")
            data = sock.recv(1024)
            sock.close()
            return data

        closed_after = await asyncio.to_thread(slow)
        answer = await asyncio.to_thread(huge)
    assert 0.5 < closed_after < 5
    assert answer.startswith(b"HTTP/1.1 4") and not answer.startswith(b"HTTP/1.1 200")


async def test_connections_are_capped_per_address_and_in_all(talk: Path) -> None:
    settings = local_settings(talk)
    settings.server.max_connections_per_address = 3
    async with live_server(settings, WavSource(talk, loop=True)) as server:
        sockets = [await websockets.connect(f"{server.ws}/ws/listen/es") for _ in range(3)]
        code, reason = await closed_with(f"{server.ws}/ws/listen/es")
        for ws in sockets:
            await ws.close()
        assert code == 1013 and "too many connections from your address" in reason
        again = await websockets.connect(f"{server.ws}/ws/listen/es")
        assert json.loads(await again.recv())["type"] == "hello", "a freed place is given again"
        await again.close()
    settings = local_settings(talk)
    settings.server.max_connections = 4
    async with live_server(settings, WavSource(talk, loop=True)) as server:
        sockets = [await websockets.connect(f"{server.ws}/ws/listen/es") for _ in range(4)]
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/healthz")).status_code == 503
        for ws in sockets:
            await ws.close()


async def test_a_crowd_of_idle_connections_cannot_take_the_server_down(
    talk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No request deadline comes into it: only the places counted at accept close connections here.
    monkeypatch.setattr(uvicorn_protocols, "REQUEST_TIMEOUT_S", 60.0)
    settings = local_settings(talk)
    settings.server.max_connections = 8
    bound = 8 + limits.OPERATOR_RESERVE + limits.ACCEPT_HEADROOM
    async with live_server(settings, WavSource(talk, loop=True)) as server:

        def still_open(sock: socket.socket) -> bool:
            try:
                return sock.recv(1, socket.MSG_PEEK) != b""
            except BlockingIOError:
                return True
            except ConnectionError:
                return False

        def crowd() -> int:
            """Open 300 idle connections; how many the server keeps once it has accepted them all
            (it takes its time on a busy machine: looked at until few enough remain, 20 s at most)."""
            idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(300)]
            for sock in idle:
                sock.setblocking(False)
            deadline = time.monotonic() + 20
            while (kept := sum(map(still_open, idle))) > bound and time.monotonic() < deadline:
                time.sleep(0.05)
            for sock in idle:
                sock.close()
            return kept

        def health() -> int:
            """/healthz once the closed crowd's places are back (as the server sees each go), 10 s at most."""
            deadline = time.monotonic() + 10
            with httpx.Client(base_url=server.url) as client:
                while (status := client.get("/healthz").status_code) != 200 and time.monotonic() < deadline:
                    time.sleep(0.05)
            return status

        kept = await asyncio.to_thread(crowd)
        status = await asyncio.to_thread(health)
    assert kept <= bound, "the rest were closed at accept"
    assert status == 200


def test_a_busy_port_is_one_line_before_any_url(tmp_path: Path) -> None:
    busy = socket.create_server(("127.0.0.1", 0))
    port = busy.getsockname()[1]
    try:
        result = subprocess.run(
            [sys.executable, "-m", "translator", "serve", "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env=without_azure(),
        )
    finally:
        busy.close()
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        f"translator: error: cannot listen on 127.0.0.1:{port}: the port is in use "
        "(is another translator running?); choose another with --port"
    ]
    assert "http" not in result.stdout and "loading" not in result.stdout


def test_a_bad_certificate_is_one_line(tmp_path: Path) -> None:
    pem = tmp_path / "bad.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    result = subprocess.run(
        [sys.executable, "-m", "translator", "serve", "--tls-cert", str(pem), "--tls-key", str(pem)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("translator: error: server.tls_cert: not a usable certificate and key pair")
    assert result.stdout == ""


async def test_operator_surfaces_need_the_token(
    talk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_server(local_settings(talk), WavSource(talk)) as server:
        token = server.rooms.operator_token
        async with httpx.AsyncClient(base_url=server.url) as client:
            refused = [
                await client.get("/api/status"),
                await client.get("/api/status", headers={"Authorization": "Bearer wrong"}),
                await client.get("/api/status", headers={"X-Operator-Token": token[:-1]}),
                # Never from the URL: it would land in history, bookmarks and logs.
                await client.get("/api/status", params={"token": token}),
            ]
            allowed = [
                await client.get("/api/status", headers={"Authorization": f"Bearer {token}"}),
                await client.get("/api/status", headers={"X-Operator-Token": token}),
            ]
            public = [await client.get(p) for p in ("/api/languages", "/readyz", "/healthz", "/", "/join")]
    assert [r.status_code for r in refused] == [401, 401, 401, 401]
    assert refused[0].headers["www-authenticate"].startswith("Bearer")
    assert [r.status_code for r in allowed] == [200, 200]
    assert all(r.status_code in (200, 503) for r in public)
    assert not any(token in r.text for r in refused + public)
    # Unset, a token is generated once, kept owner-only, and the same one is found again.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    settings = local_settings(talk)
    first, again = resolve_token(settings), resolve_token(settings)
    assert first.source == "generated" and again.source == "stored" and first.value == again.value
    assert first.path is not None and first.path.stat().st_mode & 0o777 == 0o600
    assert first.value not in repr(first) and "operator_token='***'" in repr(
        load_settings(env={"TRANSLATOR_OPERATOR_TOKEN": "s3cret-s3cret-s3cret"}).server
    )
