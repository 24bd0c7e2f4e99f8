"""Audio sources: everything the engines hear is 24 kHz mono PCM16 in 20 ms frames."""

from translator.audio.format import (
    FRAME_BYTES,
    FRAME_MS,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    Framer,
    Resampler,
    to_pcm16,
)
from translator.audio.inputs import open_source
from translator.audio.source import AudioSource

__all__ = [
    "FRAME_BYTES",
    "FRAME_MS",
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "AudioSource",
    "Framer",
    "Resampler",
    "open_source",
    "to_pcm16",
]
