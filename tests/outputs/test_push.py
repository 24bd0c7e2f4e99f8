"""A language pushed as a stream, received by Debian's ffmpeg listening as an RTMP server (as a
platform's ingest would): the push waits out a server not yet there, then the Spanish channel
arrives in real time, with a picture, and PyAV decodes it whole; the stream key is shown nowhere."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import av
import httpx
import numpy as np
import pytest

from harness.live import free_port, live_server
from harness.voicelive_server import FakeVoiceLive, tone_names
from tests.helpers import published_room, rtmp_receiver, spans, three_turns, until
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.outputs.push import LanguagePush

pytestmark = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs Debian's ffmpeg")

KEY = "es-stream-key-0042"


def decoded(path: Path) -> tuple[np.ndarray, int, list[str]]:
    """The file's audio (mono floats), its rate, and the kinds of its streams."""
    with av.open(str(path)) as container:
        kinds = [stream.type for stream in container.streams]
        audio = container.streams.audio[0]
        frames = [frame.to_ndarray()[0] for frame in container.decode(audio)]
        return np.concatenate(frames), audio.rate, kinds


async def test_a_language_is_pushed_as_a_stream_once_its_server_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    address = f"rtmp://127.0.0.1:{port}/live/{KEY}"
    received = tmp_path / "received.flv"
    talk = three_turns(tmp_path / "talk.wav")
    async with FakeVoiceLive(transcribe=tone_names, reply_s=(1.0,)) as voicelive:
        settings = load_settings(
            env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "push-key"},
            overrides={
                "targets": ["es"],
                "azure.model": "gpt-4.1",
                "outputs.hls.enabled": False,
                "outputs.recordings.enabled": False,
                "outputs.push": {"es": address},
            },
        )
        async with (
            live_server(settings, WavSource(talk, loop=True)) as server,
            httpx.AsyncClient(base_url=server.url, headers=server.operator) as client,
        ):

            async def push() -> dict:
                return next(
                    o for o in (await client.get("/api/status")).json()["outputs"] if o["name"] == "push"
                )

            # Nobody listens yet: the push says so, and tries again.
            async with asyncio.timeout(20):
                while (refused := await push())["state"] != "retrying":  # noqa: ASYNC110 - a status, no event
                    await asyncio.sleep(0.1)
            platform = await rtmp_receiver(address, received)
            try:
                pushed = server.rooms.output("main", LanguagePush)
                # Eight seconds of the talk, then the server stops and the push ends its stream.
                await until(lambda: pushed.status().state == "sending" and pushed.sent_s >= 8, 40)
                sending = await push()
            except BaseException:
                platform.kill()
                raise
        await asyncio.wait_for(platform.wait(), 20)
    samples, rate, kinds = decoded(received)
    played_s = len(samples) / rate
    # In real time, and whole: as much sound as the programme played while connected.
    assert sorted(kinds) == ["audio", "video"] and rate == 48_000
    assert pushed.sent_s - 0.3 <= played_s <= pushed.sent_s + 0.2, (played_s, pushed.sent_s)
    assert len(spans(samples, rate)) >= 2, "the interpretation's utterances are in it"
    # The key is shown nowhere: the console says where by its host and application.
    assert sending["detail"].startswith(f"es → rtmp://127.0.0.1:{port}/live/…")
    assert "again in" in refused["detail"]
    assert not any(KEY in text for text in (str(refused), str(sending), caplog.text))


async def test_the_speakers_picture_published_over_rtmp_is_the_pushed_streams_picture(tmp_path: Path) -> None:
    """An encoder publishes the talk with its camera (320×240 H.264) over RTMP: the Spanish stream
    shows that picture, passed on as it came, under the interpretation; when the encoder stops, the
    stream goes back to the still card."""
    port = free_port()
    address = f"rtmp://127.0.0.1:{port}/live/{KEY}"
    received = tmp_path / "received.flv"
    talk = three_turns(tmp_path / "talk.wav")
    outputs = {
        "outputs.push": {"es": address},
        "outputs.hls.enabled": False,
        "outputs.recordings.enabled": False,
    }
    async with (
        published_room(outputs) as server,
        httpx.AsyncClient(base_url=server.url, headers=server.operator) as client,
    ):
        info = (await client.get("/api/rooms/main/publish")).json()
        encoder = await asyncio.create_subprocess_exec(
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
            "-re", "-stream_loop", "-1", "-i", str(talk),
            "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10",
            "-map", "1:v", "-map", "0:a", "-c:v", "libx264", "-preset", "ultrafast", "-g", "10",
            "-c:a", "aac", "-f", "flv", f"{info['rtmp']}/{info['key']}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        platform = None
        try:
            assert server.room.published is not None
            await until(lambda: server.room.published.video.live, 30)  # type: ignore[union-attr]
            platform = await rtmp_receiver(address, received)
            pushed = server.rooms.output("main", LanguagePush)
            await until(lambda: "speaker's picture" in pushed.status().detail and pushed.sent_s >= 6, 60)
            encoder.kill()
            await encoder.wait()
            # The picture has gone: the stream starts again with the card (nobody takes it here).
            await until(lambda: "a still card" in pushed.status().detail, 30)
            await asyncio.wait_for(platform.wait(), 20)
        finally:
            for process in (encoder, platform):
                if process is not None and process.returncode is None:
                    process.kill()
                    await process.wait()
    with av.open(str(received)) as container:
        video = container.streams.video[0]
        pictures = [frame for _, frame in zip(range(30), container.decode(video), strict=False)]
    assert len(pictures) == 30 and {(p.width, p.height) for p in pictures} == {(320, 240)}
    # On the encoder's clock, as it sent them: ten pictures a second.
    steps = np.diff([float(p.time) for p in pictures])
    assert np.median(steps) == pytest.approx(0.1, abs=0.005) and steps.min() > 0, steps
    samples, rate, kinds = decoded(received)
    assert sorted(kinds) == ["audio", "video"] and len(samples) / rate >= 5
    assert len(spans(samples, rate)) >= 1, "the interpretation is heard under the speaker's picture"
