"""The attacks of hardening round two, each against a real server on the offline engine: what an
attacker on the venue Wi-Fi could do before, and what the audience gets now."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
import websockets

from harness.live import free_port, listen, live_server, masked_frame, raw_websocket, talk_wav
from tests.helpers import Records, without_azure
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.engines.local.mt import ROUTES, ApertiumTranslator
from translator.errors import ConfigError
from translator.server import app, limits, log_limits, uvicorn_protocols
from translator.server.operator import MAX_WRONG_PER_MINUTE, resolve_token, token_file
from translator.transcripts.store import read_transcript


def local_settings(talk: Path, **overrides: object):
    return load_settings(
        env={}, overrides={"engine": "local", "targets": ["es"], "audio.input": str(talk)} | overrides
    )


@contextmanager
def recorded() -> Iterator[Records]:
    records = Records()
    root = logging.getLogger()
    root.addHandler(records)
    try:
        yield records
    finally:
        root.removeHandler(records)


@contextmanager
def small_disk(parent: Path) -> Iterator[Path]:
    """A 64 KB tmpfs of its own: a disk that can be filled and freed."""
    mount = parent / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"a full disk needs a small tmpfs, which this machine refuses: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` until the next write fails; the filler file is returned, to be removed."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as file, suppress(OSError):
        while True:
            file.write(b"\0" * 4096)
    with suppress(OSError), (disk / "crumbs").open("wb", buffering=0) as file:
        while True:
            file.write(b"\0")
    return filler


# 1. An empty operator-token file turned authentication off.


@pytest.mark.parametrize("stored", ["", "  \n", "short"])
def test_a_stored_token_that_is_empty_or_short_stops_start_up_naming_the_file(
    talk: Path, tmp_path: Path, stored: str
) -> None:
    path = tmp_path / "live-translator" / "operator-token"
    path.parent.mkdir()
    path.write_text(stored)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "TRANSLATOR_"))}
    result = subprocess.run(
        [sys.executable, "-m", "translator", "serve", "--input", str(talk), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        env=env | {"XDG_STATE_HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert (
        line.startswith("translator: error: server.operator_token: the stored token in ")
        and str(path) in line
    )
    assert "http" not in result.stdout


def test_a_configured_token_must_be_long_enough_and_is_never_echoed() -> None:
    for token in ("x", "fifteen-chars!!", " padded-token-of-twenty "):
        with pytest.raises(ConfigError) as refused:
            load_settings(env={"TRANSLATOR_OPERATOR_TOKEN": token})
        assert refused.value.field == "server.operator_token" and token.strip() not in str(refused.value)
    assert load_settings(env={"TRANSLATOR_OPERATOR_TOKEN": "a" * 16}).server.operator_token == "a" * 16


async def test_the_guard_fails_closed_when_the_expected_token_is_empty(talk: Path) -> None:
    async with live_server(local_settings(talk), WavSource(talk)) as server:
        server.rooms.operator_token = ""
        async with httpx.AsyncClient(base_url=server.url) as client:
            answers = [
                await client.get("/api/status"),
                await client.get("/api/status", headers={"Authorization": "Bearer"}),
                await client.post("/api/input", json={"paused": True}, headers={"X-Operator-Token": ""}),
            ]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert not server.room.pipeline.input.paused


def test_a_token_that_cannot_be_stored_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with small_disk(tmp_path) as disk:
        monkeypatch.setenv("XDG_STATE_HOME", str(disk))
        (disk / "live-translator").mkdir()
        filler = fill(disk)
        with pytest.raises(ConfigError) as refused:
            resolve_token(load_settings(env={}))
        assert "cannot store" in str(refused.value) and str(token_file()) in str(refused.value)
        assert list((disk / "live-translator").iterdir()) == [], "no empty or partial token file"
        filler.unlink()
        generated = resolve_token(load_settings(env={}))
        again = resolve_token(load_settings(env={}))
    assert generated.source == "generated" and again.source == "stored" and again.value == generated.value


# 2. One laptop shut out every new visitor.


async def test_held_requests_and_endless_bodies_are_closed_and_counted_per_address(
    talk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uvicorn_protocols, "REQUEST_TIMEOUT_S", 1.0)
    settings = local_settings(talk)
    settings.server.max_connections_per_address = 4
    async with live_server(settings, WavSource(talk, loop=True)) as server:

        def held() -> tuple[bytes, float]:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nG")  # one byte of a second request
            started, data = time.monotonic(), b""
            while chunk := sock.recv(65536):
                data += chunk
            sock.close()
            return data, time.monotonic() - started

        def endless(headers: bytes) -> tuple[int, float]:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(
                b"POST /api/input HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000000000\r\n" + headers + b"\r\n"
            )
            chunk, sent, started = b" " * 65536, 0, time.monotonic()
            try:
                while sent < 1_000_000_000:
                    sock.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass
            finally:
                sock.close()
            return sent, time.monotonic() - started

        def crowd() -> tuple[list[bool], float]:
            """As many connections as the address may hold, each with a request begun; then one more."""
            allowed = settings.server.max_connections_per_address + limits.ADDRESS_HEADROOM
            crowd = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(allowed)]
            for sock in crowd:
                sock.sendall(b"GET / HTTP/1.1\r\n")
            one_more = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            started = time.monotonic()
            refused_at_accept = one_more.recv(1) == b""
            waited = time.monotonic() - started
            closed = []
            for sock in crowd:
                closed.append(sock.recv(1) == b"")  # each within the deadline
                sock.close()
            one_more.close()
            return [refused_at_accept, *closed], waited

        answer, closed_after = await asyncio.to_thread(held)
        without_token = await asyncio.to_thread(endless, b"")
        with_token = await asyncio.to_thread(
            endless, f"X-Operator-Token: {server.rooms.operator_token}\r\n".encode()
        )
        monkeypatch.setattr(uvicorn_protocols, "REQUEST_TIMEOUT_S", 5.0)
        crowded, waited = await asyncio.to_thread(crowd)
        async with httpx.AsyncClient(base_url=server.url) as client:
            again = await client.get("/healthz")
    assert answer.startswith(b"HTTP/1.1 200") and closed_after < 4
    # Answered (401, 413) without reading the body, then closed: not 16 GB read and thrown away.
    for sent, seconds in (without_token, with_token):
        assert sent < 50_000_000 and seconds < 4, (sent, seconds)
    assert all(crowded) and waited < 1, "one more from the same address is closed at accept"
    assert again.status_code == 200, "the address's places are given again once its connections close"


def test_as_the_server_fills_each_address_gets_a_smaller_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MIN_SHARE", 2)
    budget = limits.ConnectionBudget(public=400, per_address=200)
    held: dict[str, int] = {}
    for n in range(2, 10):
        address = f"10.0.0.{n}"
        while budget.peers[address] < budget.share():
            assert budget.admit(object(), address)
        held[address] = budget.peers[address]
    # Eight addresses cannot take every place: a ninth still gets its share.
    assert budget.total < budget.public and budget.share() >= 2
    assert list(held.values()) == sorted(held.values(), reverse=True)
    assert held["10.0.0.2"] == 200 and held["10.0.0.9"] < 50, "shares shrink only as the server nears full"
    # IPv6 is counted per /64: a phone that picks new addresses in its /64 is still one address.
    assert limits.address_key("2001:db8:1:2::1") == limits.address_key("2001:db8:1:2:ffff::9")
    assert limits.address_key("::ffff:10.0.0.2") == "10.0.0.2"


async def test_eight_addresses_cannot_fill_the_server_and_the_operator_always_gets_in(
    talk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MIN_SHARE", 2)
    settings = local_settings(talk)
    settings.server.max_connections = 200
    settings.server.max_connections_per_address = 50
    async with live_server(settings, WavSource(talk, loop=True)) as server:
        held: list[websockets.ClientConnection] = []

        async def fill_from(address: str) -> int:
            count = 0
            while True:
                ws = await websockets.connect(
                    f"{server.ws}/ws/listen/es?audio=0", local_addr=(address, 0), compression=None
                )
                try:
                    await ws.recv()
                except websockets.ConnectionClosed as refused:
                    assert refused.rcvd is not None and refused.rcvd.code == 1013
                    return count
                held.append(ws)
                count += 1

        try:
            counts = [await fill_from(f"127.0.0.{n}") for n in range(2, 10)]
            ninth = await fill_from("127.0.0.10")
            # Then the public may fill the rest, one address at a time, until the server is full.
            for n in range(11, 200):
                if not await fill_from(f"127.0.0.{n}"):
                    break
            async with httpx.AsyncClient(base_url=server.url) as client:
                public = await client.get("/api/languages")
                operator = await client.get("/api/status", headers=server.operator)
        finally:
            await asyncio.gather(*(ws.close() for ws in held))
    assert counts[0] == 50 and counts == sorted(counts, reverse=True) and sum(counts) < 200, counts
    assert ninth >= 2, "a ninth address still gets in"
    assert public.status_code == 503 and operator.status_code == 200


# 3. A ping flood made the interpretation seconds late.


def _final_lags(received: list[tuple[float, dict]], talk_started_at: int) -> list[float]:
    return [at - (talk_started_at + c["end_ms"]) / 1000 for at, c in received if c["final"]]


async def _timed_finals(url: str, count: int) -> tuple[int, list[float]]:
    """A steady listener: the lag of each final caption, measured when it arrives."""
    async with websockets.connect(url, compression=None) as ws:
        hello = json.loads(await ws.recv())
        received: list[tuple[float, dict]] = []
        async with asyncio.timeout(60):
            while sum(c["final"] for _, c in received) < count:
                message = await ws.recv()
                if isinstance(message, str) and (data := json.loads(message))["type"] == "caption":
                    received.append((time.time(), data))
    return hello["talk_started_at"], _final_lags(received, hello["talk_started_at"])


async def test_a_ping_flood_is_cut_off_and_a_steady_listener_keeps_its_lag(talk: Path) -> None:
    async with live_server(local_settings(talk), WavSource(talk, loop=True)) as server:
        url = f"{server.ws}/ws/listen/es"
        _, baseline = await _timed_finals(url, 2)

        def flood() -> tuple[int, float]:
            """Pings as fast as the socket takes them, reading every pong, until cut off."""
            sock = raw_websocket(server.port, "/ws/listen/es?audio=0")
            sock.setblocking(False)
            ping = masked_frame(0x9, b"p" * 125)
            sent, started = 0, time.monotonic()
            try:
                while time.monotonic() - started < 20:
                    with suppress(BlockingIOError):
                        sent += sock.send(ping * 100) // len(ping)
                    with suppress(BlockingIOError):
                        if not sock.recv(1 << 20):
                            break
            except OSError:
                pass  # reset: the server closed while pings were still arriving
            sock.close()
            return sent, time.monotonic() - started

        def burst() -> bytes:
            """A few dozen pings, then listening: the close frame says why."""
            sock = raw_websocket(server.port, "/ws/listen/es?audio=0")
            sock.sendall(masked_frame(0x9, b"p") * 40)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            sock.close()
            return data

        flooders = [asyncio.to_thread(flood) for _ in range(3)]
        (_, during), *flooded = await asyncio.gather(_timed_finals(url, 2), *flooders)
        told = await asyncio.to_thread(burst)
    for sent, seconds in flooded:
        assert sent < 100_000 and seconds < 5, (sent, seconds)
    assert told.endswith(b"\x03\xf0too many pings: listeners only receive"), told[-64:]
    assert max(during) <= max(baseline) + 0.5, (baseline, during)


# 4. Log flood and forged log lines, without a token.


async def test_unusable_paths_are_404_and_what_a_client_sent_cannot_forge_a_log_line(talk: Path) -> None:
    with recorded() as records:
        async with (
            live_server(local_settings(talk), WavSource(talk)) as server,
            httpx.AsyncClient(base_url=server.url) as client,
        ):
            answers = [await client.get("/static/%00") for _ in range(200)]
            forged = await client.get("/static/x%0a2026-12-01 WARNING operator token accepted from 10.0.0.66")
            bad_language = await client.delete("/api/languages/x%0aforged", headers=server.operator)
    assert {a.status_code for a in answers} == {404} and forged.status_code == 404
    assert bad_language.status_code == 404 and "\n" not in bad_language.text
    assert "content-security-policy" in answers[0].headers, "error answers carry the security headers"
    lines = records.lines()
    assert len(lines) < 10, lines
    assert not any("operator token accepted" in line for line in lines)
    assert not any(r.exc_info for r in records.records)


async def test_unexpected_errors_are_logged_once_a_minute_per_kind_with_a_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app, "_unexpected", log_limits.Windows())
    scope = {"method": "GET", "path": "/x\n2026-12-01 WARNING forged", "route_handler": None}
    with recorded() as records:
        for _ in range(50):
            await app._log_unexpected(ValueError("a bug"), scope)  # type: ignore[arg-type]
        await app._log_unexpected(KeyError("another"), scope)  # type: ignore[arg-type]
    lines = [r.getMessage() for r in records.records]
    assert len(lines) == 2, lines
    assert all("\n" not in line and "/x\\n2026" in line for line in lines)


# 5. A Turkish name broke the glossary.


async def test_names_with_dotted_capitals_sharp_s_and_final_sigma_are_kept_in_every_sentence() -> None:
    translator = ApertiumTranslator(ROUTES["en"]["es"], {})
    names = {"İstanbul": "İstanbul", "İlkay": "İlkay", "Straße": "Straße", "Σοφός": "Σοφός"}
    sentences = [
        "Welcome to istanbul.",
        "İlkay lives in İstanbul.",
        "ISTANBUL is big.",
        "The Straße is long.",
        "Σοφός came.",
    ]
    try:
        translated = [await translator.translate(text, names) for text in sentences]
    finally:
        await asyncio.gather(*(stage.stop() for stage in translator.stages))
    assert "İstanbul" in translated[0] and "Bienvenido" in translated[0], translated
    assert "İlkay" in translated[1] and "İstanbul" in translated[1], translated
    assert translated[2].startswith("İstanbul"), translated
    assert "Straße" in translated[3] and "Σοφός" in translated[4], translated


# 6. The transcript stopped for good after one "disk full".


async def test_the_transcript_resumes_after_a_full_disk_and_shows_its_state(tmp_path: Path) -> None:
    talk = talk_wav(
        ["Good morning everyone.", "Please turn off your phones.", "Thank you for coming."],
        tmp_path / "talk.wav",
    )
    with small_disk(tmp_path) as disk:
        settings = local_settings(talk)
        settings.transcripts.directory = str(disk / "talks")
        (disk / "talks").mkdir()
        filler = fill(disk)
        async with (
            live_server(settings, WavSource(talk, loop=True)) as server,
            httpx.AsyncClient(base_url=server.url, headers=server.operator) as client,
        ):
            pipeline = server.room.pipeline
            url = f"{server.ws}/ws/listen/es?audio=0"
            # Waits on captions: each one is a write, or a retry once the back-off is over.
            await listen(url, lambda _: pipeline.transcript_status().pending >= 2, within_s=60)
            failing = (await client.get("/api/status")).json()["transcript"]
            metrics = (await client.get("/metrics")).text
            ready = (await client.get("/readyz")).json()
            filler.unlink()
            status = pipeline.transcript_status
            await listen(url, lambda _: status().state == "writing" and not status().pending, within_s=90)
            writing = (await client.get("/api/status")).json()["transcript"]
            written = {
                c.utterance
                for c in read_transcript(disk / "talks", next((disk / "talks").glob("*.jsonl")).stem).captions
            }
    assert failing["state"] == "failing" and "No space left" in failing["detail"] and failing["pending"] >= 2
    assert 'translator_transcript_failing{room="main"} 1.0' in metrics
    assert ready["transcript"] == "failing"
    assert writing == {"state": "writing", "detail": "", "pending": 0, "dropped": 0}
    assert {1, 2} <= written, "the captions from while the disk was full were kept and written"


# 8. The operator token: guesses.


async def test_wrong_tokens_are_limited_per_address_and_counted_in_one_line(talk: Path) -> None:
    with recorded() as records:
        async with (
            live_server(local_settings(talk), WavSource(talk)) as server,
            httpx.AsyncClient(base_url=server.url) as client,
        ):
            wrong = [
                (await client.get("/api/status", headers={"X-Operator-Token": f"guess-{n:012d}"})).status_code
                for n in range(MAX_WRONG_PER_MINUTE + 5)
            ]
            right_but_blocked = await client.get("/api/status", headers=server.operator)
    assert wrong == [401] * MAX_WRONG_PER_MINUTE + [429] * 5
    assert right_but_blocked.status_code == 429 and right_but_blocked.headers["retry-after"] == "60"
    guesses = [line for line in records.lines() if "wrong operator token" in line]
    assert len(guesses) == 1 and "guess-" not in guesses[0]


# 9. SIGHUP killed the server at once.


async def test_sighup_stops_the_server_as_sigterm_does(talk: Path, tmp_path: Path) -> None:
    port = free_port()
    env = without_azure()
    env |= {"TRANSLATOR_OPERATOR_TOKEN": "sighup-test-operator-token", "XDG_DATA_HOME": str(tmp_path)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "translator", "serve", "--input", str(talk), "--loop",
        "--target", "es", "--port", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        printed: list[bytes] = []
        async with asyncio.timeout(120):
            while b"Press Ctrl+C" not in (line := await process.stdout.readline()):
                printed.append(line)
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/listen/es")
        await ws.recv()
        process.send_signal(signal.SIGHUP)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(30):
                while True:
                    await ws.recv()
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert b"stopping: SIGHUP received" in stderr
    # The console's address, and that phones cannot reach it; a token it did not make, never.
    assert b"/console  (with the operator token you configured)" in b"".join(printed)
    assert b"sighup-test-operator-token" not in b"".join(printed) + stderr
    assert b"phones cannot reach this address" in b"".join(printed)


# 10. The smaller items.


async def test_bad_bodies_are_4xx_and_languages_change_one_at_a_time(talk: Path) -> None:
    async with (
        live_server(local_settings(talk, targets=["es", "fr"]), WavSource(talk, loop=True)) as server,
        httpx.AsyncClient(base_url=server.url, headers=server.operator) as client,
    ):
        deep = await client.put(
            "/api/glossary",
            content=b"[" * 100_000 + b"]" * 100_000,
            headers={"Content-Type": "application/json"},
        )
        refused = [
            await client.put("/api/glossary", json={"keep": [text]})
            for text in ("Ana\x00Lucía", "\u202eevil", "\u200b", "a\u2028b")
        ]
        kept = await client.put("/api/glossary", json={"keep": ["İstanbul", "می\u200cخواهم"]})
        added, removed = await asyncio.gather(
            client.post("/api/languages", json={"code": "it"}), client.delete("/api/languages/it")
        )
        both = await asyncio.gather(client.delete("/api/languages/es"), client.delete("/api/languages/fr"))
        offered = [t["code"] for t in (await client.get("/api/languages")).json()["targets"]]
    # Read against the glossary's own shape: refused at its first bracket, never recursed into.
    assert deep.status_code == 400 and "Expected `object`, got `array`" in deep.text
    assert [r.status_code for r in refused] == [400] * 4
    assert all("glossary.keep[0]" in r.text for r in refused)
    assert kept.status_code == 200
    assert added.status_code == 201 and removed.status_code in (200, 404), removed.text
    assert sorted(r.status_code for r in both) in ([200, 409], [200, 200]) and offered, (both, offered)
    assert len(offered) >= 1


async def test_head_header_caps_origins_and_uncompressed_audio(talk: Path) -> None:
    settings = local_settings(talk)
    settings.server.max_pcm_listeners_per_address = 2
    async with live_server(settings, WavSource(talk, loop=True)) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            heads = [await client.head(path) for path in ("/", "/join", "/healthz", "/readyz")]
            big = await client.get("/", headers={f"X-Big-{n}": "a" * 1000 for n in range(40)})
        own = await websockets.connect(f"{server.ws}/ws/listen/es", origin=server.url)
        hello = json.loads(await own.recv())
        with pytest.raises(websockets.ConnectionClosed) as foreign:
            async with websockets.connect(f"{server.ws}/ws/listen/es", origin="https://evil.example") as ws:
                await ws.recv()
        pcm = [await websockets.connect(f"{server.ws}/ws/listen/es?codec=pcm") for _ in range(2)]
        with pytest.raises(websockets.ConnectionClosed) as third:
            async with websockets.connect(f"{server.ws}/ws/listen/es?codec=pcm") as ws:
                await ws.recv()
        opus = await websockets.connect(f"{server.ws}/ws/listen/es?codec=opus")
        opus_hello = json.loads(await opus.recv())
        await asyncio.gather(*(ws.close() for ws in [own, opus, *pcm]))
    assert [h.status_code for h in heads][:3] == [200, 200, 200] and all(not h.content for h in heads)
    assert heads[3].status_code in (200, 503)
    assert big.status_code == 431, "headers over 32 KB are refused however they arrive"
    assert hello["type"] == "hello", "the service's own pages may listen"
    assert foreign.value.rcvd is not None and foreign.value.rcvd.code == 1008
    assert "evil.example" in foreign.value.rcvd.reason
    assert (
        third.value.rcvd is not None
        and third.value.rcvd.code == 1013
        and "codec=opus" in third.value.rcvd.reason
    )
    assert opus_hello["type"] == "hello"
