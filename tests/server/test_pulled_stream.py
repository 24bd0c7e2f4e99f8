"""A room whose talk is a stream it reads (``audio.input`` a URL), served by a small HTTP server on
127.0.0.1: a recording on a web server, and a live Ogg/Opus stream (as Icecast serves one) that
drops mid-talk and comes back. What a listener hears is checked tone by tone."""

from __future__ import annotations

import asyncio
import contextlib
import io
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from aiohttp import web

from harness.live import free_port, free_udp_port
from tests.helpers import assert_heard_the_tones, published_room, three_turns, tone_listener, until
from translator.audio.pulled import PulledSource


def opus_pages(wav: Path) -> list[tuple[float, bytes]]:
    """``wav`` as an Ogg/Opus stream cut where its pages end: (seconds of audio before, bytes)."""
    samples, rate = soundfile.read(str(wav), dtype="int16")
    out = io.BytesIO()
    with av.open(out, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48_000, layout="mono")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for resampled in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    data = out.getvalue()
    # An Ogg page starts with "OggS"; the stream is sent a page at a time, at the pace it plays.
    starts = [i for i in range(len(data)) if data.startswith(b"OggS", i)] + [len(data)]
    seconds = len(samples) / rate
    return [(seconds * a / len(data), data[a:b]) for a, b in zip(starts, starts[1:], strict=False)]


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def test_a_recording_on_a_web_server_is_the_rooms_talk(tmp_path: Path) -> None:
    talk = three_turns(tmp_path / "talk.wav").read_bytes()
    app = web.Application()
    app.router.add_get("/talk.wav", lambda _: web.Response(body=talk, content_type="audio/wav"))
    runner, base = await serve(app)
    try:
        async with published_room({"audio.input": f"{base}/talk.wav?token=stream-secret"}) as server:
            received = await (await tone_listener(server))
            report = server.room.input_report()
    finally:
        await runner.cleanup()
    assert_heard_the_tones(received)
    assert report.description == f"stream {base}/talk.wav", "no query: a stream key may be in it"
    assert report.network is not None and report.network.dropped_s == 0, "read at the pace it plays"


async def test_a_live_stream_that_drops_is_opened_again_and_the_talk_goes_on(tmp_path: Path) -> None:
    """A station playing the tone talk over and over; a listener that connects gets the stream's
    headers, then what plays now (as Icecast serves it). The first connection drops mid-tone."""
    pages = opus_pages(three_turns(tmp_path / "talk.wav"))
    headers, audio = [page for _, page in pages[:2]], pages[2:]  # OpusHead, OpusTags
    period = audio[-1][0] + 0.5
    loop = asyncio.get_running_loop()
    on_air = loop.time()
    served: list[int] = []

    async def live(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "audio/ogg"})
        await response.prepare(request)
        served.append(1)
        for page in headers:
            await response.write(page)
        rounds, now = divmod(loop.time() - on_air, period)
        index = next((i for i, (at, _) in enumerate(audio) if at >= now), 0)
        with contextlib.suppress(ConnectionResetError):  # the room stopped reading: the test is over
            while True:
                at, page = audio[index]
                due = on_air + rounds * period + at
                if len(served) == 1 and due - on_air > 2.6:
                    return response  # the first connection drops in the middle of the first tone
                await asyncio.sleep(max(0.0, due - loop.time()))
                await response.write(page)
                index += 1
                if index == len(audio):
                    index, rounds = 0, rounds + 1
        return response

    app = web.Application()
    app.router.add_get("/live.ogg", live)
    runner, base = await serve(app)
    try:
        async with published_room({"audio.input": f"{base}/live.ogg"}) as server:
            await until(lambda: server.room.input_report().detail.startswith("reconnecting"), 15)
            dropped = server.room.input_report()
            received = await (await tone_listener(server))
            after = server.room.input_report()
    finally:
        await runner.cleanup()
    assert dropped.state == "running", "the room never failed"
    assert_heard_the_tones(received)
    assert after.detail == "live" and len(served) >= 2


async def test_one_channel_of_a_stereo_stream_is_taken_alone(tmp_path: Path) -> None:
    seconds = np.arange(48_000 * 3) / 48_000
    stereo = np.stack([np.sin(2 * np.pi * 300 * seconds), np.sin(2 * np.pi * 500 * seconds)], axis=1) * 0.3
    path = tmp_path / "desk.wav"
    soundfile.write(str(path), stereo, 48_000, subtype="PCM_16")
    app = web.Application()
    app.router.add_get("/desk.wav", lambda _: web.Response(body=path.read_bytes(), content_type="audio/wav"))
    runner, base = await serve(app)
    heard = {}
    try:
        for channel in (1, 2):
            async with PulledSource(f"{base}/desk.wav", channel=channel) as source:
                frames = []
                async for frame in source.frames():
                    frames.append(frame)
                    if len(frames) == 100:
                        break
            pcm = np.frombuffer(b"".join(frames[25:]), dtype="<i2").astype(np.float64)
            heard[channel] = round(np.argmax(np.abs(np.fft.rfft(pcm))) * 24_000 / len(pcm) / 50) * 50
    finally:
        await runner.cleanup()
    assert heard == {1: 300, 2: 500}


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs Debian's ffmpeg (system-packages.txt)")
async def test_an_srt_stream_an_encoder_listens_with_is_read_through_ffmpeg(tmp_path: Path) -> None:
    talk = three_turns(tmp_path / "talk.wav")
    port = free_udp_port()
    secret = "srt-stream-passphrase"
    # An encoder that listens (SRT's listener mode) with a passphrase; the room calls it.
    encoder = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1",
        "-i", str(talk), "-c:a", "aac", "-f", "mpegts",
        f"srt://127.0.0.1:{port}?mode=listener&passphrase={secret}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"srt://127.0.0.1:{port}?passphrase={secret}"
        async with published_room({"audio.input": url}) as server:
            received = await (await tone_listener(server))
            report = server.room.input_report()
    finally:
        encoder.kill()
        await encoder.wait()
    assert_heard_the_tones(received)
    assert report.description == f"stream srt://127.0.0.1:{port}" and report.detail == "live"
