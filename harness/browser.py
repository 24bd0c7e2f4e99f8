"""Headless Chromium as the tests and benchmarks launch it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, async_playwright

# Headless Chromium as testing.md describes it; venue.test is a plain-http origin that is not
# localhost, as a phone on the venue network sees the page (an insecure context).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--host-resolver-rules=MAP venue.test 127.0.0.1",
]


@contextlib.asynccontextmanager
async def chromium_with_microphone(recording: Path) -> AsyncIterator[Browser]:
    """Chromium whose microphone plays ``recording`` (a WAV file, looped), allowed without asking."""
    microphone = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={recording}",
    ]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=[*CHROMIUM_ARGS, *microphone]
        )
        try:
            yield browser
        finally:
            await browser.close()
