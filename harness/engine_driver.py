"""Driving an engine directly: the talk's audio in at a pace, its events collected, read by utterance."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from translator.audio import FRAME_BYTES, SAMPLE_RATE
from translator.engines.base import Engine
from translator.engines.events import (
    Passthrough,
    SessionState,
    SourceText,
    SpeechStarted,
    SpeechStopped,
    TranslationAudio,
    TranslationText,
    TurnDone,
)

FRAME = FRAME_BYTES


@dataclass
class Utterance:
    """One utterance of one language, as its events tell it."""

    source: str = ""
    source_final: bool = False
    text: str = ""
    final: bool = False
    audio: int = 0
    status: str = ""
    start_ms: int | None = None
    end_ms: int | None = None
    lang: str = ""
    """The language spoken, as the engine said."""


@dataclass
class Outcome:
    """Every event an engine emitted while it was spoken to."""

    events: list = field(default_factory=list)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def utterances(self, lang: str = "es") -> dict[str, Utterance]:
        """What the engine said of each utterance in ``lang``, by its engine id."""
        result: dict[str, Utterance] = {}
        for e in self.events:
            if getattr(e, "target", None) != lang or not hasattr(e, "utterance"):
                continue
            u = result.setdefault(e.utterance, Utterance())
            if isinstance(e, SourceText):
                u.source, u.source_final, u.lang = e.text, e.final, e.lang
            elif isinstance(e, Passthrough):
                u.status = "passthrough"
            elif isinstance(e, TranslationText):
                u.text, u.final = e.text, e.final
            elif isinstance(e, TranslationAudio):
                u.audio += len(e.pcm)
            elif isinstance(e, TurnDone):
                u.status = e.status
            elif isinstance(e, SpeechStarted):
                u.start_ms = e.start_ms
            elif isinstance(e, SpeechStopped):
                u.end_ms = e.end_ms
        return result

    def states(self, lang: str = "es") -> list[str]:
        """``lang``'s session states, in order."""
        return [e.state for e in self.of(SessionState) if e.target == lang]


async def speak(
    engine: Engine,
    pcm: bytes,
    until: Callable[[Outcome], bool],
    pace: float = 4.0,
    within_s: float = 30.0,
    during: Callable[[float], object] | None = None,
    tail: bool = True,
) -> Outcome:
    """Send the talk ``pace`` times faster than real time, then silence until ``until`` holds (or,
    without ``tail``, nothing: the input has ended or stalled)."""
    outcome = Outcome()

    async def collect() -> None:
        async for event in engine.events():
            outcome.events.append(event)

    collector = asyncio.create_task(collect())
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(within_s):
            began = loop.time()
            for index, start in enumerate(range(0, len(pcm), FRAME)):
                await engine.send_audio(pcm[start : start + FRAME].ljust(FRAME, b"\0"))
                # To an absolute schedule: on a busy machine late wake-ups must not stretch the talk
                # (pauses that grow let turns a fast speaker runs together come apart).
                await asyncio.sleep(max(0.0, began + (index + 1) * 0.02 / pace - loop.time()))
                if during is not None:
                    await during(start / 2 / SAMPLE_RATE)  # type: ignore[misc]
            while not until(outcome):
                if tail:
                    await engine.send_audio(bytes(FRAME))
                await asyncio.sleep(0.02)
    finally:
        collector.cancel()
    return outcome
