"""A listener who watches a stream that runs behind the room delays the interpretation: the page
plays each utterance and shows each caption that much later, measured on the page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from harness.live import LiveServer
from tests.helpers import tone_talk

DELAY_S = 3.0
ROOM_DELAY_S = 2.0

# When each caption's paragraph first appears, and when the page's output starts sounding the
# interpretation's 440 Hz (each on the page's own clock, which both pages share).
LOG = """() => {
  const log = { captions: {}, onsets: [], started: Date.now() / 1000 };
  const seen = new Set([...document.querySelectorAll("#captions p")].map((p) => p.dataset.id));
  new MutationObserver(() => {
    for (const p of document.querySelectorAll("#captions p")) {
      if (!seen.has(p.dataset.id)) { seen.add(p.dataset.id); log.captions[p.dataset.id] = Date.now() / 1000; }
    }
  }).observe(document.getElementById("captions"), { childList: true });
  // An utterance already sounding when the log begins has no onset here (it began before).
  let loud = null;
  setInterval(() => {
    const [db] = window.__listenerSpectrum([440]);
    if (loud === null) loud = db > -50;
    else if (!loud && db > -50) { loud = true; log.onsets.push(Date.now() / 1000); }
    else if (loud && db < -70) loud = false;
  }, 5);
  window.__delayLog = log;
}"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with tone_talk(tmp_path, {"targets": ["es"], "delay_s": ROOM_DELAY_S}, loop=True) as running:
        yield running


async def listening(browser: Browser, url: str) -> Page:
    page = await browser.new_page()
    await page.goto(url)
    await page.locator("#play").click()
    return page


async def log(page: Page) -> dict[str, Any]:
    return await page.evaluate("() => window.__delayLog")


def paired(now: dict[str, Any], later: dict[str, Any]) -> list[tuple[float, float]]:
    """Each onset of the delayed page with the live page's of the same utterance: the one nearest
    ``DELAY_S`` before it, within half a second (utterances begin 2 s apart or more). Only
    utterances that began on the live page after its log did count, and only those whose onset the
    live page heard: a busy machine once ran two utterances together there, with no quiet between."""
    pairs = []
    for onset in later["onsets"]:
        if onset - DELAY_S <= now["started"] + 0.1:
            continue
        nearest = min(now["onsets"], key=lambda at: abs(onset - DELAY_S - at), default=None)
        if nearest is not None and abs(onset - DELAY_S - nearest) <= 0.5:
            pairs.append((nearest, onset))
    return pairs


@pytest.mark.alone  # the delay measured on the page's clock
async def test_the_delay_holds_audio_and_captions_back_by_as_much(
    browser: Browser, server: LiveServer
) -> None:
    base = f"http://127.0.0.1:{server.port}/?lang=es"
    live, delayed = await asyncio.gather(
        listening(browser, f"{base}&delay=0"), listening(browser, f"{base}&delay={DELAY_S}")
    )
    # Logged once the live page plays: the first utterance after a tap waits for the jitter buffer
    # to fill (the delayed page's, due seconds later, does not), so it is no measure of the delay.
    await live.wait_for_function("() => window.__listenerStats.playedSeconds > 0.3", timeout=30_000)
    await asyncio.gather(live.evaluate(LOG), delayed.evaluate(LOG))
    room_default = await browser.new_page()
    await room_default.goto(base)
    try:
        async with asyncio.timeout(40):
            while True:  # three utterances seen and heard by both pages after the logs began
                now, later = await log(live), await log(delayed)
                common = now["captions"].keys() & later["captions"].keys()
                if len(common) >= 3 and len(paired(now, later)) >= 3:
                    break
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise AssertionError(f"no three utterances heard {DELAY_S} s apart: {now}, {later}") from None
    # Each caption shows DELAY_S later on the delayed page.
    for caption in common:
        held = later["captions"][caption] - now["captions"][caption]
        assert abs(held - DELAY_S) <= 0.1, (caption, held)
    # Each utterance's audio starts DELAY_S later than on the live page.
    for heard, held in paired(now, later):
        assert abs(held - heard - DELAY_S) <= 0.1, (held - heard, now["onsets"], later["onsets"])
    # A page opened without a delay of its own takes the room's.
    assert await room_default.evaluate("() => document.getElementById('delay').value") == f"{ROOM_DELAY_S:g}"
    assert await delayed.evaluate("() => window.__listenerStats.delay") == DELAY_S
