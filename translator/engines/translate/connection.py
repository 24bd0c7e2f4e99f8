"""One connection to gpt-realtime-translate, through the OpenAI SDK's realtime translation client.

Opening it is bounded and confirmed: the service's ``session.created`` (with ``expires_at``), our
``session.update`` (the output language, the source transcription, noise reduction) and its
``session.updated``. Running it writes the talk's audio from its start position in 200 ms appends
(the service's own frame), and silence whenever the talk has none to send (a stalled or ended
input: "keep appending silence while the session is active", or the service closes it). What comes
back goes to the language's `Segmenter`, placed on the talk's timeline by an `ElapsedClock`.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from openai import AsyncOpenAI
from openai.resources.realtime.translations.translations import AsyncTranslationsConnection
from openai.types.realtime import (
    RealtimeErrorEvent,
    RealtimeTranslationInputTranscriptDeltaEvent,
    RealtimeTranslationOutputAudioDeltaEvent,
    RealtimeTranslationOutputTranscriptDeltaEvent,
    RealtimeTranslationSessionClosedEvent,
    RealtimeTranslationSessionCreatedEvent,
    RealtimeTranslationSessionUpdatedEvent,
)

from translator.audio import FRAME_MS
from translator.audio.levels import level_dbfs
from translator.config import TranslateConfig
from translator.engines.translate.clock import ElapsedClock
from translator.engines.translate.faults import ServiceError
from translator.engines.translate.segmenter import QUIET_DBFS, Segmenter

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0
APPEND_FRAMES = 10
"""Frames per append: 200 ms, the service's frame (it waits for a whole one anyway)."""
KEEPALIVE_MS = 1000
"""With nothing to send for this long, this much silence is appended (real time, as if heard)."""

Frames = Callable[[int], tuple[int, list[bytes]]]
"""The frames kept from a talk position on, and the position of the first of them."""


def client_for(config: TranslateConfig, token: Callable[[], Awaitable[str]] | None) -> AsyncOpenAI:
    """An SDK client for the resource: the v1 API at ``<endpoint><api_path>``, with the key (sent as
    ``api-key``, as Azure documents it) or a token credential's bearer token."""
    assert config.endpoint is not None
    base = config.api_base()
    if config.api_key:
        return AsyncOpenAI(api_key=config.api_key, base_url=base, default_headers={"api-key": config.api_key})
    assert token is not None
    return AsyncOpenAI(api_key=token, base_url=base)


def session_update(target: str, config: TranslateConfig) -> dict[str, Any]:
    """The session's configuration: the output language, and what the input gets."""
    audio_input: dict[str, Any] = {}
    if config.transcription_model:
        audio_input["transcription"] = {"model": config.transcription_model}
    if config.noise_reduction != "none":
        audio_input["noise_reduction"] = {"type": config.noise_reduction}
    audio: dict[str, Any] = {"output": {"language": target}}
    if audio_input:
        audio["input"] = audio_input
    return {"audio": audio}


class Link:
    """A confirmed connection; `run` it from a talk position until it drops or is retired."""

    def __init__(self, connection: AsyncTranslationsConnection, expires_at: float | None) -> None:
        self._connection = connection
        self.expires_at = expires_at
        """When the service ends the session (epoch seconds), if it said."""
        self.opened_at = time.monotonic()
        self.offset = 0
        """The talk position of the first frame it was sent."""
        self.appended = 0
        """The talk position up to which it was sent the talk."""
        self.sent_ms = 0
        """How much audio it was sent, keep-alive silence included."""
        self.clock = ElapsedClock(0)
        self.output_at = time.monotonic()
        """When its last translated speech came (not the silence between)."""
        self.until: int | None = None
        """Retired: audio up to this talk position, then ``session.close`` (it flushes, then closes)."""
        self.wake = asyncio.Event()
        """Set when a frame is kept, or the link is retired."""
        self.gate = asyncio.Event()
        """Its output is handed on only once set: a successor waits for its predecessor's last words."""
        self.gate.set()

    @classmethod
    async def open(cls, client: AsyncOpenAI, target: str, config: TranslateConfig) -> Link:
        """Connect and configure; raise what failed (a handshake status, a refused update, a timeout)."""
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            manager = client.realtime.translations.connect(model=config.deployment)
            connection = await manager.enter()
            try:
                created = await connection.recv()
                if isinstance(created, RealtimeErrorEvent):
                    raise ServiceError(created.error.type, created.error.code or "", created.error.message)
                expires_at = (
                    created.session.expires_at
                    if isinstance(created, RealtimeTranslationSessionCreatedEvent)
                    else None
                )
                await connection.session.update(session=session_update(target, config))  # type: ignore[arg-type]
                while not isinstance(
                    event := await connection.recv(), RealtimeTranslationSessionUpdatedEvent
                ):
                    if isinstance(event, RealtimeErrorEvent):
                        raise ServiceError(event.error.type, event.error.code or "", event.error.message)
            except BaseException:
                await connection.close()
                raise
        return cls(connection, float(expires_at) if expires_at else None)

    async def run(self, frames: Frames, segmenter: Segmenter, on_error: Callable[[str, str], None]) -> None:
        """Write the talk from ``offset`` and hand the output on until the connection ends: raises
        what ended it, or returns when it closed (a retired link: once the service has flushed)."""
        self.appended = self.offset
        self.clock = ElapsedClock(self.offset)
        write = asyncio.create_task(self._write(frames), name="translate-write")
        read = asyncio.create_task(self._read(segmenter, on_error), name="translate-read")
        try:
            done, _ = await asyncio.wait({write, read}, return_when=asyncio.FIRST_COMPLETED)
            if write in done:
                write.result()  # a failed write ends the connection; a finished one waits for the flush
            await read
        finally:
            for task in (write, read):
                task.cancel()
            await asyncio.gather(write, read, return_exceptions=True)

    async def close(self) -> None:
        try:
            await self._connection.close()
        except Exception as exc:
            log.debug("closing a translation connection: %s", exc)

    async def _write(self, frames: Frames) -> None:
        position = self.offset
        idle = False
        while True:
            self.wake.clear()
            first, kept = frames(position)
            position = max(position, first)
            if self.until is not None:
                kept = kept[: max(0, (self.until - position) // FRAME_MS)]
            whole = len(kept) - len(kept) % APPEND_FRAMES
            if idle or (self.until is not None and position + len(kept) * FRAME_MS >= self.until):
                whole = len(kept)  # nothing more is coming soon: the part of a frame goes too
            for start in range(0, whole, APPEND_FRAMES):
                chunk = kept[start : start + APPEND_FRAMES]
                # Counted as sent before it goes: the service may answer it before the send returns.
                self.appended = position + (start + len(chunk)) * FRAME_MS
                await self._append(b"".join(chunk))
            position += whole * FRAME_MS
            if self.until is not None and position >= self.until:
                # Flushing, the service hears past the audio sent: its clock says nothing more here.
                self.clock.trusted = False
                await self._connection.session.close()
                return
            if idle and not kept:
                self.clock.inserted(self.sent_ms, KEEPALIVE_MS)
                await self._append(bytes(KEEPALIVE_MS * 48))
            try:
                async with asyncio.timeout(KEEPALIVE_MS / 1000):
                    await self.wake.wait()
                idle = False
            except TimeoutError:
                idle = True

    async def _append(self, pcm: bytes) -> None:
        await self._connection.session.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())
        self.sent_ms += len(pcm) // 48

    async def _read(self, segmenter: Segmenter, on_error: Callable[[str, str], None]) -> None:
        async for event in self._connection:
            await self.gate.wait()
            if isinstance(event, RealtimeTranslationSessionClosedEvent):
                return
            if isinstance(event, RealtimeErrorEvent):
                on_error(event.error.code or "error", event.error.message)
                continue
            elapsed = getattr(event, "elapsed_ms", None)
            if isinstance(event, RealtimeTranslationOutputAudioDeltaEvent):
                pcm = base64.b64decode(event.delta)
                if level_dbfs(pcm) > QUIET_DBFS:
                    self.output_at = time.monotonic()
                position, aligned = self.clock.position("audio", elapsed, self.appended)
                if aligned and not segmenter.plausible(pcm, position):
                    self.clock.distrust("loud output before the speech it could be of")
                    position, aligned = self.appended, False
                segmenter.audio(pcm, position, aligned)
            elif isinstance(event, RealtimeTranslationOutputTranscriptDeltaEvent):
                segmenter.text(event.delta, *self.clock.position("text", elapsed, self.appended))
            elif isinstance(event, RealtimeTranslationInputTranscriptDeltaEvent):
                segmenter.source(event.delta, self.clock.position("source", elapsed, self.appended)[0])
