"""Several rooms on one server: two floors fed by two inputs, each room's listeners get only their
room's talk, whole; a room stopped, restarted or failing leaves the others untouched; transcripts,
metrics and Redis per room."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
import websockets
from prometheus_client.parser import text_string_to_metric_families

from harness.live import HeldSource, Received, RedisServer, listen, live_server, talk_wav
from harness.voicelive_server import RATE, FakeVoiceLive, tone, tone_names
from tests.helpers import ready, translator_process, until
from translator.audio.wav import WavSource
from translator.config import Settings, load_settings
from translator.engines.local.engine import LocalEngine
from translator.errors import ConfigError
from translator.messages import FLAG_END

MAIN = ["Good morning everyone.", "Please turn off your phones."]
YOUTH = ["Lunch is served in the main hall.", "Thank you for coming today."]
# On the Voice Live test server each room's floor is a tone of its own, "transcribed" as its pitch.
TONES = {"main": 300, "youth": 500}


@pytest.fixture(scope="module")
def floors(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two inputs: what is said in the main hall, and what is said in the youth room."""
    folder = tmp_path_factory.mktemp("rooms")
    return talk_wav(MAIN, folder / "main.wav"), talk_wav(YOUTH, folder / "youth.wav")


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two inputs for the Voice Live test server: three 0.8 s tones of each room's own pitch."""
    folder = tmp_path_factory.mktemp("tones")
    paths = []
    for room, pitch in TONES.items():
        pcm = bytes(RATE) + b"".join(tone(0.8, pitch) + bytes(int(RATE * 0.8) * 2) for _ in range(3))
        path = folder / f"{room}.wav"
        soundfile.write(path, np.frombuffer(pcm, dtype="<i2"), RATE, subtype="PCM_16")
        paths.append(path)
    return paths[0], paths[1]


def rooms_toml(path: Path, main: Path, youth: Path, extra: str = "") -> Path:
    path.write_text(
        f"""
targets = ["es"]
[[rooms]]
id = "main"
name = "Main hall"
audio.input = "{main}"
[[rooms]]
id = "youth"
name = "Youth room"
targets = ["es", "fr"]
audio.input = "{youth}"
{extra}
"""
    )
    return path


def words(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalpha() or ch == " ").strip()


def finals_with_audio(count: int):
    return lambda r: len([i for i in r.finals() if i in r.ended()]) >= count


async def test_two_rooms_fed_by_two_inputs_each_hear_only_their_own_talk_whole(
    floors: tuple[Path, Path], tmp_path: Path
) -> None:
    main, youth = floors
    settings = load_settings(rooms_toml(tmp_path / "rooms.toml", main, youth).as_posix(), env={})
    sources = {"main": HeldSource(WavSource(main, pace=2)), "youth": HeldSource(WavSource(youth, pace=2))}
    async with live_server(settings, sources=sources) as server:
        listeners = asyncio.gather(
            listen(f"{server.ws}/ws/listen/main/es?codec=opus", finals_with_audio(2), within_s=90),
            listen(f"{server.ws}/ws/listen/youth/es?codec=opus", finals_with_audio(2), within_s=90),
        )
        # Each talk starts once its listener is there (two rooms' models loading keep a busy
        # machine's loop from connecting them at once).
        await until(lambda: all(r.hub.listener_count("es") == 1 for r in server.rooms.rooms.values()))
        for source in sources.values():
            source.release()
        in_main, in_youth = await listeners
        async with httpx.AsyncClient(base_url=server.url) as client:
            rooms = (await client.get("/api/rooms")).json()
            youth_languages = (await client.get("/api/rooms/youth/languages")).json()
            roomless = await client.get("/api/languages")
            unknown = await client.get("/api/rooms/attic/languages")
            page, missing_page = await client.get("/r/youth/"), await client.get("/r/attic/")
            roomless_overlay, roomless_join = await client.get("/overlay"), await client.get("/join")
            join = await client.get("/r/youth/join")
            metrics = (await client.get("/metrics", headers=server.operator)).text
            transcripts = {
                room: (await client.get(f"/api/rooms/{room}/transcripts", headers=server.operator)).json()
                for room in ("main", "youth")
            }
        async with websockets.connect(f"{server.ws}/ws/listen/es") as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
    heard = {
        "main": [words(c["source_text"]) for c in in_main.finals().values()],
        "youth": [words(c["source_text"]) for c in in_youth.finals().values()],
    }
    assert heard == {"main": [words(s) for s in MAIN], "youth": [words(s) for s in YOUTH]}
    for received in (in_main, in_youth):
        assert all(share == 1.0 for share in received.audio_shares().values()), "whole audio"
    assert [(r["id"], r["name"], r["state"]) for r in rooms] == [
        ("main", "Main hall", "running"),
        ("youth", "Youth room", "running"),
    ]
    assert rooms[1]["audience"].endswith("/r/youth/")
    assert [t["code"] for t in youth_languages["targets"]] == ["es", "fr"]
    assert youth_languages["room"] == {"id": "youth", "name": "Youth room"}
    assert roomless.status_code == 404 and "main, youth" in roomless.json()["detail"]
    assert (
        unknown.status_code == 404 and "unknown room 'attic'; rooms: main, youth" in unknown.json()["detail"]
    )
    assert page.status_code == 200 and missing_page.status_code == 404
    # A phone with an old QR code gets a page, not JSON: it says so and links the rooms there are.
    assert missing_page.headers["content-type"].startswith("text/html")
    assert "There is no room “attic” here" in missing_page.text
    assert (
        '<a href="/r/main/">Main hall</a>' in missing_page.text
        and '<a href="/r/youth/">' in missing_page.text
    )
    for roomless_page in (roomless_overlay, roomless_join):
        assert roomless_page.status_code == 404 and "several rooms: choose one" in roomless_page.text
        assert '<a href="/r/youth/">Youth room</a>' in roomless_page.text
    assert join.status_code == 200 and "Youth room" in join.text and "/r/youth/" in join.text
    assert closed.value.rcvd.code == 4404 and "several rooms: main, youth" in closed.value.rcvd.reason
    queued = {
        sample.labels["room"]: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "translator_messages_queued_total" and sample.labels["lang"] == "es"
    }
    assert queued["main"] > 0 and queued["youth"] > 0
    assert [t["room"] for t in transcripts["main"]] == ["main"]
    assert [t["room"] for t in transcripts["youth"]] == ["youth"]


async def test_a_room_stopped_or_failing_leaves_the_other_untouched(
    tones: tuple[Path, Path], tmp_path: Path
) -> None:
    main, youth = tones
    broken = '[[rooms]]\nid = "annex"\naudio.input = "mic"\naudio.device = "no such microphone"\n'
    config = rooms_toml(tmp_path / "rooms.toml", main, youth, broken)
    sources = {"main": WavSource(main, loop=True, pace=2), "youth": WavSource(youth, loop=True, pace=2)}
    async with (
        FakeVoiceLive(transcribe=tone_names) as voicelive,
        live_server(voicelive_rooms(config, voicelive), sources=sources, outputs=True) as server,
        httpx.AsyncClient(base_url=server.url, headers=server.operator) as client,
    ):
        rooms = {r["id"]: r for r in (await client.get("/api/rooms")).json()}
        # HLS is written from a room's first talk on: the failed room, which never had one, runs no
        # encoder at all (a hundred of them took most of a core).
        await until(lambda: (server.rooms.settings.outputs.hls.directory or "") != "", within_s=5)
        hls = Path(server.rooms.settings.outputs.hls.directory or "")
        await until(lambda: (hls / "main" / "master.m3u8").is_file(), within_s=20)
        annex_hls = await client.get("/r/annex/hls/master.m3u8")
        async with (
            websockets.connect(f"{server.ws}/ws/listen/main/es") as in_main,
            websockets.connect(f"{server.ws}/ws/listen/youth/es") as in_youth,
        ):
            await asyncio.gather(in_main.recv(), in_youth.recv())
            stopped = await client.post("/api/rooms/youth/stop")
            told = await status_of(in_youth, "stopped")
            refused = await client.post(
                "/api/rooms/youth/input", json={"paused": True}, headers=server.operator
            )
            # The main hall goes on: captions keep coming while the youth room is stopped.
            main_captions = await captions(in_main, 2)
            started = await client.post("/api/rooms/youth/start")
            youth_captions = await captions(in_youth, 1)
        restart_failed = await client.post("/api/rooms/annex/start")
        ready = await client.get("/readyz/main")
    assert rooms["annex"]["state"] == "failed" and "no such microphone" in rooms["annex"]["detail"]
    assert annex_hls.status_code == 404
    assert rooms["main"]["state"] == rooms["youth"]["state"] == "running"
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
    assert told == {"type": "status", "lang": "es", "state": "stopped", "detail": "stopped by the operator"}
    assert {c["source_text"] for c in main_captions} == {"tone 300"}, "the hall's own floor"
    assert {c["source_text"] for c in youth_captions} == {"tone 500"}, "the youth room's own floor, again"
    assert refused.status_code == 409 and "stopped" in refused.json()["detail"]
    assert len(main_captions) >= 2 and started.json()["state"] == "running" and youth_captions
    assert restart_failed.status_code == 409 and "no such microphone" in restart_failed.json()["detail"]
    assert ready.status_code == 200


def voicelive_rooms(config: Path, voicelive: FakeVoiceLive) -> Settings:
    return load_settings(
        config.as_posix(),
        env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "rooms-key"},
        overrides={"azure.model": "gpt-4.1"},
    )


async def status_of(ws: websockets.ClientConnection, state: str) -> dict:
    """The next status message on ``ws`` that tells ``state``."""
    async with asyncio.timeout(10):
        while True:
            message = await ws.recv()
            data = json.loads(message) if isinstance(message, str) else {}
            if data.get("type") == "status" and data["state"] == state:
                return data


async def captions(ws: websockets.ClientConnection, count: int) -> list[dict]:
    """The next ``count`` final captions on ``ws``."""
    finals: list[dict] = []
    async with asyncio.timeout(40):
        while len(finals) < count:
            message = await ws.recv()
            if isinstance(message, str):
                data = json.loads(message)
                if data["type"] == "caption" and data["final"]:
                    finals.append(data)
    return finals


async def test_two_rooms_over_two_processes_through_redis(tones: tuple[Path, Path], tmp_path: Path) -> None:
    main, youth = tones
    redis = RedisServer()
    redis.start()
    config = rooms_toml(tmp_path / "rooms.toml", main, youth)
    sources = {"main": WavSource(main, loop=True, pace=2), "youth": WavSource(youth, loop=True, pace=2)}
    try:
        async with (
            FakeVoiceLive(transcribe=tone_names) as voicelive,
            live_server(with_broker(voicelive_rooms(config, voicelive), redis.url), sources=sources),
            translator_process(
                "--listener-only",
                *("--broker", redis.url, "--config", str(config)),
                env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint},
            ) as worker,
        ):
            await ready(worker)
            far = f"ws://127.0.0.1:{worker}/ws/listen"
            in_main, in_youth = await asyncio.gather(
                listen(f"{far}/main/es", finals_with_audio(3), within_s=60),
                listen(f"{far}/youth/fr", finals_with_audio(3), within_s=60),
            )
    finally:
        redis.stop()
    # Each room hears its own tone only. A turn that ends while the answer to the one before is
    # still running is answered with it, as the strict service does (one caption, "tone 500 tone
    # 500"): how often depends on the machine's load, so the tones are counted, not the captions.
    assert heard_tones(in_main) == {"tone 300"}
    assert heard_tones(in_youth) == {"tone 500"}
    assert all(c["lang"] == "fr" for c in in_youth.captions)
    for received in (in_main, in_youth):
        # A listener that joins a talk under way hears the sentence in progress from where it is:
        # every utterance it heard from its start reached it whole.
        started = {header[3] for header, _ in received.audio if header[4] == 0 and not header[2] & FLAG_END}
        shares = received.audio_shares()
        assert started & set(shares), "an utterance heard from its start"
        assert all(shares[u] == 1.0 for u in started & set(shares))


def heard_tones(received: Received) -> set[str]:
    """The tones named in a listener's final captions' source texts."""
    return {name for c in received.finals().values() for name in re.findall(r"tone \d+", c["source_text"])}


def with_broker(settings: Settings, url: str) -> Settings:
    settings.broker.url = url
    return settings


def test_room_settings_name_their_room(tmp_path: Path, floors: tuple[Path, Path]) -> None:
    main, youth = floors
    bad = rooms_toml(tmp_path / "bad.toml", main, youth, '[[rooms]]\nid = "main"\n')
    with pytest.raises(ConfigError) as twice:
        load_settings(bad.as_posix(), env={})
    wrong = rooms_toml(tmp_path / "wrong.toml", main, youth, '[[rooms]]\nid = "Big Hall"\n')
    with pytest.raises(ConfigError) as spaced:
        load_settings(wrong.as_posix(), env={})
    language = rooms_toml(tmp_path / "lang.toml", main, youth, '[[rooms]]\nid = "annex"\ntargets = ["xx"]\n')
    with pytest.raises(ConfigError) as unknown:
        load_settings(language.as_posix(), env={})
    assert twice.value.field == "rooms[2].id" and "another room is called 'main'" in str(twice.value)
    assert spaced.value.field == "rooms[2].id" and "lower-case" in str(spaced.value)
    assert unknown.value.field == "rooms[2].targets[0]" and "available:" in str(unknown.value)
    # The top level is every room's default; a room's own settings win, table by table.
    inherited = rooms_toml(tmp_path / "ok.toml", main, youth, "[local]\nbeam_size = 3\n")
    settings = load_settings(inherited.as_posix(), env={})
    assert [r.targets for r in settings.rooms] == [["es"], ["es", "fr"]]
    assert [r.local.beam_size for r in settings.rooms] == [3, 3]


async def test_a_room_stopped_and_started_again_takes_its_models_back(talk: Path) -> None:
    """Restarting a room loads nothing anew: the same whisper model, however often (each load used
    to leave ~35 MB behind, with the model's threads)."""
    settings = load_settings(
        env={}, overrides={"engine": "local", "targets": ["es"], "audio.input": str(talk)}
    )
    async with (
        live_server(settings, WavSource(talk, loop=True)) as server,
        httpx.AsyncClient(base_url=server.url, headers=server.operator, timeout=60) as client,
    ):
        seen = []
        for _ in range(4):
            assert (await client.post("/api/rooms/main/stop")).status_code == 200
            assert (await client.post("/api/rooms/main/start")).status_code == 200
            engine = server.room.pipeline.engine if server.room.pipeline else None
            assert isinstance(engine, LocalEngine)
            seen.append(id(engine._recognizer))
        finals = await listen(f"{server.ws}/ws/listen/es", lambda r: len(r.finals()) >= 1, within_s=60)
    assert len(set(seen)) == 1, "one model, taken back at every start"
    assert finals.finals(), "the room still interprets"
