"""Streams only the ``ffmpeg`` program reads: SRT (PyAV's FFmpeg is built without libsrt; Debian's
has it), pulled as a caller or taken as a listener. The process decodes to mono PCM16 at the
talk's rate on its standard output; it is a subprocess (started as every child is, `processes.py`),
so nothing of it runs on the event loop.

The URL carries the stream's passphrase: what the process says is shown without it.
"""

from __future__ import annotations

import asyncio
import collections
import shutil
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlsplit

from translator.audio.format import SAMPLE_RATE
from translator.config import SRT_NEEDS_FFMPEG
from translator.errors import SourceError
from translator.printable import printable, shown_url
from translator.processes import Child
from translator.tasks import cancel_and_wait

CHUNK_BYTES = 4800
"""100 ms at 24 kHz: what one read hands on at most."""
STOP_S = 3.0


def available() -> bool:
    """Whether the ``ffmpeg`` program is installed."""
    return shutil.which("ffmpeg") is not None


class FfmpegReader:
    """The sound of ``url`` from an ffmpeg process, for as long as the stream lasts (only
    ``channel``, from 1, when given)."""

    def __init__(self, url: str, channel: int | None = None) -> None:
        self.url = url
        self.channel = channel
        self._child: Child | None = None
        self._said: collections.deque[str] = collections.deque(maxlen=4)
        self._listening: asyncio.Task[None] | None = None
        self._odd = b""

    async def __aenter__(self) -> FfmpegReader:
        command = shutil.which("ffmpeg")
        if command is None:
            raise SourceError(SRT_NEEDS_FFMPEG)
        mix = ["-af", f"pan=mono|c0=c{self.channel - 1}"] if self.channel else ["-ac", "1"]
        self._child = await Child.start(
            [
                command, "-hide_banner", "-nostdin", "-loglevel", "error",
                # A live stream: probe half a second, not five (the sound would come in one late burst).
                "-fflags", "nobuffer", "-probesize", "32768", "-analyzeduration", "500000",
                "-i", self.url, "-vn", "-map", "0:a:0", *mix, "-ar", str(SAMPLE_RATE),
                "-f", "s16le", "-flush_packets", "1", "pipe:1",
            ],
            pipes=True,
            messages=True,
        )  # fmt: skip
        self._listening = asyncio.create_task(self._child.said(self._said), name="ffmpeg-messages")
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._child is not None:
            await self._child.end(STOP_S)
        if self._listening is not None:
            await cancel_and_wait(self._listening, STOP_S)

    async def read(self) -> bytes:
        """The next decoded sound as it comes (whole samples), empty once the stream has ended; a
        read cancelled (timed out) loses nothing."""
        assert self._child is not None and self._child.stdout is not None
        while chunk := await self._child.stdout.read(CHUNK_BYTES):
            chunk = self._odd + chunk
            cut = len(chunk) - len(chunk) % 2
            self._odd = chunk[cut:]
            if cut:
                return chunk[:cut]
        return b""

    async def chunks(self) -> AsyncIterator[bytes]:
        """Decoded sound as it comes, until the stream ends."""
        while chunk := await self.read():
            yield chunk

    async def why_it_ended(self) -> str:
        """Why the stream ended: the process's last words, without the URL's secrets."""
        assert self._child is not None and self._listening is not None
        code = await self._child.wait(STOP_S)
        await asyncio.wait({self._listening}, timeout=STOP_S)
        if not self._said:
            return "the stream ended" if code == 0 else "ffmpeg stopped"
        return printable(_without_secrets(self._said[-1], self.url), limit=160)


def _without_secrets(text: str, url: str) -> str:
    text = text.replace(url, shown_url(url))
    for _, value in parse_qsl(urlsplit(url).query):
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text
