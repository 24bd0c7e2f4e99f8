"""The pages in real Chromium against a real server fed by a WAV through the Voice Live engine.

Screenshots of every page at phone and desktop size go to test-artifacts/screenshots/ for review.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, Page, expect

from harness.live import HeldSource, LiveServer, free_port, live_server, talk_wav
from harness.voicelive_server import FakeVoiceLive, voice_locale
from tests.helpers import until
from translator.audio import AudioSource
from translator.audio.wav import WavSource
from translator.config import Settings, load_settings
from translator.errors import SourceError
from translator.hub.delivery import Channel
from translator.languages import LANGUAGES
from translator.messages import Caption
from translator.outputs.playout import PLAY_OUT
from translator.talk import pipeline
from translator.talk import room as room_module
from translator.transcripts.store import read_transcript

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


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


@pytest.fixture(scope="module")
def long_and_short(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three utterances, each answered with a translation of a different length."""
    sentences = ["Good morning everyone, welcome.", "Thanks.", "Please turn off your phones."]
    return talk_wav(sentences, tmp_path_factory.mktemp("pages") / "talk.wav", gap_s=0.8)


def on_the_venue_network(settings: Settings) -> int:
    """The venue's name for the server (venue.test, which Chromium maps here) is one it knows as its
    own, as an operator who hands out a name sets it; returns the port to serve on."""
    port = free_port()
    settings.server.allowed_origins = [f"http://venue.test:{port}"]
    return port


@pytest.fixture
async def server(voicelive: FakeVoiceLive, talk: Path) -> AsyncIterator[LiveServer]:
    settings = settings_for(voicelive, talk)
    port = on_the_venue_network(settings)
    async with live_server(settings, WavSource(talk, loop=True, pace=2), port=port) as running:
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
    await page.locator("#play").click()
    await page.wait_for_function("() => window.__listenerStats.playedSeconds > 0.25", timeout=30_000)
    caption = page.locator("#captions p.final").first
    await expect(caption).to_contain_text("translated into es-ES: Good morning everyone", timeout=30_000)
    sent = [c.text for c in server.room.hub.channels["es"].history]
    shown = await page.locator("#captions p.final").all_inner_texts()
    assert shown and all(text in sent for text in shown)
    # The Spanish channel speaks Spanish around the captions too.
    await expect(page.locator("#connection")).to_have_text("● En directo")
    secure = await page.evaluate("window.isSecureContext")
    played = await stats(page)
    if host == "venue.test":
        assert secure is False and (played["mode"], played["codec"]) == ("scriptprocessor", "opus")
        assert played["decoder"] == "wasm"
    else:
        assert secure is True and (played["mode"], played["codec"]) == ("audioworklet", "opus")
        await shoot(page, "audience")
    assert "browser-secret" not in await page.content()


async def test_the_original_channel_plays_the_speakers_voice_under_the_source_captions(
    browser: Browser, server: LiveServer
) -> None:
    page = await browser.new_page(viewport=PHONE)
    await page.goto(f"http://127.0.0.1:{server.port}/")
    floor = page.get_by_role("button", name="Original · English")
    await expect(floor).to_be_visible()
    await floor.click()
    await expect(page.locator("#listening-to")).to_have_text("Original · English")
    await page.locator("#play").click()
    # The floor's own audio, as it is spoken: the talk's speech, not an interpretation of it.
    await page.wait_for_function("() => window.__listenerStats.playedSeconds > 1.0", timeout=30_000)
    caption = page.locator("#captions p.final").first
    await expect(caption).to_have_text("Good morning everyone", timeout=30_000)
    assert await caption.get_attribute("lang") == "en"
    assert (await stats(page))["lang"] == "original"
    await shoot(page, "audience-original")


async def test_a_chosen_language_is_remembered_and_can_be_switched_mid_talk(
    browser: Browser, server: LiveServer
) -> None:
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    await page.goto(f"http://127.0.0.1:{server.port}/?lang=es")
    await expect(page.locator("#captions p.final").first).to_contain_text("es-ES", timeout=30_000)
    await page.get_by_role("button", name="Cambiar idioma").click()
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
        await page.locator("#play").click()
        await page.wait_for_function("() => window.__listenerStats.playedSeconds > 0.2", timeout=30_000)
    await expect(page.locator("#connection")).to_have_text("Reconectando…")
    before = (await stats(page))["playedSeconds"]
    await page.evaluate("window.__navigations = performance.getEntriesByType('navigation').length")
    async with live_server(settings_for(voicelive, talk), WavSource(talk, loop=True, pace=2), port=port):
        await expect(page.locator("#connection")).to_have_text("● En directo", timeout=20_000)
        await page.wait_for_function(
            f"() => window.__listenerStats.playedSeconds > {before + 0.2}", timeout=30_000
        )
    assert await page.evaluate("window.__navigations") == 1


async def test_the_overlay_is_transparent_and_honours_its_parameters(
    browser: Browser, server: LiveServer
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    await page.goto(
        f"http://127.0.0.1:{server.port}/overlay?lang=fr&lines=1&fontSize=50&color=%23ffff00"
        "&position=top&showOriginal=1&fade=0&align=left&bg=rgba(0,0,255,0.5)&showLang=1"
    )
    line = page.locator(".line").first
    await expect(line).to_contain_text("translated into fr-FR", timeout=30_000)
    await expect(line.locator(".original")).to_have_text("Good morning everyone")
    await expect(line.locator(".lang")).to_have_text("EN")  # the language the speaker spoke
    # Read in one go: a caption arriving re-renders the lines, and a detached line has no style.
    style, box = await page.evaluate(
        "() => { const e = document.querySelector('.line span.text'); const s = getComputedStyle(e);"
        " const r = e.parentElement.getBoundingClientRect();"
        " return [[s.fontSize, s.color, s.backgroundColor, getComputedStyle(e.parentElement).textAlign],"
        " {x: r.x, y: r.y, height: r.height}] }"
    )
    assert style == ["50px", "rgb(255, 255, 0)", "rgba(0, 0, 255, 0.5)", "left"]
    assert box["y"] < 720 / 2
    assert await page.locator(".line").count() == 1
    image = Image.open(io.BytesIO(await page.screenshot(omit_background=True))).convert("RGBA")
    assert image.getpixel((5, 715))[3] == 0 and image.getpixel((1275, 360))[3] == 0
    # The caption's box is drawn in the same shot: its half-transparent blue is there, whichever
    # caption it is by then (the talk goes on: one may replace another between two shots).
    drawn = [(r, g, b, a) for r, g, b, a in image.getdata() if a and b > 200 and r < 40 and 100 < a < 160]
    assert drawn, "its background is drawn"
    await shoot(page, "overlay")


async def test_an_overlay_for_a_language_not_offered_says_so_on_the_stream(
    browser: Browser, server: LiveServer
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    await page.goto(f"http://127.0.0.1:{server.port}/overlay?lang=it")
    notice = page.locator("#notice")
    await expect(notice).to_be_visible(timeout=15_000)
    await expect(notice).to_have_text("Caption overlay: unknown language 'it'; available: original, es, fr")


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
    url = server.rooms.audience_url(server.room)
    assert url == f"http://127.0.0.1:{server.port}/"
    await expect(page.locator(".url")).to_have_text(url)
    # A loopback address cannot be reached from a phone: the projector says so.
    await expect(page.locator(".warning")).to_contain_text("Phones cannot reach this address")
    image = Image.open(io.BytesIO(await page.locator(".qr svg").screenshot()))
    codes = zxingcpp.read_barcodes(image)
    assert [c.text for c in codes] == [url]
    await shoot(page, "join")
    # A projected page cannot be scrolled: at each common size, the warning included, the code,
    # the address and the languages are all on the screen.
    for size in ({"width": 1280, "height": 720}, DESKTOP, {"width": 1920, "height": 1080}):
        await page.set_viewport_size(size)
        for part in (".warning", "h1", ".qr svg", ".url", ".languages", ".ai"):
            box = await page.locator(part).bounding_box()
            assert box is not None and box["x"] >= 0 and box["y"] >= 0, (size, part, box)
            assert box["x"] + box["width"] <= size["width"] and box["y"] + box["height"] <= size["height"], (
                size,
                part,
                box,
            )
        qr = await page.locator(".qr svg").bounding_box()
        assert qr is not None and qr["width"] >= 0.45 * min(size["width"], size["height"]), (size, qr)


async def test_the_jitter_buffer_holds_bursts_plays_short_endings_and_skips_whole_utterances(
    browser: Browser, server: LiveServer
) -> None:
    page = await browser.new_page()
    await page.goto(f"http://127.0.0.1:{server.port}/overlay?lang=es")
    result = await page.evaluate(
        """async () => {
        const { JitterBuffer } = await import("/static/jitter.js");
        const buffer = new JitterBuffer(48000, 5);          // a Safari-like output rate; 5 s max lag
        const out = new Float32Array(4800);                 // 0.1 s at 48 kHz
        const chunk = (seconds, value = 0.5) => new Float32Array(Math.round(seconds * 24000)).fill(value);
        const pull = (times, now = 0) => { for (let i = 0; i < times; i++) buffer.pull(out, now + i / 10); };
        const log = {};
        buffer.push(chunk(0.1), 1, 24000, 0);
        buffer.pull(out, 0);
        log.waitsForStart = out.every((s) => s === 0);      // 0.1 s < the 0.15 s start
        buffer.push(chunk(0.1), 1, 24000, 0);
        buffer.pull(out, 0.1);
        log.playsAtTarget = out.every((s) => Math.abs(s - 0.5) < 1e-6);
        pull(2, 0.2);                                       // runs dry mid-utterance
        buffer.push(chunk(0.1), 1, 24000, 0.4);             // the rest of utterance 1 arrives late
        log.underruns = buffer.stats.underruns;
        log.target = buffer.target;
        buffer.end(1);
        pull(3, 0.4);
        buffer.push(chunk(0.2), 2, 24000, 1);               // a new utterance after a gap: not an underrun
        log.underrunsAfterGap = buffer.stats.underruns;
        buffer.end(2);
        pull(3, 1);
        // A 0.08 s translation, shorter than the grown start threshold, plays once it is complete.
        buffer.push(chunk(0.08), 3, 24000, 2);
        buffer.pull(out, 2);
        log.shortWaits = out.every((s) => s === 0);
        buffer.end(3);
        buffer.pull(out, 2.1);
        log.shortPlays = out.filter((s) => s !== 0).length;
        pull(2, 2.2);
        // A 12 s sentence in one burst is held and played whole.
        const before = buffer.stats.playedSeconds;
        buffer.push(chunk(12), 4, 24000, 3);
        buffer.end(4);
        pull(125, 3);
        log.burstPlayed = buffer.stats.playedSeconds - before;
        log.skipsAfterBurst = buffer.stats.skips;
        // A tab in the background: two utterances arrived 8 s ago, one just now. Playback skips
        // to the start of the newest, never into the middle of one.
        buffer.push(chunk(2), 5, 24000, 20); buffer.end(5);
        buffer.push(chunk(2), 6, 24000, 21); buffer.end(6);
        buffer.push(chunk(1, 0.25), 7, 24000, 28); buffer.end(7);
        buffer.pull(out, 28.5);
        log.skips = buffer.stats.skips;
        log.skippedSeconds = buffer.stats.skippedSeconds;
        log.afterSkip = out[0];
        log.lag = buffer.stats.lagSeconds;
        return log;
    }"""
    )
    assert result["waitsForStart"] and result["playsAtTarget"]
    assert result["underruns"] == 1 and result["target"] > 0.15
    assert result["underrunsAfterGap"] == 1
    assert result["shortWaits"] and result["shortPlays"] == 0.08 * 48000
    assert abs(result["burstPlayed"] - 12) < 0.01 and result["skipsAfterBurst"] == 0
    assert result["skips"] == 1 and abs(result["skippedSeconds"] - 4) < 0.01
    assert result["afterSkip"] == 0.25 and result["lag"] < 1


@pytest.mark.alone  # no underrun: a burst that arrives at once plays without a gap
@pytest.mark.parametrize(
    ("host", "asked", "codec", "decoder"),
    [
        ("127.0.0.1", "", "opus", "webcodecs"),
        # An insecure origin (a phone on the venue's http://192.168.x.y) has no WebCodecs: Opus
        # through the WebAssembly decoder the app serves, and PCM only when asked for.
        ("venue.test", "", "opus", "wasm"),
        ("venue.test", "&codec=pcm", "pcm", "none"),
    ],
)
async def test_the_page_plays_the_translated_audio_it_was_sent_short_and_long(
    browser: Browser, host: str, asked: str, codec: str, decoder: str, long_and_short: Path
) -> None:
    # Translations of 0.4 s, 3 s and 0.8 s, each sent in one burst as fast as the socket takes it.
    async with FakeVoiceLive(reply_s=(0.4, 3.0, 0.8)) as voicelive:
        settings = settings_for(voicelive, long_and_short)
        port = on_the_venue_network(settings)
        source = HeldSource(WavSource(long_and_short, pace=2))
        async with live_server(settings, source, port=port) as server:
            page = await browser.new_page()
            await page.goto(f"http://{host}:{server.port}/?lang=es{asked}")
            await page.locator("#play").click()
            await until(lambda: server.room.hub.listener_count("es") == 1)
            source.release()
            await page.wait_for_function("() => window.__listenerStats.sentSeconds >= 4.2", timeout=30_000)
            await page.wait_for_function(
                "() => __listenerStats.bufferedSeconds === 0 && __listenerStats.playedSeconds > 4",
                timeout=15_000,
            )
            played = await stats(page)
    assert played["mode"] == ("audioworklet" if host == "127.0.0.1" else "scriptprocessor")
    assert (played["codec"], played["decoder"]) == (codec, decoder)
    assert played["skips"] == 0 and played["underruns"] == 0
    assert played["playedSeconds"] >= 0.95 * played["sentSeconds"], played
    # Audio on the wire per second of it, frame headers included: Opus 3–4 KB (24 kb/s VBR; the test
    # service's pure tones take ~33 kb/s), PCM 48 KB (384 kb/s).
    per_second = played["audioBytes"] / played["sentSeconds"]
    assert per_second < 5_000 if codec == "opus" else per_second > 48_000, per_second


async def test_the_operator_console_shows_each_language_and_mutes_the_input(
    browser: Browser, server: LiveServer, voicelive: FakeVoiceLive
) -> None:
    page = await browser.new_page()
    base = f"http://127.0.0.1:{server.port}"
    token = server.rooms.operator_token
    # Without a token the page asks for one; a wrong one is refused with the reason.
    await page.goto(f"{base}/console")
    await page.fill("#token", "not-the-operator-token")
    await page.click("#sign-in button")
    await expect(page.locator("#sign-in-error")).to_have_text("That token was not accepted.")
    await page.close()
    page = await browser.new_page()
    served = await page.goto(f"{base}/console#token={token}")
    # The page the server sends never holds the token, and the address bar no longer does either.
    assert served is not None and token not in await served.text()
    await expect(page.locator("#console")).to_be_visible()
    assert token not in page.url
    for lang in ("es", "fr"):
        await expect(page.locator(f'#languages tr[data-lang="{lang}"] td').nth(2)).to_have_text("ready")
    # The latest final captions side by side, each under its source.
    for lang, locale in (("es", "es-ES"), ("fr", "fr-FR")):
        latest = page.locator(f'#captions [data-lang="{lang}"] li').first
        await expect(latest.locator(".source")).to_have_text("Good morning everyone")
        await expect(latest.locator(".translation")).to_have_text(
            f"translated into {locale}: Good morning everyone"
        )
    await page.wait_for_function("() => document.getElementById('level').value > -40", timeout=15_000)
    # The operator listens to a language from the console, as its audience hears it.
    await page.get_by_role("button", name="Listen to Français").click()
    await expect(page.get_by_role("button", name="Listen to Français")).to_have_text("Stop listening")
    await page.wait_for_function("() => (window.__monitorStats()?.playedSeconds || 0) > 0.2", timeout=30_000)
    assert (await page.evaluate("window.__monitorStats().lang")) == "fr"
    assert server.room.listeners("fr") == 0, "the console's own listening is not the audience"
    await page.get_by_role("button", name="Listen to Français").click()
    await expect(page.get_by_role("button", name="Listen to Français")).to_have_text("Listen")
    await expect(page.locator("#unreachable")).to_be_visible()
    await expect(page.locator("#urls")).to_contain_text(f"{base}/overlay?lang=fr")
    await expect(page.locator("#talks a", has_text="es.srt")).to_be_visible(timeout=15_000)
    # The talk being given is marked, and what was said is there to take too.
    newest = page.locator("#talks li").first
    await expect(newest.locator(".running")).to_have_text("running now (exports so far)")
    await expect(newest.locator("a", has_text="Original.srt")).to_be_visible()
    link = page.locator("#talks a", has_text="es.srt")
    assert token not in (await link.get_attribute("href") or ""), "an export link never carries the token"
    async with page.expect_download() as downloading:
        await link.click()
    saved = await (await downloading.value).path()
    assert " --> " in await asyncio.to_thread(Path(saved).read_text)
    await page.get_by_role("button", name="Mute").click()
    await expect(page.get_by_role("button", name="Unmute")).to_be_visible()
    await asyncio.sleep(0.5)
    sent_before = len(voicelive.connections[0].of_type("input_audio_buffer.append"))
    await asyncio.sleep(1.0)
    appended = voicelive.connections[0].of_type("input_audio_buffer.append")[sent_before:]
    assert appended and all(not any(base64.b64decode(e["audio"])) for e in appended), (
        "muted: silence goes out"
    )
    assert server.room.pipeline.input.muted
    await shoot(page, "console")
    await page.close()


OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const outside = [...document.querySelectorAll("#console button, #console select, #console input")]
    .filter((e) => e.getClientRects().length)
    .filter((e) => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > width + 0.5; })
    .map((e) => `${e.getAttribute("aria-label") || e.textContent} at ${e.getBoundingClientRect().right}`);
  return {scroll: document.documentElement.scrollWidth - width, outside};
}"""


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280x800", "phone"])
async def test_the_console_fits_a_laptop_and_a_phone(
    browser: Browser, server: LiveServer, size: dict
) -> None:
    page = await browser.new_page(viewport=size)  # type: ignore[arg-type]
    base = f"http://127.0.0.1:{server.port}"
    # Before sign-in the form alone: none of the console's empty tables under it.
    await page.goto(f"{base}/console")
    await expect(page.locator("#sign-in")).to_be_visible()
    await expect(page.locator("#console")).to_be_hidden()
    assert await page.evaluate("document.getElementById('console').getBoundingClientRect().height") == 0
    await page.fill("#token", server.rooms.operator_token)
    await page.click("#sign-in button")
    await expect(page.locator('#languages tr[data-lang="fr"] td').nth(2)).to_have_text("ready")
    # Listening changes the button to "Stop listening": still every control in view, nothing to
    # scroll sideways (the operator's Remove button included).
    await page.get_by_role("button", name="Listen to Français").click()
    await expect(page.get_by_role("button", name="Listen to Français")).to_have_text("Stop listening")
    for lang in ("es", "fr"):
        await expect(page.get_by_role("button", name=f"Remove {LANGUAGES[lang].native}")).to_be_visible()
    fit = await page.evaluate(OVERFLOW)
    assert fit == {"scroll": 0, "outside": []}, fit
    # On a phone each language is a card: its name, state and figures read without a table.
    if size == PHONE:
        row = page.locator('#languages tr[data-lang="fr"]')
        # Measured in one call inside the page: the table is redrawn every second, and a row found
        # by one call may be gone by the next (its box then reads as none).
        width = await page.evaluate(
            """() => document.querySelector('#languages tr[data-lang="fr"]').getBoundingClientRect().width"""
        )
        assert 0 < width <= size["width"], width
        await expect(row.locator("td").nth(2)).to_have_attribute("data-label", "State")
    await page.get_by_role("button", name="Listen to Français").click()
    await page.close()


async def test_a_sentence_told_in_pieces_reads_as_one_translated_sentence_on_the_phone(
    browser: Browser, server: LiveServer
) -> None:
    """The offline engine's pieces of one sentence, as the hub sends them: the first closes with no
    translation of its own, the next carries the sentence. The phone shows the sentence once, with
    no empty line ("…") before it."""
    phone = await browser.new_page(viewport=PHONE)
    await phone.goto(f"http://127.0.0.1:{server.port}/?lang=es")
    await expect(phone.locator("#connection")).to_have_text("● En directo", timeout=15_000)
    hub = server.room.hub
    hub.publish("es", Caption(90_001, "es", False, "", "Grab some.", 0, 900))
    first = phone.locator('#captions p[data-id="90001"]')
    await expect(first).to_have_text("…")  # said, not yet translated
    hub.publish("es", Caption(90_001, "es", True, "", "Grab some.", 0, 900))
    hub.publish(
        "es", Caption(90_002, "es", True, "Coge algo de pizza.", "pizza.", 1100, 1600, continues=90_001)
    )
    await expect(phone.locator('#captions p[data-id="90002"]')).to_have_text("Coge algo de pizza.")
    await expect(first).to_have_count(0)
    await phone.close()


TRANSLATED = re.compile(r"^translated into es-ES: \w")


async def test_a_caption_corrected_in_the_console_is_replaced_on_the_phones_marked_corrected(
    browser: Browser, server: LiveServer
) -> None:
    phone = await browser.new_page(viewport=PHONE)
    await phone.goto(f"http://127.0.0.1:{server.port}/?lang=es")
    await expect(phone.locator("#captions p.final").first).to_be_visible(timeout=30_000)
    # The talk loops on: the console lists each language's latest six, so the caption corrected is
    # one it lists (on a busy machine the phone's first was gone from there before the console drew).
    console = await browser.new_page(viewport=DESKTOP)
    await console.goto(f"http://127.0.0.1:{server.port}/console#token={server.rooms.operator_token}")
    await console.get_by_role("button", name="Correct es caption").first.click()
    caption_id = (await console.locator("#correction-which").inner_text()).split()[0]
    await expect(phone.locator(f'#captions p.final[data-id="{caption_id}"]')).to_have_text(TRANSLATED)
    await expect(console.get_by_label(f"Correct caption {caption_id} (es)")).to_have_value(TRANSLATED)
    await console.get_by_label(f"Correct caption {caption_id} (es)").fill("Buenos días a todas y todos")
    await console.get_by_role("button", name="Send the correction").click()
    await expect(console.locator("#correction")).to_be_hidden()
    # The phone's paragraph is replaced where it stands, and says it was corrected, in Spanish.
    fixed = phone.locator(f'#captions p[data-id="{caption_id}"]')
    await expect(fixed).to_have_text("Buenos días a todas y todos")
    await expect(fixed).to_have_attribute("data-corrected", "corregido")
    mark = await fixed.evaluate("p => getComputedStyle(p, '::after').content")
    assert "corregido" in mark, mark
    await console.close()
    await phone.close()


async def test_the_console_shows_a_talks_report_with_its_listeners_over_time(
    browser: Browser, voicelive: FakeVoiceLive, talk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(room_module, "AUDIENCE_SAMPLE_S", 0.5)
    settings = settings_for(voicelive, talk)
    settings.transcripts.directory = str(tmp_path)
    async with live_server(settings, WavSource(talk, loop=True, pace=2)) as server:
        phone = await browser.new_page(viewport=PHONE)
        await phone.goto(f"http://127.0.0.1:{server.port}/?lang=es")
        await expect(phone.locator("#captions p.final").first).to_be_visible(timeout=30_000)
        writer = server.room.pipeline.transcript if server.room.pipeline is not None else None
        assert writer is not None

        def sampled() -> bool:
            return writer.talk is not None and len(read_transcript(tmp_path, writer.talk).audience) >= 4

        await until(sampled, 20)
        console = await browser.new_page(viewport=DESKTOP)
        await console.goto(f"http://127.0.0.1:{server.port}/console#token={server.rooms.operator_token}")
        await console.get_by_role("button", name=f"Report of talk {writer.talk}").click()
        await expect(console.locator("#report")).to_be_visible()
        await expect(console.locator("#report-title")).to_contain_text(f"Report of talk {writer.talk}")
        # A line per channel over the talk; Spanish had the phone.
        chart = console.locator("#report-chart polyline")
        drawn = await chart.evaluate_all("lines => lines.map((line) => line.dataset.lang)")
        assert sorted(drawn) == ["es", "fr", "original"]
        spanish = console.locator("#report-channels tbody tr", has_text="es")
        await expect(spanish.locator("td").nth(1)).to_have_text("1")
        await expect(console.locator("#report-languages tbody tr")).to_have_count(2)
        await console.close()
        await phone.close()


async def test_the_console_rehearses_a_recording_and_shows_the_checklist(
    browser: Browser, voicelive: FakeVoiceLive, talk: Path, tmp_path: Path
) -> None:
    settings = settings_for(voicelive, talk)
    settings.transcripts.directory = str(tmp_path)
    own = HeldSource(WavSource(talk_wav(["Welcome."], tmp_path / "own.wav")))
    async with live_server(settings, own) as server:
        console = await browser.new_page(viewport=DESKTOP)
        await console.goto(f"http://127.0.0.1:{server.port}/console#token={server.rooms.operator_token}")
        await console.locator("#rehearsal-file").set_input_files(talk)
        await console.get_by_label("Talk length (hours)").fill("3")
        await console.get_by_role("button", name="Rehearse").click()
        await expect(console.locator("#rehearsal-status")).to_contain_text("Playing talk.wav")
        await expect(console.locator("#checklist")).to_be_visible(timeout=60_000)
        await expect(console.locator("#rehearsal-status")).to_have_text(
            re.compile(r"Rehearsal of talk\.wav \(\d+ s, for a talk of 3 h\): 1 to fix, 0 to look at\.")
        )
        # Voice Live billed the rehearsal by the token: the quota is judged from it.
        quota = console.locator("#checklist tr", has_text="quota")
        await expect(quota.locator("td").nth(1)).to_have_text("✓ pass")
        await expect(quota.locator("td").nth(2)).to_contain_text(
            "tokens a minute for 2 Voice Live language(s)"
        )
        address = console.locator("#checklist tr.fail")
        await expect(address.locator("td").first).to_have_text("phones reach the service")
        await expect(address.locator("td").nth(3)).to_contain_text("--host 0.0.0.0")
        for lang in ("es", "fr"):
            row = console.locator("#checklist tr", has_text=f"language {lang}")
            await expect(row.locator("td").nth(2)).to_contain_text("voicelive: up, 2 caption(s)")
        # The rehearsal is among the talks, marked; the room has its own input back.
        await expect(console.locator("#talks li", has_text="rehearsal")).to_have_count(1, timeout=15_000)
        await until(lambda: server.room.state == "running")
        assert server.room.input_report().description == own.description
        await console.close()


async def test_the_console_applies_a_glossary_adds_and_removes_languages_and_pauses(
    browser: Browser, server: LiveServer, voicelive: FakeVoiceLive, tmp_path: Path
) -> None:
    base = f"http://127.0.0.1:{server.port}"
    console = await browser.new_page(viewport=DESKTOP)
    console.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await console.goto(f"{base}/console#token={server.rooms.operator_token}")
    audience = await browser.new_page(viewport=PHONE)
    await audience.goto(f"{base}/?lang=fr")
    await expect(audience.locator("#connection")).to_have_text("● En direct", timeout=15_000)
    overlay = await browser.new_page()
    await overlay.goto(f"{base}/overlay?lang=fr")
    # The audience is one phone: the console's and the overlay's own connections are not counted.
    await expect(console.locator('#languages tr[data-lang="fr"] td').nth(7)).to_have_text("1", timeout=15_000)
    fr = next(t for t in server.room.language_reports() if t.code == "fr")
    # Connected: the phone, the console, the overlay, and the room's programme (streams, HLS, recordings).
    assert fr.listeners == 1 and len(server.room.hub.channels["fr"].listeners) == 4
    await overlay.close()

    # A glossary edit reaches the Spanish session's configuration and its next caption.
    await console.get_by_role("button", name="Add term").click()
    await console.get_by_label("Term 1", exact=True).fill("Good morning")
    await console.get_by_label("Term 1 in es").fill("Buenos días")
    await console.get_by_role("button", name="Apply glossary").click()
    await expect(console.locator("#glossary-status")).to_have_text(
        "Applied (1 entries): from the next sentence on."
    )
    # A term with no translation, not kept as is, would be dropped on the way: it is refused.
    await console.get_by_role("button", name="Add term").click()
    await console.get_by_label("Term 2", exact=True).fill("Keynote")
    await console.get_by_role("button", name="Apply glossary").click()
    await expect(console.locator("#glossary-status")).to_have_text(
        "Not applied: term 2 (“Keynote”) has no translation: give one, or tick Keep."
    )
    await console.get_by_role("button", name="Remove term 2").click()
    spanish = next(c for c in voicelive.connections if voice_locale(c.session_updates[0]) == "es-ES")
    update = spanish.session_updates[-1]
    assert "- Good morning → Buenos días" in update["instructions"].splitlines()
    assert update["input_audio_transcription"]["phrase_list"] == ["Good morning"]
    latest_es = console.locator('#captions [data-lang="es"] li .translation').first
    await expect(latest_es).to_have_text("translated into es-ES: Buenos días everyone", timeout=20_000)

    # The vendor's list, imported as a file: its rows join the table; what the table cannot show (a
    # translation to avoid, a priority) is said, and kept when the table is applied again.
    vendor = tmp_path / "vendor.csv"
    vendor.write_text(
        "term,avoid,priority,es\nGood morning,,,Buenos días\nGood morning,yes,,Buen día\nContoso,,1,Contoso\n"
    )
    await console.locator("#glossary-file").set_input_files(vendor)
    await expect(console.locator("#glossary-status")).to_have_text(
        "Applied vendor.csv: from the next sentence on."
    )
    await expect(console.get_by_label("Term 2", exact=True)).to_have_value("Contoso")
    extras = "From the imported file, kept: 1 translation(s) to avoid, 1 priority term(s)."
    await expect(console.locator("#glossary-extras")).to_have_text(extras)
    await console.get_by_role("button", name="Apply glossary").click()
    await expect(console.locator("#glossary-status")).to_contain_text("Applied (2 entries)")
    in_use = server.room.glossary
    assert in_use.avoid == {"es": {"Good morning": "Buen día"}} and in_use.priority == ["Contoso"]

    # A language added during the talk gets a session, listeners and captions.
    await console.locator("#addable").select_option("it")
    await console.get_by_role("button", name="Add language").click()
    await expect(console.locator('#languages tr[data-lang="it"] td').nth(2)).to_have_text(
        "ready", timeout=15_000
    )
    latest_it = console.locator('#captions [data-lang="it"] li .translation').first
    await expect(latest_it).to_have_text("translated into it-IT: Good morning everyone", timeout=20_000)
    assert server.room.hub.channels["it"].listeners, "the console follows it (uncounted)"
    # The rolling lags fill in once captions come.
    await expect(console.locator('#languages tr[data-lang="es"] td').nth(5)).to_have_text(
        re.compile(r"^\d+\.\d\d s / \d+\.\d\d s$"), timeout=15_000
    )
    # What the language's translations were billed over the last minute.
    await expect(console.locator('#languages tr[data-lang="es"] td').nth(6)).to_have_text(
        re.compile(r"^[1-9]\d*$")
    )

    # A removed language: its audience is told in its language, and sees what is still offered in
    # place of a listening panel with nothing left to play.
    await console.get_by_role("button", name="Remove Français").click()
    await expect(audience.locator("#connection")).to_have_text(
        "Cette langue n'est plus proposée : choisissez-en une autre"
    )
    await expect(audience.locator("#listen")).to_be_hidden()
    await expect(audience.get_by_role("button", name="Italiano (Italian)")).to_be_visible(timeout=25_000)
    await expect(audience.get_by_role("button", name="Français (French)")).to_have_count(0)
    await expect(console.locator('#languages tr[data-lang="fr"]')).to_have_count(0)

    # Pause is announced to listeners; resume brings them back.
    await audience.get_by_role("button", name="Español (Spanish)").click()
    await expect(audience.locator("#connection")).to_have_text("● En directo", timeout=15_000)
    await console.get_by_role("button", name="Pause the talk").click()
    await expect(audience.locator("#connection")).to_have_text("En pausa · la charla continúa en breve")
    await expect(console.locator("#input-state")).to_contain_text("paused")
    await console.get_by_role("button", name="Resume the talk").click()
    await expect(audience.locator("#connection")).to_have_text("● En directo")
    await shoot(console, "console-controls")
    # A stopped room does not look paused: the talk has ended.
    async with httpx.AsyncClient(base_url=base, headers=server.operator) as client:
        assert (await client.post("/api/rooms/main/stop")).status_code == 200
    await expect(audience.locator("#connection")).to_have_text("La charla ha terminado")
    await console.close()
    await audience.close()


async def test_a_glossary_edit_in_the_console_changes_the_offline_engines_next_caption(
    browser: Browser, talk: Path
) -> None:
    settings = load_settings(
        env={}, overrides={"engine": "local", "targets": ["es"], "audio.input": str(talk)}
    )
    async with live_server(settings, WavSource(talk, loop=True)) as server:
        history = server.room.hub.channels["es"].history
        console = await browser.new_page(viewport=DESKTOP)
        await console.goto(f"http://127.0.0.1:{server.port}/console#token={server.rooms.operator_token}")
        phones = console.locator('#captions [data-lang="es"] li', has_text="phones").first
        await expect(phones.locator(".translation")).to_contain_text("teléfonos", timeout=60_000)
        await console.get_by_role("button", name="Add term").click()
        await console.get_by_label("Term 1", exact=True).fill("phones")
        await console.get_by_label("Term 1 in es").fill("móviles")
        await console.get_by_role("button", name="Apply glossary").click()
        await expect(console.locator("#glossary-status")).to_contain_text("Applied (1 entries)")
        applied_after = max(c.id for c in history)
        await expect(phones.locator(".translation")).to_contain_text("móviles", timeout=60_000)
        await console.close()
    # Every sentence about phones translated after the edit uses the required term, and only those.
    later = [c for c in history if c.id > applied_after + 1 and "phones" in c.source_text]
    assert later and all("móviles" in c.text and "teléfonos" not in c.text for c in later)
    assert all("móviles" not in c.text for c in history if "phones" not in c.source_text)


class UnpluggedMicrophone(AudioSource):
    """A microphone that gives a second of sound, then is pulled out."""

    description = "microphone (a test's)"

    async def frames(self) -> AsyncIterator[bytes]:
        sound = (np.sin(np.arange(480) / 480 * 2 * np.pi * 10) * 8000).astype("<i2").tobytes()
        for _ in range(50):
            yield sound
            await asyncio.sleep(0.02)
        raise SourceError("the microphone was unplugged")


async def test_the_overlays_original_is_boxed_like_its_translation(
    browser: Browser, server: LiveServer
) -> None:
    page = await browser.new_page(viewport=DESKTOP)
    await page.goto(f"http://127.0.0.1:{server.port}/overlay?lang=es&showOriginal=1")
    # Measured in the page in one go: captions come and go while the talk runs.
    measured = await page.wait_for_function(
        """() => {
          const original = [...document.querySelectorAll(".line:not(.hidden) .original")]
            .find((o) => o.textContent === "Good morning everyone" && o.getBoundingClientRect().width > 0);
          if (!original) return null;
          const box = original.getBoundingClientRect();
          const all = document.querySelector(".captions").getBoundingClientRect();
          return { x: box.x, width: box.width, captionsX: all.x, captionsWidth: all.width };
        }""",
        timeout=30_000,
    )
    geometry = await measured.json_value()
    # The box fits its words, centred like the translation's, instead of spanning the screen.
    assert geometry["width"] < 0.6 * geometry["captionsWidth"], geometry
    middle = geometry["x"] + geometry["width"] / 2
    assert abs(middle - (geometry["captionsX"] + geometry["captionsWidth"] / 2)) < 5, geometry
    await page.close()


async def test_the_consoles_light_tells_the_truth(
    browser: Browser, server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    light = (await browser.new_page(viewport=DESKTOP)).locator("#health")
    await light.page.goto(f"http://127.0.0.1:{server.port}/console#token={server.rooms.operator_token}")
    async with httpx.AsyncClient(base_url=server.url, headers=server.operator) as client:
        states = []
        for change, colour, words in (
            ({}, "green", "● Live: the input and 2 language(s)"),
            ({"paused": True}, "amber", "Paused: listeners are told the talk resumes shortly"),
            ({"paused": False, "muted": True}, "amber", "Microphone muted"),
            ({"muted": False}, "green", "● Live"),
        ):
            if change:
                await client.post("/api/input", json=change)
            await expect(light).to_have_class(f"badge health-{colour}", timeout=15_000)
            await expect(light).to_contain_text(words)
            states.append(colour)
    await light.page.close()
    assert states == ["green", "amber", "amber", "green"]

    # A silent input (a dead microphone reads as running) and a language that failed.
    monkeypatch.setattr(pipeline, "SILENT_ALERT_S", 1.0)
    silence = tmp_path / "silence.wav"
    soundfile.write(str(silence), np.zeros(24_000 * 3, dtype=np.int16), 24_000, subtype="PCM_16")
    async with FakeVoiceLive(refuse_locales={"fr-FR"}) as voicelive:
        for targets, source, colour, words in (
            (["es"], WavSource(silence, loop=True), "amber", "No sound from the input for"),
            (["es"], UnpluggedMicrophone(), "red", "Input failed: the microphone was unplugged"),
            (
                ["es", "fr"],
                WavSource(silence, loop=True),
                "red",
                "Français failed: Voice Live refused the session configuration",
            ),
        ):
            settings = settings_for(voicelive, silence)
            settings.targets = targets
            async with live_server(settings, source) as quiet:
                page = await browser.new_page(viewport=DESKTOP)
                await page.goto(f"http://127.0.0.1:{quiet.port}/console#token={quiet.rooms.operator_token}")
                await expect(page.locator("#health")).to_have_class(f"badge health-{colour}", timeout=20_000)
                await expect(page.locator("#health")).to_contain_text(words)
                if colour == "red":
                    assert (await page.title()).startswith("⚠")
                if "Français" in words:
                    await shoot(page, "console-red")
                await page.close()


@pytest.mark.alone  # on a saturated machine the newest went out of view (twice; cause not found)
async def test_on_a_phone_the_newest_caption_stays_in_view_and_the_page_speaks_the_listeners_language(
    browser: Browser, server: LiveServer
) -> None:
    page = await browser.new_page(viewport=PHONE)
    await page.goto(f"http://127.0.0.1:{server.port}/")
    # Nothing is connecting before a language is chosen: the picker stands alone.
    await expect(page.get_by_role("button", name="Español (Spanish)")).to_be_visible()
    await expect(page.locator("#connection")).to_be_hidden()
    await page.get_by_role("button", name="Español (Spanish)").click()
    # The listening screen names its language in its own words, and the captions have the focus.
    await expect(page.locator("#listening-to")).to_have_text("Español")
    assert await page.evaluate("document.activeElement.id") == "captions"
    await expect(page.locator("#play")).to_have_text("Toca para escuchar")
    await expect(page.locator("#change")).to_have_text("Cambiar idioma")
    await page.locator("#play").click()
    await expect(page.locator("#play")).to_have_text("Detener")
    await page.wait_for_function("() => window.__listenerStats.playedSeconds > 0.2", timeout=30_000)
    # Stop silences the page; resume plays again.
    await page.locator("#play").click()
    await expect(page.locator("#play")).to_have_text("Reanudar")
    stopped = (await stats(page))["playedSeconds"]
    await page.locator("#play").click()
    await expect(page.locator("#play")).to_have_text("Detener")
    await page.wait_for_function(
        f"() => window.__listenerStats.playedSeconds > {stopped + 0.2}", timeout=30_000
    )
    # Twenty captions in: the newest is on screen, whole.
    first = await page.locator("#captions p.final").first.element_handle()
    await expect(page.locator("#captions p.final")).to_have_count(20, timeout=90_000)
    newest = await page.locator("#captions p.final").last.bounding_box()
    assert newest is not None and newest["y"] >= 0 and newest["y"] + newest["height"] <= PHONE["height"]
    # Captions are updated in place: the first paragraph is the same element, not rebuilt.
    assert first is not None and await first.evaluate("(p) => p.isConnected")
    announced = await page.locator("#announce").inner_text()
    assert announced.startswith("translated into es-ES")
    await shoot(page, "audience-listening")


async def test_every_page_string_is_in_every_language_the_service_offers(
    browser: Browser, server: LiveServer
) -> None:
    """A listener who chose Polski reads Polish around the captions: no string falls back to English
    ("AI interpretation" included, the label the AI Act asks for)."""
    page = await browser.new_page()
    await page.goto(f"http://127.0.0.1:{server.port}/")
    missing = await page.evaluate(
        """async (codes) => {
            const { STRINGS } = await import("/static/strings.js");
            const keys = Object.keys(STRINGS.en);
            return Object.fromEntries(codes.map((code) => [
                code, keys.filter((key) => !(STRINGS[code] && STRINGS[code][key])),
            ]).filter(([, keys]) => keys.length));
        }""",
        list(LANGUAGES),
    )
    assert missing == {}


async def test_every_page_has_its_icon_and_asks_for_nothing_missing(
    browser: Browser, server: LiveServer
) -> None:
    """Every page names an icon the server has (a browser asks for /favicon.ico otherwise, and each
    page fills its console with a 404), and asks for no file the server lacks."""
    page = await browser.new_page()
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    icons = set()
    for path in ("/", "/overlay?lang=es", "/join", "/screen", "/speak", "/console"):
        await page.goto(f"http://127.0.0.1:{server.port}{path}", wait_until="networkidle")
        icons.add(await page.evaluate("() => document.querySelector('link[rel=icon]')?.href ?? null"))
    async with httpx.AsyncClient() as client:
        served = [await client.get(icon) for icon in icons if icon]
    assert missing == [] and None not in icons
    assert all(r.status_code == 200 and r.headers["content-type"] == "image/svg+xml" for r in served)


async def test_two_rooms_on_the_landing_page_and_in_the_console(
    browser: Browser, voicelive: FakeVoiceLive, talk: Path, long_and_short: Path, tmp_path: Path
) -> None:
    config = tmp_path / "rooms.toml"
    config.write_text(
        f'targets = ["es"]\n[server]\nevent_name = "Spring Synod"\n'
        f'[[rooms]]\nid = "main"\nname = "Main hall"\naudio.input = "{talk}"\n'
        f'[[rooms]]\nid = "youth"\nname = "Youth room"\ntargets = ["fr"]\naudio.input = "{long_and_short}"\n'
    )
    settings = load_settings(
        str(config),
        env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "browser-secret"},
        overrides={"azure.model": "gpt-4.1"},
    )
    sources = {
        "main": WavSource(talk, loop=True, pace=2),
        "youth": WavSource(long_and_short, loop=True, pace=2),
    }
    async with live_server(settings, sources=sources) as server:
        base = f"http://127.0.0.1:{server.port}"
        # The landing page lists the rooms; each room's page is its own, with its languages.
        page = await browser.new_page()
        await page.goto(f"{base}/")
        await expect(page.locator("a.room")).to_have_text(["Main hall", "Youth room"])
        await expect(page.locator("#event")).to_have_text("Spring Synod")
        await expect(page.locator("#connection")).to_be_hidden()
        await page.locator("a.room", has_text="Youth room").click()
        await expect(page).to_have_url(f"{base}/r/youth/")
        await expect(page.locator("#event")).to_have_text("Spring Synod · Youth room")
        await expect(page.locator("#languages button")).to_have_text(["Français", "Original · English"])
        await page.get_by_role("button", name="Français (French)").click()
        await expect(page.locator("#captions p.final").first).to_contain_text("translated into fr-FR")
        await page.close()

        console = await browser.new_page()
        await console.goto(f"{base}/console#token={server.rooms.operator_token}")
        rows = console.locator("#rooms tbody tr")
        await expect(rows).to_have_count(2)
        await expect(rows.nth(0).locator("td").nth(1)).to_have_text("running")
        await expect(console.locator("#room-title")).to_have_text("Main hall")
        await expect(console.locator('#languages tr[data-lang="es"]')).to_be_visible()
        # One room in detail: choosing the youth room shows its languages and captions, not the hall's.
        await console.get_by_role("button", name="Youth room", exact=True).click()
        await expect(console.locator("#room-title")).to_have_text("Youth room")
        await expect(console.locator('#languages tr[data-lang="fr"] td').nth(2)).to_have_text("ready")
        await expect(console.locator('#languages tr[data-lang="es"]')).to_have_count(0)
        await expect(console.locator('#captions [data-lang="fr"] li').first).to_be_visible(timeout=15_000)
        # Stopping the youth room from the console leaves the main hall running.
        console.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await console.get_by_role("button", name="Stop Youth room").click()
        await expect(rows.nth(1).locator("td").nth(1)).to_have_text("stopped: stopped by the operator")
        await expect(console.locator("#health")).to_contain_text("Room stopped")
        await expect(rows.nth(0).locator("td").nth(1)).to_have_text("running")
        assert server.rooms.rooms["main"].state == "running"
        await shoot(console, "console-rooms")
        await console.get_by_role("button", name="Start Youth room").click()
        await expect(rows.nth(1).locator("td").nth(1)).to_have_text("running")
        await console.close()


def floor_tones(path: Path) -> Path:
    """A floor that speaks a 300 Hz tone (3 s at a time): heard apart from the interpretation (the
    test service answers each turn with a 440 Hz tone) in the page's output spectrum."""
    turn = np.sin(2 * np.pi * 300 * np.arange(3 * 24_000) / 24_000) * 0.25
    pause = np.zeros(int(0.9 * 24_000))
    soundfile.write(str(path), np.concatenate([pause, turn, pause, turn, pause]), 24_000, subtype="PCM_16")
    return path


async def listen_to_the_mix(page: Page, seconds: float) -> list[tuple[float, float]]:
    """The page's output level (dB) at 440 Hz (the interpretation) and 300 Hz (the original), every
    50 ms for ``seconds`` of the page's own clock (sampled in the page: a round trip per sample
    stretched the window by half on a busy machine)."""
    levels = await page.evaluate(
        """(seconds) => new Promise((resolve) => {
            const levels = [];
            const started = performance.now();
            const timer = setInterval(() => {
                levels.push(window.__listenerSpectrum([440, 300]));
                if (performance.now() - started >= seconds * 1000) { clearInterval(timer); resolve(levels); }
            }, 50);
        })""",
        seconds,
    )
    return [(interpretation, original) for interpretation, original in levels]


async def set_mix(page: Page, balance: float, ducking: bool = True) -> None:
    await page.evaluate(
        """([balance, ducking]) => {
        const slider = document.getElementById("balance");
        slider.value = String(balance);
        slider.dispatchEvent(new Event("input"));
        const duck = document.getElementById("ducking");
        if (duck.checked !== ducking) duck.click();
    }""",
        [balance, ducking],
    )


HEARD_DB = -40.0
"""Louder than this at a tone's frequency, the tone is in the page's output."""
SILENT_DB = -55.0


@pytest.mark.parametrize("host", ["127.0.0.1", "venue.test"])
async def test_the_balance_mixes_the_original_under_the_interpretation_and_ducks_it(
    browser: Browser, host: str, tmp_path: Path
) -> None:
    """The balance at each end and in the middle, measured in what leaves the page; ducking lowers
    the original while the interpretation speaks. On both playback paths (AudioWorklet on
    localhost, ScriptProcessor on an insecure origin)."""
    talk = floor_tones(tmp_path / "floor.wav")
    async with FakeVoiceLive(reply_s=1.5) as voicelive:
        settings = settings_for(voicelive, talk)
        port = on_the_venue_network(settings)
        async with live_server(settings, WavSource(talk, loop=True), port=port) as server:
            page = await browser.new_page(viewport=PHONE)
            await page.goto(f"http://{host}:{server.port}/?lang=es")
            await page.locator("#play").click()
            await page.wait_for_function("() => window.__listenerStats.playedSeconds > 1", timeout=30_000)
            only_interpretation = await listen_to_the_mix(page, 6)
            assert not (await stats(page))["floorConnected"], "nothing of the original is fetched at 0"
            await set_mix(page, 1.0)
            await page.wait_for_function(
                "() => window.__listenerStats.originalPlayedSeconds > 1", timeout=30_000
            )
            only_original = await listen_to_the_mix(page, 6)
            await set_mix(page, 0.5, ducking=False)
            both = await listen_to_the_mix(page, 8)
            await set_mix(page, 0.5, ducking=True)
            await asyncio.sleep(1)
            ducked = await listen_to_the_mix(page, 10)
            mode = (await stats(page))["mode"]
            await page.reload()
            await expect(page.locator("#balance")).to_have_value("0.5")
    assert mode == ("audioworklet" if host == "127.0.0.1" else "scriptprocessor")
    # A tone plays near −26 dB (−29 at the middle of the balance); one that is off leaves only the
    # other's on and off transients at its frequency, below −55 dB.
    assert max(i for i, _ in only_interpretation) > HEARD_DB
    assert max(o for _, o in only_interpretation) < SILENT_DB
    assert max(o for _, o in only_original) > HEARD_DB
    assert max(i for i, _ in only_original) < SILENT_DB
    assert any(i > HEARD_DB and o > HEARD_DB for i, o in both), "both heard at once in the middle"

    def original_while(levels: list[tuple[float, float]], interpreting: bool) -> float:
        under = [o for i, o in levels if o > -50 and (i > -50 if interpreting else i < SILENT_DB)]
        return float(np.median(under))

    # Ducking: the original drops while the interpretation speaks, and only then (≥ 8 of its 12 dB).
    assert original_while(ducked, True) < original_while(ducked, False) - 8
    assert abs(original_while(both, True) - original_while(both, False)) < 3


async def test_larger_text_and_high_contrast_are_kept_after_a_reload(
    browser: Browser, server: LiveServer
) -> None:
    page = await browser.new_page(viewport=PHONE)
    await page.goto(f"http://127.0.0.1:{server.port}/?lang=original")
    caption = page.locator("#captions p.final").first
    await expect(caption).to_have_text("Good morning everyone", timeout=30_000)

    def looks() -> str:
        return (
            "() => { const p = document.querySelector('#captions p.final'); const s = getComputedStyle(p);"
            " return [parseFloat(s.fontSize), s.color, getComputedStyle(document.body).backgroundColor] }"
        )

    size, _, _ = await page.evaluate(looks())
    await page.get_by_role("button", name="Text size").click()
    await page.get_by_role("button", name="Text size").click()
    await page.get_by_role("button", name="High contrast").click()
    await expect(page.get_by_role("button", name="High contrast")).to_have_attribute("aria-pressed", "true")
    await page.reload()
    await expect(caption).to_have_text("Good morning everyone", timeout=30_000)
    larger, color, background = await page.evaluate(looks())
    assert larger >= 1.7 * size
    assert (color, background) == ("rgb(255, 255, 255)", "rgb(0, 0, 0)")
    await expect(page.get_by_role("button", name="High contrast")).to_have_attribute("aria-pressed", "true")
    # Finished captions are read out once, politely, in the language they are written in.
    assert await page.locator("#announce").get_attribute("aria-live") == "polite"
    assert await caption.get_attribute("lang") == "en"
    await shoot(page, "audience-large-contrast")


def audio_listeners(channel: Channel) -> int:
    """The channel's listeners that are sent audio (in any codec), but for the room's own programme
    (its streams, HLS and recordings: always there)."""
    return sum(
        len(listeners)
        for framer, group in channel.groups.items()
        if framer is not PLAY_OUT
        for listeners in group.audio.values()
    )


async def test_no_audio_reaches_the_page_until_the_listener_taps_and_none_after_they_stop(
    browser: Browser, server: LiveServer
) -> None:
    page = await browser.new_page(viewport=PHONE)
    await page.goto(f"http://venue.test:{server.port}/?lang=es")
    await expect(page.locator("#captions p.final").first).to_contain_text("es-ES", timeout=30_000)
    channel = server.room.hub.channels["es"]
    # Reading the captions costs the captions only: the server sends this page no audio.
    assert (await stats(page))["audioBytes"] == 0
    assert audio_listeners(channel) == 0
    await page.locator("#play").click()
    await page.wait_for_function("() => window.__listenerStats.audioBytes > 0", timeout=30_000)
    assert audio_listeners(channel) == 1
    # The page says what it costs: data per minute beside "Reproduciendo" (Playing).
    await expect(page.locator("#live")).to_contain_text(
        re.compile(r"Reproduciendo.* \d+ KB/min"), timeout=15_000
    )
    await page.locator("#play").click()  # stop: back to captions only
    await page.wait_for_function("() => window.__listenerStats.audioBytes === 0", timeout=15_000)
    await expect(page.locator("#play")).to_have_text("Reanudar")
    assert audio_listeners(channel) == 0


@pytest.mark.alone  # playback judged on the page's clock
async def test_with_the_screen_off_the_stream_keeps_playing_while_the_page_is_frozen(
    browser: Browser, server: LiveServer
) -> None:
    """The <audio> element's stream plays on while the page's scripts are frozen, as a phone freezes
    a page in the background or under a locked screen (CDP's lifecycle state: the page really stops)."""
    page = await browser.new_page(viewport=PHONE)
    await page.goto(f"http://venue.test:{server.port}/?lang=es")
    await page.get_by_role("checkbox", name="Seguir con la pantalla apagada").check()
    await page.locator("#play").click()
    # Until the stream sounds, the listener is told it is starting, in the page's language.
    starting = page.locator("#radio-state")
    await expect(starting).to_have_text("Iniciando… la emisión tarda unos segundos")
    assert await page.evaluate("document.getElementById('radio').currentTime") == 0
    await page.wait_for_function("() => window.__listenerStats.radio.time > 1", timeout=30_000)
    await expect(starting).to_be_hidden()
    session = await page.context.new_cdp_session(page)
    title = await page.evaluate("navigator.mediaSession.metadata.title")
    assert title == "Español", "the lock screen names the language"
    before = await page.evaluate("document.getElementById('radio').currentTime")
    frozen_at = time.monotonic()
    await session.send("Page.setWebLifecycleState", {"state": "frozen"})
    await asyncio.sleep(3)  # the page can do nothing meanwhile: there is no condition to wait on
    await session.send("Page.setWebLifecycleState", {"state": "active"})
    after = await page.evaluate("document.getElementById('radio').currentTime")
    frozen_s = time.monotonic() - frozen_at
    assert after - before >= frozen_s - 0.8, (before, after, frozen_s)
    played = await stats(page)
    # The WebSocket carries captions only meanwhile; the stream is counted in the audience.
    assert played["audioBytes"] == 0 and played["radio"]["playing"]
    assert server.room.hub.channels["es"].audience >= 2
    # What listening this way costs in lag: the element's buffer ahead of what it plays.
    print(f"stream buffered ahead of playback: {played['radio']['ahead']:.2f} s")


async def test_a_connection_that_cannot_keep_up_is_offered_captions_only(
    browser: Browser, server: LiveServer
) -> None:
    """A phone whose link carries less than the audio it asked for (PCM at 384 kb/s through a link
    Chromium holds to 32 kb/s) falls behind live: the page suggests captions only, and taking
    the suggestion stops the audio."""
    page = await browser.new_page(viewport=PHONE)
    session = await page.context.new_cdp_session(page)
    await session.send("Network.enable")
    await page.goto(f"http://127.0.0.1:{server.port}/?lang=es&codec=pcm")
    throttle = {"offline": False, "latency": 50, "downloadThroughput": 4_000, "uploadThroughput": 100_000}
    await session.send("Network.emulateNetworkConditions", throttle)
    await page.locator("#play").click()
    hint = page.locator("#struggling")
    await expect(hint).to_be_visible(timeout=60_000)
    await expect(hint).to_contain_text("La conexión no da abasto")
    await hint.get_by_role("button", name="Solo subtítulos").click()
    await expect(page.locator("#captions-only")).to_be_checked()
    await expect(hint).to_be_hidden(timeout=5_000)
    await page.wait_for_function("() => window.__listenerStats.audioBytes === 0", timeout=15_000)
