"""RTMP ingest with Debian's ffmpeg as the encoder (an independent RTMP client, as OBS or Zoom's
custom live stream would be): its whole programme (video and AAC sound) pushed to the room's
address with the key as the stream key becomes the room's talk; a wrong key, a second publisher,
sound we do not take and garbage are refused with the reason the encoder prints, and an encoder
that is killed mid-sentence is waited for and taken back."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from harness.live import LiveServer
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
    not __import__("shutil").which("ffmpeg"), reason="needs Debian's ffmpeg (system-packages.txt)"
)


@pytest.fixture
async def server() -> AsyncIterator[LiveServer]:
    async with published_room() as running:
        yield running


def address(server: LiveServer, path: str) -> str:
    return f"rtmp://127.0.0.1:{server.rooms.settings.server.rtmp_port}/{path}"


async def push(
    talk: Path, url: str, *, audio: str = "aac", loop: bool = False, flood: bool = False
) -> asyncio.subprocess.Process:
    """ffmpeg pushing ``talk`` in real time to ``url``, with a small video beside it as an
    encoder's programme has (``flood``: ten times over, as fast as it reads)."""
    pace = [] if flood else ["-re"]
    return await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
        *pace, "-stream_loop", "-1" if loop else "9" if flood else "0", "-i", str(talk),
        *pace, "-f", "lavfi", "-i", "color=c=blue:size=160x120:rate=10",
        "-map", "1:v", "-map", "0:a", "-shortest",
        "-c:v", "flv1", "-c:a", audio, *(["-ar", "22050"] if audio != "aac" else []), "-f", "flv", url,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def refusal(process: asyncio.subprocess.Process) -> str:
    """What a refused encoder printed (it must have failed)."""
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode != 0
    return err.decode()


async def test_an_encoder_pushing_rtmp_is_the_rooms_talk_until_it_stops(
    server: LiveServer, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=server.operator) as client:
        info = (await client.get("/api/rooms/main/publish")).json()
    assert info["rtmp"] == address(server, "live")
    talk = three_turns(tmp_path / "talk.wav")
    # As OBS is told: the Server, and the key as the Stream Key. An encoder that stops says so.
    url = f"{info['rtmp']}/{info['key']}"
    await assert_an_encoder_is_the_talk_until_it_stops(
        server, lambda: push(talk, url), "live: RTMP (FMLE/3.0"
    )


async def test_rtmp_refusals_name_the_reason_and_the_live_publisher_keeps_the_room(
    server: LiveServer, tmp_path: Path
) -> None:
    talk = three_turns(tmp_path / "talk.wav")
    key = server.room.publish_key
    wrong_key = await refusal(await push(talk, address(server, "live/main/not-the-rooms-key")))
    unknown = await refusal(await push(talk, address(server, f"live/nowhere/{key}")))
    elsewhere = await refusal(await push(talk, address(server, f"app/{key}")))
    # Sound we do not take is refused once it comes (an encoder no longer listens): the console says why.
    await refusal(await push(talk, address(server, f"live/main/{key}"), audio="pcm_s16le"))
    pcm = server.room.input_report().detail
    # A file pushed as fast as it reads (no -re): a flood, refused once it is 10 s ahead.
    await refusal(await push(talk, address(server, f"live/main/{key}"), flood=True))
    flood = server.room.input_report().detail
    # What the refused pushes left in flight may come first; then the live encoder's talk.
    listener = await talk_again_listener(server)
    live = await push(talk, address(server, f"live/main/{key}"), loop=True)
    await until(lambda: server.room.input_report().detail.startswith("live: RTMP"), 20)
    second = await refusal(await push(talk, address(server, f"live/main/{key}")))
    # Garbage, and a connection that never finishes its handshake, are closed; nobody notices.
    port = server.rooms.settings.server.rtmp_port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\n\r\n" + bytes(2000))
    assert await asyncio.wait_for(reader.read(), 15) == b""
    writer.close()
    received = await listener
    live.send_signal(signal.SIGINT)
    await asyncio.wait_for(live.communicate(), 30)
    assert "wrong publishing key" in wrong_key
    assert "unknown room 'nowhere'; rooms: main" in unknown
    assert "rtmp://…/live/{room}" in elsewhere
    assert pcm.startswith("waiting for the speaker (RTMP (FMLE/3.0") and "PCM: send AAC or MP3" in pcm, pcm
    assert "is publishing to this room" in second
    assert flood.endswith("was refused: sending faster than real time)"), flood
    assert_heard_the_talk_again(received)


async def test_an_encoder_killed_mid_sentence_is_waited_for_and_taken_back(
    server: LiveServer, tmp_path: Path
) -> None:
    talk = three_turns(tmp_path / "talk.wav")
    url = address(server, f"live/main/{server.room.publish_key}")
    await assert_a_killed_encoder_is_taken_back(
        server, lambda: push(talk, url, loop=True), "reconnecting: RTMP"
    )
