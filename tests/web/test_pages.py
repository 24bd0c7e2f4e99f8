"""The pages in real Chromium against a real server fed by a WAV through the Voice Live engine.

Screenshots of every page at phone and desktop size go to test-artifacts/screenshots/ for review.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.helpers import LiveServer, free_port, live_server
from tests.voicelive_server import FakeVoiceLive
from translator.audio.wav import WavSource
from translator.config import load_settings

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    # A phone on the venue network: a plain-http origin that is not localhost (an insecure context).
    "--host-resolver-rules=MAP venue.test 127.0.0.1",
]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


def settings_for(voicelive: FakeVoiceLive, talk: Path, port: int | None = None):
    return load_settings(
        env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "browser-secret"},
        overrides={
            "targets": ["es", "fr"],
            "audio.input": str(talk),
            "azure.model": "gpt-4.1",
            "server.event_name": "Spring Synod",
            **({"server.port": port} if port else {}),
        },
    )


@pytest.fixture
async def server(voicelive: FakeVoiceLive, talk: Path) -> AsyncIterator[LiveServer]:
    async with live_server(settings_for(voicelive, talk), WavSource(talk, loop=True, pace=2)) as running:
        yield running


async def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(size)
        await page.screenshot(path=SHOTS / f"{name}-{label}.png")


async def stats(page: Page) -> dict:
    return await page.evaluate("() => ({...window.__listenerStats})")


@pytest.mark.parametrize("host", ["127.0.0.1", "venue.test"])
async def test_audience_page_lists_languages_plays_and_shows_captions(
    browser: Browser, server: LiveServer, host: str
) -> None:
    page = await browser.new_page(viewport=PHONE)
    await page.goto(f"http://{host}:{server.port}/")
    await expect(page.locator("#event")).to_have_text("Spring Synod")
    await expect(page.get_by_role("button", name="Español (Spanish)")).to_be_visible()
    await expect(page.get_by_role("button", name="Français (French)")).to_be_visible()
    await page.get_by_role("button", name="Español (Spanish)").click()
    await page.get_by_role("button", name="Tap to listen").click()
    await page.wait_for_function("window.__listenerStats.playedSeconds > 0.25", timeout=30_000)
    caption = page.locator("#captions p.final").first
    await expect(caption).to_contain_text("translated into es-ES: Good morning everyone", timeout=30_000)
    sent = [c.text for c in server.services.hub.channels["es"].history]
    shown = await page.locator("#captions p.final").all_inner_texts()
    assert shown and all(text in sent for text in shown)
    await expect(page.locator("#connection")).to_have_text("● Live")
    secure = await page.evaluate("window.isSecureContext")
    played = await stats(page)
    if host == "venue.test":
        assert secure is False and (played["mode"], played["codec"]) == ("scriptprocessor", "pcm")
    else:
        assert secure is True and (played["mode"], played["codec"]) == ("audioworklet", "opus")
        await shoot(page, "audience")
    assert "browser-secret" not in await page.content()


async def test_a_chosen_language_is_remembered_and_can_be_switched_mid_talk(
    browser: Browser, server: LiveServer
) -> None:
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    await page.goto(f"http://127.0.0.1:{server.port}/?lang=es")
    await expect(page.locator("#captions p.final").first).to_contain_text("es-ES", timeout=30_000)
    await page.get_by_role("button", name="Change language").click()
    await page.get_by_role("button", name="Français (French)").click()
    await expect(page.locator("#captions p.final").first).to_contain_text("fr-FR", timeout=30_000)
    assert all("fr-FR" in t for t in await page.locator("#captions p").all_inner_texts())
    again = await context.new_page()
    await again.goto(f"http://127.0.0.1:{server.port}/")
    await expect(again.locator("#listen")).to_be_visible()
    assert (await stats(again))["lang"] == "fr"
    await expect(again.locator("#captions p.final").first).to_contain_text("fr-FR", timeout=30_000)
    await context.close()


async def test_the_page_survives_a_server_restart_without_a_reload(
    browser: Browser, voicelive: FakeVoiceLive, talk: Path
) -> None:
    port = free_port()
    page = await browser.new_page(viewport=PHONE)
    async with live_server(settings_for(voicelive, talk), WavSource(talk, loop=True, pace=2), port=port):
        await page.goto(f"http://127.0.0.1:{port}/?lang=es")
        await page.get_by_role("button", name="Tap to listen").click()
        await page.wait_for_function("window.__listenerStats.playedSeconds > 0.2", timeout=30_000)
    await expect(page.locator("#connection")).to_have_text("Reconnecting…")
    before = (await stats(page))["playedSeconds"]
    await page.evaluate("window.__navigations = performance.getEntriesByType('navigation').length")
    async with live_server(settings_for(voicelive, talk), WavSource(talk, loop=True, pace=2), port=port):
        await expect(page.locator("#connection")).to_have_text("● Live", timeout=20_000)
        await page.wait_for_function(f"window.__listenerStats.playedSeconds > {before + 0.2}", timeout=30_000)
    assert await page.evaluate("window.__navigations") == 1


async def test_the_overlay_is_transparent_and_honours_its_parameters(
    browser: Browser, server: LiveServer
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    await page.goto(
        f"http://127.0.0.1:{server.port}/overlay?lang=fr&lines=1&fontSize=50&color=%23ffff00"
        "&position=top&showOriginal=1&fade=0&align=left&bg=rgba(0,0,255,0.5)"
    )
    line = page.locator(".line").first
    await expect(line).to_contain_text("translated into fr-FR", timeout=30_000)
    await expect(line.locator(".original")).to_have_text("Good morning everyone")
    text = line.locator("span.text").first
    style = await text.evaluate(
        "e => { const s = getComputedStyle(e); return [s.fontSize, s.color,"
        " s.backgroundColor, getComputedStyle(e.parentElement).textAlign] }"
    )
    assert style == ["50px", "rgb(255, 255, 0)", "rgba(0, 0, 255, 0.5)", "left"]
    box = await line.bounding_box()
    assert box is not None and box["y"] < 720 / 2
    assert await page.locator(".line").count() == 1
    image = Image.open(io.BytesIO(await page.screenshot(omit_background=True))).convert("RGBA")
    assert image.getpixel((5, 715))[3] == 0 and image.getpixel((1275, 360))[3] == 0
    assert image.getpixel((int(box["x"]) + 3, int(box["y"] + box["height"] / 2)))[3] > 0
    await shoot(page, "overlay")


async def test_the_overlay_fades_idle_captions(browser: Browser, server: LiveServer) -> None:
    page = await browser.new_page()
    await page.goto(f"http://127.0.0.1:{server.port}/overlay?lang=es&fade=0.5")
    await expect(page.locator(".line:not(.hidden)").first).to_be_visible(timeout=30_000)
    await expect(page.locator(".line.hidden").first).to_be_attached(timeout=10_000)


async def test_the_join_page_qr_code_opens_the_audience_page(browser: Browser, server: LiveServer) -> None:
    page = await browser.new_page(viewport=DESKTOP)
    await page.goto(f"http://127.0.0.1:{server.port}/join")
    await expect(page.locator("h1")).to_have_text("Spring Synod")
    await expect(page.locator(".languages")).to_have_text("Español · Français")
    url = server.services.audience_url
    assert url == f"http://127.0.0.1:{server.port}/"
    await expect(page.locator(".url")).to_have_text(url)
    image = Image.open(io.BytesIO(await page.locator(".qr svg").screenshot()))
    codes = zxingcpp.read_barcodes(image)
    assert [c.text for c in codes] == [url]
    await shoot(page, "join")


async def test_the_jitter_buffer_starts_late_grows_after_underruns_and_skips_to_live(
    browser: Browser, server: LiveServer
) -> None:
    page = await browser.new_page()
    await page.goto(f"http://127.0.0.1:{server.port}/overlay?lang=es")
    result = await page.evaluate(
        """async () => {
        const { JitterBuffer } = await import("/static/jitter.js");
        const buffer = new JitterBuffer(48000);            // a Safari-like output rate
        const out = new Float32Array(4800);                 // 0.1 s at 48 kHz
        const chunk = (seconds, value = 0.5) => new Float32Array(Math.round(seconds * 24000)).fill(value);
        const log = {};
        buffer.push(chunk(0.1), 1);
        buffer.pull(out);
        log.waitsForStart = out.every((s) => s === 0);      // 0.1 s < the 0.15 s start
        buffer.push(chunk(0.1), 1);
        buffer.pull(out);
        log.playsAtTarget = out.every((s) => Math.abs(s - 0.5) < 1e-6);
        buffer.pull(out); buffer.pull(out);                 // runs dry mid-utterance
        buffer.push(chunk(0.1), 1);                         // the rest of utterance 1 arrives late
        log.underruns = buffer.stats.underruns;
        log.target = buffer.stats.targetSeconds;
        buffer.pull(out); buffer.pull(out); buffer.pull(out);
        buffer.push(chunk(0.2), 2);                         // a new utterance after a gap: not an underrun
        log.underrunsAfterGap = buffer.stats.underruns;
        buffer.push(chunk(3.0), 2);                         // a tab in the background: far behind
        buffer.pull(out);
        log.skips = buffer.stats.skips;
        log.bufferedAfterSkip = buffer.stats.bufferedSeconds;
        log.played = buffer.stats.playedSeconds;
        return log;
    }"""
    )
    assert result["waitsForStart"] and result["playsAtTarget"]
    assert result["underruns"] == 1 and result["target"] > 0.15
    assert result["underrunsAfterGap"] == 1
    assert result["skips"] == 1 and result["bufferedAfterSkip"] < 0.5
    assert 0.15 < result["played"] < 0.5
