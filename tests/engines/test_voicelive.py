"""The Voice Live engine, through the real SDK, against a Voice Live–compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.voicelive_server import FakeVoiceLive
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.engines import create_engine
from translator.engines.events import (
    EngineFailure,
    SessionState,
    SourceText,
    SpeechStarted,
    SpeechStopped,
    TranslationAudio,
    TranslationText,
    TurnDone,
)
from translator.engines.voicelive import ROLLOVER_LEAD_S


def settings_for(server: FakeVoiceLive, *targets: str, **extra: object):
    return load_settings(
        env={"AZURE_VOICELIVE_ENDPOINT": server.endpoint, "AZURE_VOICELIVE_API_KEY": "test-key-123"},
        overrides={"targets": list(targets), "engine": "voicelive", **extra},
    )


async def run_talk(engine, wav: Path, until) -> list:
    events: list = []

    async def collect() -> None:
        async for event in engine.events():
            events.append(event)
            if until(events):
                return

    collector = asyncio.create_task(collect())
    async with WavSource(wav, pace=8) as source:
        async for frame in source.frames():
            await engine.send_audio(frame)
            if collector.done():
                break
    silence = bytes(960)
    for _ in range(50):
        await engine.send_audio(silence)
    await asyncio.wait_for(collector, 20)
    return events


async def test_session_configuration_on_the_wire(voicelive: FakeVoiceLive, talk: Path) -> None:
    settings = settings_for(voicelive, "es", "fr", **{"azure.model": "gpt-4.1"})
    async with create_engine(settings) as engine:
        await run_talk(
            engine, talk, lambda ev: sum(isinstance(e, SessionState) and e.state == "ready" for e in ev) == 2
        )
    assert len(voicelive.connections) == 2
    by_locale = {c.session_updates[0]["voice"]["locale"]: c for c in voicelive.connections}
    assert set(by_locale) == {"es-ES", "fr-FR"}
    spanish = by_locale["es-ES"]
    assert spanish.headers["api-key"] == "test-key-123"
    assert spanish.query["model"] == "gpt-4.1"
    session = spanish.session_updates[0]
    turn = session["turn_detection"]
    assert turn["type"] == "azure_semantic_vad_multilingual"
    assert turn["languages"] == ["en", "es"]
    assert turn["interrupt_response"] is False
    assert turn["remove_filler_words"] is True
    assert turn["end_of_utterance_detection"]["timeout_ms"] == 1000
    assert "English" in session["instructions"] and "Spanish" in session["instructions"]
    assert "Never answer" in session["instructions"]
    assert session["input_audio_transcription"] == {"model": "azure-speech", "language": "en-US"}
    assert session["voice"]["type"] == "azure-standard"
    assert session["voice"]["name"].endswith("MultilingualNeural")
    assert session["input_audio_noise_reduction"]["type"] == "azure_deep_noise_suppression"
    assert session["modalities"] == ["text", "audio"]
    assert session["input_audio_format"] == session["output_audio_format"] == "pcm16"


async def test_native_audio_model_uses_its_own_transcription(voicelive: FakeVoiceLive, talk: Path) -> None:
    settings = settings_for(voicelive, "es")
    async with create_engine(settings) as engine:
        await run_talk(
            engine, talk, lambda ev: any(isinstance(e, SessionState) and e.state == "ready" for e in ev)
        )
    session = voicelive.connections[0].session_updates[0]
    assert session["input_audio_transcription"]["model"] == "gpt-4o-transcribe"
    # Microsoft's docs: the semantic end-of-utterance model does not serve gpt-realtime.
    assert "end_of_utterance_detection" not in session["turn_detection"]


async def test_a_turn_becomes_normalized_events(voicelive: FakeVoiceLive, talk: Path) -> None:
    settings = settings_for(voicelive, "es")
    async with create_engine(settings) as engine:
        events = await run_talk(engine, talk, lambda ev: sum(isinstance(e, TurnDone) for e in ev) == 2)
    kinds = [type(e) for e in events if not isinstance(e, SessionState)]
    assert kinds.index(SpeechStarted) < kinds.index(SpeechStopped) < kinds.index(TranslationText)
    first = next(e for e in events if isinstance(e, SpeechStarted))
    stopped = next(e for e in events if isinstance(e, SpeechStopped))
    # The talk opens with 1.2 s of silence; espeak's first sentence lasts about a second.
    assert 1000 <= first.start_ms <= 1500 < stopped.end_ms <= 3500
    same_utterance = [e for e in events if getattr(e, "utterance", None) == first.utterance]
    assert any(
        isinstance(e, SourceText) and e.final and e.text == "Good morning everyone" for e in same_utterance
    )
    finals = [e for e in same_utterance if isinstance(e, TranslationText) and e.final]
    assert finals and finals[0].text.startswith("translated into es-ES")
    audio = b"".join(e.pcm for e in same_utterance if isinstance(e, TranslationAudio))
    assert len(audio) == 3 * 4800
    assert [e.status for e in events if isinstance(e, TurnDone)] == ["completed", "completed"]
    # Finished turns are deleted from the conversation: the model never sees a dialogue build up.
    deleted = {e["item_id"] for e in voicelive.connections[0].of_type("conversation.item.delete")}
    assert first.utterance in deleted


async def test_bad_credentials_fail_the_language_for_good(talk: Path) -> None:
    server = FakeVoiceLive(reject_status=401)
    await server.start()
    try:
        async with create_engine(settings_for(server, "es")) as engine:
            events = await run_talk(
                engine, talk, lambda ev: any(isinstance(e, SessionState) and e.state == "failed" for e in ev)
            )
    finally:
        await server.stop()
    failure = next(e for e in events if isinstance(e, EngineFailure))
    assert not failure.recoverable and "401" in failure.message
    assert "test-key-123" not in failure.message


async def test_a_dropped_session_reconnects_and_resends_its_configuration(
    voicelive: FakeVoiceLive, talk: Path
) -> None:
    async with create_engine(settings_for(voicelive, "es", "fr")) as engine:
        events: list = []
        both_ready = asyncio.Event()

        async def collect() -> None:
            async for event in engine.events():
                events.append(event)
                if sum(isinstance(e, SessionState) and e.state == "ready" for e in events) == 2:
                    both_ready.set()

        collector = asyncio.create_task(collect())
        await asyncio.wait_for(both_ready.wait(), 10)
        await voicelive.drop_all()
        async with asyncio.timeout(10):
            while sum(isinstance(e, SessionState) and e.state == "ready" for e in events) < 4:
                await engine.send_audio(bytes(960))
                await asyncio.sleep(0.02)
        collector.cancel()
    assert len(voicelive.connections) == 4
    assert all(len(c.session_updates) == 1 for c in voicelive.connections)
    assert any(isinstance(e, SessionState) and e.state == "reconnecting" for e in events)


async def test_a_session_is_replaced_before_it_expires_without_a_failure() -> None:
    server = FakeVoiceLive(session_seconds=int(ROLLOVER_LEAD_S) + 1)
    await server.start()
    try:
        async with create_engine(settings_for(server, "es")) as engine:
            events: list = []
            replaced = asyncio.Event()

            async def collect() -> None:
                async for event in engine.events():
                    events.append(event)
                    if sum(isinstance(e, SessionState) and e.state == "ready" for e in events) >= 2:
                        replaced.set()

            collector = asyncio.create_task(collect())
            await asyncio.wait_for(replaced.wait(), 10)
            collector.cancel()
    finally:
        await server.stop()
    assert len(server.connections) >= 2
    assert all(len(c.session_updates) == 1 for c in server.connections)
    assert not any(isinstance(e, EngineFailure) for e in events)
    assert not any(isinstance(e, SessionState) and e.state == "reconnecting" for e in events)
