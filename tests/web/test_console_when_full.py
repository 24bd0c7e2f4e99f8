"""When the public has taken every place, the console still loads whole: every module, worklet and
decoder it fetches is let through the operator's reserve, and it shows the room."""

from __future__ import annotations

from pathlib import Path

import websockets
from playwright.async_api import Browser, Response, expect

from harness.live import live_server
from translator.audio.wav import WavSource
from translator.config import load_settings


async def fill(url: str, held: list[websockets.ClientConnection]) -> None:
    """Public listeners from one loopback address after another until the server refuses them."""
    for n in range(2, 250):
        admitted = 0
        while True:
            ws = await websockets.connect(url, local_addr=(f"127.0.0.{n}", 0), compression=None)
            try:
                await ws.recv()
            except websockets.ConnectionClosed:
                break
            held.append(ws)
            admitted += 1
        if not admitted:
            return


async def test_the_console_loads_whole_when_the_public_has_every_place(browser: Browser, talk: Path) -> None:
    settings = load_settings(
        env={}, overrides={"engine": "local", "targets": ["es"], "audio.input": str(talk)}
    )
    settings.server.max_connections = 40
    async with live_server(settings, WavSource(talk, loop=True)) as server:
        held: list[websockets.ClientConnection] = []
        try:
            await fill(f"{server.ws}/ws/listen/es?audio=0", held)
            page = await browser.new_page()
            answered: dict[str, int] = {}

            def seen(response: Response) -> None:
                answered[response.url.removeprefix(server.url)] = response.status

            page.on("response", seen)
            await page.goto(f"{server.url}/console#token={server.rooms.operator_token}")
            await expect(page.locator("#console")).to_be_visible()
            await expect(page.locator('#languages tr[data-lang="es"] td').nth(2)).to_have_text("ready")
            await page.close()
        finally:
            for ws in held:
                await ws.close()
    assert len(held) >= 40
    refused = {path: status for path, status in answered.items() if status >= 400}
    assert not refused, refused
    assert {"/static/room.js", "/static/player.js", "/static/console.js"} <= set(answered)
