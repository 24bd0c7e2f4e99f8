"""The input the settings ask for."""

from __future__ import annotations

from translator.audio.published import PublishedSource
from translator.audio.source import AudioSource
from translator.config import AudioConfig, is_stream


def uses_publisher(config: AudioConfig) -> bool:
    """Whether the input, or its backup, is a publisher over the network."""
    return config.input == "publish" or (config.backup is not None and config.backup.input == "publish")


def open_source(config: AudioConfig, published: PublishedSource | None = None) -> AudioSource:
    """The source the settings ask for: a sound device, a WAV file, or ``published`` (the room's
    publisher, kept across its restarts); with a backup, both behind a failover."""
    primary = _one(config, published)
    if config.backup is None:
        return primary
    from translator.audio.failover import FailoverSource

    backup = _one(config.backup, published)
    return FailoverSource(primary, backup, config.failover_s, config.failback_s)


def _one(config: AudioConfig, published: PublishedSource | None) -> AudioSource:
    if config.input == "publish":
        assert published is not None, "a published input is the room's own"
        return published
    if is_stream(config.input):
        from translator.audio.pulled import PulledSource

        return PulledSource(config.input, channel=config.channel)
    if config.input == "mic":
        from translator.audio.mic import MicSource

        return MicSource(config.device, channel=config.channel)
    from translator.audio.wav import WavSource

    return WavSource(config.input, loop=config.loop, channel=config.channel)
