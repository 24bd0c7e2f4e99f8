"""Two rooms on the offline engine, first on a quiet machine and then beside a CPU hog (the venue
laptop), for as long as asked: are captions steady, and is a stall ever seen?

Each phase counts, per room and minute, the final captions a real WebSocket listener got, how
often `/readyz` was not 200, the stalls the service counted (`translator_stalls_total`), event loop
stalls, and the process's memory. The quiet phase is the baseline for the busy one.

    python -m bench.busy_box --talk build/demo-talk.wav --minutes 10 --out bench/results/busy-box.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

from bench.report import publish
from bench.soak import rss_mb
from harness.live import free_port
from translator.processes import Child

TOKEN = "busy-box-operator-token"
ROOMS = ("hall", "annex")


@dataclass
class Phase:
    name: str
    finals: dict[str, list[int]] = field(default_factory=lambda: {room: [] for room in ROOMS})
    """Per room, the final captions of each minute."""
    not_ready_s: int = 0
    stalls: float = 0.0
    loop_stalls: float = 0.0
    rss_mb: list[float] = field(default_factory=list)


def config(talk: Path, folder: Path, targets: list[str]) -> Path:
    path = folder / "rooms.toml"
    rooms = "".join(
        f'[[rooms]]\nid = "{room}"\nname = "{room}"\naudio.input = "{talk}"\naudio.loop = true\n\n'
        for room in ROOMS
    )
    path.write_text(f'engine = "local"\ntargets = {json.dumps(targets)}\n\n{rooms}')
    return path


def metric(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def follow(port: int, room: str, lang: str, finals: list[float], stop: asyncio.Event) -> None:
    """A listener of the room's ``lang``: the time of each final caption."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/listen/{room}/{lang}?audio=0") as ws:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                message = json.loads(await asyncio.wait_for(ws.recv(), 1.0))
                if message.get("type") == "caption" and message["final"]:
                    finals.append(time.monotonic())


async def run_phase(port: int, pid: int, phase: Phase, minutes: float, lang: str) -> None:
    stop = asyncio.Event()
    heard: dict[str, list[float]] = {room: [] for room in ROOMS}
    listeners = [asyncio.create_task(follow(port, room, lang, heard[room], stop)) for room in ROOMS]
    began = time.monotonic()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as client:
        before = (await client.get("/metrics")).text
        while time.monotonic() - began < minutes * 60:
            await asyncio.sleep(1.0)
            if (await client.get("/readyz")).status_code != 200:
                phase.not_ready_s += 1
            if int(time.monotonic() - began) % 30 == 0:
                phase.rss_mb.append(rss_mb(pid))
        after = (await client.get("/metrics")).text
    stop.set()
    await asyncio.gather(*listeners)
    phase.stalls = metric(after, "translator_stalls_total") - metric(before, "translator_stalls_total")
    loop = "translator_event_loop_stalls_total"
    phase.loop_stalls = metric(after, loop) - metric(before, loop)
    for room in ROOMS:
        for minute in range(max(1, int(minutes))):
            start = began + minute * 60
            phase.finals[room].append(sum(start <= at < start + 60 for at in heard[room]))


async def ready(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client, asyncio.timeout(120):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.5)


async def measure(talk: Path, minutes: float, targets: list[str]) -> list[Phase]:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        settings = config(talk, Path(folder), targets)
        env = os.environ | {"TRANSLATOR_OPERATOR_TOKEN": TOKEN, "XDG_DATA_HOME": folder}
        serve = [sys.executable, "-m", "translator", "serve", "--config", str(settings), "--port", str(port)]
        server = await Child.start(serve, env=env)
        phases = [Phase("quiet"), Phase("beside a CPU hog")]
        try:
            await ready(port)
            print(f"bench: quiet machine, {minutes:g} min…", file=sys.stderr, flush=True)
            await run_phase(port, server.pid, phases[0], minutes, targets[0])
            hog = await Child.start([sys.executable, "-c", "while True: pass"])
            try:
                print(f"bench: beside a CPU hog, {minutes:g} min…", file=sys.stderr, flush=True)
                await run_phase(port, server.pid, phases[1], minutes, targets[0])
            finally:
                await hog.kill()
        finally:
            began = time.monotonic()
            server.signal(signal.SIGTERM)
            code = await server.wait(30)
            print(f"bench: stopped in {time.monotonic() - began:.1f} s (exit {code})", file=sys.stderr)
    return phases


def report(phases: list[Phase], minutes: float, targets: list[str]) -> str:
    lines = [
        "# Two rooms on the offline engine, quiet and beside a CPU hog",
        "",
        f"Each phase {minutes:g} min on this 2-core machine; a listener of `{targets[0]}` per room (the demo "
        f"talk looping, both rooms, {', '.join(f'`{t}`' for t in targets)}). Finals: final captions a "
        "listener got per minute.",
        "",
        "| phase | finals a minute, hall (min–max) | finals a minute, annex (min–max) | /readyz not 200 | "
        "stalls | event-loop stalls | memory (MB, first → last) |",
        "|---|---|---|---|---|---|---|",
    ]
    for phase in phases:
        hall, annex = phase.finals["hall"], phase.finals["annex"]
        memory = f"{phase.rss_mb[0]:.0f} → {phase.rss_mb[-1]:.0f}" if phase.rss_mb else "–"
        lines.append(
            f"| {phase.name} | {min(hall)}–{max(hall)} | {min(annex)}–{max(annex)} | {phase.not_ready_s} s "
            f"| {phase.stalls:.0f} | {phase.loop_stalls:.0f} | {memory} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--talk", type=Path, default=Path("build/demo-talk.wav"))
    parser.add_argument("--minutes", type=float, default=5.0, help="each phase")
    parser.add_argument("--out", type=Path, default=Path("bench/results/busy-box.md"))
    parser.add_argument(
        "--target",
        dest="targets",
        action="append",
        metavar="LANG",
        help="each room's languages (default es, fr)",
    )
    args = parser.parse_args()
    targets = args.targets or ["es", "fr"]
    phases = asyncio.run(measure(args.talk.resolve(), args.minutes, targets))
    return publish(args.out, report(phases, args.minutes, targets))


if __name__ == "__main__":
    raise SystemExit(main())
