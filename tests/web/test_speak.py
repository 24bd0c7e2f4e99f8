"""The speaker page in real Chromium with a fake microphone fed from a WAV file: the page's audio
becomes the room's input, and a listener hears and reads each of the speaker's sentences."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, expect

from harness.browser import chromium_with_microphone
from harness.live import OPERATOR_TOKEN, LiveServer
from tests.helpers import assert_heard_the_tones, published_room, three_turns, tone_listener, until


@pytest.fixture
async def server() -> AsyncIterator[LiveServer]:
    async with published_room() as running:
        yield running


@pytest.fixture
async def speaker(tmp_path: Path) -> AsyncIterator[Browser]:
    """Chromium whose microphone plays the tone talk (three tones, looped), allowed without asking."""
    talk = three_turns(tmp_path / "talk.wav")
    async with chromium_with_microphone(talk) as browser:
        yield browser


@pytest.mark.alone  # nothing dropped: a browser starved by a saturated machine sends its backlog at once
async def test_the_speaker_page_is_the_rooms_microphone(server: LiveServer, speaker: Browser) -> None:
    listener = await tone_listener(server)
    page = await speaker.new_page()
    await page.goto(f"{server.url}/speak#key={server.room.publish_key}")
    assert "#" not in page.url, "the key leaves the address bar"
    await page.get_by_role("button", name="Start speaking").click()
    await expect(page.locator("#live")).to_have_text("● Live")
    await until(lambda: server.room.input_report().detail == "live: speaker page")
    publication = server.room.published.publication if server.room.published else None
    assert publication is not None and publication.codec == "opus", "Chromium encodes Opus (WebCodecs)"
    received = await listener
    await expect(page.locator("#caption")).to_contain_text("translated into es-ES: tone")
    # The tones are at -15 dBFS: the meter shows the speaker what the room hears (read often: a
    # tone lasts a second, with silence around it).
    shown = set()
    for _ in range(200):
        shown.add(await page.locator("#level-db").text_content())
        if "-15 dBFS" in shown:
            break
        await asyncio.sleep(0.05)
    assert "-15 dBFS" in shown, shown
    await page.get_by_role("button", name="Stop").click()
    await until(lambda: server.room.input_report().detail == "waiting for the speaker")
    assert_heard_the_tones(received)
    assert server.room.published is not None and server.room.published.buffer.dropped_samples == 0


async def test_a_page_that_cannot_record_says_why(server: LiveServer, speaker: Browser) -> None:
    page = await speaker.new_page()
    # venue.test is the server over plain http from another machine: no microphone there.
    await page.goto(f"http://venue.test:{server.port}/speak")
    await expect(page.locator("#insecure")).to_be_visible()
    await expect(page.get_by_role("button", name="Start speaking")).to_be_disabled()


async def test_a_wrong_key_is_refused_on_the_page(server: LiveServer, speaker: Browser) -> None:
    page = await speaker.new_page()
    await page.goto(f"{server.url}/speak")
    await page.get_by_label("Publishing key").fill("a-key-that-is-not-the-rooms")
    await page.get_by_role("button", name="Start speaking").click()
    await expect(page.locator("#error")).to_have_text("That publishing key was not accepted.")
    await expect(page.get_by_role("button", name="Start speaking")).to_be_visible()
    assert server.room.input_report().detail == "waiting for the speaker"


async def test_the_console_hands_out_the_speakers_link_and_changes_its_key(
    server: LiveServer, speaker: Browser
) -> None:
    page = await speaker.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(f"{server.url}/console#token={OPERATOR_TOKEN}")
    old = server.room.publish_key
    link = f"{server.url}/speak#key={old}"
    await expect(page.locator("#speaker-link")).to_have_text(link)
    await expect(page.locator("#publish-whip")).to_have_text(f"{server.url}/whip")
    rtmp_port = server.rooms.settings.server.rtmp_port
    await expect(page.locator("#publish-rtmp")).to_have_text(f"rtmp://127.0.0.1:{rtmp_port}/live")
    await expect(page.locator("#srt")).to_be_hidden()  # no server.srt_port: no SRT
    await expect(page.locator("#input-state")).to_contain_text("waiting for the speaker")
    # Loopback: the service's own machine, where a page may use its microphone over http.
    await expect(page.locator("#cannot-record")).to_be_hidden()
    await expect(page.locator("#speaker-qr")).to_have_attribute("src", re.compile("^data:image/svg"))
    image = Image.open(io.BytesIO(await page.locator("#speaker-qr").screenshot()))
    codes = [code.text for code in zxingcpp.read_barcodes(image)]
    assert codes == [link], "the phone opens the page, key and all"
    await page.get_by_role("button", name="New key").click()
    await until(lambda: server.room.publish_key != old)
    await expect(page.locator("#publish-key")).to_have_text(server.room.publish_key)


WHIP_CLIENT = """async (key) => {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const pc = new RTCPeerConnection();
  pc.addTransceiver(stream.getAudioTracks()[0], { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === "complete") done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
  });
  const response = await fetch("/whip", {
    method: "POST", body: pc.localDescription.sdp,
    headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${key}` },
  });
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  window.whip = { pc, location: response.headers.get("Location") };
  return response.status;
}"""


async def test_a_browsers_webrtc_publishes_over_whip(server: LiveServer, speaker: Browser) -> None:
    """Chromium's own WebRTC (not the library the server uses) as the encoder."""
    listener = await tone_listener(server)
    context = await speaker.new_context(bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{server.url}/speak")
    assert await page.evaluate(WHIP_CLIENT, server.room.publish_key) == 201
    received = await listener
    await context.close()
    assert_heard_the_tones(received)


async def test_the_speaker_page_goes_live_again_by_itself_after_the_room_was_stopped_and_started(
    server: LiveServer, speaker: Browser
) -> None:
    page = await speaker.new_page()
    await page.goto(f"{server.url}/speak#key={server.room.publish_key}")
    await page.get_by_role("button", name="Start speaking").click()
    await expect(page.locator("#live")).to_have_text("● Live")
    async with httpx.AsyncClient(base_url=server.url, headers=server.operator) as client:
        assert (await client.post("/api/rooms/main/stop")).status_code == 200
        await expect(page.locator("#live")).to_contain_text("Reconnecting")
        assert (await client.post("/api/rooms/main/start")).status_code == 200
    await expect(page.locator("#live")).to_have_text("● Live", timeout=15_000)
    await until(lambda: server.room.input_report().detail == "live: speaker page", 10)
    listener = await tone_listener(server)
    assert_heard_the_tones(await listener)
