"""Catching up, heard in Chromium: a fast speaker whose interpretation runs 1.4 times as long as the
speech. The same talk plays at once to two pages, one from a service that speeds the
interpretation up (up to 1.3×) and one from a service that does not; each page's own lateness
(``lagSeconds``, what the page skips whole utterances on at 5 s) is sampled every second."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
from playwright.async_api import Browser

from harness.live import LiveServer, live_server
from harness.voicelive_server import RATE, FakeVoiceLive, tone
from translator.audio.wav import WavSource
from translator.config import load_settings

# 9 sentences of 3 s, 0.6 s apart: each cycle of speech lasts 3.6 s, its interpretation 4.2 s.
SENTENCES = 9
SPEECH_S, GAP_S, RATIO = 3.0, 0.6, 1.4
BOUND_S = 2.5
"""The page's lateness while catching up stays under this (it settles near 1.9 s: the most the
proportional tempo needs to keep up with 1.4 times the speech)."""
DRIFTING_MAX_LAG_S = 3.5
"""Where the page that is not caught up skips (``?maxLag=``; 5 s by default): past the bound, and
reached within the talk (0.6 s later each sentence), so that the talk need not run 13 sentences."""


def fast_talk(path: Path) -> Path:
    silence = bytes(int(RATE * GAP_S) * 2)
    pcm = bytes(RATE) + b"".join(tone(SPEECH_S, 300 + 25 * i) + silence for i in range(SENTENCES))
    soundfile.write(str(path), np.frombuffer(pcm + bytes(RATE * 4), dtype="<i2"), RATE, subtype="PCM_16")
    return path


async def lateness(
    browser: Browser, server: LiveServer, seconds: float, query: str = ""
) -> tuple[list[float], dict]:
    """The page's lateness each second while it plays, and its stats at the end."""
    page = await browser.new_page()
    await page.goto(f"http://127.0.0.1:{server.port}/?lang=es{query}")
    await page.locator("#play").click()
    # Sampled from the first sound on: before it, the page has no lateness to report (it once
    # reported none at the first sample, on a machine slow to start the page).
    await page.wait_for_function("() => window.__listenerStats.playedSeconds > 0", timeout=30_000)
    samples = []
    for _ in range(int(seconds)):
        await asyncio.sleep(1.0)
        samples.append(await page.evaluate("() => window.__listenerStats.lagSeconds"))
    return samples, await page.evaluate("() => ({...window.__listenerStats})")


@pytest.mark.alone  # lags measured on the page's clock
async def test_an_interpretation_longer_than_the_speech_is_caught_up_and_nothing_is_skipped(
    browser: Browser, tmp_path: Path
) -> None:
    talk = fast_talk(tmp_path / "fast.wav")
    listen_s = SENTENCES * (SPEECH_S + GAP_S) * RATIO + 4
    async with FakeVoiceLive(reply_ratio=RATIO) as voicelive:

        def settings(max_tempo: float):
            return load_settings(
                env={
                    "AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint,
                    "AZURE_VOICELIVE_API_KEY": "catch-up-key",
                },
                overrides={"targets": ["es"], "azure.model": "gpt-4.1", "max_tempo": max_tempo},
            )

        async with (
            live_server(settings(1.3), WavSource(talk)) as catching_up,
            live_server(settings(1.0), WavSource(talk)) as drifting,
        ):
            (caught, caught_stats), (drifted, drifted_stats) = await asyncio.gather(
                lateness(browser, catching_up, listen_s),
                lateness(browser, drifting, listen_s, f"&maxLag={DRIFTING_MAX_LAG_S}"),
            )
            async with httpx.AsyncClient(base_url=catching_up.url, headers=catching_up.operator) as client:
                status = (await client.get("/api/status")).json()["languages"][0]
                metrics = (await client.get("/metrics")).text
    # What the pages measured (the margins above), for the log.
    print(
        f"caught up: max {max(caught):.2f} s; not: max {max(drifted):.2f} s, {drifted_stats['skips']} skip(s)"
    )
    # With catching up: bounded, nothing skipped, everything sent was played.
    assert max(caught) <= BOUND_S, caught
    assert caught_stats["skips"] == 0, caught_stats
    assert caught_stats["playedSeconds"] >= 0.95 * caught_stats["receivedSeconds"], caught_stats
    # Without: the page falls further behind than the bound, until it skips whole sentences.
    assert max(drifted) > BOUND_S, drifted
    assert drifted_stats["skips"] >= 1, drifted_stats
    # The operator sees it: the last sentences were sped up; by now everything has played.
    assert 1.0 < status["tempo"] <= 1.3 and status["behind_s"] == 0.0
    assert f'translator_tempo{{lang="es",room="main"}} {status["tempo"]}' in metrics
    # Sped up, the interpretation took less time to play than as spoken.
    assert caught_stats["receivedSeconds"] < drifted_stats["receivedSeconds"] - SENTENCES * 0.3
