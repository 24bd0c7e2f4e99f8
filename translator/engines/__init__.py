"""Engines: the contract, the normalized events, and the factory that picks one from the settings."""

from __future__ import annotations

from translator.config import Settings
from translator.engines.base import Engine
from translator.languages import get_language

__all__ = ["Engine", "create_engine"]


def create_engine(settings: Settings) -> Engine:
    """The engine the settings ask for (``auto``: Voice Live when an endpoint is configured)."""
    source = get_language(settings.source)
    targets = [get_language(code) for code in settings.targets]
    if settings.resolved_engine() == "voicelive":
        from translator.engines.voicelive import VoiceLiveEngine

        return VoiceLiveEngine(source, targets, settings.azure, settings.glossary)
    from translator.engines.local import LocalEngine

    return LocalEngine(source, targets, settings.local, settings.glossary)
