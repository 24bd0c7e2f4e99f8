"""A panel taking turns, in Chromium: the console and the speaker page show the next speaker to
wait while the last one is still being interpreted, then that the floor is clear."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from harness.live import LiveServer
from harness.voicelive_server import tone
from tests.helpers import QUESTION_HZ, published_room, spanish, speaking

CLEAR = "Clear: the next speaker may begin"


@pytest.fixture
async def server() -> AsyncIterator[LiveServer]:
    # English interpretations of 4 s: the pages read the light once a second, and the service may
    # answer as soon as the floor falls quiet.
    overrides = {"spoken": ["en", "es"], "consecutive": True}
    async with published_room(overrides, language_of=spanish, reply_s=4.0) as running:
        yield running


async def test_the_console_and_the_speaker_page_say_when_the_next_speaker_may_begin(
    server: LiveServer, browser: Browser
) -> None:
    console = await browser.new_page(viewport={"width": 1280, "height": 800})
    await console.goto(f"{server.url}/console#token={server.rooms.operator_token}")
    speaker_page = await browser.new_page()
    await speaker_page.goto(f"{server.url}/speak")
    pages = (console, speaker_page)

    async def both(text: str, exact: bool = True) -> None:
        """Each page shows ``text``, watched at once: a page reads the light every second."""
        checks = [
            expect(page.locator("#turn")).to_have_text(text, timeout=30_000)
            if exact
            else expect(page.locator("#turn")).to_contain_text(text, timeout=30_000)
            for page in pages
        ]
        await asyncio.gather(*checks)

    async with speaking(server) as speaker:
        await both(CLEAR)
        # 3 s in Spanish: passed through as it is spoken, interpreted into English after it.
        speaker.say(tone(3.0, QUESTION_HZ))
        await both("Wait: still being interpreted (es) into en", exact=False)
        await both(CLEAR)
    for page in pages:
        await page.close()
