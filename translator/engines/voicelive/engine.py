"""Azure AI Voice Live: one interpreter session per target language, each supervised on its own."""

from __future__ import annotations

import asyncio
from typing import Any

from azure.core.credentials import AzureKeyCredential

from translator.config import AzureConfig
from translator.engines.base import Engine
from translator.engines.voicelive.session import LanguageSession
from translator.errors import PermanentEngineError
from translator.languages import Language


class VoiceLiveEngine(Engine):
    """One Voice Live session per target language; a language that fails never stops the others."""

    name = "voicelive"

    def __init__(self, source: Language, targets: list[Language], config: AzureConfig) -> None:
        super().__init__(source, targets)
        self.config = config
        self.credential: Any = None
        self._sessions: list[LanguageSession] = []

    async def start(self) -> None:
        """Start one supervised session per target; returns at once, sessions report their state."""
        if not self.config.endpoint:
            raise PermanentEngineError("Voice Live needs an endpoint (AZURE_VOICELIVE_ENDPOINT)")
        if self.config.api_key:
            self.credential = AzureKeyCredential(self.config.api_key)
        else:
            from azure.identity.aio import DefaultAzureCredential

            self.credential = DefaultAzureCredential()
        self._sessions = [LanguageSession(self, target) for target in self.targets]
        for session in self._sessions:
            session.start()

    async def stop(self) -> None:
        """Close every session, then the credential."""
        await asyncio.gather(*(s.stop() for s in self._sessions))
        if hasattr(self.credential, "close"):
            await self.credential.close()

    async def _send(self, frame: bytes) -> None:
        for session in self._sessions:
            session.queue_audio(frame, self.audio_ms)
