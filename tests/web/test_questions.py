"""Typed questions in Chromium: two phones in two languages ask, the moderator accepts one in the
console with their own wording, and every page (the phones, the room screen) shows it in its
language, apart from the captions; a phone that floods is told to wait."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page, expect

from harness.live import live_server
from harness.voicelive_server import FakeVoiceLive
from tests.helpers import voicelive_settings
from translator.audio.wav import WavSource

PHONE = {"width": 360, "height": 740}
ASKED = "¿Cuándo empieza la comida?"
IN_FRENCH = "translated into fr-FR: What time is lunch?"


async def ask(page: Page, text: str) -> None:
    """Type and send a question, and wait for the page's answer: the send button is back (while a
    question is being sent, a page on a busy machine still shows the answer to the one before)."""
    if await page.locator("#ask").get_attribute("open") is None:
        await page.locator("#ask-label").click()
    await page.locator("#ask-text").fill(text)
    await page.locator("#ask-send").click()
    await expect(page.locator("#ask-send")).to_be_enabled(timeout=30_000)


async def test_phones_ask_the_moderator_accepts_and_every_page_shows_it_in_its_language(
    browser: Browser, voicelive: FakeVoiceLive, talk: Path
) -> None:
    async with live_server(voicelive_settings(voicelive, talk), WavSource(talk, loop=True, pace=2)) as server:
        base = f"http://127.0.0.1:{server.port}"
        spanish, french = await browser.new_page(viewport=PHONE), await browser.new_page(viewport=PHONE)
        await spanish.goto(f"{base}/?lang=es")
        await french.goto(f"{base}/?lang=fr")
        screen = await browser.new_page(viewport={"width": 1280, "height": 720})
        await screen.goto(f"{base}/screen?langs=es,fr")
        await ask(spanish, ASKED)
        await expect(spanish.locator("#ask-state")).to_have_text("Enviada: el moderador la verá.")
        console = await browser.new_page(viewport={"width": 1280, "height": 800})
        await console.goto(f"{base}/console#token={server.rooms.operator_token}")
        questions = console.locator("#questions li")
        await expect(questions).to_have_count(1, timeout=30_000)
        mine = questions.filter(has_text=ASKED)
        await expect(mine.get_by_role("button", name="Merge into")).to_be_disabled()

        await ask(french, "Où est la salle principale ?")
        await expect(french.locator("#ask-state")).to_have_text("Envoyée : le modérateur la verra.")
        await expect(questions).to_have_count(2, timeout=30_000)
        # The question drawn first may now be merged into the one asked since.
        await expect(mine.locator("select option")).to_have_count(1)
        await expect(mine.get_by_role("button", name="Merge into")).to_be_enabled()
        # Translated for the moderator by the room's model (the Voice Live test server's words).
        await expect(mine.locator(".wording")).to_have_value(f"translated into en-US: {ASKED}")
        await mine.locator(".wording").fill("What time is lunch?")
        await mine.get_by_role("button", name="Accept").click()
        await questions.filter(has_text="salle principale").get_by_role("button", name="Reject").click()
        await expect(questions).to_have_count(0)
        await expect(console.locator("#questions-empty")).to_be_visible()

        # Pages on a busy machine may take a while: each waits for what it should show.
        await expect(spanish.locator("#question-text")).to_have_text(ASKED, timeout=30_000)
        await expect(spanish.locator("#question-label")).to_have_text("Pregunta del público")
        await expect(french.locator("#question-text")).to_contain_text(IN_FRENCH, timeout=30_000)
        await expect(french.locator("#question-label")).to_have_text("Question du public")
        await expect(screen.locator("section[lang=es] .question")).to_contain_text(ASKED, timeout=30_000)
        await expect(screen.locator("section[lang=fr] .question")).to_contain_text(IN_FRENCH, timeout=30_000)
        # A phone that comes in after the question was put sees it too (its hello carries it).
        late = await browser.new_page(viewport=PHONE)
        await late.goto(f"{base}/?lang=fr")
        await expect(late.locator("#question-text")).to_contain_text(IN_FRENCH, timeout=30_000)
        # The talk's captions go on beside it, none of them the question.
        await expect(spanish.locator("#captions p").first).to_be_visible(timeout=30_000)
        assert ASKED not in await spanish.locator("#captions").inner_text()

        # Two questions from this address so far: one more, then the page is told to wait.
        await ask(spanish, "¿Hay wifi?")
        await expect(spanish.locator("#ask-state")).to_have_text("Enviada: el moderador la verá.")
        await ask(spanish, "¿Y enchufes?")
        await expect(spanish.locator("#ask-state")).to_have_text(
            "Ha hecho varias preguntas: espere un minuto."
        )
        assert await spanish.locator("#ask-text").input_value() == "¿Y enchufes?", "kept, to send later"
        for page in (spanish, french, late, screen, console):
            await page.close()
