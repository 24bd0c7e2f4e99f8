"""A room with a backup input, whole: the speaker page is the primary and a looped hall
microphone (a WAV) the backup. Nobody publishes yet, so the backup carries the talk; the operator
holds either input; a publisher comes and takes over once it has been live a while."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import websockets

from tests.helpers import assert_heard_the_tones, published_room, settled, three_turns, tone_listener
from translator.audio.wav import read_wav


async def test_the_backup_carries_the_talk_until_the_primary_is_live_and_the_operator_can_hold_either(
    tmp_path: Path,
) -> None:
    hall = three_turns(tmp_path / "hall.wav")
    overrides = {"audio.failback_s": 2.0, "audio.backup": {"input": str(hall), "loop": True}}
    async with (
        published_room(overrides) as server,
        httpx.AsyncClient(base_url=server.url, headers=server.operator) as client,
    ):

        async def inputs() -> dict:
            return (await client.get("/api/status")).json()["input"]["failover"]

        # Nobody publishes: the primary gives nothing, and the hall microphone carries the talk.
        received = await (await tone_listener(server))
        first = await inputs()
        held = (await client.post("/api/input", json={"source": "primary"})).json()
        while_held = await inputs()
        auto = (await client.post("/api/input", json={"source": "auto"})).json()
        back_to_backup = await settled(inputs, lambda f: f["active"] == "backup", within_s=10)
        publisher = await websockets.connect(f"{server.ws}/ws/publish/main")
        await publisher.send(json.dumps({"type": "publish", "key": server.room.publish_key}))
        await publisher.recv()
        talk = read_wav(three_turns(tmp_path / "speaker.wav")) * 3
        sending = asyncio.create_task(_send_in_real_time(publisher, talk))
        taken_back = await settled(inputs, lambda f: f["active"] == "primary", within_s=20)
        sending.cancel()
        await publisher.close()
    assert_heard_the_tones(received)
    assert first["active"] == "backup" and first["mode"] == "auto"
    assert held["source"] == "primary" and while_held["active"] == "primary"
    assert auto["source"] == "auto" and back_to_backup["active"] == "backup"
    assert taken_back["switches"] >= 4 and taken_back["primary"].endswith("running")


async def _send_in_real_time(ws: websockets.ClientConnection, pcm: bytes) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    for at in range(0, len(pcm), 4096):
        await ws.send(pcm[at : at + 4096])
        await asyncio.sleep(max(0.0, began + (at + 4096) / 48_000 - loop.time()))
