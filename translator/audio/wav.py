"""A WAV file played in real time, as if someone were speaking it into a microphone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import soundfile
import soxr

from translator.audio.format import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, Framer, to_pcm16
from translator.audio.source import AudioSource
from translator.errors import SourceError


def read_wav(path: str | Path, channel: int | None = None) -> bytes:
    """Read a WAV file of any common rate, channel count and sample type as 24 kHz mono PCM16: its
    channels mixed, or only ``channel`` (counted from 1, as on a mixing desk).

    Raises SourceError naming the file and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    try:
        info = soundfile.info(str(path))
        if info.format != "WAV" and info.format != "WAVEX":
            raise SourceError(f"{path}: not a WAV file (it is {info.format_info})")
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as exc:
        raise SourceError(f"{path}: not a readable WAV file ({exc.error_string})") from None
    if samples.shape[0] == 0:
        raise SourceError(f"{path}: the file holds no audio")
    if channel is not None and channel > samples.shape[1]:
        raise SourceError(
            f"{path}: audio.channel is {channel}, but the file has {samples.shape[1]} channel(s)"
        )
    mono = samples.mean(axis=1) if channel is None else samples[:, channel - 1]
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE)
    return to_pcm16(mono)


class WavSource(AudioSource):
    """Frames of a WAV file paced at real time; ``loop`` repeats it (with a second of silence between)."""

    def __init__(
        self, path: str | Path, *, loop: bool = False, pace: float = 1.0, channel: int | None = None
    ) -> None:
        self.path = Path(path)
        self.loop = loop
        self.pace = pace
        self.channel = channel
        which = "" if channel is None else f", channel {channel}"
        self.description = f"WAV file {self.path.name}{which}"
        self._frames: list[bytes] = []

    async def open(self) -> None:
        """Read and convert the whole file up front, so that a bad file fails at start-up."""
        pcm = await asyncio.to_thread(read_wav, self.path, self.channel)
        framer = Framer()
        self._frames = framer.feed(pcm) + framer.flush()

    async def frames(self) -> AsyncIterator[bytes]:
        """Yield the file's frames at real-time pace (``pace`` > 1 plays faster, for tests)."""
        loop = asyncio.get_running_loop()
        interval = FRAME_MS / 1000 / self.pace
        gap = [bytes(FRAME_BYTES)] * (1000 // FRAME_MS) if self.loop else []
        start = loop.time()
        sent = 0
        while True:
            for frame in self._frames + gap:
                # Sleep to an absolute schedule so that timer jitter never accumulates into drift.
                delay = start + sent * interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent += 1
                yield frame
            if not self.loop:
                return
