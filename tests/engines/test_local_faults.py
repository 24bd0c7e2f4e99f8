"""Faults injected into the offline engine's stages and the input of a running server: the language
at fault recovers with every later caption under its own sentence, and the others never notice."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from harness.live import listen, live_server, talk_wav
from tests.helpers import assert_own_sentences
from translator.audio.source import AudioSource
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.engines.local import mt
from translator.engines.local.tts import EspeakVoice

SENTENCES = [
    "Good morning everyone.",
    "Please turn off your phones.",
    "The coffee break is at eleven.",
    "Lunch is served in the main hall.",
    "Thank you for coming today.",
]


@pytest.fixture(scope="module")
def long_talk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return talk_wav(SENTENCES, tmp_path_factory.mktemp("faults") / "talk.wav", gap_s=1.0)


def settings_for(talk: Path):
    return load_settings(
        env={}, overrides={"engine": "local", "targets": ["es", "fr"], "audio.input": str(talk)}
    )


def all_finals(count: int):
    return lambda r: len(r.finals()) >= count


async def test_a_hung_translation_stage_is_killed_and_the_language_recovers(
    long_talk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mt, "REQUEST_TIMEOUT_S", 1.0)
    async with live_server(settings_for(long_talk), WavSource(long_talk, pace=1.5)) as server:
        pipes = server.room.pipeline.engine._pipes  # type: ignore[attr-defined]
        french_only = pipes["cat-fra"]

        # Started with the engine: the French stage hangs before its first request.
        assert french_only._process is not None
        os.killpg(french_only._process.pid, signal.SIGSTOP)
        spanish, french = await asyncio.gather(
            listen(f"{server.ws}/ws/listen/es", all_finals(5), within_s=90),
            listen(f"{server.ws}/ws/listen/fr", all_finals(5), within_s=90),
        )
        async with httpx.AsyncClient(base_url=server.url) as client:
            ready = await client.get("/readyz")
    states = [m["state"] for m in french.other if m["type"] == "status"]
    assert "reconnecting" in states and states[-1] == "ready"
    failed = [c for c in french.finals().values() if not c["text"]]
    assert len(failed) == 1, "only the utterance in the hung stage is lost"
    await assert_own_sentences(french, "fr")
    await assert_own_sentences(spanish, "es")
    assert all(m["state"] != "reconnecting" for m in spanish.other if m["type"] == "status")
    assert ready.status_code == 200


async def test_an_unexpected_error_in_synthesis_restarts_that_language_only(
    long_talk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = EspeakVoice.synthesize
    failures = {"fr": 1}

    async def synthesize_with_one_bug(self: EspeakVoice, text: str) -> bytes:
        if self.voice.name.startswith("fr") and failures["fr"]:
            failures["fr"] -= 1
            raise RuntimeError("injected")
        return await original(self, text)

    monkeypatch.setattr(EspeakVoice, "synthesize", synthesize_with_one_bug)
    async with live_server(settings_for(long_talk), WavSource(long_talk, pace=1.5)) as server:
        spanish, french = await asyncio.gather(
            listen(f"{server.ws}/ws/listen/es", lambda r: len(r.ended()) >= 5, within_s=90),
            listen(f"{server.ws}/ws/listen/fr", lambda r: len(r.ended()) >= 4, within_s=90),
        )
    # The first French utterance got its caption but no audio; every later one got both.
    assert len(french.ended()) == 4 and len(spanish.ended()) == 5
    states = [m["state"] for m in french.other if m["type"] == "status"]
    assert states[-2:] == ["reconnecting", "ready"]
    await assert_own_sentences(french, "fr")


class _FailingOnce(AudioSource):
    """A WAV source whose device 'fails' once mid-talk with an error nobody foresaw."""

    def __init__(self, path: Path) -> None:
        self.wav = WavSource(path, pace=1.5)
        self.description = self.wav.description
        self.opened = 0
        self.failed = False

    async def open(self) -> None:
        self.opened += 1
        await self.wav.open()

    async def frames(self) -> AsyncIterator[bytes]:
        count = 0
        async for frame in self.wav.frames():
            count += 1
            if count == 100 and not self.failed:
                self.failed = True
                raise RuntimeError("injected input fault")
            yield frame


async def test_an_input_that_fails_unexpectedly_is_restarted(long_talk: Path) -> None:
    source = _FailingOnce(long_talk)
    async with live_server(settings_for(long_talk), source) as server:
        received = await listen(f"{server.ws}/ws/listen/es", all_finals(4), within_s=90)
        async with httpx.AsyncClient(base_url=server.url) as client:
            status = (await client.get("/api/status", headers=server.operator)).json()
    assert source.opened == 2 and status["input"]["restarts"] == 1
    assert status["input"]["state"] in ("running", "ended")
    await assert_own_sentences(received, "es")
