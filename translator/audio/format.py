"""The one audio format of the pipeline, and I/O-free converters into it (``feed()`` / ``flush()``)."""

from __future__ import annotations

import numpy as np
import soxr

SAMPLE_RATE = 24_000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2


def to_pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] to little-endian PCM16 bytes, clipped."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


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
    """Streaming PCM16 mono resampler (soxr) from ``rate_in`` to ``rate_out``; pass-through when equal."""

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE) -> None:
        self._stream = (
            None if rate_in == rate_out else soxr.ResampleStream(rate_in, rate_out, 1, dtype="int16")
        )

    def feed(self, pcm: bytes) -> bytes:
        """Resample a chunk of PCM16; may return fewer samples than an exact ratio (soxr's delay)."""
        if self._stream is None:
            return pcm
        return self._stream.resample_chunk(np.frombuffer(pcm, dtype="<i2")).tobytes()

    def flush(self) -> bytes:
        """The samples still inside the filter."""
        if self._stream is None:
            return b""
        return self._stream.resample_chunk(np.zeros(0, dtype="<i2"), last=True).tobytes()
