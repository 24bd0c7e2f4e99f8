"""Azure OpenAI gpt-realtime-translate: one continuous translation session per target language.

The model is built for the job: the audio streams in, translated speech and both transcripts
stream out, with no turns, no responses and no instructions (so no glossary); billed per audio
minute. Its output is cut into utterances per language (`segmenter`), so that it reads like the
other engines' to the rest of the service.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from openai import AsyncOpenAI

from translator.audio.levels import level_dbfs
from translator.config import TranslateConfig
from translator.engines.base import Engine
from translator.engines.credentials import SharedCredential
from translator.engines.translate.connection import client_for
from translator.engines.translate.faults import SERVICE
from translator.engines.translate.languages import OUTPUT_LANGUAGES
from translator.engines.translate.session import TranslateSession
from translator.errors import PermanentEngineError
from translator.glossary import Glossary
from translator.languages import LANGUAGES, Language

TOKEN_SCOPE = "https://cognitiveservices.azure.com/.default"


class TranslateEngine(Engine):
    """One gpt-realtime-translate session per target language; one failing never stops the others."""

    name = "realtime-translate"

    def __init__(
        self,
        source: Language,
        targets: list[Language],
        config: TranslateConfig,
        glossary: Glossary | None = None,
        spoken: list[Language] | None = None,
    ) -> None:
        super().__init__(source, targets, glossary, spoken)
        self.config = config
        self.credential: Any = None
        self.client: AsyncOpenAI
        self._sessions: dict[str, TranslateSession] = {}

    async def start(self) -> None:
        """Start one supervised session per target; returns at once, sessions report their state."""
        if not self.config.endpoint:
            raise PermanentEngineError(f"{SERVICE} needs an endpoint (AZURE_OPENAI_ENDPOINT)")
        self.check()
        token: Callable[[], Awaitable[str]] | None = None
        if not self.config.api_key:
            from azure.identity.aio import DefaultAzureCredential

            credential = self.credential = SharedCredential(DefaultAzureCredential())

            async def token() -> str:
                return (await credential.get_token(TOKEN_SCOPE)).token

        self.client = client_for(self.config, token)
        for target in self.targets:
            await self._start_target(target)

    async def stop(self) -> None:
        """Close every session, then the client and the credential."""
        await asyncio.gather(*(s.stop() for s in self._sessions.values()))
        if hasattr(self, "client"):
            await self.client.close()
        if self.credential is not None:
            await self.credential.close()

    def servable(self) -> list[Language]:
        return [
            lang for lang in LANGUAGES.values() if lang.code in OUTPUT_LANGUAGES and self.spoken != [lang]
        ]

    def check_target(self, target: Language) -> None:
        """PermanentEngineError unless the model speaks ``target``."""
        if target.code not in OUTPUT_LANGUAGES:
            served = ", ".join(sorted(OUTPUT_LANGUAGES))
            raise PermanentEngineError(
                f"{SERVICE} does not interpret into {target.name}; it serves: {served}"
            )

    def check_spoken(self, language: Language) -> None:
        """Nothing to check: the model hears the speech's language itself."""

    def _passes_through(self, target: Language) -> bool:
        # Speech in the target's own language is passed through when the floor may speak it.
        return len(self.spoken) > 1 and target in self.spoken

    async def _start_target(self, target: Language) -> None:
        self.check_target(target)
        self._sessions[target.code] = session = TranslateSession(self, target, self._passes_through(target))
        session.start()

    async def _spoken_changed(self) -> None:
        for session in self._sessions.values():
            session.segmenter.passthrough = self._passes_through(session.target)

    async def _stop_target(self, code: str) -> None:
        if (session := self._sessions.pop(code, None)) is not None:
            await session.stop()

    async def _glossary_changed(self) -> None:
        for session in self._sessions.values():
            session.glossary_changed()

    async def _send(self, frame: bytes) -> None:
        level = level_dbfs(frame)
        for session in self._sessions.values():
            session.queue_audio(frame, self.audio_ms, level)
