"""The engine contract, run against every engine: the scripted engine, the offline engine (real
models), the Voice Live engine and the gpt-realtime-translate engine (the real SDKs against their
test servers on 127.0.0.1).

Each opens its sessions and confirms them; gives every utterance of a spoken talk its caption and
its whole audio, in order (the audio before the end of its turn); stops within its bound; a
language that fails fails alone; hears a question's language for a while; and translates a typed
question by its model, or says it leaves that to the offline translators.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.engine_driver import Outcome, speak
from harness.scripted_engine import ScriptConfig, ScriptedEngine, utterance
from harness.translate_server import FakeTranslate
from harness.voicelive_server import FakeVoiceLive
from translator.audio.wav import read_wav
from translator.config import LocalConfig, load_settings
from translator.engines import table
from translator.engines.base import Engine
from translator.engines.events import (
    SessionState,
    SpeechStarted,
    SpeechStopped,
    TranslationAudio,
    TranslationText,
    TurnDone,
)
from translator.engines.local import mt
from translator.engines.local.engine import LocalEngine
from translator.engines.local.mt import ApertiumPipe, ApertiumTranslator
from translator.errors import PermanentEngineError
from translator.languages import get_language

STOP_BOUND_S = 10.0
TARGETS = ["es", "fr"]
# The talk fixture: two sentences of espeak-ng, 1.2 s of silence before, between and after.
SENTENCES = 2

Make = Callable[[list[str], set[str]], AbstractAsyncContextManager[Engine]]


@contextlib.asynccontextmanager
async def scripted(targets: list[str], failing: set[str]) -> AsyncIterator[Engine]:
    cues = [
        cue
        for target in targets
        for cue in utterance(target, 1, 1200, 2400, "Good morning everyone", f"[{target}] Buenos días", 1.1)
        + utterance(target, 2, 3600, 5000, "Please turn off your phones", f"[{target}] Apaguen", 1.4)
    ]
    config = ScriptConfig(tuple(cues), frozenset(failing))
    async with ScriptedEngine(get_language("en"), [get_language(t) for t in targets], config) as engine:
        yield engine


def apertium_stages(engine: LocalEngine, code: str) -> list[ApertiumPipe]:
    return [
        stage
        for translator in engine._translators_into(code)
        if isinstance(translator, ApertiumTranslator)
        for stage in translator.stages
    ]


@contextlib.asynccontextmanager
async def local(targets: list[str], failing: set[str]) -> AsyncIterator[Engine]:
    engine = LocalEngine(get_language("en"), [get_language(t) for t in targets], LocalConfig())
    async with engine:
        for code in failing:
            # The language's own translation stage hangs: its requests time out, its session restarts.
            others = {id(s) for t in targets if t != code for s in apertium_stages(engine, t)}
            own = [s for s in apertium_stages(engine, code) if id(s) not in others]
            for stage in own:
                os.killpg(stage._process.pid, signal.SIGSTOP)
        yield engine


@contextlib.asynccontextmanager
async def voicelive(targets: list[str], failing: set[str]) -> AsyncIterator[Engine]:
    locales = {get_language(code).locale for code in failing}
    async with FakeVoiceLive(refuse_locales=locales) as server:
        settings = load_settings(
            env={"AZURE_VOICELIVE_ENDPOINT": server.endpoint, "AZURE_VOICELIVE_API_KEY": "contract-key"},
            overrides={"targets": targets, "engine": "voicelive", "azure.model": "gpt-4.1"},
        )
        async with table.create_engine(settings.room_configs()[0]) as engine:
            yield engine


@contextlib.asynccontextmanager
async def realtime_translate(targets: list[str], failing: set[str]) -> AsyncIterator[Engine]:
    async with FakeTranslate(refuse_languages=failing) as server:
        settings = load_settings(
            env={"AZURE_OPENAI_ENDPOINT": server.endpoint, "AZURE_OPENAI_API_KEY": server.api_key},
            overrides={"targets": targets, "engine": "realtime-translate"},
        )
        async with table.create_engine(settings.room_configs()[0]) as engine:
            yield engine


@dataclass(frozen=True)
class Case:
    make: Make
    pace: float
    within_s: float
    hears_german: str | None
    """What refuses German on the floor (None: it is heard)."""
    translates_text: bool = False
    """Its model translates a typed question (else the offline translators do)."""


CASES = {
    "scripted": Case(scripted, pace=8, within_s=20, hears_german=None),
    "local": Case(local, pace=4, within_s=90, hears_german="is English-only: German is not heard"),
    "voicelive": Case(voicelive, pace=4, within_s=40, hears_german=None, translates_text=True),
    "realtime-translate": Case(realtime_translate, pace=4, within_s=40, hears_german=None),
}


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Case:
    # A hung offline translation stage is given up on quickly, as a dropped connection would be.
    monkeypatch.setattr(mt, "REQUEST_TIMEOUT_S", 1.0)
    return CASES[request.param]


def finished(outcome: Outcome, lang: str) -> list[str]:
    """The utterances of ``lang`` whose turn has ended, in order."""
    return [e.utterance for e in outcome.of(TurnDone) if e.target == lang]


def every_sentence_done(*langs: str) -> Callable[[Outcome], bool]:
    return lambda outcome: all(len(finished(outcome, lang)) >= SENTENCES for lang in langs)


async def test_it_opens_and_confirms_every_language(case: Case) -> None:
    async with case.make(TARGETS, set()) as engine:
        outcome = await speak(
            engine,
            b"",
            lambda o: all("ready" in o.states(lang) for lang in TARGETS),
            within_s=case.within_s,
        )
    for lang in TARGETS:
        states = outcome.states(lang)
        assert states[0] in ("connecting", "ready") and "ready" in states
        assert "failed" not in states


async def test_every_utterance_gets_its_caption_and_its_whole_audio_in_order(case: Case, talk: Path) -> None:
    async with case.make(TARGETS, set()) as engine:
        outcome = await speak(
            engine, read_wav(talk), every_sentence_done(*TARGETS), pace=case.pace, within_s=case.within_s
        )
        started = time.monotonic()
        await asyncio.wait_for(engine.stop(), STOP_BOUND_S)
        assert time.monotonic() - started < STOP_BOUND_S
    for lang in TARGETS:
        done = finished(outcome, lang)
        assert len(done) == SENTENCES, f"{lang}: one turn per sentence"
        utterances = outcome.utterances(lang)
        previous_end = 0
        for engine_id in done:
            heard = utterances[engine_id]
            assert heard.final and heard.text, f"{lang}: a final caption with a translation"
            assert heard.audio > 0 and heard.audio % 2 == 0, f"{lang}: translated audio, whole samples"
            assert heard.start_ms is not None and heard.end_ms is not None
            assert previous_end <= heard.start_ms < heard.end_ms, f"{lang}: on the talk's timeline, in order"
            previous_end = heard.end_ms
            events = [
                e for e in outcome.events if e.target == lang and getattr(e, "utterance", None) == engine_id
            ]
            kinds = [type(e) for e in events]
            assert kinds.index(SpeechStarted) < kinds.index(SpeechStopped)
            last_audio = max(i for i, kind in enumerate(kinds) if kind is TranslationAudio)
            assert last_audio < kinds.index(TurnDone), f"{lang}: the whole audio before the turn ends"
            assert any(kind is TranslationText for kind in kinds[: kinds.index(TurnDone) + 1])


async def test_a_failing_language_fails_alone(case: Case, talk: Path) -> None:
    async with case.make(TARGETS, {"fr"}) as engine:
        outcome = await speak(
            engine,
            read_wav(talk),
            lambda o: every_sentence_done("es")(o) and any(s != "ready" for s in o.states("fr")[1:]),
            pace=case.pace,
            within_s=case.within_s,
        )
    assert len(finished(outcome, "es")) == SENTENCES, "the other language carries on whole"
    assert all(s in ("connecting", "ready") for s in outcome.states("es"))
    assert set(outcome.states("fr")) & {"failed", "reconnecting"}, "the failing language says so"
    assert not any(
        isinstance(e, SessionState) and e.state == "failed" and e.target == "es" for e in outcome.events
    )


async def test_a_language_heard_for_a_question_changes_nothing_else(case: Case, talk: Path) -> None:
    """A question asked aloud in German: the engine hears it on the floor, or says why not with
    nothing changed; the talk is interpreted whole meanwhile, and the floor's own languages come back."""
    async with case.make(TARGETS, set()) as engine:
        talk_spoken = list(engine.spoken)
        german = get_language("de")
        if case.hears_german is not None:
            with pytest.raises(PermanentEngineError, match=case.hears_german):
                await engine.hear([*talk_spoken, german])
            assert engine.spoken == talk_spoken
            return
        await engine.hear([*talk_spoken, german])
        assert engine.spoken == [*talk_spoken, german]
        outcome = await speak(
            engine, read_wav(talk), every_sentence_done(*TARGETS), pace=case.pace, within_s=case.within_s
        )
        await engine.hear(talk_spoken)
        assert engine.spoken == talk_spoken
    for lang in TARGETS:
        assert len(finished(outcome, lang)) == SENTENCES, f"{lang}: every sentence, whole"
        assert all(heard.final and heard.text for heard in outcome.utterances(lang).values())


async def test_a_typed_question_is_translated_by_the_model_or_left_to_the_offline_translators(
    case: Case,
) -> None:
    asked = "¿Dónde está la sala principal?"
    async with case.make(TARGETS, set()) as engine:
        translated = await engine.translate_text(asked, get_language("es"), get_language("fr"))
    # The Voice Live test server's words for a translation into French.
    assert translated == (f"translated into fr-FR: {asked}" if case.translates_text else None)
