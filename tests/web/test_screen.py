"""The room screen in Chromium at 1920×1080, as a projector shows it: two languages side by side,
each its newest lines, in type measured large enough to read from the back of a hall."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, expect

from harness.live import live_server
from harness.voicelive_server import FakeVoiceLive
from translator.audio.wav import WavSource
from translator.config import load_settings

FULL_HD = {"width": 1920, "height": 1080}


async def test_the_room_screen_shows_two_languages_newest_lines_large(
    browser: Browser, voicelive: FakeVoiceLive, talk: Path
) -> None:
    settings = load_settings(
        env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "screen-secret"},
        overrides={"targets": ["es", "fr", "de"], "audio.input": str(talk), "azure.model": "gpt-4.1"},
    )
    async with live_server(settings, WavSource(talk, loop=True, pace=2)) as server:
        page = await browser.new_page(viewport=FULL_HD)
        await page.goto(f"http://127.0.0.1:{server.port}/screen?langs=fr,es&lines=3&qr=1")
        columns = page.locator("section.language")
        await expect(columns).to_have_count(2)
        # In the link's order, each headed by its name and the AI label in its own language.
        await expect(columns.nth(0).locator("h2")).to_have_text("FrançaisInterprétation par IA")
        await expect(columns.nth(1).locator("h2")).to_have_text("EspañolInterpretación por IA")
        # Lines follow the talk: more than three finals said, the newest three shown, newest last.
        for column, locale in ((columns.nth(0), "fr-FR"), (columns.nth(1), "es-ES")):
            await expect(column.locator("p")).to_have_count(3, timeout=60_000)
            await expect(column.locator("p").last).to_contain_text(f"translated into {locale}")
        ids = [
            int(i)
            for i in await columns.nth(1).locator("p").evaluate_all("(ps) => ps.map((p) => p.dataset.id)")
        ]
        assert ids == sorted(ids) and ids[-1] >= 4
        # Large and high-contrast: 60 px type (1/18 of the height), white on black; the lines of
        # both columns inside the screen. A finished line: the talk loops, and the newest line may be
        # a sentence still being said (grey until it is final).
        size, color, background = (
            await columns.nth(0)
            .locator("p:not(.partial)")
            .last.evaluate(
                "(p) => [parseFloat(getComputedStyle(p).fontSize), getComputedStyle(p).color,"
                " getComputedStyle(document.body).backgroundColor]"
            )
        )
        assert size == 60 and color == "rgb(255, 255, 255)" and background == "rgb(0, 0, 0)"
        for column in (columns.nth(0), columns.nth(1)):
            box = await column.locator("p").last.bounding_box()
            assert box is not None and box["y"] + box["height"] <= FULL_HD["height"]
        # The QR code in the corner opens the audience page.
        await expect(page.locator("#join")).to_be_visible()
        image = Image.open(io.BytesIO(await page.locator("#qr").screenshot()))
        assert [c.text for c in zxingcpp.read_barcodes(image)] == [server.rooms.audience_url(server.room)]
        async with httpx.AsyncClient(base_url=server.url) as client:
            listeners = (await client.get("/api/languages")).json()["targets"]
        # A screen is not the audience: nobody is counted.
        assert all(language["listeners"] == 0 for language in listeners)
