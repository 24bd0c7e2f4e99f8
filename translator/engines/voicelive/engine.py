"""Azure AI Voice Live: one interpreter session per target language, each supervised on its own."""

from __future__ import annotations

import asyncio
from typing import Any

from azure.core.credentials import AzureKeyCredential

from translator.config import AzureConfig
from translator.engines.base import Engine
from translator.engines.credentials import SharedCredential
from translator.engines.instructions import interpreter_instructions
from translator.engines.voicelive.models import capabilities
from translator.engines.voicelive.session import LanguageSession
from translator.engines.voicelive.text import translate_text
from translator.engines.voicelive.voices import speaks
from translator.errors import PermanentEngineError
from translator.glossary import Glossary
from translator.languages import LANGUAGES, Language

TRANSLATIONS_PER_MINUTE = 12
"""A speaker's sentences a minute, as the engine groups them into translations: for estimates."""
CHARS_PER_TOKEN = 4
TOKENS_PER_TURN = 150
"""A translation's audio in and out, besides its instructions: a few seconds each way."""


class VoiceLiveEngine(Engine):
    """One Voice Live session per target language; a language that fails never stops the others."""

    name = "voicelive"
    bills_tokens = True

    def __init__(
        self,
        source: Language,
        targets: list[Language],
        config: AzureConfig,
        glossary: Glossary | None = None,
        spoken: list[Language] | None = None,
    ) -> None:
        super().__init__(source, targets, glossary, spoken)
        self.config = config
        self.credential: Any = None
        self._sessions: dict[str, LanguageSession] = {}

    async def start(self) -> None:
        """Start one supervised session per target; returns at once, sessions report their state."""
        if not self.config.endpoint:
            raise PermanentEngineError("Voice Live needs an endpoint (AZURE_VOICELIVE_ENDPOINT)")
        if self.config.api_key:
            self.credential = AzureKeyCredential(self.config.api_key)
        else:
            from azure.identity.aio import DefaultAzureCredential

            self.credential = SharedCredential(DefaultAzureCredential())
        self.check()  # every language before any session starts
        for target in self.targets:
            await self._start_target(target)

    async def stop(self) -> None:
        """Close every session, then the credential."""
        await asyncio.gather(*(s.stop() for s in self._sessions.values()))
        if hasattr(self.credential, "close"):
            await self.credential.close()

    def servable(self) -> list[Language]:
        served = capabilities(self.config.model).languages
        return [
            lang
            for lang in LANGUAGES.values()
            if speaks(lang) and self.spoken != [lang] and (not served or lang.code in served)
        ]

    async def _start_target(self, target: Language) -> None:
        self.check_target(target)
        self._sessions[target.code] = session = LanguageSession(self, target)
        session.start()

    def check_target(self, target: Language) -> None:
        """PermanentEngineError unless the model can interpret the source into ``target``."""
        if not speaks(target):
            spoken = ", ".join(lang.code for lang in self.servable())
            raise PermanentEngineError(f"Voice Live has no voice for {target.name}; it speaks: {spoken}")
        for language in (*self.spoken, target):
            self.check_spoken(language)

    def check_spoken(self, language: Language) -> None:
        """PermanentEngineError unless the model serves ``language``."""
        served = capabilities(self.config.model).languages
        if served and language.code not in served:
            languages = ", ".join(sorted(served))
            raise PermanentEngineError(
                f"{self.config.model} does not serve {language.name}; it serves: {languages}"
            )

    async def _spoken_changed(self) -> None:
        await asyncio.gather(*(s.respoken() for s in self._sessions.values()))

    async def translate_text(self, text: str, source: Language, target: Language) -> str | None:
        """A typed question, translated by the model the interpreters use, in a session of its own."""
        return await translate_text(self.config, self.credential, text, source, target, self.glossary)

    async def _stop_target(self, code: str) -> None:
        if (session := self._sessions.pop(code, None)) is not None:
            await session.stop()

    def glossary_cost(self, glossary: Glossary) -> str:
        """A warning when the instructions this glossary makes, billed on every translation, would
        take the languages over the resource's token quota (`TRANSLATIONS_PER_MINUTE` each)."""
        per_minute = TRANSLATIONS_PER_MINUTE * sum(
            len(interpreter_instructions(self.spoken, target, glossary)) // CHARS_PER_TOKEN + TOKENS_PER_TURN
            for target in self.targets
        )
        quota = self.config.tokens_per_minute
        if per_minute <= quota:
            return ""
        return (
            f"with this glossary the instructions alone come to ~{per_minute:,} tokens a minute for "
            f"{len(self.targets)} language(s), over the resource's {quota:,}: translations will be refused "
            "for the quota (shorten the glossary, offer fewer languages, or raise the limit)"
        )

    async def _glossary_changed(self) -> None:
        await asyncio.gather(*(s.reconfigure() for s in self._sessions.values()))

    async def _send(self, frame: bytes) -> None:
        for session in self._sessions.values():
            session.queue_audio(frame, self.audio_ms)
