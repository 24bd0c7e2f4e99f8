"""Audio integrity end to end: how much of each utterance's translated audio reaches the ear.

For the offline engine and each codec, the demo talk is replayed in real time through the server;
per utterance it reports the share of its translated audio that (a) left the engine (the end frame
gives its length), (b) reached a raw WebSocket listener, (c) was played by the audience page in
Chromium (``window.__listenerStats``: played against sent), and the lag from the true end of speech
to the first translated audio at the raw listener.

    python -m bench.integrity --out bench/results/integrity.md
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import soundfile
from playwright.async_api import async_playwright

from bench.report import publish
from harness.browser import CHROMIUM_ARGS
from harness.live import free_port
from harness.talk import write_talk
from translator.config import load_settings
from translator.evaluation.metrics import score
from translator.evaluation.reference import Reference
from translator.evaluation.replay import replay
from translator.server.app import running

# What the design before the audio-timeline hub measured (issue 8, a raw listener, the same engine).
BEFORE = {"pcm": "55–65 %", "opus": "11–13 %"}


async def page_played(talk: Path, host: str) -> dict[str, float]:
    """Play the talk once to the audience page on ``host``; the page's own statistics at the end."""
    settings = load_settings(env={}, overrides={"targets": ["es"], "audio.input": str(talk)})
    settings.server.port = free_port()
    # The venue's name for the server is one it knows as its own (as an operator sets it).
    settings.server.allowed_origins = [f"http://venue.test:{settings.server.port}"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            async with running(settings):
                page = await browser.new_page()
                await page.goto(f"http://{host}:{settings.server.port}/?lang=es")
                await page.locator("#play").click()
                # The talk is paced in real time: wait it out, then for the page to play the rest.
                await asyncio.sleep(soundfile.info(str(talk)).duration)
                await page.wait_for_function(
                    "() => window.__listenerStats.bufferedSeconds === 0", timeout=20_000, polling=200
                )
                await asyncio.sleep(3)
                return await page.evaluate("() => ({...window.__listenerStats})")
        finally:
            await browser.close()


async def measure(talk: Path, reference_talk: Reference) -> list[str]:
    """The report's rows: raw listeners on both codecs, then the page on both playback paths."""
    rows = []
    for codec in ("pcm", "opus"):
        print(f"bench: raw listener, {codec} (about 40 s)…", file=sys.stderr, flush=True)
        settings = load_settings(env={}, overrides={"targets": ["es", "fr"], "audio.input": str(talk)})
        started, heard = await replay(settings, str(talk), codec, lambda *_: None)
        for lang, h in heard.items():
            s = score(reference_talk, h, started, settings.source, settings.glossary)
            shares = s.delivered.values
            rows.append(
                f"| local | {codec} | raw listener ({lang}) | {len(h.lengths)} utterances | "
                f"{100 * min(shares):.1f} % / {100 * s.delivered.median:.1f} % | "
                f"{s.audio_lag.median:.0f} / {s.audio_lag.max:.0f} ms | {BEFORE[codec]} |"
            )
    for host, path in (("127.0.0.1", "AudioWorklet + Opus"), ("venue.test", "ScriptProcessor + PCM")):
        print(f"bench: page in Chromium, {path} (about 45 s)…", file=sys.stderr, flush=True)
        stats = await page_played(talk, host)
        share = stats["playedSeconds"] / stats["sentSeconds"] if stats["sentSeconds"] else 0.0
        rows.append(
            f"| local | {stats['codec']} | page, {path} (es) | {stats['sentSeconds']:.1f} s sent | "
            f"{100 * share:.1f} % played | skips {stats['skips']}, underruns {stats['underruns']} | "
            "see the issue: skipped on bursts, short Opus translations never played |"
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/integrity.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        talk = Path(tmp) / "talk.wav"
        reference = write_talk(talk)
        rows = asyncio.run(measure(talk, reference))
    text = "\n".join(
        [
            "# Audio integrity",
            "",
            f"Demo talk (8 espeak-ng sentences), offline engine, real time; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. (a) every utterance's audio left "
            "the engine whole (its end frame gives the length the shares are counted against).",
            "",
            "| engine | codec | where | what | share of each utterance's audio, min / median (b) or "
            "played (c) | end of speech → first audio, median / max | before (issue 8) |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    return publish(args.out, text)


if __name__ == "__main__":
    raise SystemExit(main())
