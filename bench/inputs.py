"""Each way of bringing the talk in, measured: sound made → frame to the engines.

One room (the Voice Live test server as its engine: the engine is not measured), its input tapped
where the engines get it. A sender makes a 50 ms click every second, in real time, and notes when
each click's first sample was made; the tap notes when the click's first frame reaches the
engines, on the same clock (one process). Side by side, in one run:

- a local WAV file (the baseline: no input path at all);
- the speaker page's protocol (``/ws/publish``, 40 ms chunks of PCM over loopback), on a clean
  network and on one that holds audio back up to 300 ms at a time (a hotel's Wi-Fi);
- WHIP (aiortc as the encoder, as OBS would be: Opus over WebRTC on loopback);
- RTMP and SRT (Debian's ffmpeg as the encoder: AAC, pushed to the RTMP port, calling the SRT one);
- the same speaker-page input behind a failover (``audio.backup``), nothing failing.

Then the jitter buffer's own cost: CPU per 20 ms frame pushed and taken, beside copying the frame.

    python -m bench.inputs --out bench/results/inputs.md
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import av
import httpx
import numpy as np
import soundfile
import websockets
from aiortc import AudioStreamTrack, RTCPeerConnection, RTCSessionDescription

from bench.report import publish
from harness.live import HeldSource, LiveServer, free_udp_port, live_server
from harness.voicelive_server import FakeVoiceLive
from translator.audio.format import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE
from translator.audio.jitter import JitterBuffer
from translator.audio.levels import level_dbfs
from translator.audio.source import AudioSource
from translator.audio.wav import WavSource
from translator.config import load_settings

CLICKS = 20
PERIOD_S = 1.0
CLICK_S = 0.05
LEAD_S = 2.0
"""Silence before the first click: every path is up and its buffers primed."""
CHUNK_S = 0.04
"""The speaker page's chunk (web/capture-worklet.js)."""


def click_train() -> np.ndarray:
    """LEAD_S of silence, then a 50 ms 1 kHz click every PERIOD_S, as 24 kHz mono PCM16 samples."""
    samples = np.zeros(int((LEAD_S + CLICKS * PERIOD_S + 1) * SAMPLE_RATE), dtype=np.int16)
    seconds = np.arange(int(CLICK_S * SAMPLE_RATE)) / SAMPLE_RATE
    burst = (np.sin(2 * np.pi * 1000 * seconds) * 16000).astype(np.int16)
    for k in range(CLICKS):
        at = int((LEAD_S + k * PERIOD_S) * SAMPLE_RATE)
        samples[at : at + len(burst)] = burst
    return samples


def click_times(began: float) -> list[float]:
    return [began + LEAD_S + k * PERIOD_S for k in range(CLICKS)]


class Tap:
    """When each click's first loud frame reached the engines."""

    def __init__(self) -> None:
        self.onsets: list[float] = []
        self._loud = False

    def __call__(self, frame: bytes) -> None:
        loud = level_dbfs(frame) > -30
        if loud and not self._loud:
            self.onsets.append(time.monotonic())
        self._loud = loud


def delays(made: list[float], heard: list[float]) -> list[float]:
    """Each click's delay: the first onset heard after it was made (within half a period)."""
    found = []
    for at in made:
        later = [h - at for h in heard if 0 <= h - at < PERIOD_S / 2]
        if later:
            found.append(later[0])
    return found


Sender = Callable[[LiveServer], Awaitable[float]]


async def measure(overrides: dict[str, object], send: Sender, source: AudioSource | None = None) -> dict:
    """Run one room with ``overrides`` (or ``source``); ``send`` makes the clicks and answers
    when it began."""
    async with FakeVoiceLive() as voicelive:
        settings = load_settings(
            env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "bench-inputs"},
            overrides={"targets": ["es"], "engine": "voicelive", "azure.model": "gpt-4.1", **overrides},
        )
        async with live_server(settings, source) as server:
            assert server.room.pipeline is not None, "a started room has its pipeline"
            tap = Tap()
            server.room.pipeline.floor_taps.append(tap)
            began = await send(server)
            report = server.room.input_report()
    got = delays(click_times(began), tap.onsets)
    return {"delays": got, "heard": len(got), "gaps": report.network.gaps if report.network else 0}


def from_file(held: HeldSource) -> Sender:
    async def send(server: LiveServer) -> float:
        # The file starts when released: its clicks' times count from then.
        began = time.monotonic()
        held.release()
        await asyncio.sleep(LEAD_S + CLICKS * PERIOD_S + 1)
        return began

    return send


def over_websocket(samples: np.ndarray, stalls: bool) -> Sender:
    async def send(server: LiveServer) -> float:
        chance = random.Random(11)
        ws = await websockets.connect(f"{server.ws}/ws/publish/main")
        await ws.send(json.dumps({"type": "publish", "key": server.room.publish_key, "who": "bench"}))
        await ws.recv()
        loop = asyncio.get_running_loop()
        chunk = int(CHUNK_S * SAMPLE_RATE)
        pcm = samples.tobytes()
        began = loop.time()
        held_until = began
        for k in range(len(samples) // chunk):
            # A chunk leaves once its last sample has been made (as the page's worklet sends it).
            await asyncio.sleep(max(0.0, began + (k + 1) * CHUNK_S - loop.time()))
            if stalls and loop.time() >= held_until and chance.random() < 0.02:
                held_until = loop.time() + chance.uniform(0.1, 0.3)
            if loop.time() < held_until:
                await asyncio.sleep(held_until - loop.time())
            await ws.send(pcm[k * chunk * 2 : (k + 1) * chunk * 2])
        await ws.close()
        return began

    return send


class ClickTrack(AudioStreamTrack):
    """The click train as an encoder's audio track, made in real time, 20 ms a frame."""

    def __init__(self, samples: np.ndarray) -> None:
        super().__init__()
        self.samples = samples
        self.index = 0
        self.began = 0.0
        self.started = asyncio.Event()

    async def recv(self) -> av.AudioFrame:
        loop = asyncio.get_running_loop()
        if not self.started.is_set():
            self.began = loop.time()
            self.started.set()
        # A frame goes to the encoder once its last sample has been made.
        await asyncio.sleep(
            max(0.0, self.began + (self.index + 1) * FRAME_SAMPLES / SAMPLE_RATE - loop.time())
        )
        chunk = self.samples[self.index * FRAME_SAMPLES : (self.index + 1) * FRAME_SAMPLES]
        if len(chunk) < FRAME_SAMPLES:
            chunk = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self.index * FRAME_SAMPLES
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self.index += 1
        return frame


def over_whip(samples: np.ndarray) -> Sender:
    async def send(server: LiveServer) -> float:
        track = ClickTrack(samples)
        pc = RTCPeerConnection()
        pc.addTransceiver(track, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        async with httpx.AsyncClient(base_url=server.url) as client:
            answer = await client.post(
                "/whip",
                content=pc.localDescription.sdp,
                headers={
                    "Content-Type": "application/sdp",
                    "Authorization": f"Bearer {server.room.publish_key}",
                },
            )
        await pc.setRemoteDescription(RTCSessionDescription(answer.text, "answer"))
        await track.started.wait()
        await asyncio.sleep(LEAD_S + CLICKS * PERIOD_S + 1)
        await pc.close()
        return track.began

    return send


LOW_DELAY_TS = ["-pes_payload_size", "0", "-muxdelay", "0", "-muxpreload", "0"]
"""ffmpeg's MPEG-TS otherwise packs 180 ms of AAC a packet and stamps it 0.7 s ahead: SRT then
delivers it in 400 ms bursts, and the jitter buffer's margin grows to hold them (~0.5 s more)."""


def over_ffmpeg(samples: np.ndarray, kind: str) -> Sender:
    """Debian's ffmpeg as the encoder (AAC), pushing RTMP (FLV) or calling SRT (MPEG-TS); the
    clicks are written to its input in real time, 20 ms at a time."""

    async def send(server: LiveServer) -> float:
        key = server.room.publish_key
        if kind == "rtmp":
            url, container = f"rtmp://127.0.0.1:{server.rooms.settings.server.rtmp_port}/live/{key}", "flv"
        else:
            url, container = f"srt://127.0.0.1:{server.rooms.srt_ports['main']}?passphrase={key}", "mpegts"
        encoder = await asyncio.create_subprocess_exec(
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
            # Raw input needs no probing: without these, ffmpeg holds back seconds before sending.
            "-probesize", "32", "-analyzeduration", "0",
            "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0",
            "-c:a", "aac", *(LOW_DELAY_TS if container == "mpegts" else []),
            "-f", container, "-flush_packets", "1", url,
            stdin=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert encoder.stdin is not None
        loop = asyncio.get_running_loop()
        began = loop.time()
        for k in range(len(samples) // FRAME_SAMPLES):
            # A frame goes to the encoder once its last sample has been made.
            await asyncio.sleep(max(0.0, began + (k + 1) * FRAME_SAMPLES / SAMPLE_RATE - loop.time()))
            encoder.stdin.write(samples[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES].tobytes())
            await encoder.stdin.drain()
        encoder.stdin.close()
        await encoder.wait()
        return began

    return send


def jitter_cost() -> tuple[float, float]:
    """µs per 20 ms frame: pushed into and taken from the jitter buffer; copied (the baseline)."""
    frame = (np.sin(np.arange(FRAME_SAMPLES) / 5) * 8000).astype("<i2").tobytes()
    buffer = JitterBuffer()
    for _ in range(10):
        buffer.push(frame)
    rounds = 20_000
    began = time.process_time()
    for _ in range(rounds):
        buffer.push(frame)
        buffer.take()
    cost = (time.process_time() - began) / rounds * 1e6
    began = time.process_time()
    for _ in range(rounds):
        bytearray(frame)[:FRAME_BYTES]
    copy = (time.process_time() - began) / rounds * 1e6
    return cost, copy


def row(name: str, result: dict) -> str:
    got = sorted(result["delays"])
    if not got:
        return f"| {name} | 0/{CLICKS} | – | – | – | {result['gaps']} |"
    p95 = got[min(len(got) - 1, int(0.95 * len(got)))]
    return (
        f"| {name} | {result['heard']}/{CLICKS} | {statistics.median(got) * 1000:.0f} | "
        f"{p95 * 1000:.0f} | {max(got) * 1000:.0f} | {result['gaps']} |"
    )


async def main(out: Path) -> int:
    samples = click_train()
    folder = Path(tempfile.mkdtemp(prefix="bench-inputs-"))
    wav = folder / "clicks.wav"
    soundfile.write(str(wav), samples, SAMPLE_RATE, subtype="PCM_16")
    # The backup hears a quiet hall (-66 dBFS): with nothing failing, the primary carries the talk.
    hall = folder / "hall.wav"
    soundfile.write(str(hall), np.random.default_rng(3).normal(0, 0.0005, SAMPLE_RATE * 5), SAMPLE_RATE)
    held = HeldSource(WavSource(wav))
    rows = [
        ("local WAV file (baseline)", await measure({}, from_file(held), held)),
        (
            "speaker page protocol, clean loopback",
            await measure({"audio.input": "publish"}, over_websocket(samples, False)),
        ),
        (
            "speaker page protocol, stalls up to 300 ms",
            await measure({"audio.input": "publish"}, over_websocket(samples, True)),
        ),
        ("WHIP (aiortc encoder, Opus)", await measure({"audio.input": "publish"}, over_whip(samples))),
        (
            "RTMP (ffmpeg encoder, AAC in FLV)",
            await measure({"audio.input": "publish"}, over_ffmpeg(samples, "rtmp")),
        ),
        (
            "SRT (ffmpeg encoder, AAC in MPEG-TS, SRT's 120 ms latency)",
            await measure(
                {"audio.input": "publish", "server.srt_port": free_udp_port()}, over_ffmpeg(samples, "srt")
            ),
        ),
        (
            "speaker page behind a failover (nothing failing)",
            await measure(
                {"audio.input": "publish", "audio.backup": {"input": str(hall), "loop": True}},
                over_websocket(samples, False),
            ),
        ),
    ]
    cost, copy = jitter_cost()
    lines = [
        "# Inputs: sound made → frame to the engines",
        "",
        f"{CLICKS} clicks (50 ms at 1 kHz, one a second) per input, sent in real time; the delay",
        "from each click's first sample being made to its first frame reaching the engines (one",
        "process, one clock). `python -m bench.inputs`. The network's own transit is loopback here:",
        "add the real path's (a venue LAN: ~1 ms; a continent: 20–80 ms).",
        "",
        "| input | clicks heard | p50 ms | p95 ms | max ms | times the buffer ran dry |",
        "|---|---|---|---|---|---|",
        *(row(name, result) for name, result in rows),
        "",
        "The speaker page's own capture (the browser's audio callback and its 40 ms chunks) adds to",
        "the page rows: the 40 ms chunk is counted (a click's chunk leaves when its last sample is",
        "made); the browser's capture latency (~10–20 ms in Chromium) is not. A backup behind a",
        "failover runs through a second jitter buffer: its cost shows in the last row.",
        "",
        "## The jitter buffer's cost",
        "",
        "| per 20 ms frame | CPU µs |",
        "|---|---|",
        f"| pushed and taken (resampled by the clock correction) | {cost:.1f} |",
        f"| copied (baseline) | {copy:.1f} |",
        "",
        f"At 50 frames a second that is {cost * 50 / 1e4:.3f} % of a core per network input.",
        "",
    ]
    return publish(out, "\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/inputs.md"))
    raise SystemExit(asyncio.run(main(parser.parse_args().out)))
