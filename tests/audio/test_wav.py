"""WAV input: any common format becomes 24 kHz mono PCM16, paced in real time; bad files are named."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import soundfile

from translator.audio import FRAME_BYTES, SAMPLE_RATE, Framer
from translator.audio.wav import WavSource, read_wav
from translator.errors import SourceError


@pytest.mark.parametrize(
    ("rate", "channels", "subtype"),
    [(44100, 2, "FLOAT"), (16000, 1, "PCM_16"), (48000, 2, "PCM_24"), (24000, 1, "PCM_16")],
)
def test_formats_convert_to_24k_mono_pcm16(tmp_path: Path, rate: int, channels: int, subtype: str) -> None:
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "tone.wav"
    soundfile.write(str(path), np.stack([tone] * channels, axis=1), rate, subtype=subtype)
    pcm = np.frombuffer(read_wav(path), dtype="<i2")
    assert abs(len(pcm) - SAMPLE_RATE) <= 2
    spectrum = np.abs(np.fft.rfft(pcm[1000:-1000]))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / (len(pcm) - 2000)
    assert abs(peak_hz - 440) < 3
    assert 0.45 < np.abs(pcm).max() / 32767 < 0.55


def test_bad_files_are_named(tmp_path: Path) -> None:
    text = tmp_path / "slides.wav"
    text.write_text("not audio")
    with pytest.raises(SourceError, match=r"slides\.wav: not a readable WAV file"):
        read_wav(text)
    flac = tmp_path / "talk.flac"
    soundfile.write(str(flac), np.zeros(1000), 16000)
    with pytest.raises(SourceError, match=r"talk\.flac: not a WAV file \(it is FLAC"):
        read_wav(flac)
    with pytest.raises(SourceError, match=r"absent\.wav: no such file"):
        read_wav(tmp_path / "absent.wav")


async def test_frames_are_paced_in_real_time(talk: Path) -> None:
    async with WavSource(talk, pace=2) as source:
        loop = asyncio.get_running_loop()
        start = loop.time()
        frames = [f async for f in source.frames()]
        elapsed = loop.time() - start
    assert all(len(f) == FRAME_BYTES for f in frames)
    expected = len(frames) * 0.02 / 2
    # Paced, not dumped: it takes about as long as the audio lasts (at double speed).
    assert elapsed >= expected * 0.9


def test_framer_keeps_the_remainder() -> None:
    framer = Framer(4)
    assert framer.feed(b"abcdef") == [b"abcd"]
    assert framer.feed(b"gh") == [b"efgh"]
    assert framer.feed(b"i") == []
    assert framer.flush() == [b"i\0\0\0"]


def test_one_channel_of_a_multi_channel_file_is_taken_alone(tmp_path: Path) -> None:
    seconds = np.arange(48_000) / 48_000
    four = np.stack([np.sin(2 * np.pi * hz * seconds) * 0.3 for hz in (300, 400, 500, 600)], axis=1)
    path = tmp_path / "desk.wav"
    soundfile.write(str(path), four, 48_000, subtype="PCM_16")
    peaks = []
    for channel in (1, 3):
        pcm = np.frombuffer(read_wav(path, channel), dtype="<i2").astype(np.float64)
        peaks.append(round(np.argmax(np.abs(np.fft.rfft(pcm))) * SAMPLE_RATE / len(pcm)))
    assert peaks == [300, 500]
    with pytest.raises(SourceError, match="audio.channel is 5, but the file has 4 channel"):
        read_wav(path, 5)
