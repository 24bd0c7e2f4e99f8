"""The whole event on one machine: what one box carries, and what each added part costs.

The server is the real one, as a process: a room translating the demo talk on a loop into three
languages on the offline engine, with HLS and recordings on. Around it, as at an event:

- N phones: Opus WebSocket listeners spread over the languages, from the fan-out bench's load
  generator (a process of its own: uvloop, raw sockets), for N = 0, 500, 2,000 and 5,000;
- 100 HTTP stream listeners (``/stream/{room}/{lang}.ogg``, the screen-off phones and radios);
- 20 Server-Sent Events readers (overlays and caption scripts);
- the operator console (its requests: the room's status each second, the talks every ten).

Before them, the same server with a caption reader per language alone (``quiet``). Then three more
servers, quiet too: one language, outputs off, two rooms; the differences are what a language, the
outputs and a room cost.

Per run: the caption lag after the end of speech (the caption's ``end_ms`` on the talk's timeline
against the wall clock when it arrived; median and p95) at the caption readers and at the last
WebSocket listener to get each caption; the share of the audio every listener received (WebSocket:
the samples of each utterance; HTTP streams: Ogg granule positions against the window); the server's
CPU by part (``translator_cpu_seconds`` in ``/metrics``); its memory; the clients' own CPU.

    python -m bench.event --out bench/results/event.md [--listeners 0 500 2000 5000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import struct
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.report import publish
from harness.live import free_port

TOKEN = "event-operator-token"
LANGUAGES = ("es", "fr", "it")
ROOM = "hall"
MEASURE_S = 60.0
WARM_S = 5.0
STREAMS = 100
READERS = 20
OPUS_RATE = 48_000
"""Ogg Opus granule positions count 48 kHz samples, whatever the input rate."""
OGG_HEADER = struct.Struct("<4sBBqIIIB")
LAG_GOAL = 1.2
"""At 2,000 phones the caption lag stays within 20 % of the lag with none."""
ENGINE_PARTS = ("engine", "models", "child_processes")


# ----------------------------------------------------------------------------- the other clients


@dataclass
class Heard:
    """What the HTTP clients of one run got."""

    lags: list[float] = field(default_factory=list)
    """Caption lag, seconds, at a caption reader, per final caption that arrived in the window."""
    stream_shares: list[float] = field(default_factory=list)
    """Per HTTP stream listener, the seconds of audio it got over the seconds of the window."""
    console_errors: int = 0
    console_requests: int = 0


async def read_captions(client: httpx.AsyncClient, path: str, window: list[float], lags: list[float]) -> None:
    """One Server-Sent Events reader: the lag of each final caption that arrives inside ``window``."""
    started_at: int | None = None
    async with client.stream("GET", path) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            message = json.loads(line[6:])
            if message["type"] == "hello":
                started_at = message["talk_started_at"]
            elif message["type"] == "caption" and message["final"] and started_at is not None:
                now = time.time()
                if window[0] <= time.monotonic() <= window[1] and message.get("end_ms") is not None:
                    lags.append(now - (started_at + message["end_ms"]) / 1000)


async def read_stream(client: httpx.AsyncClient, path: str, window: list[float], shares: list[float]) -> None:
    """One HTTP stream listener: the audio it got during ``window``, from the Ogg pages' granules."""
    buffer = bytearray()
    got = 0
    last: dict[int, int] = {}
    """Per logical stream (serial), the last granule position seen."""
    try:
        async with client.stream("GET", path) as response:
            response.raise_for_status()
            async for data in response.aiter_bytes():
                buffer += data
                while len(buffer) >= OGG_HEADER.size:
                    _, _, _, granule, serial, _, _, segments = OGG_HEADER.unpack_from(buffer)
                    header = OGG_HEADER.size + segments
                    if len(buffer) < header or len(buffer) < header + sum(buffer[OGG_HEADER.size : header]):
                        break
                    del buffer[: header + sum(buffer[OGG_HEADER.size : header])]
                    inside = window[0] <= time.monotonic() <= window[1]
                    if granule >= 0 and serial in last and inside:
                        got += max(0, granule - last[serial])
                    if granule >= 0:
                        last[serial] = granule
    finally:
        shares.append(got / OPUS_RATE / (window[1] - window[0]))


async def console(client: httpx.AsyncClient, heard: Heard, stop: asyncio.Event) -> None:
    """The console's requests: the status each second, the talks every ten."""
    tick = 0
    while not stop.is_set():
        paths = [f"/api/rooms/{ROOM}/status"] + ([f"/api/rooms/{ROOM}/transcripts"] if tick % 10 == 0 else [])
        for path in paths:
            heard.console_requests += 1
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(path)).status_code == 200:
                    continue
            heard.console_errors += 1
        tick += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


# ----------------------------------------------------------------------------- the server


@dataclass
class Server:
    process: asyncio.subprocess.Process
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def config(folder: Path, talk: Path, languages: tuple[str, ...], rooms: int, outputs: bool) -> Path:
    path = folder / f"event-{len(languages)}-{rooms}-{outputs}.toml"
    names = [ROOM, "annex"][:rooms]
    text = (
        f'engine = "local"\ntargets = {json.dumps(list(languages))}\n\n'
        "[server]\nmax_connections = 18000\nmax_connections_per_address = 18000\n\n"
        f"[outputs.hls]\nenabled = {str(outputs).lower()}\n\n"
        f"[outputs.recordings]\nenabled = {str(outputs).lower()}\n\n"
    )
    for name in names:
        text += f'[[rooms]]\nid = "{name}"\nname = "{name}"\naudio.input = "{talk}"\naudio.loop = true\n\n'
    path.write_text(text)
    return path


async def start(settings: Path, folder: Path) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")} | {
        "TRANSLATOR_OPERATOR_TOKEN": TOKEN,
        "XDG_DATA_HOME": str(folder),
    }
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "translator", "serve", "--config", str(settings), "--port", str(port)),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    server = Server(process, port)
    async with httpx.AsyncClient(base_url=server.url) as client, asyncio.timeout(180):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return server
            await asyncio.sleep(0.2)


async def stop(server: Server) -> None:
    server.process.send_signal(signal.SIGINT)
    await asyncio.wait_for(server.process.wait(), 60)


async def cpu_by_part(client: httpx.AsyncClient) -> dict[str, float]:
    """The server's CPU seconds so far, by part (``/metrics``)."""
    text = (await client.get("/metrics", timeout=60)).text
    return {
        sample.labels["part"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "translator_cpu_seconds_total"
    }


def memory_mb(pid: int) -> float:
    """Memory of the server and its child processes: each one's proportional share (PSS), so that
    the libraries they share are counted once."""
    process = psutil.Process(pid)
    members = [process, *process.children(recursive=True)]
    total = 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            total += member.memory_full_info().pss
    return total / 2**20


# ----------------------------------------------------------------------------- one run


@dataclass
class Run:
    name: str
    phones: int
    seconds: float
    cpu: dict[str, float] = field(default_factory=dict)
    """Cores used by part over the window (CPU seconds per second)."""
    memory_mb: float = 0.0
    clients_cores: float = 0.0
    heard: Heard = field(default_factory=Heard)
    phones_result: dict[str, object] = field(default_factory=dict)

    @property
    def cores(self) -> float:
        return sum(self.cpu.values())

    def part(self, *names: str) -> float:
        return sum(self.cpu.get(name, 0.0) for name in names)


async def run_window(
    server: Server, run: Run, rooms: list[str], languages: tuple[str, ...], crowd: bool
) -> None:
    """Measure one window: the phones (from the load generator) and, with ``crowd``, the HTTP clients
    of an event; otherwise a caption reader per room and language alone."""
    print(f"event: {run.name}, {run.phones} phones", flush=True)
    window = [float("inf"), float("inf")]
    stop_console = asyncio.Event()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    tasks: list[asyncio.Task[None]] = []
    limits = httpx.Limits(max_connections=STREAMS + READERS + 10, max_keepalive_connections=0)
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(30, read=None), limits=limits) as client,
        httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as operator,
    ):
        readers = READERS if crowd else len(rooms) * len(languages)
        for index in range(readers):
            room, lang = rooms[index % len(rooms)], languages[index // len(rooms) % len(languages)]
            path = f"/sse/captions/{room}/{lang}"
            tasks.append(asyncio.create_task(read_captions(client, path, window, run.heard.lags), name=path))
        if crowd:
            for index in range(STREAMS):
                path = f"/stream/{ROOM}/{languages[index % len(languages)]}.ogg"
                coroutine = read_stream(client, path, window, run.heard.stream_shares)
                tasks.append(asyncio.create_task(coroutine, name=path))
            tasks.append(asyncio.create_task(console(operator, run.heard, stop_console), name="console"))
        phones = None
        if run.phones:
            paths = [f"/ws/listen/{ROOM}/{lang}?codec=opus" for lang in languages]
            phones = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "bench.fanout", "--client", str(server.port), str(run.phones), "0"),
                *("--seconds", str(run.seconds), "--paths", *paths),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert phones.stdin is not None and phones.stdout is not None
            connected = json.loads(await phones.stdout.readline())
            print(f"event:   {connected['connected']} phones connected", flush=True)
        await asyncio.sleep(WARM_S)
        before = await cpu_by_part(operator)
        mine = resource.getrusage(resource.RUSAGE_SELF)
        phones_cpu = _cpu(phones.pid) if phones else 0.0
        window[:] = [time.monotonic(), time.monotonic() + run.seconds]
        if phones is not None:
            assert phones.stdin is not None and phones.stdout is not None
            phones.stdin.write(b"go\n")
            await phones.stdin.drain()
        await asyncio.sleep(run.seconds)
        after = await cpu_by_part(operator)
        spent = resource.getrusage(resource.RUSAGE_SELF)
        run.clients_cores = (spent.ru_utime + spent.ru_stime - mine.ru_utime - mine.ru_stime) / run.seconds
        if phones is not None:
            run.clients_cores += (_cpu(phones.pid) - phones_cpu) / run.seconds
        run.memory_mb = memory_mb(server.process.pid)
        run.cpu = {part: (after[part] - before.get(part, 0.0)) / run.seconds for part in after}
        if phones is not None:
            assert phones.stdout is not None
            run.phones_result = json.loads(await phones.stdout.readline())
            await phones.wait()
        stop_console.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(f"event:   {summary(run)}", flush=True)
    await asyncio.sleep(8)  # the server forgets the listeners before the next run


def _cpu(pid: int) -> float:
    with contextlib.suppress(psutil.Error):
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    return 0.0


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def phone_lags(run: Run) -> list[float]:
    """Per caption, when the last WebSocket listener got it."""
    return [last for _, last in run.phones_result.get("caption_lags_s", [])]  # type: ignore[attr-defined]


def summary(run: Run) -> str:
    lags = run.heard.lags
    return (
        f"lag median {percentile(lags, 50):.2f} s p95 {percentile(lags, 95):.2f} s "
        f"over {len(lags)} captions; "
        f"server {run.cores:.2f} cores ({', '.join(f'{k} {v:.2f}' for k, v in sorted(run.cpu.items()))}); "
        f"{run.memory_mb:.0f} MB"
    )


# ----------------------------------------------------------------------------- the runs


async def bench(talk: Path, phones: list[int], seconds: float) -> tuple[list[Run], dict[str, Run]]:
    sweep: list[Run] = []
    quiet: dict[str, Run] = {}
    with tempfile.TemporaryDirectory(prefix="event-bench-") as scratch:
        folder = Path(scratch)
        variants = [
            ("three languages", LANGUAGES, 1, True),
            ("one language", LANGUAGES[:1], 1, True),
            ("outputs off", LANGUAGES, 1, False),
            ("two rooms", LANGUAGES, 2, True),
        ]
        for name, languages, rooms, outputs in variants:
            server = await start(config(folder, talk, languages, rooms, outputs), folder)
            room_ids = [ROOM, "annex"][:rooms]
            try:
                quiet[name] = run = Run(f"{name}, quiet", 0, seconds)
                await run_window(server, run, room_ids, languages, crowd=False)
                if name == "three languages":
                    for count in phones:
                        run = Run("the event", count, seconds)
                        await run_window(server, run, room_ids, languages, crowd=True)
                        sweep.append(run)
            finally:
                await stop(server)
    return sweep, quiet


# ----------------------------------------------------------------------------- the report


def report(sweep: list[Run], quiet: dict[str, Run], seconds: float) -> str:
    alone = quiet["three languages"]
    lines = [
        "# The whole event on one machine",
        "",
        textwrap.fill(
            f"This machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB. "
            f"One room translating the demo talk on a loop into es, fr and it on the offline engine, "
            f"HLS and recordings on. The event: N Opus WebSocket phones spread over the languages, "
            f"{STREAMS} HTTP stream listeners (Ogg), {READERS} caption readers (Server-Sent Events) "
            f"and the operator console; quiet: a caption reader per language alone. {seconds:g} s "
            f"measured per run. Caption lag: from the end of the speech (the caption's `end_ms`) to "
            f"its arrival, at the caption readers and at the last phone to get it. Audio: of the "
            f"utterances that began and ended in the window, the share every phone received; of the "
            f"window, the seconds of audio every HTTP stream listener received. CPU in cores (CPU "
            f"seconds per second) by part, from the server's own `translator_cpu_seconds`: the engine "
            f"(speech recognition, the models' threads, espeak-ng and Apertium), the outputs' encoders"
            f" (HLS, recordings, HTTP streams) and the event loop (fan-out, HTTP, the pipelines, "
            f"playout).",
            100,
        ),
        "",
        "| run | phones | caption lag median / p95 (s) | at the last phone median / p95 (s) "
        "| phones' audio min / mean | captions lost (max) | streams' audio min | engine | outputs "
        "| event loop | other | server cores | server MB (PSS) | clients' cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in [alone, *sweep]:
        lags, last, phones = run.heard.lags, phone_lags(run), run.phones_result
        audio = (
            f"{1 - float(phones['audio_lost_max']):.1%} / {1 - float(phones['audio_lost_mean']):.1%}"  # type: ignore[arg-type]
            if phones
            else "–"
        )
        streams = f"{min(run.heard.stream_shares):.1%}" if run.heard.stream_shares else "–"
        lines.append(
            f"| {run.name} | {phones.get('connected', run.phones)} "
            f"| {percentile(lags, 50):.2f} / {percentile(lags, 95):.2f} "
            f"| {f'{percentile(last, 50):.2f} / {percentile(last, 95):.2f}' if last else '–'} "
            f"| {audio} | {phones.get('captions_lost_max', '–')} | {streams} "
            f"| {run.part(*ENGINE_PARTS):.2f} | {run.part('outputs'):.2f} | {run.part('event_loop'):.2f} "
            f"| {run.part('other'):.2f} | {run.cores:.2f} | {run.memory_mb:.0f} | {run.clients_cores:.2f} |"
        )
    by_phones = {run.phones: run for run in sweep}
    lines += ["", "## What each part costs", ""]
    if 0 in by_phones:
        none = by_phones[0]
        http = none.part("event_loop") - alone.part("event_loop")
        lines.append(
            f"- **The HTTP clients** ({STREAMS} streams, {READERS} caption readers, the console): "
            f"{http:.2f} cores of event loop, "
            f"{none.part('outputs') - alone.part('outputs'):.2f} of encoders; "
            f"{none.memory_mb - alone.memory_mb:+.0f} MB."
        )
        for count, run in sorted(by_phones.items()):
            if count:
                per = 1000 / count
                loop = (run.part("event_loop") - none.part("event_loop")) * per
                memory = (run.memory_mb - none.memory_mb) * per
                lines.append(
                    f"- **1,000 phones** (from {count:,}): {loop:.2f} cores of event loop (fan-out), "
                    f"{memory:.0f} MB."
                )
        if 2000 in by_phones and none.heard.lags:
            ratio = percentile(by_phones[2000].heard.lags, 50) / percentile(none.heard.lags, 50)
            verdict = "met" if ratio <= LAG_GOAL else "not met"
            lines.append(
                f"- **Caption lag at 2,000 phones** is {ratio:.2f}× the lag with none (median; the goal, "
                f"within {LAG_GOAL - 1:.0%}: {verdict})."
            )
    for name, what in (
        ("one language", "**A language** (the second and third, each)"),
        ("outputs off", "**The outputs** (HLS and recordings, three languages and the Original)"),
        ("two rooms", "**A room** (three languages)"),
    ):
        other = quiet.get(name)
        if other is None:
            continue
        if name == "one language":
            delta = {part: (alone.part(part) - other.part(part)) / 2 for part in alone.cpu}
            memory = (alone.memory_mb - other.memory_mb) / 2
        elif name == "outputs off":
            delta = {part: alone.part(part) - other.part(part) for part in alone.cpu}
            memory = alone.memory_mb - other.memory_mb
        else:
            delta = {part: other.part(part) - alone.part(part) for part in alone.cpu}
            memory = other.memory_mb - alone.memory_mb
        engine = sum(delta.get(part, 0.0) for part in ENGINE_PARTS)
        lines.append(
            f"- {what}: {sum(delta.values()):.2f} cores (engine {engine:.2f}, outputs "
            f"{delta.get('outputs', 0.0):.2f}, event loop {delta.get('event_loop', 0.0):.2f}), "
            f"{memory:.0f} MB; "
            f"caption lag median {percentile(other.heard.lags, 50):.2f} s, p95 "
            f"{percentile(other.heard.lags, 95):.2f} s."
        )
    lines += [
        "",
        "On Azure the engine's parts leave the machine: what stays is the outputs, the event loop and",
        "the rest (an estimate from the same runs; the engine's network sessions are not measured here).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--talk", type=Path, default=Path("build/demo-talk.wav"))
    parser.add_argument("--listeners", type=int, nargs="+", default=[0, 500, 2000, 5000])
    parser.add_argument("--seconds", type=float, default=MEASURE_S, help="measured per run")
    parser.add_argument("--out", type=Path, default=Path("bench/results/event.md"))
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sweep, quiet = asyncio.run(bench(args.talk.resolve(), args.listeners, args.seconds))
    return publish(args.out, report(sweep, quiet, args.seconds))


if __name__ == "__main__":
    sys.exit(main())
