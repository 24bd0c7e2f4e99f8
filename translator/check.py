"""``translator check``: one short utterance in the speaker's language through each target
language's Azure engine (Voice Live, or gpt-realtime-translate), timed, with what a minute of the
talk would take of the token quota and what the talk would cost at list prices (`pricing`).

The first command a user with Azure runs: it proves the endpoint, the credential, the model and
each language's session configuration, and says in plain words what is wrong when something is.
The utterance is the built-in English clip, or for another source language a sentence of greeting
spoken by espeak-ng (installed with the offline engine): Voice Live is told which language to hear.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from importlib.resources import files
from pathlib import Path

import msgspec

from translator import processes
from translator.audio import FRAME_BYTES, FRAME_MS
from translator.audio.wav import read_wav
from translator.config import PricesConfig, RoomConfig, Settings
from translator.engines import pricing, table
from translator.engines.base import Engine
from translator.engines.events import (
    AnyEngineEvent,
    EngineFailure,
    SessionState,
    SourceText,
    TokensUsed,
    TranslationAudio,
    TranslationText,
)
from translator.engines.local.voices import ESPEAK_VOICES
from translator.engines.voicelive.engine import TRANSLATIONS_PER_MINUTE
from translator.errors import ConfigError
from translator.languages import Language, get_language

AZURE_ENGINES = ("voicelive", "realtime-translate")
UTTERANCE = files("translator") / "data" / "check-utterance.wav"
# Silence after the utterance, so that the service's VAD ends the turn.
TAIL_MS = 2000
SPEAK_TIMEOUT_S = 10.0
GREETINGS = {
    "es": "Buenos días a todos, y gracias por venir.",
    "fr": "Bonjour à tous, et merci d'être venus.",
    "de": "Guten Morgen zusammen, und danke, dass Sie gekommen sind.",
    "it": "Buongiorno a tutti, e grazie di essere venuti.",
    "pt": "Bom dia a todos, e obrigado por terem vindo.",
    "ca": "Bon dia a tothom, i gràcies per venir.",
    "gl": "Bos días a todos, e grazas por vir.",
    "eo": "Bonan matenon al ĉiuj, kaj dankon pro via veno.",
    "nl": "Goedemorgen allemaal, en bedankt voor jullie komst.",
    "pl": "Dzień dobry wszystkim i dziękuję za przybycie.",
    "uk": "Доброго ранку всім, і дякую, що прийшли.",
    "ru": "Доброе утро всем, и спасибо, что пришли.",
    "ar": "صباح الخير جميعا، وشكرا لحضوركم.",
    "hi": "सभी को सुप्रभात, और आने के लिए धन्यवाद।",
    "ja": "皆さん、おはようございます。お越しいただきありがとうございます。",
    "ko": "여러분 안녕하세요, 와 주셔서 감사합니다.",
    "zh": "大家早上好，感谢各位的到来。",
}
"""What the check says in a source language other than English (the English clip is built in)."""


class LanguageCheck(msgspec.Struct):
    """What one language's check found; times in seconds."""

    lang: str
    engine: str = ""
    handshake_s: float | None = None
    first_audio_s: float | None = None
    """From the end of the utterance to the first translated audio."""
    caption_s: float | None = None
    """From the end of the utterance to the final translated caption."""
    source_text: str = ""
    source_final: bool = False
    text: str = ""
    billed: TokensUsed | None = None
    """What the translation was billed (instructions, glossary included, audio and answer)."""
    error: str = ""

    @property
    def ok(self) -> bool:
        """The translation came back (a missing transcription is only a warning: see `_line`)."""
        return not self.error and bool(self.text)


async def check(
    settings: Settings, timeout_s: float, hours: float = 1.0, progress: Callable[[str], None] = print
) -> list[LanguageCheck]:
    """Check every target language at once, each on its engine; each result arrives through
    ``progress`` as it ends, then the quota estimate and what ``hours`` of the talk would cost."""
    room = settings.room_configs()[0]
    engines = {code: table.engine_for(room, code) for code in settings.targets}
    if not all(spec.name in AZURE_ENGINES for spec in engines.values()):
        raise ConfigError(
            "azure.endpoint",
            "translator check needs AZURE_VOICELIVE_ENDPOINT (or azure.endpoint), or AZURE_OPENAI_ENDPOINT "
            "for gpt-realtime-translate",
        )
    source = get_language(settings.source)
    pcm, said = await utterance(source)
    served = ", ".join(f"{code} on {_model(room, spec.name)}" for code, spec in engines.items())
    progress(f"checking {served}, {said} …")
    results = await asyncio.gather(
        *(
            _check_one(table.create_for(spec, room, [code]), pcm, timeout_s, progress)
            for code, spec in engines.items()
        )
    )
    if line := estimate(list(results), settings.azure.tokens_per_minute):
        progress(line)
    if lines := cost(list(results), room, hours, settings.prices):
        progress("\n".join(lines))
    return list(results)


async def utterance(source: Language) -> tuple[bytes, str]:
    """The audio to send and, in words, what it is: the built-in English clip, or a greeting in
    ``source`` spoken by espeak-ng (the English clip, said so, where espeak-ng is missing)."""
    english = read_wav(str(UTTERANCE))
    if source.code == "en":
        return english, "speaking the built-in English sentence"
    espeak = shutil.which("espeak-ng")
    if espeak is None or source.code not in ESPEAK_VOICES or source.code not in GREETINGS:
        return english, f"speaking English, not {source.name} (espeak-ng is not installed)"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "greeting.wav"
        args = [espeak, "-v", ESPEAK_VOICES[source.code], "-w", str(path), GREETINGS[source.code]]
        try:
            failed = (await processes.run(args, SPEAK_TIMEOUT_S)).returncode != 0
        except subprocess.TimeoutExpired:
            failed = True
        if failed:
            return english, f"speaking English, not {source.name} (espeak-ng could not speak it)"
        return await asyncio.to_thread(read_wav, str(path)), f"speaking {source.name} (espeak-ng)"


def estimate(results: list[LanguageCheck], quota: int) -> str:
    """A minute of the talk in tokens, from what each language's check was billed, against the quota."""
    billed = [r.billed.tokens for r in results if r.billed]
    if not billed:
        return ""
    per_minute = sum(billed) * TRANSLATIONS_PER_MINUTE
    line = (
        f"estimate: ~{per_minute:,} tokens a minute for {len(billed)} language(s) at "
        f"{TRANSLATIONS_PER_MINUTE} translations a minute each; the resource allows {quota:,}"
    )
    if per_minute > quota:
        return f"{line}: OVER the quota (fewer languages, a shorter glossary, or a higher limit)"
    return line


def cost(results: list[LanguageCheck], room: RoomConfig, hours: float, prices: PricesConfig) -> list[str]:
    """What ``hours`` of the talk would cost at list prices: the total, a line per language, and
    the rates used (Voice Live from what the check's translation was billed, scaled to
    `TRANSLATIONS_PER_MINUTE`; gpt-realtime-translate by the minute)."""
    lines: list[str] = []
    sources: dict[str, None] = {}
    total, counted = 0.0, 0
    for result in results:
        model = _model(room, result.engine)
        if result.engine == "realtime-translate":
            priced = pricing.translate_hour(bool(room.translate.transcription_model), prices)
        elif result.billed is None:
            continue
        elif (voicelive := pricing.voicelive_hour(room.azure.model, result.billed, prices)) is None:
            lines.append(f"  {result.lang}: {model}: Voice Live Lite, which no list price here covers")
            continue
        else:
            priced = voicelive
        hour, source = priced
        total, counted = total + hour * hours, counted + 1
        sources[source] = None
        lines.append(f"  {result.lang}: ~${hour:.2f} an hour on {model}")
    if not counted:
        return lines
    head = f"cost at list prices: ~${total:.2f} for {counted} language(s) over {hours:g} h"
    rates = [f"  rates: {source}" for source in sources]
    return [
        head,
        *lines,
        *rates,
        "  (Azure's own prices and your agreement's: README, \"Azure in ten minutes\")",
    ]


def _model(room: RoomConfig, engine: str) -> str:
    """The model an Azure engine runs, in words."""
    return room.azure.model if engine == "voicelive" else f"{room.translate.deployment} ({engine})"


async def _check_one(
    engine: Engine, pcm: bytes, timeout_s: float, progress: Callable[[str], None]
) -> LanguageCheck:
    result = LanguageCheck(engine.targets[0].code, engine.name)
    started = time.monotonic()
    async with engine:
        events = engine.events()
        spoken: asyncio.Task[None] | None = None
        speech_end: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout_s):
                state = await _session_up(events, result)
                if state == "ready":
                    result.handshake_s, result.error = time.monotonic() - started, ""
                    spoken = asyncio.create_task(_speak(engine, pcm, speech_end))
                    await _await_translation(events, result, speech_end, engine.bills_tokens)
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


async def _speak(engine: Engine, pcm: bytes, speech_end: asyncio.Future[float]) -> None:
    """Send the utterance and its tail at real-time pace; ``speech_end`` gets the time speech ended."""
    padded = pcm + bytes(FRAME_BYTES * (TAIL_MS // FRAME_MS))
    for start in range(0, len(padded), FRAME_BYTES):
        await engine.send_audio(padded[start : start + FRAME_BYTES].ljust(FRAME_BYTES, b"\0"))
        if start + FRAME_BYTES >= len(pcm) and not speech_end.done():
            speech_end.set_result(time.monotonic())
        await asyncio.sleep(FRAME_MS / 1000)


async def _await_translation(
    events: AsyncIterator[AnyEngineEvent],
    result: LanguageCheck,
    speech_end: asyncio.Future[float],
    tokens: bool,
) -> None:
    async for event in events:
        now = time.monotonic()
        if isinstance(event, TranslationAudio) and result.first_audio_s is None:
            result.first_audio_s = now - await speech_end
        elif isinstance(event, TranslationText) and event.final:
            result.caption_s, result.text = now - await speech_end, event.text
        elif isinstance(event, SourceText) and event.final:
            result.source_text, result.source_final = event.text, True
        elif isinstance(event, TokensUsed):
            result.billed = event if result.billed is None else result.billed.plus(event)
        elif isinstance(event, EngineFailure):
            result.error = event.message
        if result.text and result.source_final and (result.billed is not None or not tokens):
            return


def _line(result: LanguageCheck) -> str:
    if not result.ok:
        return f"{result.lang}: FAILED: {result.error or 'no translation came back'}"
    audio = "no audio" if result.first_audio_s is None else f"first audio {result.first_audio_s:.2f} s"
    heard = result.source_text or "(warning: not transcribed: listeners would get no source captions)"
    tokens = "" if result.billed is None else f", {result.billed.tokens} tokens"
    return (
        f"{result.lang}: ok  {result.engine}, handshake {result.handshake_s:.2f} s, {audio}, "
        f"final caption {result.caption_s:.2f} s after the speech ended{tokens}\n"
        f"    heard:      {heard}\n    translated: {result.text}"
    )
