"""The console of a room with a backup input, in Chromium: which input carries the talk, the light
that says the backup does, and the operator's hold."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from harness.live import OPERATOR_TOKEN
from tests.helpers import published_room, three_turns, until


async def test_the_console_shows_which_input_carries_the_talk_and_holds_one(
    browser: Browser, tmp_path: Path
) -> None:
    hall = three_turns(tmp_path / "hall.wav")
    async with published_room({"audio.backup": {"input": str(hall), "loop": True}}) as server:
        page = await browser.new_page()
        await page.goto(f"{server.url}/console#token={OPERATOR_TOKEN}")
        # Nobody publishes: once the hall microphone hears the first tone, it carries the talk.
        await expect(page.locator("#input-active")).to_have_text(
            "The backup carries the talk", timeout=15_000
        )
        await expect(page.locator("#health")).to_contain_text("The backup input carries the talk")
        await expect(page.locator("#backup-input")).to_have_text(f"WAV file {hall.name}: running")
        await page.locator("#input-mode").select_option("primary")
        await until(lambda: server.room.input_report().failover.active == "primary")  # type: ignore[union-attr]
        await expect(page.locator("#input-active")).to_have_text("The primary carries the talk")
        await expect(page.locator("#input-mode")).to_have_value("primary")
