"""A stream the service reads itself (``audio.input`` a URL): an Icecast or HLS stream, RTMP, RTSP or
SRT from a media server or an encoder, a recording on a web server. FFmpeg (through PyAV) reads and
decodes it in a thread of its own (SRT: the ffmpeg program, `ffmpeg_reader`); its audio goes
through a jitter buffer onto the talk's clock, as a publisher's does. A stream that drops or cannot
be opened is waited for and opened again, with back-off; the room hears silence meanwhile and says
why.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import av
import numpy as np

from translator.audio.ffmpeg_reader import FfmpegReader
from translator.audio.format import SAMPLE_RATE, to_pcm16
from translator.audio.jitter import BufferedSource
from translator.errors import SourceError
from translator.printable import printable, shown_url

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
"""How long opening or reading the stream may take before it counts as dropped."""
RETRY_S = (1.0, 2.0, 5.0, 10.0)
"""Waits between attempts to open it again, the last repeated."""
AHEAD_S = 0.5
"""How far ahead of real time a stream that is not live (a file on a server) is read."""


class PulledSource(BufferedSource):
    """Frames of a stream read from ``url`` (only ``channel``, from 1, when given)."""

    def __init__(self, url: str, channel: int | None = None) -> None:
        super().__init__()
        self.url = url
        self.channel = channel
        self.description = f"stream {shown_url(url)}"
        self.state = "waiting for the stream"
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def detail(self) -> str:
        return self.state

    async def open(self) -> None:
        self._closed.clear()
        self._stop.clear()
        self._task = asyncio.create_task(self._keep_reading(), name="input-stream")

    async def close(self) -> None:
        self._closed.set()
        self._stop.set()
        if self._task is not None:
            # The reading thread sees the stop between packets, or its read times out.
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _keep_reading(self) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0

        def deliver(pcm: bytes) -> None:
            loop.call_soon_threadsafe(self.buffer.push, pcm)

        while not self._closed.is_set():
            try:
                if self.url.lower().startswith("srt:"):
                    got_audio, why = await self._read_with_ffmpeg()
                else:
                    got_audio = await asyncio.shield(asyncio.to_thread(self._read, deliver))
                    why = "the stream ended"
            except asyncio.CancelledError:
                self._stop.set()
                raise
            except (av.FFmpegError, OSError, SourceError) as exc:
                got_audio = False
                why = printable(str(exc), limit=120)
            self.buffer.end()
            if self._closed.is_set():
                return
            attempt = 0 if got_audio else attempt + 1
            wait = RETRY_S[min(attempt, len(RETRY_S) - 1)]
            self.state = f"reconnecting in {wait:.0f} s ({why})"
            log.warning("%s: %s; opening it again in %.0f s", self.description, why, wait)
            await asyncio.sleep(wait)

    async def _read_with_ffmpeg(self) -> tuple[bool, str]:
        """Read an SRT stream through the ffmpeg program until it ends: whether any audio came, and why
        it ended."""
        got = False
        async with FfmpegReader(self.url, self.channel) as reader:
            async for pcm in reader.chunks():
                self.buffer.push(pcm)
                if not got:
                    got = True
                    self.state = "live"
            return got, await reader.why_it_ended()

    def _read(self, deliver: Callable[[bytes], None]) -> bool:
        """Read the stream until it ends, fails or the source closes (in a thread); whether any audio
        came."""
        got = False
        with av.open(self.url, timeout=(TIMEOUT_S, TIMEOUT_S)) as container:
            if not container.streams.audio:
                raise OSError("the stream carries no audio")
            stream = container.streams.audio[0]
            layout = "mono" if self.channel is None else stream.layout.name
            resampler = av.AudioResampler(
                format="s16" if self.channel is None else "fltp", layout=layout, rate=SAMPLE_RATE
            )
            if self.channel is not None and self.channel > stream.channels:
                raise OSError(
                    f"audio.channel is {self.channel}, but the stream has {stream.channels} channel(s)"
                )
            began = time.monotonic()
            first: float | None = None
            for frame in container.decode(stream):
                if self._stop.is_set():
                    break
                if frame.time is not None:
                    # A stream that is not live (a file on a server) is read no faster than it plays.
                    first = frame.time if first is None else first
                    ahead = (frame.time - first) - (time.monotonic() - began) - AHEAD_S
                    if ahead > 0:
                        self._stop.wait(ahead)
                for out in resampler.resample(frame):
                    deliver(self._pcm(out))
                if not got:
                    got = True
                    self.state = "live"
        return got

    def _pcm(self, frame: av.AudioFrame) -> bytes:
        if self.channel is None:
            return bytes(frame.planes[0])[: frame.samples * 2]
        samples: np.ndarray = frame.to_ndarray()[self.channel - 1]
        return to_pcm16(samples)
