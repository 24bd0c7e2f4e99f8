"""How loud a frame is: the input meter, the floor's pauses and the engines' speech detection."""

from __future__ import annotations

import math

import numpy as np

SILENCE_DBFS = -100.0
"""The level of digital silence."""
LOUD_DBFS = -50.0
"""Louder than this is someone speaking on the floor (a microphone's room noise sits below)."""


def level_dbfs(pcm: bytes) -> float:
    """RMS level of PCM16 audio in dB below full scale (``SILENCE_DBFS`` for digital silence)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    rms = float(np.sqrt(np.mean(samples * samples))) if len(samples) else 0.0
    return max(SILENCE_DBFS, 20 * math.log10(rms / 32768)) if rms else SILENCE_DBFS
