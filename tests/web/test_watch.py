"""The HLS output in a browser: the watch page plays it with hls.js (vendored from npm), switches
the audio language and the subtitle track, and the subtitles show while their audio plays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from harness.live import LiveServer
from tests.helpers import tone_talk

ORIGINAL_HZ = (300, 350, 400)
"""The speaker's tones (the Original); every interpretation answers at 440 Hz."""
LOUD_DB = -40

# What the page plays now: each frequency's level and the subtitle it shows.
SAMPLE = """() => {
  const video = document.getElementById("player");
  const cue = document.getElementById("caption").textContent;
  return { at: video.currentTime, levels: window.__watch.spectrum([300, 350, 400, 440]), cue,
           level: window.__watch.level(),
           audio: window.__watch.hls.audioTrack, tracks: window.__watch.hls.audioTracks.map((t) => t.lang) };
}"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with tone_talk(tmp_path, loop=True) as running:
        yield running


async def listen(page: Page, seconds: float) -> list[dict[str, Any]]:
    samples = []
    for _ in range(int(seconds * 20)):
        samples.append(await page.evaluate(SAMPLE))
        await asyncio.sleep(0.05)
    return samples


# What the page's analyser hears trails the media clock the cues follow by the audio output's
# latency: 150 ms was seen on a busy machine. A sample is judged against the cues of that span.
OUTPUT_LATENCY_S = 0.25


def spanish_cue_near(samples: list[dict[str, Any]], at: float) -> bool:
    """Whether a Spanish subtitle showed at media time ``at`` or within the output latency before it."""
    return any(
        at - OUTPUT_LATENCY_S <= s["at"] <= at and s["cue"].startswith("translated into es-ES: tone")
        for s in samples
    )


def loud(sample: dict[str, Any], hz: int) -> bool:
    return sample["levels"][[300, 350, 400, 440].index(hz)] > LOUD_DB


@pytest.mark.alone  # each sound judged against its cue on the page's own clock
async def test_the_watch_page_switches_audio_language_and_subtitles(
    browser: Browser, server: LiveServer
) -> None:
    page = await browser.new_page()
    await page.goto(f"http://127.0.0.1:{server.port}/watch")
    await expect(page.locator("#audio option")).to_have_text(
        ["Original · English", "Español · AI interpretation", "Français · AI interpretation"]
    )
    await expect(page.locator("#subtitles option")).to_have_text(
        ["Off", "Original · English", "Español", "Français"]
    )
    await page.locator("#play").click()
    await expect(page.locator("#play")).to_have_text("Pause")
    # The Original first: the speaker's tones, never the interpretation's.
    before = await listen(page, 4)
    assert any(loud(s, hz) for s in before for hz in ORIGINAL_HZ), before
    assert not any(loud(s, 440) for s in before)
    await page.select_option("#audio", label="Español · AI interpretation")
    await page.select_option("#subtitles", label="Español")
    await listen(page, 3)  # the switch: what was buffered of the Original plays out
    after = await listen(page, 7)
    assert {s["tracks"][s["audio"]] for s in after} == {"es"}
    assert sum(loud(s, 440) for s in after) >= 20, "the interpretation plays"
    assert not any(loud(s, hz) for s in after for hz in ORIGINAL_HZ), "the Original is gone"
    # The Spanish subtitle shows while its audio plays (the level of the last 20 ms: the spectrum
    # looks back 170 ms).
    speaking = [s for s in after if s["level"] > LOUD_DB]
    captioned = [s for s in speaking if spanish_cue_near(after, s["at"])]
    assert len(captioned) >= 0.95 * len(speaking), [(s["at"], s["cue"], s["level"]) for s in speaking]
    # Readable: the page's own subtitle text, not the 8 px a strip of a player draws.
    size = await page.locator("#caption").evaluate("(p) => parseFloat(getComputedStyle(p).fontSize)")
    assert size >= 22, size
    # And another language's subtitles over the same audio.
    await page.select_option("#subtitles", label="Français")
    later = await listen(page, 4)
    assert any(s["cue"].startswith("translated into fr-FR: tone") for s in later)
