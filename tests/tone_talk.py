"""The talk the outputs' and pages' tests hear: three 1 s tones (300, 350, 400 Hz) with pauses, each
answered by the Voice Live test server with 1 s at 440 Hz, captioned with the tone's name."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from harness.live import LiveServer, live_server
from harness.voicelive_server import FakeVoiceLive, tone_name
from tests.server.test_stream import three_turns
from translator.audio.wav import WavSource
from translator.config import load_settings


@contextlib.asynccontextmanager
async def tone_talk(
    folder: Path, overrides: dict[str, object] | None = None, *, loop: bool = False
) -> AsyncIterator[LiveServer]:
    """The service on that talk, into Spanish and French (``overrides``: settings by dotted name)."""
    async with FakeVoiceLive(transcribe=tone_name, reply_s=(1.0,)) as voicelive:
        settings = load_settings(
            env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "tone-talk-key"},
            overrides={
                "targets": ["es", "fr"],
                "engine": "voicelive",
                "azure.model": "gpt-4.1",
                **(overrides or {}),
            },
        )
        source = WavSource(three_turns(folder / "talk.wav"), loop=loop)
        async with live_server(settings, source, outputs=True) as server:
            yield server
