"""The microphone path for real: PulseAudio's null sink plays a WAV, its monitor is the microphone."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from translator.audio.mic import MicSource, list_input_devices
from translator.errors import SourceError


@pytest.fixture(scope="module")
def pulse_talk_sink(worker_id: str) -> Iterator[str]:
    """A running PulseAudio with a null sink of this test process's own, whose monitor is what the
    ``pulse`` device records here (``PULSE_SOURCE``): processes running tests side by side share
    the daemon, never a sink or the default source."""
    assert shutil.which("pulseaudio"), "install the Debian packages pulseaudio and pulseaudio-utils"
    if subprocess.run(["pulseaudio", "--check"]).returncode != 0:
        # It leaves by itself once nobody has used it for a minute: no test process stops it under
        # another's feet.
        subprocess.run(["pulseaudio", "-D", "--exit-idle-time=60"], check=True, capture_output=True)
    sink = f"talk-{worker_id}"
    module = subprocess.run(
        ["pactl", "load-module", "module-null-sink", f"sink_name={sink}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    before = os.environ.get("PULSE_SOURCE")
    os.environ["PULSE_SOURCE"] = f"{sink}.monitor"
    yield sink
    if before is None:
        del os.environ["PULSE_SOURCE"]
    else:
        os.environ["PULSE_SOURCE"] = before
    subprocess.run(["pactl", "unload-module", module])


async def test_the_microphone_captures_what_is_played(pulse_talk_sink: str, talk: Path) -> None:
    assert any(d.name == "pulse" for d in list_input_devices())
    async with MicSource("pulse") as mic:
        player = await asyncio.create_subprocess_exec("paplay", f"--device={pulse_talk_sink}", str(talk))
        frames: list[bytes] = []
        async with asyncio.timeout(20):
            async for frame in mic.frames():
                frames.append(frame)
                if len(frames) * 0.02 > 4.0:
                    break
        await player.wait()
    pcm = np.frombuffer(b"".join(frames), dtype="<i2").astype(np.float64)
    blocks = pcm[: len(pcm) // 480 * 480].reshape(-1, 480)
    loud = np.sqrt((blocks**2).mean(axis=1)) > 300
    # The talk is speech between silences: some blocks loud, some quiet, all 20 ms of 24 kHz PCM16.
    assert all(len(f) == 960 for f in frames)
    assert 0.1 < loud.mean() < 0.9


async def test_an_unknown_device_lists_the_ones_there_are() -> None:
    with pytest.raises(SourceError, match="cannot open microphone 'no-such-device' .*input devices:"):
        async with MicSource("no-such-device"):
            pass


def dominant_hz(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / 24_000)[int(np.argmax(spectrum))])


async def test_one_channel_of_a_stereo_device_is_taken_alone(pulse_talk_sink: str, tmp_path: Path) -> None:
    """A desk's feed on one input, a hall microphone on the other: 300 Hz left, 500 Hz right."""
    seconds = np.arange(48_000 * 3) / 48_000
    stereo = np.stack([np.sin(2 * np.pi * 300 * seconds), np.sin(2 * np.pi * 500 * seconds)], axis=1) * 0.3
    both = tmp_path / "two-inputs.wav"
    soundfile.write(str(both), stereo, 48_000, subtype="PCM_16")
    heard = {}
    for channel in (1, 2):
        async with MicSource("pulse", channel=channel) as mic:
            player = await asyncio.create_subprocess_exec("paplay", f"--device={pulse_talk_sink}", str(both))
            frames: list[bytes] = []
            async with asyncio.timeout(20):
                async for frame in mic.frames():
                    frames.append(frame)
                    if len(frames) * 0.02 > 2.5:
                        break
            await player.wait()
        assert mic.description.endswith(f", channel {channel}")
        heard[channel] = round(dominant_hz(b"".join(frames[25:])) / 50) * 50
    assert heard == {1: 300, 2: 500}


async def test_a_channel_the_device_does_not_have_is_refused_by_name(pulse_talk_sink: str) -> None:
    with pytest.raises(SourceError, match="audio.channel is 99, but 'pulse' has"):
        async with MicSource("pulse", channel=99):
            pass
