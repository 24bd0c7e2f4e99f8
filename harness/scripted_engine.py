"""A scripted engine: it replays a list of events against the input's timeline, for pipeline and
room tests that need no server and no model, and as the engine contract suite's reference.

Each scripted event is emitted once the input has reached its time (``at_ms`` of audio sent), so a
test drives it with real audio at any pace, and the same input always gives the same events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from translator.audio import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, AudioSource
from translator.engines.base import Engine
from translator.engines.events import (
    AnyEngineEvent,
    EngineFailure,
    Passthrough,
    SessionState,
    SourceText,
    SpeechStarted,
    SpeechStopped,
    TranslationAudio,
    TranslationText,
    TurnDone,
)
from translator.errors import PermanentEngineError
from translator.glossary import Glossary
from translator.languages import LANGUAGES, Language

# Synthesized speech comes in bursts faster than real time, in blocks of this many seconds.
AUDIO_BLOCK_S = 0.2


@dataclass(frozen=True)
class Cue:
    """An event the engine emits once the input reaches ``at_ms``."""

    at_ms: int
    event: AnyEngineEvent


@dataclass(frozen=True)
class ScriptConfig:
    """The scripted engine's settings: its script, and the languages it refuses."""

    cues: tuple[Cue, ...] = ()
    refuse: frozenset[str] = frozenset()
    """Target codes whose session is refused at start (a permanent failure of that language)."""


def tone(seconds: float, hz: float = 330.0) -> bytes:
    """``seconds`` of a quiet sine: speech-like audio whose length a listener can check."""
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    return (np.sin(2 * np.pi * hz * t) * 6000).astype("<i2").tobytes()


def utterance(
    target: str,
    number: int,
    start_ms: int,
    end_ms: int,
    source: str,
    translation: str,
    audio_s: float,
    spoken: str = "",
) -> list[Cue]:
    """One sentence as an interpreter gives it: speech starts, stops; the source text, a partial
    and a final translation, the translated audio in bursts, and the end of the turn, all soon after
    the speech ends. Spoken in ``target`` itself, it is passed through instead: no translation."""
    engine_id = f"u{number}"  # one recognition shared by every language, as the offline engine has it
    pcm = tone(audio_s)
    block = int(SAMPLE_RATE * AUDIO_BLOCK_S) * 2
    after = end_ms + 100
    cues = [
        Cue(start_ms, SpeechStarted(target, engine_id, start_ms)),
        Cue(end_ms, SpeechStopped(target, engine_id, end_ms)),
        Cue(after, SourceText(target, engine_id, source, True, spoken)),
    ]
    if spoken == target:
        return [*cues, Cue(after, Passthrough(target, engine_id))]
    cues += [
        Cue(after, TranslationText(target, engine_id, translation[: len(translation) // 2], final=False)),
    ]
    cues += [
        Cue(after + 20, TranslationAudio(target, engine_id, pcm[offset : offset + block]))
        for offset in range(0, len(pcm), block)
    ]
    cues += [
        Cue(after + 40, TranslationText(target, engine_id, translation, final=True)),
        Cue(after + 40, TurnDone(target, engine_id, "completed")),
    ]
    return cues


class ScriptedEngine(Engine):
    """Emits its script's events as the input reaches their times; nothing else."""

    name = "scripted"

    def __init__(
        self,
        source: Language,
        targets: list[Language],
        config: ScriptConfig,
        glossary: Glossary | None = None,
        spoken: list[Language] | None = None,
    ) -> None:
        super().__init__(source, targets, glossary, spoken)
        self.config = config
        self._pending: list[Cue] = sorted(config.cues, key=lambda cue: cue.at_ms)
        self._live: set[str] = set()
        self.stopped = False

    def check_target(self, target: Language) -> None:
        if self.spoken == [target]:
            raise PermanentEngineError(f"{target.name} is the source language")

    def check_spoken(self, language: Language) -> None:
        """Any language: the script says what is heard."""

    async def _spoken_changed(self) -> None:
        """Nothing tells languages apart here: the script does."""

    def servable(self) -> list[Language]:
        return [lang for lang in LANGUAGES.values() if self.spoken != [lang]]

    async def start(self) -> None:
        self.check()
        for target in self.targets:
            await self._start_target(target)

    async def stop(self) -> None:
        self.stopped = True
        for code in list(self._live):
            await self._stop_target(code)

    async def _start_target(self, target: Language) -> None:
        self.check_target(target)
        self.emit(SessionState(target.code, "connecting"))
        if target.code in self.config.refuse:
            self.emit(SessionState(target.code, "failed", "refused by the script"))
            self.emit(EngineFailure(target.code, "refused by the script", recoverable=False))
            return
        self._live.add(target.code)
        self.emit(SessionState(target.code, "ready"))

    async def _stop_target(self, code: str) -> None:
        if code in self._live:
            self._live.discard(code)
            self.emit(SessionState(code, "closed"))

    async def _glossary_changed(self) -> None:
        """The script does not translate: a glossary changes nothing."""

    async def _send(self, frame: bytes) -> None:
        reached = self.audio_ms + FRAME_MS  # where the frame being sent ends
        while self._pending and self._pending[0].at_ms <= reached:
            event = self._pending.pop(0).event
            if event.target in self._live:
                self.emit(event)


class Frames(AudioSource):
    """An input that plays ``pcm`` as fast as it is read (no real-time pacing), then ends."""

    description = "scripted input"

    def __init__(self, pcm: bytes) -> None:
        self.pcm = pcm

    async def frames(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.pcm), FRAME_BYTES):
            yield self.pcm[start : start + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
            await asyncio.sleep(0)
