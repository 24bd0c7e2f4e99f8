"""The engine table: every engine registers here once, by name, with the settings section it reads.

The CLI's choices, config validation (``engine = "…"``, and what an engine needs before it can be
chosen), ``auto`` and the start message all read this table. It imports no engine: the class is
named by path and imported when a room opens one, so that reading the settings loads no model and
no SDK. Adding an engine: its settings Struct (a section of `RoomConfig`), its `Engine` subclass,
and one entry here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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


ENGINES: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
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
        ),
        EngineSpec(
            "local",
            "the offline engine (VAD, speech recognition, translation, speech synthesis on this machine)",
            "translator.engines.local.engine:LocalEngine",
            "local",
            "loading the offline models",
            lambda local: None,
        ),
    )
}


def choices() -> list[str]:
    """What ``engine`` may be set to."""
    return [AUTO, *ENGINES]


def resolve(name: str, room: RoomConfig) -> EngineSpec:
    """The engine ``name`` chooses for ``room`` (``auto``: the first that lacks nothing)."""
    if name != AUTO:
        return ENGINES[name]
    return next(spec for spec in ENGINES.values() if spec.missing(getattr(room, spec.section)) is None)


def create_engine(room: RoomConfig) -> Engine:
    """The engine the room's settings ask for, not started."""
    from translator.languages import get_language

    spec = resolve(room.engine, room)
    module, _, name = spec.engine.partition(":")
    # Every engine takes (source, targets, its settings section, glossary, spoken=...): its targets
    # are the room's channels, the spoken languages' own among them.
    engine_class: Callable[..., Engine] = getattr(importlib.import_module(module), name)
    return engine_class(
        get_language(room.source),
        [get_language(code) for code in room.channels()],
        getattr(room, spec.section),
        room.glossary,
        spoken=[get_language(code) for code in room.spoken_languages()],
    )
