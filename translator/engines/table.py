"""The engine table: every engine registers here once, by name, with the settings section it reads.

The CLI's choices, config validation (``engine = "…"``, and what an engine needs before it can be
chosen), the start message and the choice of an engine per language (``auto``, ``engines``) all read
this table. It imports no engine: the class is named by path and imported when a room opens one, so
that reading the settings loads no model and no SDK. Adding an engine: its settings Struct (a
section of `RoomConfig`), its `Engine` subclass, and one entry here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from translator.engines.translate.languages import OUTPUT_LANGUAGES

if TYPE_CHECKING:
    from translator.config import RoomConfig
    from translator.engines.base import Engine

AUTO = "auto"


@dataclass(frozen=True)
class EngineSpec:
    """One engine, as the rest of the service knows it."""

    name: str
    summary: str
    """What it is, in a few words (the CLI's help)."""
    engine: str
    """``module:Class`` of its `Engine`, imported when a room opens it."""
    section: str
    """The `RoomConfig` field holding its settings (``azure``, ``local``)."""
    starting: str
    """What the start message says while it starts (``connecting to Azure AI Voice Live``)."""
    missing: Callable[[Any], tuple[str, str] | None]
    """What its settings lack before it can run, as (field within the section, problem); None
    when it can run. ``auto`` picks the first engine of the table that lacks nothing."""
    model: Callable[[Any, str, str], str]
    """The models it runs into a language, in words, from its settings, the floor's language and
    the language's code (a bundle's manifest, the status)."""
    languages: frozenset[str] | None = None
    """The only languages it can interpret into (None: the engine checks when it starts)."""
    takes_glossary: bool = True
    """It can be told a glossary (else ``auto`` leaves it the languages the glossary says nothing of)."""

    def refuses(self, code: str) -> str:
        """Why it cannot interpret into ``code`` (empty when it can, as far as the table knows)."""
        if self.languages is None or code in self.languages:
            return ""
        return f"{self.name} does not interpret into {code!r}; it serves: {', '.join(sorted(self.languages))}"

    def fits(self, room: RoomConfig, code: str) -> bool:
        """``auto`` may choose it for ``code`` in ``room``."""
        if self.missing(getattr(room, self.section)) is not None or self.refuses(code):
            return False
        return self.takes_glossary or not room.glossary.for_language(code)


ENGINES: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        # First: where its deployment is configured it is the better interpreter (built for the job,
        # no turns to lose, billed by the minute), except for a language the glossary speaks of.
        EngineSpec(
            "realtime-translate",
            "Azure OpenAI gpt-realtime-translate, the dedicated interpreter model",
            "translator.engines.translate.engine:TranslateEngine",
            "translate",
            "connecting to gpt-realtime-translate",
            lambda translate: (
                None
                if translate.endpoint
                else (
                    "endpoint",
                    "the realtime-translate engine needs AZURE_OPENAI_ENDPOINT (or translate.endpoint)",
                )
            ),
            lambda translate, _, __: (
                f"{translate.deployment} (transcription: {translate.transcription_model})"
            ),
            OUTPUT_LANGUAGES,
            takes_glossary=False,
        ),
        EngineSpec(
            "voicelive",
            "Azure AI Voice Live",
            "translator.engines.voicelive.engine:VoiceLiveEngine",
            "azure",
            "connecting to Azure AI Voice Live",
            lambda azure: (
                None
                if azure.endpoint
                else ("endpoint", "the voicelive engine needs AZURE_VOICELIVE_ENDPOINT (or azure.endpoint)")
            ),
            lambda azure, _, __: f"{azure.model} (voice: {azure.voice})",
        ),
        EngineSpec(
            "local",
            "the offline engine (VAD, speech recognition, translation, speech synthesis on this machine)",
            "translator.engines.local.engine:LocalEngine",
            "local",
            "loading the offline models",
            lambda local: None,
            lambda local, source, code: (
                f"faster-whisper {local.asr_model or 'tiny.en'}, {_translation(source, code)}, {_voice(code)}"
            ),
        ),
    )
}


def _translation(source: str, code: str) -> str:
    """What translates for the offline engine (`local/translation.py`), in words."""
    from translator.engines.local.translation import describe

    return describe(source, code)


def _voice(code: str) -> str:
    """The offline engine's voice for ``code``, in words (`local/voices.py`)."""
    from translator.engines.local.voices import voice_for

    voice = voice_for(code)
    return voice.description if voice is not None else "no voice"


def choices() -> list[str]:
    """What ``engine`` may be set to."""
    return [AUTO, *ENGINES]


def engine_for(room: RoomConfig, code: str) -> EngineSpec:
    """The engine that interprets ``room`` into ``code``: its own setting (``engines``), else the
    room's ``engine``; ``auto`` is the first engine of the table that is configured and fits."""
    name = room.engines.get(code, room.engine)
    if name != AUTO:
        return ENGINES[name]
    return next(spec for spec in ENGINES.values() if spec.fits(room, code))


def model_for(room: RoomConfig, code: str) -> str:
    """The engine and models that interpret ``room`` into ``code``, in words."""
    spec = engine_for(room, code)
    return f"{spec.name}: {spec.model(getattr(room, spec.section), room.source, code)}"


def field_for(room: RoomConfig, code: str) -> str:
    """The setting that chose ``code``'s engine, for errors."""
    return f"engines.{code}" if code in room.engines else "engine"


def by_engine(room: RoomConfig) -> dict[str, list[str]]:
    """The room's languages grouped by the engine that serves them, in the table's order."""
    groups: dict[str, list[str]] = {}
    for code in room.channels():
        groups.setdefault(engine_for(room, code).name, []).append(code)
    return {name: groups[name] for name in ENGINES if name in groups}


def describe(room: RoomConfig) -> str:
    """The engine(s) the room runs, in words: ``voicelive`` or ``realtime-translate + voicelive``."""
    return " + ".join(by_engine(room))


def create_engine(room: RoomConfig) -> Engine:
    """The engine the room's settings ask for, not started: one engine, or one per engine in use
    behind a `MixedEngine` when its languages are served by several."""
    from translator.engines.mixed import MixedEngine

    groups = by_engine(room)
    if len(groups) == 1:
        name, codes = next(iter(groups.items()))
        return create_for(ENGINES[name], room, codes)
    return MixedEngine(
        [create_for(ENGINES[name], room, codes) for name, codes in groups.items()],
        lambda name, codes: create_for(ENGINES[name], room, codes),
        lambda code: engine_for(room, code).name,
        room.channels(),
    )


def create_for(spec: EngineSpec, room: RoomConfig, codes: list[str]) -> Engine:
    """Engine ``spec`` over ``codes`` of ``room``, not started."""
    from translator.languages import get_language

    module, _, name = spec.engine.partition(":")
    # Every engine takes (source, targets, its settings section, glossary, spoken=...): its targets
    # are the room's channels it serves, the spoken languages' own among them.
    engine_class: Callable[..., Engine] = getattr(importlib.import_module(module), name)
    return engine_class(
        get_language(room.source),
        [get_language(code) for code in codes],
        getattr(room, spec.section),
        room.glossary,
        spoken=[get_language(code) for code in room.spoken_languages()],
    )
