"""A crowded venue Wi-Fi, as benchmarks and tests run it: the real server and N phones inside a
network namespace whose loopback (at Wi-Fi's 1500-byte frames) a token bucket (``tc tbf``) holds to
one rate, so that every byte between them shares it.

Phones come in two designs: **pcm-on-http** (the page before it decoded Opus without WebCodecs:
PCM16 from the moment a language is chosen) and **opus** (the page now: 70 % Opus on the WebSocket,
15 % the HTTP stream with the screen off, 15 % captions only). Each reports the share of each
utterance's audio that arrived before its playback deadline (its first audio + a 150 ms start
buffer + its position), the caption lag, and bytes per phone per minute.

``python -m harness.venue --crowd PORT DESIGN N --seconds S`` is one crowd (run inside the namespace).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import websockets

from harness.live import free_port
from translator.messages import AUDIO_HEADER, FLAG_END

TOKEN = "venue-operator-token-123"
START_BUFFER_S = 0.15
RATE = 24_000
DESIGNS = ("pcm-on-http", "opus")
PER_ADDRESS = "max_pcm_listeners_per_address"


class Phone:
    """One listener's account of what it got."""

    def __init__(self) -> None:
        self.bytes = 0
        self.samples = 0
        """Audio samples received, in time or not."""
        self.first: dict[int, float] = {}
        self.on_time: dict[int, int] = {}
        self.length: dict[int, int] = {}
        self.caption_lags: list[float] = []

    def audio(self, frame: bytes, now: float) -> None:
        _, codec, flags, utterance, position = AUDIO_HEADER.unpack_from(frame)
        if flags & FLAG_END:
            self.length[utterance] = position
            return
        payload = frame[AUDIO_HEADER.size :]
        if codec == 0:
            samples = len(payload) // 2
        else:
            samples, offset = 0, 0
            while offset < len(payload):
                samples += 480
                offset += 2 + int.from_bytes(payload[offset : offset + 2], "little")
        self.samples += samples
        start = self.first.setdefault(utterance, now)
        if now <= start + START_BUFFER_S + position / RATE:
            self.on_time[utterance] = self.on_time.get(utterance, 0) + samples

    def shares(self) -> list[float]:
        return [min(1.0, self.on_time.get(u, 0) / n) for u, n in self.length.items() if n]


async def websocket_phone(port: int, codec: str, audio: bool, until: float, phone: Phone) -> None:
    url = f"ws://127.0.0.1:{port}/ws/listen/es?codec={codec}&audio={int(audio)}"
    async with websockets.connect(url, compression=None, max_size=None, open_timeout=60) as ws:
        hello = json.loads(await ws.recv())
        started = (hello.get("talk_started_at") or 0) / 1000
        while (left := until - time.time()) > 0:
            try:
                message = await asyncio.wait_for(ws.recv(), left)
            except TimeoutError:
                return
            phone.bytes += len(message)
            if isinstance(message, bytes):
                phone.audio(message, time.monotonic())
                continue
            data = json.loads(message)
            if data.get("type") == "caption" and data.get("final") and data.get("end_ms") is not None:
                phone.caption_lags.append(time.time() - started - data["end_ms"] / 1000)


async def stream_phone(port: int, until: float, phone: Phone) -> None:
    url = f"http://127.0.0.1:{port}/stream/es.ogg"
    async with httpx.AsyncClient(timeout=None) as client, client.stream("GET", url) as answer:
        async for data in answer.aiter_raw():
            phone.bytes += len(data)
            if time.time() >= until:
                return


async def crowd(port: int, design: str, phones: int, seconds: float) -> dict[str, object]:
    """Connect the phones, listen for ``seconds``; what they got."""
    until = time.time() + seconds
    kinds: list[str] = []
    for index in range(phones):
        share = index / phones
        if design == "pcm-on-http":
            kinds.append("pcm")
        else:
            kinds.append("opus" if share < 0.7 else "stream" if share < 0.85 else "captions")
    accounts = [Phone() for _ in kinds]
    tasks = []
    for kind, phone in zip(kinds, accounts, strict=True):
        if kind == "stream":
            tasks.append(stream_phone(port, until, phone))
        else:
            tasks.append(
                websocket_phone(port, "opus" if kind == "opus" else "pcm", kind != "captions", until, phone)
            )
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failed = sum(isinstance(r, BaseException) for r in results)
    listening = [p for k, p in zip(kinds, accounts, strict=True) if k in ("pcm", "opus")]
    shares = [s for p in listening for s in p.shares()]
    lags = [lag for p in accounts for lag in p.caption_lags]
    by_kind: dict[str, float] = {}
    heard: dict[str, float] = {}
    for kind in sorted(set(kinds)):
        of_kind = [p for k, p in zip(kinds, accounts, strict=True) if k == kind]
        by_kind[kind] = statistics.mean(p.bytes for p in of_kind) * 60 / seconds / 1e6
        heard[kind] = statistics.mean(p.samples for p in of_kind) / RATE
    return {
        "phones": phones,
        "failed": failed,
        "on_time_p10": float(np.percentile(shares, 10)) if shares else None,
        "on_time_mean": statistics.mean(shares) if shares else None,
        "caption_lag_p50": float(np.percentile(lags, 50)) if lags else None,
        "caption_lag_p95": float(np.percentile(lags, 95)) if lags else None,
        "mb_per_minute": by_kind,
        "audio_s": heard,
        "link_mbit": sum(p.bytes for p in accounts) * 8 / seconds / 1e6,
    }


def netns(name: str, *command: str) -> list[str]:
    return ["ip", "netns", "exec", name, *command]


def can_bench() -> str:
    """Why this machine cannot run the benchmark ("" when it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and tc)"
    if not shutil.which("ip") or not shutil.which("tc"):
        return "needs iproute2 (ip, tc)"
    probe = subprocess.run(["ip", "netns", "add", "venue-probe"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"network namespaces are not allowed here ({probe.stderr.strip()})"
    subprocess.run(["ip", "netns", "del", "venue-probe"], check=False)
    return ""


def run_all(phones: list[int], rate: str, talk: Path, seconds: float) -> list[dict[str, object]]:
    name = f"venue-{os.getpid()}"
    config = Path(tempfile.gettempdir()) / f"{name}.toml"
    subprocess.run(["ip", "netns", "add", name], check=True)
    server = None
    try:
        # Wi-Fi's frame size: on loopback's 64 KB one, a segment larger than the bucket's burst
        # could never pass, and every large message would be lost outright.
        subprocess.run(netns(name, "ip", "link", "set", "lo", "mtu", "1500", "up"), check=True)
        tc = [
            "tc",
            "qdisc",
            "add",
            "dev",
            "lo",
            "root",
            "tbf",
            "rate",
            rate,
            "burst",
            "32kbit",
            "latency",
            "50ms",
        ]
        subprocess.run(netns(name, *tc), check=True)
        port = free_port()
        env = {**os.environ, "TRANSLATOR_OPERATOR_TOKEN": TOKEN}
        # Every phone here shares one address; at a venue each has its own: no per-address cap applies.
        config.write_text(f"[server]\n{PER_ADDRESS} = 100000\nmax_connections_per_address = 100000\n")
        translator = str(Path(sys.executable).parent / "translator")
        serve = [translator, "serve", "--config", str(config), "--engine", "local", "--input", str(talk)]
        serve += ["--loop", "--target", "es", "--port", str(port), "--host", "127.0.0.1"]
        server = subprocess.Popen(
            netns(name, *serve), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        results = []
        for count in phones:
            for design in DESIGNS:
                print(f"venue: {design}, {count} phones on {rate}...", file=sys.stderr, flush=True)
                crowd_run = [sys.executable, "-m", "harness.venue", "--crowd", str(port), design, str(count)]
                crowd_run += ["--seconds", str(seconds)]
                answer = subprocess.run(netns(name, *crowd_run), capture_output=True, text=True, check=True)
                results.append({"design": design, **json.loads(answer.stdout.strip().splitlines()[-1])})
        return results
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        subprocess.run(["ip", "netns", "del", name], check=False)
        config.unlink(missing_ok=True)


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("venue: the server did not become ready in 90 s")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--crowd", nargs=3, required=True, metavar=("PORT", "DESIGN", "PHONES"))
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args()
    port, design, phones = int(args.crowd[0]), args.crowd[1], int(args.crowd[2])
    wait_ready(port)
    print(json.dumps(asyncio.run(crowd(port, design, phones, args.seconds))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
