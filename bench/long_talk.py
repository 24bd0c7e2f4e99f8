"""A long talk: does a listener stay live? Ten minutes of a speaker who hardly pauses, whose
interpretation runs 1.2 and 1.4 times as long as the speech, with and without catching up, side by
side in one run.

Each variant is the real service (the Voice Live engine against its test server, which answers every
sentence with speech ``ratio`` times as long) playing the talk in real time to an audience page in
Chromium; the page's own lateness (``lagSeconds``) is read every second, and at the end what it
skipped and what share of the audio it was sent it played. The four variants run at once.

    python -m bench.long_talk --out bench/results/long-talk.md [--minutes 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
from playwright.async_api import Browser, async_playwright

from bench.report import publish
from harness.browser import CHROMIUM_ARGS
from harness.live import live_server
from harness.voicelive_server import RATE, FakeVoiceLive, tone
from translator.audio.wav import WavSource
from translator.config import load_settings

RATIOS = (1.2, 1.4)
TEMPOS = (1.3, 1.0)
GAP_S = 0.6
"""Just long enough for the service to end a turn: a speaker who hardly pauses."""
SENTENCE_S = (2.0, 4.0, 3.0, 6.0, 2.5, 5.0)


@dataclass
class Run:
    ratio: float
    max_tempo: float
    lateness: list[float] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.ratio}× speech, {'catching up' if self.max_tempo > 1 else 'as spoken'}"


def long_talk(path: Path, minutes: float) -> float:
    """Sentences of 2–6 s with 0.6 s between them, each its own tone, for ``minutes``; its length."""
    parts, at, index = [bytes(RATE * 2)], 1.0, 0
    while at < minutes * 60:
        seconds = SENTENCE_S[index % len(SENTENCE_S)]
        parts += [tone(seconds, 300 + 10 * (index % 60)), bytes(int(RATE * GAP_S) * 2)]
        at += seconds + GAP_S
        index += 1
    parts.append(bytes(RATE * 2 * 5))
    pcm = b"".join(parts)
    soundfile.write(str(path), np.frombuffer(pcm, dtype="<i2"), RATE, subtype="PCM_16")
    return len(pcm) / 2 / RATE


async def play(browser: Browser, run: Run, talk: Path, seconds: float) -> None:
    async with FakeVoiceLive(reply_ratio=run.ratio) as voicelive:
        settings = load_settings(
            env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "bench-key"},
            overrides={"targets": ["es"], "azure.model": "gpt-4.1", "max_tempo": run.max_tempo},
        )
        async with live_server(settings, WavSource(talk)) as server:
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{server.port}/?lang=es")
            await page.locator("#play").click()
            for _ in range(int(seconds)):
                await asyncio.sleep(1.0)
                run.lateness.append(await page.evaluate("() => window.__listenerStats.lagSeconds"))
            run.stats = await page.evaluate("() => ({...window.__listenerStats})")
            await page.close()


def plot(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(9, 4), dpi=100)
    for run in runs:
        axes.plot(np.arange(len(run.lateness)) / 60, run.lateness, label=run.name, linewidth=1)
    axes.axhline(5.0, color="grey", linestyle="--", linewidth=0.8, label="the page skips past 5 s")
    axes.set_xlabel("minutes into the talk")
    axes.set_ylabel("page lateness (s)")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def report(runs: list[Run], minutes: float, plot_name: str) -> str:
    lines = [
        "# A long talk: the listener's lateness",
        "",
        f"A {minutes:.0f}-minute talk of sentences of 2–6 s, {GAP_S} s apart, through the real service "
        "(the Voice Live engine and its test server, which answers each sentence with speech as many times "
        "as long as the ratio) to an audience page in Chromium, in real time; the four variants at once, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores. Lateness is the "
        "page's own (`lagSeconds`: how long the audio about to play has waited), read every second.",
        "",
        "| interpretation | lateness median / p95 / max (s) | lateness in the last minute (s) | skipped "
        "| audio played of sent |",
        "|---|---|---|---|---|",
    ]
    for run in runs:
        late = run.lateness
        last = late[-60:]
        played = run.stats.get("playedSeconds", 0.0) / max(run.stats.get("receivedSeconds", 0.0), 1e-9)
        lines.append(
            f"| {run.name} | {statistics.median(late):.1f} / {np.percentile(late, 95):.1f} / {max(late):.1f} "
            f"| {statistics.mean(last):.1f} | {run.stats.get('skips', 0)} utterances "
            f"({run.stats.get('skippedSeconds', 0):.0f} s) | {played:.1%} |"
        )
    lines += ["", f"![lateness over the talk]({plot_name})"]
    return "\n".join(lines) + "\n"


async def bench(minutes: float, out: Path) -> str:
    runs = [Run(ratio, tempo) for ratio in RATIOS for tempo in TEMPOS]
    with tempfile.TemporaryDirectory() as folder:
        talk = Path(folder) / "long.wav"
        seconds = long_talk(talk, minutes) + 15
        print(f"bench: {len(runs)} variants at once, {seconds / 60:.1f} min…", file=sys.stderr, flush=True)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            try:
                await asyncio.gather(*(play(browser, run, talk, seconds) for run in runs))
            finally:
                with contextlib.suppress(Exception):
                    await browser.close()
    plot_path = out.with_suffix(".png")
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    plot(runs, plot_path)
    return report(runs, minutes, plot_path.name)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/long-talk.md"))
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    return publish(args.out, asyncio.run(bench(args.minutes, args.out)))


if __name__ == "__main__":
    raise SystemExit(main())
