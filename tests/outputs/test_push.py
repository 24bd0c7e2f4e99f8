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
from tests.helpers import rtmp_receiver, spans, three_turns, until
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
