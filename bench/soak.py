"""A soak: the real server (offline engine, the demo talk on a loop) under churn, misbehaving
clients and injected engine faults, for a few minutes. Memory over time should be flat; tasks and
listeners should come back to where they started; every fault should be recovered from; steady
listeners should lose no caption.

    python -m bench.soak --talk build/demo-talk.wav --minutes 3 --out bench/results/soak.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import websockets

from harness.live import free_port, masked_frame, raw_websocket

TOKEN = "soak-operator-token"


@dataclass
class Soak:
    memory: list[tuple[float, float]] = field(default_factory=list)
    faults_injected: int = 0
    faults_recovered: int = 0
    misbehavers: int = 0
    churned: int = 0
    steady_finals: dict[str, list[int]] = field(default_factory=dict)
    attacks: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per kind of misbehaving client: tried, handled as the server should (closed, refused)."""
    log_bytes: int = 0
    failed_translations: int = 0
    tasks_before: int = 0
    tasks_after: int = 0
    listeners_after: int = -1


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def apertium_groups(pid: int) -> list[int]:
    """The process groups of the server's Apertium pipelines (each its own session, led by bash)."""
    groups = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid and int(fields[2]) == int(entry.name):
                    groups.append(int(entry.name))
    return groups


async def steady(url: str, lang: str, soak: Soak, stop: asyncio.Event) -> None:
    finals: dict[int, str] = {}
    async with websockets.connect(f"{url}/ws/listen/{lang}", compression=None) as ws:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                message = await asyncio.wait_for(ws.recv(), 1)
                if isinstance(message, str) and '"caption"' in message and '"final":true' in message:
                    import json

                    caption = json.loads(message)
                    finals[caption["id"]] = caption["text"]
    soak.steady_finals[lang] = sorted(finals)
    soak.failed_translations += sum(not text for text in finals.values())


async def churn(url: str, soak: Soak, stop: asyncio.Event) -> None:
    async def one() -> None:
        lang = random.choice(["es", "fr"])
        async with websockets.connect(f"{url}/ws/listen/{lang}", compression=None) as ws:
            end = time.monotonic() + random.uniform(2, 10)
            while time.monotonic() < end:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 1)

    tasks: set[asyncio.Task[None]] = set()
    while not stop.is_set():
        task = asyncio.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        soak.churned += 1
        await asyncio.sleep(0.5)
    await asyncio.gather(*tasks, return_exceptions=True)


def _read_to_end(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def pings_never_read(port: int) -> bool:
    sock = raw_websocket(port, "/ws/listen/es")
    pings = masked_frame(0x9, b"p" * 125) * 1000
    with contextlib.suppress(OSError):
        for _ in range(100):
            sock.sendall(pings)
        return False
    return True


def invalid_utf8(port: int) -> bool:
    sock = raw_websocket(port, "/ws/listen/fr")
    sock.sendall(masked_frame(0x1, b"\xff\xfe"))
    return b"\x03\xef" in _read_to_end(sock)  # 1007


def never_reads(port: int) -> bool:
    sock = raw_websocket(port, "/ws/listen/es")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    time.sleep(20)
    sock.settimeout(30)
    try:
        while sock.recv(1 << 20):
            pass
    except TimeoutError:
        return False  # still open: not evicted
    except OSError:
        pass
    return True


def half_a_request(port: int) -> bool:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"GET / HTTP/1.1\r\n")
    return _read_to_end(sock) == b""


def held_second_request(port: int) -> bool:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nG")
    started = time.monotonic()
    return _read_to_end(sock).startswith(b"HTTP/1.1 200") and time.monotonic() - started < 15


def endless_body(port: int) -> bool:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"POST /api/input HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n\r\n")
    sent = 0
    with contextlib.suppress(OSError):
        while sent < 200_000_000:
            sock.sendall(b" " * 65536)
            sent += 65536
    return sent < 50_000_000


def ping_flood(port: int) -> bool:
    sock = raw_websocket(port, "/ws/listen/es?audio=0")
    sock.setblocking(False)
    ping, started = masked_frame(0x9, b"p" * 125), time.monotonic()
    with contextlib.suppress(OSError):
        while time.monotonic() - started < 10:
            with contextlib.suppress(BlockingIOError):
                sock.send(ping * 100)
            with contextlib.suppress(BlockingIOError):
                if not sock.recv(1 << 20):
                    break
    return time.monotonic() - started < 5


def log_flood(port: int) -> bool:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        answers = [client.get("/static/%00").status_code for _ in range(100)]
        answers.append(client.get("/static/x%0aWARNING operator token accepted").status_code)
    return set(answers) == {404}


def token_guesses(port: int) -> bool:
    # From an address of its own: the guesser's address is refused for a minute, right token or not.
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport) as client:
        answers = [
            client.get("/api/status", headers={"X-Operator-Token": f"guess-{n:012d}"}).status_code
            for n in range(15)
        ]
    return answers[-1] == 429


def foreign_origin(port: int) -> bool:
    sock = raw_websocket(port, "/ws/listen/es", origin="https://evil.example")
    return b"\x03\xf0" in _read_to_end(sock)  # 1008


ATTACKS = {
    "pings, never reads": pings_never_read,
    "invalid UTF-8": invalid_utf8,
    "never reads (evicted)": never_reads,
    "half an HTTP request": half_a_request,
    "a second request held open": held_second_request,
    "an endless body": endless_body,
    "a ping flood that reads its pongs": ping_flood,
    "/static/%00 and a forged log line": log_flood,
    "wrong operator tokens": token_guesses,
    "a WebSocket from a foreign page": foreign_origin,
}


def misbehave(port: int, name: str, soak: Soak) -> None:
    tried, handled = soak.attacks.get(name, (0, 0))
    try:
        ok = ATTACKS[name](port)
    except OSError:
        ok = False
    soak.attacks[name] = (tried + 1, handled + ok)


async def misbehavers(port: int, soak: Soak, stop: asyncio.Event) -> None:
    names, kind = list(ATTACKS), 0
    loop = asyncio.get_running_loop()
    running: set[asyncio.Future[None]] = set()
    while not stop.is_set():
        future = loop.run_in_executor(None, misbehave, port, names[kind % len(names)], soak)
        running.add(future)
        future.add_done_callback(running.discard)
        soak.misbehavers += 1
        kind += 1
        await asyncio.sleep(5)
    await asyncio.gather(*running, return_exceptions=True)


async def faults(pid: int, url: str, soak: Soak, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        while not stop.is_set():
            await asyncio.sleep(20)
            groups = apertium_groups(pid)
            if not groups or stop.is_set():
                continue
            group = random.choice(groups)
            soak.faults_injected += 1
            if soak.faults_injected % 2:
                os.killpg(group, signal.SIGSTOP)  # a hang; the engine kills it after 5 s
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
            deadline = time.monotonic() + 30
            await asyncio.sleep(6)
            while time.monotonic() < deadline:
                if (await client.get("/readyz")).status_code == 200:
                    soak.faults_recovered += 1
                    break
                await asyncio.sleep(0.5)


async def run(talk: Path, seconds: float) -> Soak:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    with tempfile.TemporaryFile() as log:
        soak = await _soak(talk, seconds, port, env, log)
        soak.log_bytes = log.seek(0, os.SEEK_END)
    return soak


async def _soak(talk: Path, seconds: float, port: int, env: dict[str, str], log: IO[bytes]) -> Soak:
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "translator", "serve", "--engine", "local", "--input", str(talk), "--loop"),
        *("--port", str(port), "--target", "es", "--target", "fr"),
        env=env | {"TRANSLATOR_OPERATOR_TOKEN": TOKEN},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log,
    )
    url, soak, stop = f"http://127.0.0.1:{port}", Soak(), asyncio.Event()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            soak.tasks_before = (await client.get("/api/status", headers=headers)).json()["tasks"]
            ws_url = f"ws://127.0.0.1:{port}"
            workers = [
                asyncio.create_task(steady(ws_url, "es", soak, stop)),
                asyncio.create_task(steady(ws_url, "fr", soak, stop)),
                asyncio.create_task(churn(ws_url, soak, stop)),
                asyncio.create_task(misbehavers(port, soak, stop)),
                asyncio.create_task(faults(server.pid, url, soak, stop)),
            ]
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                soak.memory.append((time.monotonic() - started, rss_mb(server.pid)))
                print(f"soak: {soak.memory[-1][0]:5.0f} s  RSS {soak.memory[-1][1]:6.1f} MB", flush=True)
                await asyncio.sleep(10)
            stop.set()
            await asyncio.gather(*workers)
            await asyncio.sleep(25)  # the stalled and half-open misbehavers time out
            status = (await client.get("/api/status", headers=headers)).json()
            soak.tasks_after = status["tasks"]
            soak.listeners_after = sum(t["listeners"] for t in status["languages"])
            soak.memory.append((time.monotonic() - started, rss_mb(server.pid)))
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 20)
    return soak


def report(soak: Soak, seconds: float) -> str:
    rss = [m for _, m in soak.memory]
    late = rss[len(rss) // 2 :]
    # Caption ids are consecutive: a gap between the first and the last a listener saw is a loss.
    lost = {lang: ids[-1] - ids[0] + 1 - len(ids) if ids else -1 for lang, ids in soak.steady_finals.items()}
    lines = [
        f"# Soak: {seconds / 60:g} minutes on the offline engine (es, fr), the demo talk on a loop",
        "",
        "Churn: a listener joining every 0.5 s for 2–10 s. Misbehaving clients every 5 s in turn",
        "(the attacks below).",
        "Engine faults every ~26 s: an Apertium pipeline hung (SIGSTOP) or killed (SIGKILL).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| server RSS first / max / last (MB) | {rss[0]:.0f} / {max(rss):.0f} / {rss[-1]:.0f} |",
        f"| server RSS, second half, max − min (MB) | {max(late) - min(late):.1f} |",
        f"| listeners churned / misbehaving clients | {soak.churned} / {soak.misbehavers} |",
        f"| faults injected / recovered (ready again) | {soak.faults_injected} / {soak.faults_recovered} |",
        f"| event-loop tasks before / after all left | {soak.tasks_before} / {soak.tasks_after} |",
        f"| listeners left after all left | {soak.listeners_after} |",
        f"| steady listeners' captions lost (es, fr) | {lost.get('es')}, {lost.get('fr')} |",
        f"| utterances a fault left without translation | {soak.failed_translations} |",
        f"| server log over the soak (bytes) | {soak.log_bytes} |",
        "",
        "| misbehaving client | tried | handled (closed, refused) |",
        "|---|---|---|",
        *(f"| {name} | {tried} | {handled} |" for name, (tried, handled) in soak.attacks.items()),
        "",
        "RSS over time (s, MB): " + ", ".join(f"{t:.0f}: {m:.0f}" for t, m in soak.memory),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--talk", type=Path, default=Path("build/demo-talk.wav"))
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/soak.md"))
    args = parser.parse_args()
    seconds = args.minutes * 60
    text = report(asyncio.run(run(args.talk, seconds)), seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
