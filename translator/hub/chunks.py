"""What a talk publishes of a channel's audio: typed chunks, framed later by each transport."""

from __future__ import annotations

import msgspec

from translator.audio import SAMPLE_RATE
from translator.messages import PACKET_SAMPLES, Codec


class AudioChunk(msgspec.Struct, frozen=True, array_like=True):
    """A piece of one utterance's translated audio in one codec, the same object for every listener.

    Each utterance's audio is its own stream: its chunks' ``position`` counts samples (24 kHz) from
    the utterance's start, and a last chunk with ``end`` set (and no audio) gives its whole length.
    """

    lang: str
    utterance: int
    """The caption ``id`` this audio translates."""
    position: int
    """The chunk's first sample within the utterance's audio; at the end, the utterance's length."""
    codec: Codec
    packets: list[bytes]
    """Opus: 20 ms packets, each one Opus packet. PCM: one block of 24 kHz mono PCM16."""
    seconds: float
    """How long the chunk plays: what the delivery rules count."""
    nbytes: int
    """The encoded audio's size: what a listener's queue is bounded by."""
    end: bool = False

    @classmethod
    def opus(cls, lang: str, utterance: int, position: int, packets: list[bytes]) -> AudioChunk:
        """Opus packets of 20 ms (``PACKET_SAMPLES`` each)."""
        seconds = len(packets) * PACKET_SAMPLES / SAMPLE_RATE
        return cls(lang, utterance, position, "opus", packets, seconds, sum(map(len, packets)))

    @classmethod
    def pcm(cls, lang: str, utterance: int, position: int, pcm: bytes) -> AudioChunk:
        """A block of PCM16."""
        return cls(lang, utterance, position, "pcm", [pcm], len(pcm) / 2 / SAMPLE_RATE, len(pcm))

    @classmethod
    def ending(cls, lang: str, utterance: int, length: int, codec: Codec) -> AudioChunk:
        """The end of an utterance whose audio was ``length`` samples long."""
        return cls(lang, utterance, length, codec, [], 0.0, 0, end=True)
