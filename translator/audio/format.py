"""The one audio format of the pipeline, and I/O-free converters into it (``feed()`` / ``flush()``)."""

from __future__ import annotations

import numpy as np
import soxr

SAMPLE_RATE = 24_000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2


def to_pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] to little-endian PCM16 bytes: rounded, clipped, never dithered.

    No dither, so that the same input always gives the same bytes and silence stays silent.
    """
    return np.clip(np.rint(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()


def from_pcm16(pcm: bytes) -> np.ndarray:
    """Little-endian PCM16 bytes to float32 samples in [-1, 1) (the inverse of `to_pcm16`)."""
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


class Framer:
    """Cuts a byte stream into fixed-size frames; keeps the remainder for the next feed."""

    def __init__(self, frame_bytes: int = FRAME_BYTES) -> None:
        self._frame_bytes = frame_bytes
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return every whole frame now available."""
        self._pending += data
        whole = len(self._pending) - len(self._pending) % self._frame_bytes
        frames = [bytes(self._pending[i : i + self._frame_bytes]) for i in range(0, whole, self._frame_bytes)]
        del self._pending[:whole]
        return frames

    def flush(self) -> list[bytes]:
        """The remainder padded with silence to a whole frame (nothing if empty)."""
        if not self._pending:
            return []
        frame = bytes(self._pending) + bytes(self._frame_bytes - len(self._pending))
        self._pending.clear()
        return [frame]


class Resampler:
    """Streaming PCM16 mono resampler (soxr) from ``rate_in`` to ``rate_out``; pass-through when equal.

    Deterministic: soxr works on floats here, because its int16 output is dithered with noise that
    differs from run to run (and turns digital silence into noise); `to_pcm16` rounds instead.
    """

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE) -> None:
        self._stream = (
            None if rate_in == rate_out else soxr.ResampleStream(rate_in, rate_out, 1, dtype="float32")
        )

    def feed_float(self, pcm: bytes) -> np.ndarray:
        """Resample a chunk of PCM16 to float32 samples; may return fewer samples than an exact ratio
        (soxr's delay)."""
        samples = from_pcm16(pcm)
        return samples if self._stream is None else self._stream.resample_chunk(samples)

    def feed(self, pcm: bytes) -> bytes:
        """Resample a chunk of PCM16 to PCM16."""
        return pcm if self._stream is None else to_pcm16(self.feed_float(pcm))

    def flush(self) -> bytes:
        """The samples still inside the filter."""
        if self._stream is None:
            return b""
        return to_pcm16(self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
