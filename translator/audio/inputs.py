"""The input the settings ask for."""

from __future__ import annotations

from translator.audio.source import AudioSource
from translator.config import AudioConfig


def open_source(config: AudioConfig) -> AudioSource:
    """The source the settings ask for: a WAV file or a sound device."""
    if config.input == "mic":
        from translator.audio.mic import MicSource

        return MicSource(config.device, channel=config.channel)
    from translator.audio.wav import WavSource

    return WavSource(config.input, loop=config.loop, channel=config.channel)
