"""Fan-out at scale: N Opus listeners of one talk, today's design against the design before it.

The server is the real one, as a process, translating the demo talk on a loop into Spanish on the
offline engine. The load generator is a process of its own (uvloop, raw sockets: a WebSocket
handshake, then it only reads and parses frames) on the same machine. Per run it reports: listeners
connected, delivery delay p50/p99 (the spread after the first listener got the same message), audio
and captions lost per listener, messages per listener per second, server CPU per delivered message
(the CPU of translating with nobody listening subtracted) and server memory per listener.

The baseline is the code of ``BASELINE_REV`` (every listener an ASGI connection with tasks of its
own) or of ``--baseline REV``, run from the same checkout's history with the same Python
environment.

    python -m bench.fanout --out bench/results/fanout.md [--listeners 1000 2000 5000 10000]
    python -m bench.fanout --baseline 3c2fa5a --listeners 10000 --no-workers --out bench/results/fanout-hub.md
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from bench.soak import rss_mb
from harness.live import RedisServer, free_port

BASELINE_REV = "8649cf9"
"""The last commit before listeners were handed over to a protocol of their own."""
TOKEN = "fanout-operator-token"
MEASURE_S = 20.0
WARM_S = 3.0
CONNECT_DEADLINE_S = 90.0
CONNECT_BATCH = 250
GRACE_S = 3.0
STALLED = 100
STALLED_AMONG = 2000
LISTEN_PATH = "/ws/listen/es?codec=opus"
WORKERS = 2
HEADER = struct.Struct("<BBHII")
FLAG_END = 1
PACKET_SAMPLES = 480
CONFIG = """
[server]
max_connections = 18000
max_connections_per_address = 18000
"""


# ----------------------------------------------------------------------------- the load generator


class Tally:
    """What every listener of one run received (one process, so one clock for all of them)."""

    def __init__(self) -> None:
        self.first: dict[bytes, float] = {}
        self.delays = array("d")
        self.messages = 0
        self.measuring = False
        self.window: tuple[float, float] = (0.0, 0.0)
        self.starts: dict[int, float] = {}
        """Utterance → when any listener first got its first audio."""
        self.lengths: dict[int, tuple[float, int]] = {}
        """Utterance → when any listener first got its end, and its length in samples."""
        self.finals: dict[int, float] = {}
        """Final caption id → when any listener first got it."""
        self.lags: dict[int, tuple[float, float]] = {}
        """Final caption id → how long after its speech ended the first and the last listener got it."""

    def owed(self) -> tuple[set[int], set[int]]:
        """The utterances (start and end) and the final captions first sent during the window:
        what every listener should have received whole."""
        start, end = self.window
        utterances = {
            u
            for u, at in self.starts.items()
            if start <= at and u in self.lengths and self.lengths[u][0] <= end
        }
        return utterances, {c for c, at in self.finals.items() if start <= at <= end}


class ListenerProtocol(asyncio.Protocol):
    """One WebSocket listener: handshake, then frames parsed from the byte stream, never answered."""

    def __init__(self, tally: Tally, path: str, stalled: bool) -> None:
        """A listener of ``path``; ``tally`` is what all listeners of that path received."""
        self.tally, self.path, self.stalled = tally, path, stalled
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.closed = False
        self.finals: set[int] = set()
        self.received: dict[int, int] = {}
        self.protocol = 1
        self.talk_started_at: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            ok = self.buffer.startswith(b"HTTP/1.1 101")
            del self.buffer[: end + 4]
            self.upgraded.set_result(ok)
            if not ok:  # refused (a full server answers 503): what follows is no WebSocket
                self.transport.abort()
                return
            if self.stalled:
                self.transport.pause_reading()  # never reads again: the server must cope
                return
        self._frames()

    def _frames(self) -> None:
        buffer, now, tally = self.buffer, time.monotonic(), self.tally
        offset = 0
        while len(buffer) - offset >= 2:
            opcode, length = buffer[offset] & 0x0F, buffer[offset + 1] & 0x7F
            start = offset + 2
            if length == 126:
                if len(buffer) - offset < 4:
                    break
                length, start = struct.unpack_from("!H", buffer, offset + 2)[0], offset + 4
            elif length == 127:
                if len(buffer) - offset < 10:
                    break
                length, start = struct.unpack_from("!Q", buffer, offset + 2)[0], offset + 10
            if len(buffer) < start + length:
                break
            payload = bytes(buffer[start : start + length])
            offset = start + length
            if opcode == 0x8:
                self.closed = True
                continue
            if opcode == 0x9:
                # A browser answers the server's keep-alive pings: a listener that does not is
                # closed by uvicorn after its ping timeout.
                self._pong(payload)
                continue
            self._message(opcode, payload, now, tally)
        del buffer[:offset]

    def _pong(self, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + mask + masked)

    def _message(self, opcode: int, payload: bytes, now: float, tally: Tally) -> None:
        if opcode == 0x2:
            version, _, flags, utterance, position = HEADER.unpack_from(payload)
            key = payload[:12]
            if flags & FLAG_END:
                tally.lengths.setdefault(utterance, (now, position))
            else:
                if position == 0:
                    tally.starts.setdefault(utterance, now)
                self.received[utterance] = self.received.get(utterance, 0) + _samples(version, payload[12:])
        else:
            key = payload
            if payload.startswith(b'{"type":"hello"'):
                hello = json.loads(payload)
                self.protocol, self.talk_started_at = hello["protocol"], hello.get("talk_started_at")
            elif payload.startswith(b'{"type":"caption"') and b'"final":true' in payload:
                caption = json.loads(payload)
                self.finals.add(caption["id"])
                tally.finals.setdefault(caption["id"], now)
                if self.talk_started_at is not None and caption.get("end_ms") is not None:
                    lag = time.time() - (self.talk_started_at + caption["end_ms"]) / 1000
                    first, last = tally.lags.get(caption["id"], (lag, lag))
                    tally.lags[caption["id"]] = (min(first, lag), max(last, lag))
        first = tally.first.setdefault(key, now)
        if tally.measuring:
            tally.delays.append(now - first)
            tally.messages += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True


def _samples(version: int, payload: bytes) -> int:
    """Opus samples in a message's payload: one packet (protocol 1), or length-prefixed packets."""
    if version == 1:
        return PACKET_SAMPLES
    count, offset = 0, 0
    while offset < len(payload):
        offset += 2 + struct.unpack_from("<H", payload, offset)[0]
        count += 1
    return count * PACKET_SAMPLES


async def load(
    port: int, listeners: int, stalled: int, seconds: float, paths: list[str]
) -> dict[str, object]:
    """Connect the listeners (spread over ``paths`` in turn), measure for ``seconds`` once told to (a
    line on stdin), report."""
    loop = asyncio.get_running_loop()
    # Each path (a language) has its own utterances and captions: the same ids, other audio.
    tallies = {path: Tally() for path in paths}
    connections: list[ListenerProtocol] = []
    started = time.monotonic()

    async def connect(index: int) -> None:
        path = paths[index % len(paths)]
        with contextlib.suppress(OSError, TimeoutError):
            _, protocol = await loop.create_connection(
                lambda: ListenerProtocol(tallies[path], path, index < stalled),
                "127.0.0.1",
                port,
            )
            if stalled and index < stalled:
                protocol.transport.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_RCVBUF, 4096
                )
            if await asyncio.wait_for(protocol.upgraded, 30):
                connections.append(protocol)

    for batch in range(0, listeners + stalled, CONNECT_BATCH):
        await asyncio.gather(
            *(connect(i) for i in range(batch, min(batch + CONNECT_BATCH, listeners + stalled)))
        )
        if time.monotonic() - started > CONNECT_DEADLINE_S:
            break
    healthy = [c for c in connections if not c.stalled]
    print(json.dumps({"connected": len(healthy), "stalled": len(connections) - len(healthy)}), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # the orchestrator reads the server's counters
    window = (time.monotonic(), time.monotonic() + seconds)
    for tally in tallies.values():
        tally.measuring, tally.window = True, window
    await asyncio.sleep(seconds)
    for tally in tallies.values():
        tally.measuring = False
    await asyncio.sleep(GRACE_S)  # what was sent in the window may still be on its way
    delays = np.concatenate([np.frombuffer(t.delays, dtype=np.float64) for t in tallies.values()]) * 1000
    if not len(delays):
        delays = np.zeros(1)
    owed_by = {path: tally.owed() for path, tally in tallies.items()}
    audio_lost, captions_lost = [], []
    for c in healthy:
        utterances, captions = owed_by[c.path]
        lengths = c.tally.lengths
        owed = sum(lengths[u][1] for u in utterances)
        audio_lost.append(
            sum(max(0, lengths[u][1] - c.received.get(u, 0)) for u in utterances) / max(1, owed)
        )
        captions_lost.append(len(captions - c.finals))
    lags = [
        tally.lags[caption]
        for path, tally in tallies.items()
        for caption in owed_by[path][1]
        if caption in tally.lags
    ]
    result = {
        "connected": len(healthy),
        "stalled": len(connections) - len(healthy),
        "protocol": healthy[0].protocol if healthy else 0,
        "delay_p50_ms": float(np.percentile(delays, 50)),
        "delay_p99_ms": float(np.percentile(delays, 99)),
        "messages": sum(t.messages for t in tallies.values()),
        "messages_per_listener_s": sum(t.messages for t in tallies.values()) / max(1, len(healthy)) / seconds,
        "audio_lost_mean": float(np.mean(audio_lost)) if audio_lost else 0.0,
        "audio_lost_max": max(audio_lost, default=0.0),
        "utterances_owed": sum(len(u) for u, _ in owed_by.values()),
        "captions_owed": sum(len(c) for _, c in owed_by.values()),
        "captions_lost_max": max(captions_lost, default=0),
        "caption_lags_s": lags,
        "closed_by_server": sum(c.closed for c in healthy),
    }
    for connection in connections:
        connection.transport.abort()
    return result


def client_main(port: int, listeners: int, stalled: int, seconds: float, paths: list[str]) -> None:
    """The load generator's process: its result as one JSON line on stdout."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import uvloop

    print(json.dumps(uvloop.run(load(port, listeners, stalled, seconds, paths))), flush=True)


# ----------------------------------------------------------------------------- the orchestrator


@dataclass
class Run:
    design: str
    listeners: int
    stalled: int = 0
    result: dict[str, object] = field(default_factory=dict)
    cpu_us_per_message: float = 0.0
    kb_per_listener: float = 0.0
    rss_mb: tuple[float, float] = (0.0, 0.0)
    at_once: float | None = None
    """The share of messages written at publish time (from /metrics; None where it has none)."""


async def written_at_once(port: int) -> tuple[float, float] | None:
    """Messages written at publish time, and all messages queued, so far (None: not counted there)."""
    # A server fanning out to 10,000 listeners may take seconds to answer: that is not a failure.
    async with httpx.AsyncClient(timeout=60) as client:
        try:
            answer = await client.get(
                f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
            )
        except httpx.TimeoutException:  # a design that cannot answer under this load: not counted
            return None
    if answer.status_code != 200:
        return None
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if sample.labels.get("lang") == "es"
    }
    at_once = samples.get("translator_messages_written_at_publish_total")
    return None if at_once is None else (at_once, samples["translator_messages_queued_total"])


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def family(pid: int) -> list[int]:
    """The server and its listener processes (``--workers``)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int(_stat(int(entry.name))[1]) == pid and "translator" in (entry / "cmdline").read_text():
                    children.append(int(entry.name))
    return [pid, *children]


def cpu_seconds(pid: int) -> float:
    """CPU time of the server's processes."""
    total = 0
    for member in family(pid):
        with contextlib.suppress(OSError):
            fields = _stat(member)
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> float:
    """Resident memory of the server's processes."""
    return sum(rss_mb(member) for member in family(pid))


def baseline_tree(revision: str) -> Path:
    """The package at ``revision``, exported from this checkout's history."""
    directory = Path(tempfile.mkdtemp(prefix="fanout-baseline-"))
    archive = subprocess.run(
        ["git", "archive", revision, "translator", "web"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive.stdout, check=True)
    return directory


async def start_server(
    design: str, talk: Path, config: Path, baseline: Path | None, workers: list[str]
) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    operator = free_port() if workers else port
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")} | {
        "TRANSLATOR_OPERATOR_TOKEN": TOKEN
    }
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "translator", "serve", "--config", str(config), "--engine", "local"),
        *("--input", str(talk), "--loop", "--port", str(port), "--target", "es"),
        *(workers + ["--operator-port", str(operator)] if workers else []),
        env=env,
        # ``python -m`` imports from its working directory first: the baseline's own tree.
        cwd=baseline,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with httpx.AsyncClient() as client:
        for _ in range(900):
            with contextlib.suppress(httpx.HTTPError):
                answers = [await client.get(f"http://127.0.0.1:{p}/readyz") for p in {port, operator}]
                if all(answer.status_code == 200 for answer in answers):
                    return server, port
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the {design} server did not become ready")


async def measure(
    run: Run, server: asyncio.subprocess.Process, port: int, idle_cpu_per_s: float, seconds: float
) -> None:
    print(
        f"fanout: {run.design}, {run.listeners} listeners"
        + (f" + {run.stalled} stalled" if run.stalled else ""),
        flush=True,
    )
    before = memory_mb(server.pid)
    client = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bench.fanout", "--client", str(port), str(run.listeners), str(run.stalled)),
        *("--seconds", str(seconds)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert client.stdin is not None and client.stdout is not None
    connected = json.loads(await client.stdout.readline())
    await asyncio.sleep(WARM_S)
    connected_rss = memory_mb(server.pid)
    counted_before = await written_at_once(port)
    cpu_before = cpu_seconds(server.pid)
    client.stdin.write(b"go\n")
    await client.stdin.drain()
    run.result = json.loads(await client.stdout.readline())
    cpu = cpu_seconds(server.pid) - cpu_before - idle_cpu_per_s * seconds
    counted_after = await written_at_once(port)
    if counted_before is not None and counted_after is not None:
        run.at_once = (counted_after[0] - counted_before[0]) / max(1, counted_after[1] - counted_before[1])
    after = memory_mb(server.pid)
    await client.wait()
    messages = max(1, int(run.result["messages"]))  # type: ignore[call-overload]
    run.cpu_us_per_message = cpu / messages * 1e6
    run.kb_per_listener = (
        (connected_rss - before) * 1024 / max(1, connected["connected"] + connected["stalled"])
    )
    run.rss_mb = (before, after)
    print(f"fanout:   {json.dumps(run.result)}", flush=True)
    await asyncio.sleep(8)  # the server forgets the listeners


async def bench(
    talk: Path, listeners: list[int], seconds: float, baseline: str, workers: bool = True
) -> list[Run]:
    runs: list[Run] = []
    redis = RedisServer()
    redis.start()
    designs = [
        ("baseline", listeners, []),
        ("current", listeners, []),
        (
            f"current, {WORKERS} workers + Redis",
            [max(listeners)],
            ["--workers", str(WORKERS), "--broker", redis.url],
        ),
    ][: 3 if workers else 2]
    try:
        with tempfile.TemporaryDirectory() as scratch:
            config = Path(scratch) / "fanout.toml"
            config.write_text(CONFIG)
            for design, counts, extra in designs:
                tree = baseline_tree(baseline) if design == "baseline" else None
                server, port = await start_server(design, talk, config, tree, extra)
                try:
                    cpu_start = cpu_seconds(server.pid)
                    await asyncio.sleep(seconds)
                    idle = (cpu_seconds(server.pid) - cpu_start) / seconds
                    print(
                        f"fanout: {design}: translating with nobody listening: {idle * 100:.0f} % CPU",
                        flush=True,
                    )
                    for count in counts:
                        run = Run(design, count)
                        await measure(run, server, port, idle, seconds)
                        runs.append(run)
                    if design == "current":
                        run = Run(design, STALLED_AMONG, STALLED)
                        await measure(run, server, port, idle, seconds)
                        runs.append(run)
                finally:
                    server.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(server.wait(), 30)
    finally:
        redis.stop()
    return runs


def report(runs: list[Run], seconds: float, baseline: str) -> str:
    lines = [
        "# Fan-out: Opus listeners of one talk (offline engine, demo talk on a loop, Spanish)",
        "",
        f"Server and load generator on this machine ({os.cpu_count()} cores); {seconds:g} s measured per",
        "run after the listeners connected. Delay: how much later than the first listener each",
        "listener got the same message. Lost: of the utterances whose audio began and ended in the",
        "window, and of the final captions sent in it (owed), what a listener still lacked 3 s after.",
        "CPU per message: server CPU in the window, less what",
        "translating costs with nobody listening, per message delivered. Baseline: the code of",
        f"`{baseline}`"
        + (
            " (every listener an ASGI connection with two tasks of its own)."
            if baseline == BASELINE_REV
            else "."
        ),
        "",
        "| design | listeners | connected | stalled | msgs/listener/s | delay p50 / p99 (ms) "
        "| owed: utterances / captions | audio lost mean / max | captions lost (max) "
        "| server CPU/msg (µs) | written at publish | server KB/listener "
        "| RSS before → after (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        r = run.result
        lines.append(
            f"| {run.design} | {run.listeners} | {r['connected']} | {r['stalled']} "
            f"| {r['messages_per_listener_s']:.1f} | {r['delay_p50_ms']:.0f} / {r['delay_p99_ms']:.0f} "
            f"| {r['utterances_owed']} / {r['captions_owed']} "
            f"| {r['audio_lost_mean']:.1%} / {r['audio_lost_max']:.1%} | {r['captions_lost_max']} "
            f"| {run.cpu_us_per_message:.1f} | {'–' if run.at_once is None else f'{run.at_once:.0%}'} "
            f"| {run.kb_per_listener:.1f} "
            f"| {run.rss_mb[0]:.0f} → {run.rss_mb[1]:.0f} |"
        )
    by = {(r.design, r.listeners, r.stalled): r for r in runs}
    healthy, stalled = by.get(("current", STALLED_AMONG, 0)), by.get(("current", STALLED_AMONG, STALLED))
    if healthy is not None and stalled is not None:
        lines += [
            "",
            f"{STALLED} stalled listeners (never read) among {STALLED_AMONG}: healthy delay p99 "
            f"{healthy.result['delay_p99_ms']:.0f} → {stalled.result['delay_p99_ms']:.0f} ms; "
            f"server RSS over that run {stalled.rss_mb[0]:.0f} → {stalled.rss_mb[1]:.0f} MB.",
        ]
    lines += ["", "Current ÷ baseline, same listeners:", ""]
    for (design, count, stalled), run in by.items():
        base = by.get(("baseline", count, 0))
        if design == "current" and not stalled and base is not None:
            ratio = base.cpu_us_per_message / max(run.cpu_us_per_message, 1e-9)
            p99 = f"{base.result['delay_p99_ms']:.0f} → {run.result['delay_p99_ms']:.0f} ms"
            memory = f"{base.kb_per_listener:.1f} → {run.kb_per_listener:.1f} KB"
            lines.append(
                f"- {count}: CPU per message {ratio:.1f}× less; delay p99 {p99}; per listener {memory}"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--talk", type=Path, default=Path("build/demo-talk.wav"))
    parser.add_argument("--listeners", type=int, nargs="+", default=[1000, 2000, 5000, 10000])
    parser.add_argument("--out", type=Path, default=Path("bench/results/fanout.md"))
    parser.add_argument("--seconds", type=float, default=MEASURE_S, help="measured per run")
    parser.add_argument("--baseline", default=BASELINE_REV, help="the revision to compare against")
    parser.add_argument("--no-workers", action="store_true", help="skip the run with listener processes")
    parser.add_argument(
        "--client", nargs=3, type=int, metavar=("PORT", "LISTENERS", "STALLED"), help=argparse.SUPPRESS
    )
    parser.add_argument("--paths", nargs="+", default=[LISTEN_PATH], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(*args.client, args.seconds, args.paths)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    runs = asyncio.run(
        bench(args.talk.resolve(), args.listeners, args.seconds, args.baseline, not args.no_workers)
    )
    text = report(runs, args.seconds, args.baseline)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
