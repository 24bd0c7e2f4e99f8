"""HLS latency and disk use, measured.

1. Latency, speech → a player hearing it: a talk of one 1 s tone every 7 s (the Voice Live test
   server answers each with 1 s at 440 Hz), heard at once by four Chromium pages: the audience page
   (WebSocket, the baseline) and the watch page (HLS through hls.js, 1 s segments), each on the
   Original and on Spanish. Each page notes when its output starts sounding the tone; the speech's
   times are the talk's own (the WAV's tone onsets on the input's clock).
2. Disk use: the demo talk (speech) on the offline engine into Spanish and French for a few
   minutes; each recording's bytes per hour, and the HLS folder's size (it is bounded by its
   window), beside the codecs' nominal rates.

    python -m bench.outputs --out bench/results/outputs.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
from playwright.async_api import Browser, Page, async_playwright

from bench.report import publish
from harness.browser import CHROMIUM_ARGS
from harness.live import live_server
from harness.voicelive_server import RATE, FakeVoiceLive, tone, tone_names
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.outputs.recording import recording_path
from translator.transcripts.store import list_transcripts

TONE_HZ = 350
REPLY_HZ = 440
PERIOD_S = 7.0
"""The talk file is 6 s; a looped WAV has a second of silence between repeats."""
TONE_AT_S = 1.0
LISTEN_S = 100.0
DISK_S = 180.0

# When the page's output starts sounding `hz` (its analyser, polled every 5 ms), on the page's clock.
WATCH = """([hz, spectrum]) => {
  window.__onsets = [];
  let loud = false;
  setInterval(() => {
    const [db] = spectrum === "watch" ? window.__watch.spectrum([hz]) : window.__listenerSpectrum([hz]);
    if (!loud && db > -50) { loud = true; window.__onsets.push(Date.now() / 1000); }
    else if (loud && db < -70) loud = false;
  }, 5);
}"""


def talk(path: Path) -> Path:
    pcm = bytes(int(RATE * TONE_AT_S) * 2) + tone(1.0, TONE_HZ) + bytes(int(RATE * 4.0) * 2)
    soundfile.write(str(path), np.frombuffer(pcm, dtype="<i2"), RATE, subtype="PCM_16")
    return path


async def listener(browser: Browser, url: str, hz: int, spectrum: str) -> Page:
    page = await browser.new_page()
    await page.goto(url)
    await page.locator("#play").click()
    await page.evaluate(WATCH, [hz, spectrum])
    return page


def latencies(onsets: list[float], talk_started: float, offset_s: float) -> list[float]:
    """Each onset heard, less the speech it follows (``offset_s`` into each period of the talk)."""
    found = []
    for heard in onsets:
        period = int((heard - talk_started - offset_s) // PERIOD_S)
        found.append(heard - (talk_started + period * PERIOD_S + offset_s))
    return found[1:]  # the first may have been joined mid-tone


async def measure_latency(folder: Path) -> list[str]:
    async with FakeVoiceLive(transcribe=tone_names, reply_s=(1.0,)) as voicelive:
        settings = load_settings(
            env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "bench-key"},
            overrides={"targets": ["es"], "engine": "voicelive", "azure.model": "gpt-4.1"},
        )
        source = WavSource(talk(folder / "talk.wav"), loop=True)
        async with live_server(settings, source, outputs=True) as server, async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            base = f"http://127.0.0.1:{server.port}"
            await asyncio.sleep(4)  # the HLS playlists hold a few segments
            pages = {
                "WebSocket page, Original": await listener(
                    browser, f"{base}/?lang=original", TONE_HZ, "page"
                ),
                "WebSocket page, Spanish": await listener(browser, f"{base}/?lang=es", REPLY_HZ, "page"),
                "HLS (hls.js), Original": await listener(
                    browser, f"{base}/watch?lang=original", TONE_HZ, "watch"
                ),
                "HLS (hls.js), Spanish": await listener(browser, f"{base}/watch?lang=es", REPLY_HZ, "watch"),
            }
            await asyncio.sleep(LISTEN_S)
            onsets = {name: await page.evaluate("() => window.__onsets") for name, page in pages.items()}
            talk_started = (server.room.talk_started_at or 0) / 1000
            await browser.close()
    lines = [
        "| listener | tones heard | from the speech's start: median / p95 (s) | over the WebSocket page |",
        "|---|---|---|---|",
    ]
    baseline: dict[str, float] = {}
    for name, heard in onsets.items():
        found = latencies(heard, talk_started, TONE_AT_S)
        if not found:
            lines.append(f"| {name} | 0 | | |")
            continue
        median, p95 = statistics.median(found), float(np.percentile(found, 95))
        channel = name.rsplit(", ", 1)[1]
        over = f"+{median - baseline[channel]:.2f}" if channel in baseline else "(baseline)"
        baseline.setdefault(channel, median)
        lines.append(f"| {name} | {len(found)} | {median:.2f} / {p95:.2f} | {over} |")
    return lines


async def measure_disk(folder: Path, demo: Path) -> list[str]:
    talks, hls = folder / "talks", folder / "hls"
    settings = load_settings(
        env={},
        overrides={
            "targets": ["es", "fr"],
            "engine": "local",
            "transcripts.directory": str(talks),
            "outputs.hls.directory": str(hls),
        },
    )
    largest_hls = 0
    async with live_server(settings, WavSource(demo, loop=True), outputs=True) as server:
        started = time.monotonic()
        while time.monotonic() - started < DISK_S:
            await asyncio.sleep(5)
            largest_hls = max(largest_hls, await asyncio.to_thread(folder_size, hls))
        seconds = time.time() - (server.room.talk_started_at or 0) / 1000
    (header,) = list_transcripts(talks)
    lines = [
        "| channel | recording, MB per hour (measured) | nominal (24 kb/s Opus) |",
        "|---|---|---|",
    ]
    for lang in ("original", "es", "fr"):
        size = recording_path(talks, header.id, lang).stat().st_size
        lines.append(f"| {lang} | {size / seconds * 3600 / 1e6:.1f} | 10.8 |")
    lines += [
        "",
        f"The HLS folder (three channels' audio and subtitles, a 30 s window) peaked at "
        f"{largest_hls / 1e6:.2f} MB; AAC at 32 kb/s is 14.4 MB an hour per channel while it streams, "
        "none of it kept.",
    ]
    return lines


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


async def main_async(out: Path, demo: Path | None) -> int:
    with tempfile.TemporaryDirectory() as folder:
        latency = await measure_latency(Path(folder))
        disk = (
            await measure_disk(Path(folder), demo)
            if demo is not None
            else ["(no build/demo-talk.wav: `make demo`)"]
        )
    text = "\n".join(
        [
            "# HLS latency and disk use",
            "",
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores.",
            "",
            f"## Speech → a player hearing it ({LISTEN_S:.0f} s, a 1 s tone every {PERIOD_S:.0f} s)",
            "",
            "The Voice Live test server answers each tone once it has ended (1 s after its start), at "
            "once: the Spanish rows add that turn to the transport. Onsets are detected on each page's "
            "output analyser (an 8192-sample window: tens of ms, alike for every row). HLS: 1 s "
            "segments, hls.js holding three of them (its default).",
            "",
            *latency,
            "",
            f"## Disk use ({DISK_S:.0f} s of the demo talk, offline engine, es and fr)",
            "",
            *disk,
            "",
        ]
    )
    return publish(out, text)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/outputs.md"))
    demo = Path("build/demo-talk.wav")
    return asyncio.run(main_async(parser.parse_args().out, demo if demo.exists() else None))


if __name__ == "__main__":
    raise SystemExit(main())
