"""WHIP ingest (RFC 9725) with a real WebRTC client (aiortc on the encoder's side, as OBS would
be): an offer with the room's key as its bearer token is answered, its Opus audio becomes the
room's talk, ``DELETE`` ends it; wrong keys, wrong types, offers without audio and second
publishers are refused with the status the RFC gives them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.contrib.media import MediaPlayer

from harness.live import LiveServer
from tests.helpers import (
    assert_a_killed_encoder_is_taken_back,
    assert_heard_the_tones,
    published_room,
    three_turns,
    tone_listener,
    until,
)

SDP = {"Content-Type": "application/sdp"}


@pytest.fixture
async def server() -> AsyncIterator[LiveServer]:
    async with published_room() as running:
        yield running


class Encoder:
    """A WebRTC encoder that publishes a WAV file (and, if asked, a video track) over WHIP."""

    def __init__(self, talk: Path | None, video: bool = False) -> None:
        self.pc = RTCPeerConnection()
        if talk is not None:
            self.pc.addTransceiver(MediaPlayer(str(talk)).audio, direction="sendonly")
        if video:
            self.pc.addTransceiver(VideoStreamTrack(), direction="sendonly")

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def publish(self, client: httpx.AsyncClient, key: str) -> httpx.Response:
        response = await client.post(
            "/whip", content=await self.offer(), headers={**SDP, "Authorization": f"Bearer {key}"}
        )
        if response.status_code == 201:
            await self.pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
        return response


async def test_an_encoder_over_whip_is_the_rooms_talk_until_it_ends_its_session(
    server: LiveServer, tmp_path: Path
) -> None:
    listener = await tone_listener(server)
    encoder = Encoder(three_turns(tmp_path / "talk.wav"), video=True)
    async with httpx.AsyncClient(base_url=server.url) as client:
        answered = await encoder.publish(client, server.room.publish_key)
        assert answered.status_code == 201, answered.text
        await until(lambda: server.room.input_report().detail.startswith("live: WHIP ("), 10)
        # What the jitter buffer holds while the encoder sends (once the talk ends, it drains).
        await until(lambda: server.room.input_report().delay_s > 0, 10)
        live = (await client.get("/api/status", headers=server.operator)).json()["input"]
        received = await listener
        location = answered.headers["location"]
        ended = await client.delete(location, headers={"Authorization": f"Bearer {server.room.publish_key}"})
        await until(lambda: server.room.input_report().detail == "waiting for the speaker", 10)
        again = await client.delete(location, headers={"Authorization": f"Bearer {server.room.publish_key}"})
    await encoder.pc.close()
    assert answered.headers["content-type"] == "application/sdp" and location.startswith("/whip/")
    # The video the encoder offered is declined: only the sound is decoded.
    assert "m=video" in answered.text and "a=inactive" in answered.text.split("m=video")[1]
    assert_heard_the_tones(received)
    assert ended.status_code == 200 and again.status_code == 404
    # Never more than the buffer's largest margin.
    assert live["detail"].startswith("live: WHIP (") and live["delay_s"] <= 0.7, live


async def test_whip_refusals_say_why_and_the_publisher_keeps_the_room(
    server: LiveServer, tmp_path: Path
) -> None:
    key = server.room.publish_key
    talk = three_turns(tmp_path / "talk.wav")
    first, second_encoder, refused, unsent = Encoder(talk), Encoder(talk), Encoder(talk), Encoder(talk)
    async with httpx.AsyncClient(base_url=server.url) as client:
        wrong_key = await refused.publish(client, "not-the-rooms-key-at-all")
        no_token = await client.post("/whip", content=await unsent.offer(), headers=SDP)
        wrong_type = await client.post(
            "/whip", content="v=0", headers={"Content-Type": "text/plain", "Authorization": f"Bearer {key}"}
        )
        video_only = Encoder(None, video=True)
        no_audio = await video_only.publish(client, key)
        garbage = await client.post(
            "/whip", content="hello", headers={**SDP, "Authorization": f"Bearer {key}"}
        )
        live = await first.publish(client, key)
        second = await second_encoder.publish(client, key)
        trickle = await client.patch(live.headers["location"], headers={"Authorization": f"Bearer {key}"})
        unknown = await client.post("/r/nowhere/whip", content="v=0", headers=SDP)
    for encoder in (first, second_encoder, refused, unsent, video_only):
        await encoder.pc.close()
    assert (wrong_key.status_code, no_token.status_code) == (401, 401)
    assert wrong_type.status_code == 415 and "application/sdp" in wrong_type.json()["detail"]
    assert no_audio.status_code == 400 and no_audio.json()["detail"] == "the offer carries no audio"
    assert garbage.status_code == 400
    assert live.status_code == 201
    assert second.status_code == 409 and second.json()["detail"].startswith("WHIP (")
    assert trickle.status_code == 405, "no trickle ICE: the answer carries every candidate"
    assert unknown.status_code == 404 and "main" in unknown.json()["detail"]


async def test_an_encoder_killed_without_ending_its_session_is_waited_for_and_taken_back(
    server: LiveServer, tmp_path: Path
) -> None:
    talk = str(three_turns(tmp_path / "talk.wav"))
    key = server.room.publish_key

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "harness.whip_encoder", f"{server.url}/whip", key, talk,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    # Killed: no DELETE, no DTLS goodbye; its silence tells the room, long before ICE would.
    await assert_a_killed_encoder_is_taken_back(server, start, "reconnecting: WHIP (")
