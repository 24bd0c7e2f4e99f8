"""``translator check``: one short English utterance through Voice Live, per target language, timed.

The first command a user with Azure runs: it proves the endpoint, the credential, the model and
each language's session configuration, and says in plain words what is wrong when something is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from importlib.resources import files

import msgspec

from translator.audio import FRAME_BYTES, FRAME_MS
from translator.audio.wav import read_wav
from translator.config import Settings
from translator.engines.events import (
    AnyEngineEvent,
    EngineFailure,
    SessionState,
    SourceText,
    TranslationAudio,
    TranslationText,
)
from translator.engines.voicelive import VoiceLiveEngine
from translator.errors import ConfigError
from translator.languages import Language, get_language

UTTERANCE = files("translator") / "data" / "check-utterance.wav"
# Silence after the utterance, so that the service's VAD ends the turn.
TAIL_MS = 2000


class LanguageCheck(msgspec.Struct):
    """What one language's check found; times in seconds."""

    lang: str
    handshake_s: float | None = None
    first_audio_s: float | None = None
    """From the end of the utterance to the first translated audio."""
    caption_s: float | None = None
    """From the end of the utterance to the final translated caption."""
    source_text: str = ""
    text: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.text)


async def check(
    settings: Settings, timeout_s: float, progress: Callable[[str], None] = print
) -> list[LanguageCheck]:
    """Check every target language at once; each result arrives through ``progress`` as it ends."""
    if not settings.azure.endpoint:
        raise ConfigError(
            "azure.endpoint", "translator check needs AZURE_VOICELIVE_ENDPOINT (or azure.endpoint)"
        )
    source = get_language(settings.source)
    pcm = read_wav(str(UTTERANCE))
    targets = [get_language(code) for code in settings.targets]
    progress(f"checking {', '.join(t.code for t in targets)} on {settings.azure.model} …")
    results = await asyncio.gather(
        *(_check_one(settings, source, t, pcm, timeout_s, progress) for t in targets)
    )
    return list(results)


async def _check_one(
    settings: Settings,
    source: Language,
    target: Language,
    pcm: bytes,
    timeout_s: float,
    progress: Callable[[str], None],
) -> LanguageCheck:
    result = LanguageCheck(target.code)
    started = time.monotonic()
    async with VoiceLiveEngine(source, [target], settings.azure, settings.glossary) as engine:
        events = engine.events()
        spoken: asyncio.Task[None] | None = None
        speech_end: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout_s):
                state = await _session_up(events, result)
                if state == "ready":
                    result.handshake_s, result.error = time.monotonic() - started, ""
                    spoken = asyncio.create_task(_speak(engine, pcm, speech_end))
                    await _await_translation(events, result, speech_end)
        except TimeoutError:
            result.error = result.error or f"no translation within {timeout_s:.0f} s"
        finally:
            if spoken is not None:
                spoken.cancel()
    progress(_line(result))
    return result


async def _session_up(events: AsyncIterator[AnyEngineEvent], result: LanguageCheck) -> str:
    """Wait for the session to be ready or to fail; the last failure is kept as the error."""
    async for event in events:
        if isinstance(event, EngineFailure):
            result.error = event.message
        elif isinstance(event, SessionState) and event.state in ("ready", "failed"):
            return event.state
    return "closed"


async def _speak(engine: VoiceLiveEngine, pcm: bytes, speech_end: asyncio.Future[float]) -> None:
    """Send the utterance and its tail at real-time pace; ``speech_end`` gets the time speech ended."""
    padded = pcm + bytes(FRAME_BYTES * (TAIL_MS // FRAME_MS))
    for start in range(0, len(padded), FRAME_BYTES):
        await engine.send_audio(padded[start : start + FRAME_BYTES].ljust(FRAME_BYTES, b"\0"))
        if start + FRAME_BYTES >= len(pcm) and not speech_end.done():
            speech_end.set_result(time.monotonic())
        await asyncio.sleep(FRAME_MS / 1000)


async def _await_translation(
    events: AsyncIterator[AnyEngineEvent], result: LanguageCheck, speech_end: asyncio.Future[float]
) -> None:
    async for event in events:
        now = time.monotonic()
        if isinstance(event, TranslationAudio) and result.first_audio_s is None:
            result.first_audio_s = now - await speech_end
        elif isinstance(event, TranslationText) and event.final:
            result.caption_s, result.text = now - await speech_end, event.text
        elif isinstance(event, SourceText) and event.final:
            result.source_text = event.text
        elif isinstance(event, EngineFailure):
            result.error = event.message
        if result.text and result.source_text:
            return


def _line(result: LanguageCheck) -> str:
    if not result.ok:
        return f"{result.lang}: FAILED: {result.error or 'no translation came back'}"
    audio = "no audio" if result.first_audio_s is None else f"first audio {result.first_audio_s:.2f} s"
    return (
        f"{result.lang}: ok  handshake {result.handshake_s:.2f} s, {audio}, "
        f"final caption {result.caption_s:.2f} s after the speech ended\n"
        f"    heard:      {result.source_text}\n    translated: {result.text}"
    )
