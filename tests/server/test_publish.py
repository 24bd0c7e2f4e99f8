"""A room whose talk is published over the network (``audio.input = "publish"``): a real WebSocket
publisher sends the talk in bursts, drops and comes back; wrong keys, second publishers and
misbehaving ones are refused with a reason, and listeners notice nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import websockets

from harness.live import LiveServer, listen, live_server
from harness.voicelive_server import FakeVoiceLive
from tests.helpers import CHUNK_BYTES, publisher, send_in_bursts, until, voicelive_settings
from translator.audio.wav import read_wav


@pytest.fixture
async def server(voicelive: FakeVoiceLive, talk: Path):
    settings = voicelive_settings(voicelive, talk)
    settings.audio.input = "publish"
    async with live_server(settings) as running:
        yield running


async def test_a_talk_published_in_bursts_reaches_listeners_like_a_microphones(
    server: LiveServer, talk: Path
) -> None:
    pcm = read_wav(talk) + bytes(24_000 * 2)
    async with httpx.AsyncClient(base_url=server.url, headers=server.operator) as client:
        info = (await client.get("/api/rooms/main/publish")).json()
    listener = asyncio.create_task(
        listen(f"{server.ws}/ws/listen/es", lambda r: len(r.finals()) >= 2 and r.ended() >= set(r.finals()))
    )
    await until(lambda: server.room.hub.listener_count("es") == 1)
    ws = await publisher(server, info["key"])
    answer = json.loads(await ws.recv())
    await send_in_bursts(ws, pcm)
    received = await listener
    await ws.close()
    async with httpx.AsyncClient(base_url=server.url, headers=server.operator) as client:
        network = (await client.get("/api/status")).json()["input"]["network"]
        metrics = (await client.get("/metrics")).text
    assert answer == {
        "room": "main",
        "type": "publishing",
        "format": "pcm16",
        "sample_rate": 24000,
        "channels": 1,
        "max_message_bytes": 4096,
    }
    assert info["input"] == "publish" and info["websocket"].endswith("/ws/publish/main")
    finals = [c["source_text"] for c in received.finals().values()]
    assert len(finals) == 2 and all(finals), "both sentences, each under its own caption"
    assert all(share >= 0.99 for share in received.audio_shares().values())
    # A stall longer than the margin held runs the buffer dry once, and the margin grows to it.
    assert network["dropped_s"] == 0 and network["gaps"] <= 3, network
    assert 'translator_input_dropped_seconds_total{room="main"} 0.0' in metrics


async def test_a_publisher_that_drops_mid_sentence_comes_back_and_the_talk_goes_on(
    server: LiveServer, talk: Path
) -> None:
    pcm = read_wav(talk)
    listener = asyncio.create_task(listen(f"{server.ws}/ws/listen/es", lambda r: len(r.finals()) >= 2, 60))
    first = await publisher(server, server.room.publish_key)
    await first.recv()
    await send_in_bursts(first, pcm[: len(pcm) // 4 * 2])
    first.transport.abort()  # gone without a close: a laptop's Wi-Fi dropped
    await until(lambda: server.room.input_report().detail == "reconnecting: test publisher dropped", 10)
    waiting = server.room.input_report()
    again = await publisher(server, server.room.publish_key)
    await again.recv()
    await send_in_bursts(again, pcm + bytes(24_000 * 2))
    received = await listener
    await again.close()
    assert waiting.state == "running", "the room never failed"
    assert len(received.finals()) >= 2


async def test_wrong_keys_second_publishers_and_bad_audio_are_refused_and_listeners_notice_nothing(
    server: LiveServer,
) -> None:
    key = server.room.publish_key
    async with websockets.connect(f"{server.ws}/ws/listen/es") as listener:
        await listener.recv()
        wrong = await publisher(server, "not-the-key-at-all")
        first = await publisher(server, key, who="desk")
        await first.recv()
        second = await publisher(server, key, who="phone\x1b[31m")
        closed = []
        for ws in (wrong, second):
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            closed.append((ws.close_code, ws.close_reason))
        await first.send(b"\x00" * 3)
        with pytest.raises(websockets.ConnectionClosed):
            await first.recv()
        closed.append((first.close_code, first.close_reason))
        flood = await publisher(server, key)
        await flood.recv()
        with pytest.raises(websockets.ConnectionClosed):
            for _ in range(100):  # 8.5 s of audio at once
                await flood.send(bytes(CHUNK_BYTES))
            await flood.recv()
        closed.append((flood.close_code, flood.close_reason))
        text = await publisher(server, key)
        await text.recv()
        await text.send("hello?")
        with pytest.raises(websockets.ConnectionClosed):
            await text.recv()
        closed.append((text.close_code, text.close_reason))
        async with httpx.AsyncClient(base_url=server.url, headers=server.operator) as client:
            changed = (await client.post("/api/rooms/main/publish/key")).json()
        old = await publisher(server, key)
        with pytest.raises(websockets.ConnectionClosed):
            await old.recv()
        closed.append((old.close_code, old.close_reason))
        await (await listener.ping())
        assert listener.close_code is None, "the listener noticed nothing"
    assert closed == [
        (4401, "wrong publishing key"),
        (4409, "desk is publishing to this room"),
        (1003, "PCM16 comes in whole samples: an odd number of bytes"),
        (1008, "sending faster than real time"),
        (1003, "audio is sent as binary messages of mono PCM16 or Opus packets"),
        (4401, "wrong publishing key"),
    ]
    assert changed["key"] != key


async def test_a_stopped_room_lets_its_publisher_go_and_takes_it_back_once_started(
    server: LiveServer,
) -> None:
    key = server.room.publish_key
    live = await publisher(server, key)
    await live.recv()
    async with httpx.AsyncClient(base_url=server.url, headers=server.operator) as client:
        assert (await client.post("/api/rooms/main/stop")).status_code == 200
        with pytest.raises(websockets.ConnectionClosed):
            await live.recv()
        early = await publisher(server, key)
        with pytest.raises(websockets.ConnectionClosed):
            await early.recv()
        assert (await client.post("/api/rooms/main/start")).status_code == 200
    await until(lambda: server.room.state == "running", 30)
    again = await publisher(server, key)
    answer = json.loads(await again.recv())
    await again.close()
    # 1013, "try again later": the speaker page keeps trying, and is live again once the room runs.
    assert (live.close_code, live.close_reason) == (1013, "the room is stopped")
    assert (early.close_code, early.close_reason) == (1013, "the room is stopped")
    assert answer["type"] == "publishing"


async def test_opus_is_taken_at_48_khz_and_what_is_not_opus_is_refused(server: LiveServer) -> None:
    key = server.room.publish_key
    closed = []
    for rate, packet in ((24_000, b""), (48_000, b"\xff" * 40)):
        ws = await websockets.connect(f"{server.ws}/ws/publish/main")
        await ws.send(json.dumps({"type": "publish", "key": key, "format": "opus", "sample_rate": rate}))
        with pytest.raises(websockets.ConnectionClosed):
            answer = json.loads(await ws.recv())
            assert answer["format"] == "opus"
            await ws.send(packet)
            await ws.recv()
        closed.append((ws.close_code, ws.close_reason.split(" (")[0]))
    assert closed == [(1003, "Opus is sent at sample_rate 48000"), (1003, "not an Opus packet")]
