"""The pipeline's audio format: resampling gives the same bytes for the same input, every run."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from translator.audio import FRAME_BYTES, Resampler, to_pcm16
from translator.audio.format import from_pcm16

# A 440 Hz tone between two stretches of digital silence, resampled frame by frame like the engine
# does (every third 20 ms frame of 24 kHz → 16 kHz returns no samples: soxr's delay).
_RESAMPLE = """
import hashlib, sys
import numpy as np
from translator.audio import FRAME_BYTES, Resampler, to_pcm16
t = np.arange(24_000) / 24_000
signal = np.concatenate([np.zeros(12_000), 0.3 * np.sin(2 * np.pi * 440 * t), np.zeros(12_000)])
pcm = to_pcm16(signal)
for rate in (16_000, 48_000):
    resampler = Resampler(24_000, rate)
    out = b"".join(resampler.feed(pcm[i : i + FRAME_BYTES]) for i in range(0, len(pcm), FRAME_BYTES))
    print(hashlib.sha1(out + resampler.flush()).hexdigest())
"""


def test_the_same_audio_resamples_to_the_same_bytes_whatever_the_memory_holds() -> None:
    # MALLOC_PERTURB_ fills freed and fresh memory with a different byte in each process: soxr's
    # int16 dither read such memory and gave 30 different streams for 30 values.
    outputs = set()
    for perturb in ("0", "7", "85", "170", "255"):
        env = {**os.environ, "MALLOC_PERTURB_": perturb}
        result = subprocess.run(
            [sys.executable, "-c", _RESAMPLE], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1, outputs


def test_silence_stays_silent_and_speech_keeps_its_level() -> None:
    silence = bytes(FRAME_BYTES * 50)
    resampler = Resampler(24_000, 16_000)
    assert not np.any(resampler.feed_float(silence))
    t = np.arange(24_000) / 24_000
    tone = to_pcm16(0.5 * np.sin(2 * np.pi * 440 * t))
    out = Resampler(24_000, 16_000).feed_float(tone)
    assert 15_500 <= len(out) <= 16_000  # the rest is still inside soxr's filter
    assert abs(np.sqrt(np.mean(out[1000:-1000] ** 2)) - 0.5 / np.sqrt(2)) < 0.005


def test_pcm16_round_trips_exactly() -> None:
    samples = np.arange(-32768, 32768, 7, dtype="<i2").tobytes()
    assert to_pcm16(from_pcm16(samples)) == samples
    assert to_pcm16(np.array([1.5, -1.5, 0.49 / 32768])) == np.array([32767, -32768, 0], "<i2").tobytes()
