"""SRT with Debian's ffmpeg as the encoder on the other end: a caller with the room's key as its
passphrase is the room's talk, one without it cannot connect, one killed mid-sentence is waited for
and taken back; and a room reads an SRT stream an encoder listens with."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from harness.live import LiveServer, free_udp_port
from tests.helpers import (
    assert_a_killed_encoder_is_taken_back,
    assert_an_encoder_is_the_talk_until_it_stops,
    assert_heard_the_talk_again,
    published_room,
    talk_again_listener,
    three_turns,
    until,
)

pytestmark = pytest.mark.skipif(
    not shutil.which("ffmpeg"), reason="needs Debian's ffmpeg (system-packages.txt)"
)


@pytest.fixture
async def server() -> AsyncIterator[LiveServer]:
    async with published_room({"server.srt_port": free_udp_port()}) as running:
        yield running


async def call(talk: Path, url: str, *, loop: bool = False) -> asyncio.subprocess.Process:
    """ffmpeg sending ``talk`` in real time over SRT (AAC in MPEG-TS, as encoders send)."""
    return await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
        "-re", *(["-stream_loop", "-1"] if loop else []), "-i", str(talk),
        "-c:a", "aac", "-f", "mpegts", url,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def srt_address(server: LiveServer) -> str:
    async with httpx.AsyncClient(base_url=server.url, headers=server.operator) as client:
        info = (await client.get("/api/rooms/main/publish")).json()
    assert info["srt"] is not None
    return str(info["srt"])


async def test_a_caller_with_the_key_is_the_rooms_talk_and_one_without_cannot_connect(
    server: LiveServer, tmp_path: Path
) -> None:
    talk = three_turns(tmp_path / "talk.wav")
    url = await srt_address(server)
    port = server.rooms.srt_ports["main"]
    assert url == f"srt://127.0.0.1:{port}?passphrase={server.room.publish_key}"
    intruder = await call(talk, f"srt://127.0.0.1:{port}?passphrase=not-the-rooms-key")
    _, err = await asyncio.wait_for(intruder.communicate(), 30)
    # Rejected by the listener at once (a caller nobody answered would time out instead).
    assert intruder.returncode != 0 and "Input/output error" in err.decode()
    assert server.room.input_report().detail == "waiting for the speaker"
    # A caller that hangs up ends its turn.
    await assert_an_encoder_is_the_talk_until_it_stops(server, lambda: call(talk, url), "live: SRT")


async def test_a_caller_killed_mid_sentence_is_waited_for_and_taken_back(
    server: LiveServer, tmp_path: Path
) -> None:
    talk = three_turns(tmp_path / "talk.wav")
    url = await srt_address(server)
    await assert_a_killed_encoder_is_taken_back(
        server, lambda: call(talk, url, loop=True), "reconnecting: SRT dropped"
    )


async def test_a_new_key_ends_the_call_and_only_the_new_key_calls_again(
    server: LiveServer, tmp_path: Path
) -> None:
    talk = three_turns(tmp_path / "talk.wav")
    old = await srt_address(server)
    encoder = await call(talk, old, loop=True)
    await until(lambda: server.room.input_report().detail == "live: SRT", 20)
    async with httpx.AsyncClient(base_url=server.url, headers=server.operator) as client:
        new = (await client.post("/api/rooms/main/publish/key")).json()["srt"]
    # The call with the old key is cut: the encoder fails.
    await asyncio.wait_for(encoder.communicate(), 30)
    assert encoder.returncode != 0 and new != old
    # The new key is taken (the listener hears the talk again with it, after whatever the cut call
    # left in flight)...
    listener = await talk_again_listener(server)
    again = await call(talk, new)
    received = await listener
    await asyncio.wait_for(again.communicate(), 30)
    assert_heard_the_talk_again(received)
    await until(lambda: server.room.input_report().detail == "waiting for the speaker", 10)
    # ...and the old one is rejected by the listener itself (not left unanswered).
    stale = await call(talk, old)
    _, err = await asyncio.wait_for(stale.communicate(), 30)
    assert stale.returncode != 0 and "Input/output error" in err.decode()
