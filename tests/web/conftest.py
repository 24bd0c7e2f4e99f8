"""The pages' tests share one Chromium per module; each test's pages are closed when it ends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from harness.browser import CHROMIUM_ARGS


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def browser(chromium: Browser) -> AsyncIterator[Browser]:
    """The module's Chromium. Every page a test opened is closed as it ends: one left open goes on
    playing, polling and reconnecting to a server that is gone, on the CPU the next tests need."""
    yield chromium
    for context in chromium.contexts:
        await context.close()
