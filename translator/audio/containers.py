"""Continuous audio streams in a container (PyAV's wheel: libopus, LAME, FFmpeg's AAC and muxers):
20 ms frames of 24 kHz mono PCM16 in, bytes out, as a radio station sends them. A client joining
at any time gets the `header`, then the bytes from then on."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import cast

import av
import numpy as np
from av.audio.stream import AudioStream

from translator.audio.format import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE


@dataclass(frozen=True)
class Container:
    """One kind of stream, named by its file extension."""

    format: str
    codec: str
    bit_rate: int
    media_type: str
    options: tuple[tuple[str, str], ...] = ()


CONTAINERS: dict[str, Container] = {
    # An Ogg page every 100 ms: a listener waits no longer for audio that was encoded.
    "ogg": Container("ogg", "libopus", 24_000, "audio/ogg", (("page_duration", "100000"),)),
    # For browsers and devices without Ogg/Opus: MP3 plays everywhere, AAC (ADTS) on Apple's.
    "mp3": Container("mp3", "libmp3lame", 32_000, "audio/mpeg"),
    "aac": Container("adts", "aac", 32_000, "audio/aac"),
}
RECORDING = Container("ogg", "libopus", 24_000, "audio/ogg", (("page_duration", "500000"),))
"""A file written as it plays: FFmpeg's Ogg muxer holds a page back until the next is full, so with
pages of 500 ms a file cut short loses at most its last second."""


class _Written(io.RawIOBase):
    """Where the muxer writes: what it wrote since the last look."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.data += data
        return len(data)

    def take(self) -> bytes:
        data, self.data = bytes(self.data), bytearray()
        return data


class StreamEncoder:
    """Frames in (`feed`), the container's bytes out; `header` goes first to every client."""

    def __init__(self, container: Container, metadata: dict[str, str] | None = None) -> None:
        self.media_type = container.media_type
        self._written = _Written()
        self._output = av.open(self._written, "w", format=container.format, options=dict(container.options))
        self._stream = cast(AudioStream, self._output.add_stream(container.codec, rate=SAMPLE_RATE))
        self._stream.layout = "mono"
        self._stream.bit_rate = container.bit_rate
        self._output.metadata.update(metadata or {})
        self._pts = 0
        self._output.start_encoding()
        self.header = self._written.take()

    def feed(self, frame: bytes) -> bytes:
        """One 20 ms frame; the bytes completed by it (often none: an Ogg page holds 100 ms)."""
        assert len(frame) == FRAME_BYTES
        samples = np.frombuffer(frame, dtype="<i2").reshape(1, -1)
        audio = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        audio.sample_rate = SAMPLE_RATE
        audio.pts = self._pts
        self._pts += FRAME_SAMPLES
        for packet in self._stream.encode(audio):
            self._output.mux(packet)
        return self._written.take()

    def close(self) -> bytes:
        """End the stream; its last bytes."""
        self._output.close()
        return self._written.take()
