"""Opus (libopus inside PyAV's wheel): one encoder per language, shared by all its listeners; a
decoder per publisher that sends Opus."""

from __future__ import annotations

import av
import numpy as np

from translator.audio.format import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE, Framer, to_pcm16

OPUS_BITRATE = 24_000


class OpusEncoder:
    """24 kHz mono PCM16 in, one Opus packet per 20 ms out (``feed()``, then ``flush()`` once)."""

    def __init__(self, bitrate: int = OPUS_BITRATE) -> None:
        self._codec = av.CodecContext.create("libopus", "w")
        self._codec.sample_rate = SAMPLE_RATE
        self._codec.layout = "mono"
        self._codec.format = "s16"
        self._codec.bit_rate = bitrate
        self._codec.open()
        self._framer = Framer(FRAME_BYTES)
        self._pts = 0

    def feed(self, pcm: bytes) -> list[bytes]:
        """Packets for every whole 20 ms frame now available."""
        return [packet for frame in self._framer.feed(pcm) for packet in self._encode(frame)]

    def flush(self) -> list[bytes]:
        """The last partial frame, padded with silence, and what libopus still holds in its lookahead.

        The stream ends here: the encoder takes nothing after it.
        """
        packets = [packet for frame in self._framer.flush() for packet in self._encode(frame)]
        return packets + [bytes(packet) for packet in self._codec.encode(None)]

    def _encode(self, pcm: bytes) -> list[bytes]:
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        self._pts += FRAME_SAMPLES
        return [bytes(packet) for packet in self._codec.encode(frame)]


OPUS_RATE = 48_000
"""What an Opus decoder gives, whatever the sender encoded at."""


class OpusDecoder:
    """One sender's Opus packets in, mono PCM16 at `OPUS_RATE` out (a packet that is not Opus raises
    ``ValueError``)."""

    def __init__(self) -> None:
        self._codec = av.CodecContext.create("opus", "r")
        self._codec.sample_rate = OPUS_RATE
        self._codec.layout = "mono"

    def decode(self, packet: bytes) -> bytes:
        """The packet's audio."""
        try:
            frames = self._codec.decode(av.Packet(packet))
        except av.FFmpegError as exc:
            raise ValueError(f"not an Opus packet ({exc})") from None
        return b"".join(to_pcm16(frame.to_ndarray().reshape(-1)) for frame in frames)
