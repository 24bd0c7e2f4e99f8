"""The Voice Live engine, through the real SDK, against a Voice Live–compatible server on 127.0.0.1.

Most talks here are pure tones, one frequency per turn: the test server "transcribes" a turn as its
frequency, so every caption can be checked against the sentence it belongs to, on any connection.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.engine_driver import FRAME, Outcome, speak
from harness.voicelive_server import (
    CASCADED,
    CHAT_ANSWER,
    RATE,
    FakeVoiceLive,
    tone,
    tone_names,
    voice_locale,
)
from translator.audio.wav import read_wav
from translator.config import Settings, load_settings
from translator.engines import table
from translator.engines.base import Engine
from translator.engines.events import (
    EngineFailure,
    SessionState,
    SpeechStarted,
    SpeechStopped,
    TokensUsed,
    TurnDone,
)
from translator.engines.voicelive import connection
from translator.engines.voicelive.configure import session_config
from translator.engines.voicelive.session import ROLLOVER_LEAD_S
from translator.errors import ConfigError, PermanentEngineError
from translator.glossary import Glossary
from translator.languages import get_language
from translator.talk.room import check_targets

# A fast speaker: long turns straight after short ones, pauses just over the service's 500 ms.
FAST_TALK = [(300, 3.0), (350, 0.4), (400, 2.0), (450, 0.4), (500, 0.5), (550, 4.0), (600, 0.4), (650, 1.0)]


def create_engine(settings: Settings) -> Engine:
    """The engine of the settings' (first) room, not started."""
    return table.create_engine(settings.room_configs()[0])


def settings_for(server: FakeVoiceLive, *targets: str, **extra: object):
    return load_settings(
        env={"AZURE_VOICELIVE_ENDPOINT": server.endpoint, "AZURE_VOICELIVE_API_KEY": "test-key-123"},
        overrides={"targets": list(targets), "engine": "voicelive", "azure.model": "gpt-4.1", **extra},
    )


def tone_talk(turns: list[tuple[int, float]], gap_s: float = 0.6) -> bytes:
    silence = bytes(int(RATE * gap_s) * 2)
    return bytes(RATE) + b"".join(tone(seconds, freq) + silence for freq, seconds in turns)


def all_turns_finished(count: int, lang: str = "es") -> Callable[[Outcome], bool]:
    """Every one of ``count`` turns is in a finished utterance whose source text is final."""

    def check(outcome: Outcome) -> bool:
        done = [u for u in outcome.utterances(lang).values() if u.status and u.source_final]
        return sum(len(u.source.split()) // 2 for u in done) >= count

    return check


def assert_every_turn_once_under_its_own_sentence(outcome: Outcome, turns: list[tuple[int, float]]) -> None:
    utterances = [u for u in outcome.utterances().values() if u.status]
    spoken = [f"tone {freq}" for freq, _ in turns]
    heard = [name for u in utterances for name in _names(u.source)]
    assert heard == spoken, "every turn in exactly one caption, in order"
    for u in utterances:
        assert u.final and u.status == "completed"
        assert u.text == f"translated into es-ES: {u.source}", (
            "the caption's translation is its own sentence's"
        )
        assert u.audio == int(0.3 * RATE) * 2, "the whole of the translated audio"


def _names(source: str) -> list[str]:
    words = source.split()
    return [" ".join(words[i : i + 2]) for i in range(0, len(words), 2)]


async def test_session_configuration_on_the_wire(voicelive: FakeVoiceLive) -> None:
    glossary = {"keep": ["Contoso"], "terms": {"es": {"keynote": "ponencia"}, "fr": {"keynote": "plénière"}}}
    settings = settings_for(voicelive, "es", "fr", glossary=glossary)
    async with create_engine(settings) as engine:
        outcome = await speak(
            engine, bytes(RATE), lambda o: o.states("es") == o.states("fr") == ["connecting", "ready"]
        )
    assert len(voicelive.connections) == 2
    by_locale = {voice_locale(c.session_updates[0]): c for c in voicelive.connections}
    assert set(by_locale) == {"es-ES", "fr-FR"}
    spanish = by_locale["es-ES"]
    assert spanish.headers["api-key"] == "test-key-123"
    assert spanish.query["model"] == "gpt-4.1"
    session = spanish.session_updates[0]
    turn = session["turn_detection"]
    assert turn["type"] == "azure_semantic_vad_multilingual"
    assert turn["languages"] == ["en", "es"]
    # The engine asks for every translation itself, one at a time.
    assert turn["create_response"] is False and turn["interrupt_response"] is False
    assert turn["end_of_utterance_detection"]["timeout_ms"] == 1000
    assert "English" in session["instructions"] and "Spanish" in session["instructions"]
    assert "Never answer" in session["instructions"] and "- Contoso" in session["instructions"].splitlines()
    assert "- keynote → ponencia" in session["instructions"]
    assert "plénière" not in session["instructions"], "each language gets its own terms"
    assert session["input_audio_transcription"] == {
        "model": "azure-speech",
        "language": "en-US",
        "phrase_list": ["Contoso", "keynote"],
    }
    assert session["max_response_output_tokens"] == 2048
    assert "temperature" not in session, "sent only when set"
    assert session["voice"]["name"].endswith("MultilingualNeural")
    assert session["modalities"] == ["text", "audio"]
    assert session["input_audio_format"] == session["output_audio_format"] == "pcm16"
    assert not outcome.of(EngineFailure)


@pytest.mark.parametrize(
    ("model", "transcription", "eou", "bias", "silence_ms", "voice"),
    [
        ("gpt-realtime", "gpt-4o-transcribe", False, "prompt", 800, "azure-standard"),
        ("gpt-realtime-mini", "gpt-4o-transcribe", False, "prompt", 800, "azure-standard"),
        ("gpt-realtime-datazone", "gpt-4o-transcribe", False, "prompt", 800, "azure-standard"),
        ("gpt-realtime-2.1", "azure-speech", False, "", 800, "azure-standard"),
        ("gpt-realtime-1.5-datazone", "azure-speech", False, "", 800, "azure-standard"),
        ("gpt-4.1", "azure-speech", True, "phrase_list", 500, "azure-standard"),
        ("gpt-4.1-nano", "azure-speech", True, "phrase_list", 500, "azure-standard"),
        ("gpt-5-mini", "azure-speech", True, "phrase_list", 500, "azure-standard"),
        ("gpt-5.4", "azure-speech", True, "phrase_list", 500, "azure-standard"),
        ("phi4-mm-realtime", "azure-speech", False, "", 800, "azure-standard"),
        ("azure-realtime", "azure-speech", False, "", 800, "azure-realtime-native"),
        # Not in the table (gpt-4o-realtime-preview has left Voice Live's): what every model accepts.
        ("gpt-4o-realtime-preview", "azure-speech", False, "", 800, "azure-standard"),
    ],
)
async def test_the_capability_table_drives_what_each_model_gets(
    model: str, transcription: str, eou: bool, bias: str, silence_ms: int, voice: str
) -> None:
    glossary = {"keep": ["Contoso"]}
    async with (
        FakeVoiceLive(transcribe=tone_names) as server,
        create_engine(settings_for(server, "es", glossary=glossary, **{"azure.model": model})) as engine,
    ):
        outcome = await speak(engine, tone_talk([(400, 0.8)]), all_turns_finished(1))
    session = server.connections[0].session_updates[0]
    assert session["input_audio_transcription"]["model"] == transcription
    assert ("end_of_utterance_detection" in session["turn_detection"]) is eou
    biased = {key for key in ("phrase_list", "prompt") if key in session["input_audio_transcription"]}
    assert biased == ({bias} if bias else set()), "the glossary biases the source captions where it can"
    if bias == "prompt":
        assert session["input_audio_transcription"]["prompt"] == "Names and terms: Contoso."
    assert session["turn_detection"]["silence_duration_ms"] == silence_ms
    assert session["turn_detection"]["prefix_padding_ms"] == 420
    assert session["voice"]["type"] == voice
    if voice == "azure-standard":
        # The accent preferred, not forced: names in other scripts are still spoken.
        assert session["voice"]["prefer_locales"] == ["es-ES"] and "locale" not in session["voice"]
    assert not server.refusals, "the strict service refused nothing"
    assert [u.source for u in outcome.utterances().values()] == ["tone 400"]
    assert CHAT_ANSWER not in server.answers


async def test_a_model_that_does_not_serve_a_language_says_which_it_serves() -> None:
    async with FakeVoiceLive(transcribe=tone_names) as server:
        settings = settings_for(server, "es", "hi", **{"azure.model": "phi4-mm-realtime"})
        with pytest.raises(PermanentEngineError) as refused:
            async with create_engine(settings):
                pass
        async with create_engine(settings_for(server, "es", **{"azure.model": "phi4-mm-realtime"})) as engine:
            servable = {lang.code for lang in engine.servable()}
            await speak(engine, bytes(FRAME), lambda o: "ready" in o.states())
    assert (
        str(refused.value)
        == "phi4-mm-realtime does not serve Hindi; it serves: de, en, es, fr, it, ja, pt, zh"
    )
    assert server.connections == [] or all(
        voice_locale(c.session_updates[0]) != "hi-IN" for c in server.connections
    )
    assert "hi" not in servable and {"es", "fr", "de"} <= servable


def test_temperature_is_sent_only_when_set() -> None:
    settings = load_settings(
        env={"AZURE_VOICELIVE_ENDPOINT": "https://x.test/"}, overrides={"azure.temperature": 0.7}
    )
    session = session_config([get_language("en")], get_language("es"), settings.azure, settings.glossary)
    assert session["temperature"] == 0.7


@pytest.mark.parametrize(
    ("strict", "model"),
    [(True, "gpt-4.1"), (True, "gpt-realtime"), (False, "gpt-4.1"), (False, "gpt-realtime")],
)
async def test_a_fast_speaker_gets_every_turn_translated_once_under_its_own_sentence(
    strict: bool, model: str
) -> None:
    # Responses take 1.2 s: turns pile up while one is being translated. On gpt-4.1 (cascaded) each
    # turn joins the conversation 200 ms after its commit, as recorded; on gpt-realtime at once.
    async with (
        FakeVoiceLive(strict=strict, transcribe=tone_names, response_s=1.2) as server,
        create_engine(settings_for(server, "es", **{"azure.model": model})) as engine,
    ):
        outcome = await speak(engine, tone_talk(FAST_TALK), all_turns_finished(len(FAST_TALK)), pace=2)
    assert_every_turn_once_under_its_own_sentence(outcome, FAST_TALK)
    groups = len(outcome.of(TurnDone))
    assert groups < len(FAST_TALK), "turns spoken during a translation were translated together"
    assert CHAT_ANSWER not in server.answers, "the model was never asked with nothing to translate"
    assert not server.refusals, "no delete of an item that is not there, nothing refused"
    creates = server.connections[0].of_type("response.create")
    assert len(creates) == groups and all(c["response"]["cancel_previous"] is False for c in creates)
    # Items leave the conversation only once both the response and the transcription are finished.
    assert server.sessions[0].conversation == [] and not server.early_deletes


# Twelve sentences in 36 s with 0.6 s between them: never the 800 ms of silence that ends a turn on
# a model without an end-of-utterance model.
RUNNING_TALK = [(300 + 50 * i, 2.4) for i in range(12)]


@pytest.mark.parametrize("model", ["gpt-realtime", "gpt-4.1"])
async def test_a_speaker_who_never_pauses_long_is_heard_within_the_bound_in_whole_sentences(
    model: str,
) -> None:
    async with (
        FakeVoiceLive(transcribe=tone_names, response_s=0.3) as server,
        create_engine(settings_for(server, "es", **{"azure.model": model})) as engine,
    ):
        outcome = await speak(
            engine, tone_talk(RUNNING_TALK), all_turns_finished(len(RUNNING_TALK)), pace=3, within_s=60
        )
    assert_every_turn_once_under_its_own_sentence(outcome, RUNNING_TALK)
    spans = [u.end_ms - u.start_ms for u in outcome.utterances().values() if u.start_ms and u.end_ms]
    assert max(spans) <= 6000, f"no caption waits on more than 6 s of speech: {spans}"
    if model == "gpt-realtime":
        assert server.client_commits, "the engine ended the long turns, at pauses"
        # Whole sentences: each turn ended in a pause between them, two sentences a turn.
        assert all(len(_names(u.source)) == 2 for u in outcome.utterances().values() if u.status)


async def test_a_speaker_who_does_not_pause_at_all_is_cut_at_the_bound_and_nothing_is_lost() -> None:
    async with (
        FakeVoiceLive(transcribe=tone_names, response_s=0.3) as server,
        create_engine(settings_for(server, "es", **{"azure.model": "gpt-realtime"})) as engine,
    ):
        outcome = await speak(engine, tone_talk([(300, 15.0)]), all_turns_finished(3), pace=3)
    heard = [u for u in outcome.utterances().values() if u.status]
    assert [u.source for u in heard] == ["tone 300"] * 3 and all(u.status == "completed" for u in heard)
    spans = [(u.start_ms, u.end_ms) for u in heard]
    assert all(end - start <= 6000 for start, end in spans), spans  # type: ignore[operator]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans)), f"one after another, no gap: {spans}"
    assert sum(server.turn_seconds) >= 15.0, "every second of the speech was committed"


async def test_a_glossary_change_applies_from_the_next_turn_on_the_same_session() -> None:
    async with (
        FakeVoiceLive(transcribe=tone_names) as server,
        create_engine(settings_for(server, "es", "fr")) as engine,
    ):
        before = await speak(engine, tone_talk([(650, 1.0)]), all_turns_finished(1))
        await engine.set_glossary(Glossary(keep=["tone 650"], terms={"es": {"tone 750": "tono setecientos"}}))
        after = await speak(engine, tone_talk([(750, 1.0), (650, 1.0)]), all_turns_finished(2))
    assert [u.text for u in before.utterances().values()] == ["translated into es-ES: tone 650"]
    spanish = [u.text for u in after.utterances().values()]
    assert spanish == ["translated into es-ES: tono setecientos", "translated into es-ES: tone 650"]
    assert [u.text for u in after.utterances("fr").values()][0] == "translated into fr-FR: tone 750"
    assert all(u.audio == int(0.3 * RATE) * 2 for u in after.utterances().values()), "no audio lost"
    # The same sessions, changed in place: only the instructions and the phrase list.
    assert len(server.connections) == 2 and not server.refusals
    by_locale = {voice_locale(c.session_updates[0]): c.session_updates for c in server.connections}
    for locale, updates in by_locale.items():
        assert len(updates) == 2 and set(updates[1]) == {"instructions", "input_audio_transcription"}
        assert updates[1]["input_audio_transcription"]["phrase_list"] == ["tone 650", "tone 750"]
        assert "- tone 650" in updates[1]["instructions"].splitlines()
        assert ("tone 750 → tono setecientos" in updates[1]["instructions"]) == (locale == "es-ES")


async def test_a_refused_update_replaces_the_connection_and_keeps_the_last_accepted_glossary() -> None:
    # The service refuses every later message of a session after one refusal: the engine must not
    # keep a connection that accepts audio and translates nothing.
    async with (
        FakeVoiceLive(transcribe=tone_names, refuse_instructions="tone 750 → forbidden") as server,
        create_engine(settings_for(server, "es", glossary={"keep": ["tone 650"]})) as engine,
    ):
        before = await speak(engine, tone_talk([(650, 1.0)]), all_turns_finished(1))
        await engine.set_glossary(Glossary(terms={"es": {"tone 750": "forbidden"}}))
        after = await speak(
            engine,
            tone_talk([(750, 1.0), (850, 1.0)]),
            lambda o: all_turns_finished(2)(o) and len(server.connections) == 3,
            within_s=60,
        )
        await engine.set_glossary(Glossary(terms={"es": {"tone 950": "tono novecientos"}}))
        later = await speak(engine, tone_talk([(950, 1.0)]), all_turns_finished(1))
    assert [u.text for u in before.utterances().values()] == ["translated into es-ES: tone 650"]
    # Every turn translated, with the glossary the service last accepted.
    assert [u.text for u in after.utterances().values()] == [
        "translated into es-ES: tone 750",
        "translated into es-ES: tone 850",
    ]
    notice = [e.detail for e in after.of(SessionState) if e.detail]
    assert notice and "the glossary update was refused" in notice[-1] and "previous glossary" in notice[-1]
    # The refused session, a successor refused with the new glossary, one with the last accepted.
    first, refused, fallback = server.connections
    assert "forbidden" in refused.session_updates[0]["instructions"]
    assert "forbidden" not in fallback.session_updates[0]["instructions"]
    assert "- tone 650" in fallback.session_updates[0]["instructions"].splitlines()
    # A later glossary the service accepts applies to the successor in place.
    assert [u.text for u in later.utterances().values()] == ["translated into es-ES: tono novecientos"]
    assert len(server.connections) == 3
    assert later.of(SessionState)[-1].detail == "", "the notice is gone once a glossary is accepted"


# azure-ai-voicelive 1.3.1 leaves its aiohttp session to the garbage collector when a handshake is
# cut short (the engine collects it at once, so the warning comes within this test).
@pytest.mark.filterwarnings("ignore:Unclosed client session:ResourceWarning")
async def test_a_black_holed_handshake_is_given_up_within_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "CONNECT_TIMEOUT_S", 1.0)
    held: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    hole = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = hole.sockets[0].getsockname()[1]
    settings = load_settings(
        env={"AZURE_VOICELIVE_ENDPOINT": f"http://127.0.0.1:{port}", "AZURE_VOICELIVE_API_KEY": "k"},
        overrides={"targets": ["es"], "engine": "voicelive"},
    )
    started = time.monotonic()
    try:
        async with create_engine(settings) as engine:
            outcome = await speak(engine, bytes(FRAME), lambda o: len(o.of(EngineFailure)) >= 2, within_s=20)
    finally:
        for writer in held:
            writer.close()
        hole.close()
        await hole.wait_closed()
    first, second = outcome.of(EngineFailure)[:2]
    assert first.message == "Voice Live did not answer in time" and first.recoverable
    assert time.monotonic() - started < 10, "two attempts within the bound and the back-off"
    assert "ready" not in outcome.states()
    # Each attempt cut short (timed out, or cancelled when the engine stopped) closed the SDK's
    # aiohttp session: the garbage collector finds none left open.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert not [w for w in caught if "Unclosed" in str(w.message)]


async def test_a_translation_over_the_quota_is_asked_again_after_a_back_off_and_usage_is_told() -> None:
    talk = [(300, 0.6), (400, 0.6)]
    async with (
        FakeVoiceLive(transcribe=tone_names, rate_limited={1, 2}) as server,
        create_engine(settings_for(server, "es")) as engine,
    ):
        outcome = await speak(engine, tone_talk(talk, gap_s=1.0), all_turns_finished(2), within_s=60)
    assert_every_turn_once_under_its_own_sentence(outcome, talk)
    conn = server.connections[0]
    asked = [
        at for e, at in zip(conn.events, conn.received_at, strict=True) if e["type"] == "response.create"
    ]
    # Refused twice for the quota, then translated: each time asked again only once the quota resets.
    assert len(asked) == 3 and all(
        later - earlier >= 0.45 for earlier, later in itertools.pairwise(asked[:3])
    )
    spent = outcome.of(TokensUsed)
    assert len(spent) == 3 and all(e.tokens > 100 for e in spent), "every response's tokens are told"


async def test_late_and_failed_transcriptions() -> None:
    # A native audio model hears the audio itself: a turn whose caption failed is still translated.
    talk = [(300, 0.6), (400, 0.6), (500, 0.6)]
    async with (
        FakeVoiceLive(transcribe=tone_names, transcription_delay_s=1.5, failed_transcriptions={2}) as server,
        create_engine(settings_for(server, "es", **{"azure.model": "gpt-realtime"})) as engine,
    ):
        outcome = await speak(
            engine,
            tone_talk(talk, gap_s=2.5),
            lambda o: sum(u.source_final for u in o.utterances().values()) == 3,
        )
    utterances = list(outcome.utterances().values())
    assert [u.source for u in utterances] == ["tone 300", "", "tone 500"]
    assert [u.text for u in utterances] == [f"translated into es-ES: tone {f}" for f in (300, 400, 500)]
    assert all(u.final and u.source_final for u in utterances)
    assert server.sessions[0].conversation == [] and not server.early_deletes


async def test_a_cascaded_model_never_asks_for_a_turn_it_could_not_recognise() -> None:
    # gpt-4.1 translates text: a turn its speech recognition failed on has nothing to translate.
    talk = [(300, 0.6), (400, 0.6), (500, 0.6)]
    async with (
        FakeVoiceLive(transcribe=tone_names, failed_transcriptions={2}) as server,
        create_engine(settings_for(server, "es")) as engine,
    ):
        outcome = await speak(
            engine,
            tone_talk(talk, gap_s=1.0),
            lambda o: (
                sum(bool(u.status) for u in o.utterances().values()) == 2
                and not server.sessions[0].conversation
            ),
        )
    utterances = list(outcome.utterances().values())
    assert [u.source for u in utterances] == ["tone 300", "tone 500"]
    assert [u.text for u in utterances] == [
        "translated into es-ES: tone 300",
        "translated into es-ES: tone 500",
    ]
    assert CHAT_ANSWER not in server.answers and not server.refusals


async def test_a_failed_response_is_asked_again_once_and_then_reported() -> None:
    async with (
        FakeVoiceLive(transcribe=tone_names, outcomes=("failed", "completed", "failed", "failed")) as server,
        create_engine(settings_for(server, "es")) as engine,
    ):
        outcome = await speak(engine, tone_talk([(300, 0.6), (400, 0.6)], gap_s=2.0), all_turns_finished(2))
    first, second = outcome.utterances().values()
    assert (first.status, first.text) == ("completed", "translated into es-ES: tone 300")
    assert (second.status, second.text, second.final) == ("failed", "", True)
    failures = [e.message for e in outcome.of(EngineFailure)]
    assert failures == ["a translation ended failed (the model failed)"]
    assert len(server.connections[0].of_type("response.create")) == 4
    assert server.sessions[0].conversation == []


async def test_an_incomplete_response_keeps_what_came() -> None:
    async with (
        FakeVoiceLive(transcribe=tone_names, outcomes=("incomplete",)) as server,
        create_engine(settings_for(server, "es")) as engine,
    ):
        outcome = await speak(engine, tone_talk([(300, 0.6)]), all_turns_finished(1))
    (utterance,) = outcome.utterances().values()
    assert utterance.status == "incomplete" and utterance.final
    assert utterance.text == "translated into"
    assert utterance.audio == int(0.3 * RATE) // 2 * 2


async def test_a_refused_configuration_fails_that_language_only() -> None:
    async with (
        FakeVoiceLive(transcribe=tone_names, refuse_locales={"fr-FR"}) as server,
        create_engine(settings_for(server, "es", "fr")) as engine,
    ):
        outcome = await speak(engine, tone_talk([(300, 0.6)]), all_turns_finished(1))
    assert "ready" not in outcome.states("fr")
    failed = [e for e in outcome.of(SessionState) if e.target == "fr" and e.state == "failed"]
    assert failed and "not available for locale 'fr-FR'" in failed[0].detail
    assert sum(len(c.session_updates) for c in server.connections) == 2, "no retry loop"
    assert [u.text for u in outcome.utterances("es").values()] == ["translated into es-ES: tone 300"]
    assert CHAT_ANSWER not in server.answers


@pytest.mark.parametrize(
    ("status", "words"),
    [(400, "check the model name"), (401, "key or the role"), (403, "role"), (404, "wrong endpoint")],
)
async def test_a_handshake_that_retrying_cannot_fix_fails_plainly(status: int, words: str) -> None:
    async with (
        FakeVoiceLive(reject_status=status) as server,
        create_engine(settings_for(server, "es")) as engine,
    ):
        outcome = await speak(engine, bytes(FRAME), lambda o: "failed" in o.states())
        await asyncio.sleep(1.5)
    (failure,) = outcome.of(EngineFailure)
    assert not failure.recoverable and words in failure.message and str(status) in failure.message
    assert "test-key-123" not in failure.message
    assert server.connections == [] and len(server.handshake_statuses) == 0


async def test_quota_and_unavailable_are_retried_with_backoff() -> None:
    async with (
        FakeVoiceLive(transcribe=tone_names, handshake_statuses=[429, 503]) as server,
        create_engine(settings_for(server, "es")) as engine,
    ):
        outcome = await speak(engine, tone_talk([(300, 0.6)]), all_turns_finished(1))
    messages = [e.message for e in outcome.of(EngineFailure)]
    assert messages == ["Voice Live quota exceeded (HTTP 429)", "Voice Live is unavailable (HTTP 503)"]
    assert outcome.states()[-1] == "ready"
    assert [u.text for u in outcome.utterances().values()] == ["translated into es-ES: tone 300"]


def no_azure_identity(monkeypatch: pytest.MonkeyPatch, path: str = "/nonexistent") -> None:
    """No identity anywhere DefaultAzureCredential looks, and ``path`` as the only PATH."""
    for name in (
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_USERNAME",
        "IDENTITY_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("HOME", "/nonexistent")


async def test_a_credential_that_cannot_sign_in_fails_the_language(monkeypatch: pytest.MonkeyPatch) -> None:
    no_azure_identity(monkeypatch)
    server = FakeVoiceLive()
    await server.start()
    settings = load_settings(
        env={"AZURE_VOICELIVE_ENDPOINT": server.endpoint},
        overrides={"targets": ["es"], "engine": "voicelive"},
    )
    try:
        async with create_engine(settings) as engine:
            outcome = await speak(engine, bytes(FRAME), lambda o: "failed" in o.states(), within_s=60)
    finally:
        await server.stop()
    *retried, failure = outcome.of(EngineFailure)
    # Tried a few times (a first start can hit a slow `az`), then told plainly.
    assert len(retried) == 2 and all(f.recoverable for f in retried)
    assert not failure.recoverable and failure.message.startswith("cannot sign in to Azure")
    assert "no Azure identity is set up here" in failure.message
    assert server.connections == []


AZ_CLI = """#!{python}
import json, pathlib, sys, time


calls = pathlib.Path({calls!r})
count = int(calls.read_text()) + 1 if calls.exists() else 1
calls.write_text(str(count))
if count <= 2:
    sys.stderr.write("ERROR: HTTPSConnectionPool(host='login.microsoftonline.com'): Max retries exceeded\\n")
    sys.exit(1)
token = {{"accessToken": "token-from-az", "expires_on": int(time.time()) + 3600, "tokenType": "Bearer"}}
print(json.dumps(token | {{"subscription": "s", "tenant": "t"}}))
"""


async def test_a_sign_in_that_fails_twice_then_works_brings_up_every_language_with_one_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real DefaultAzureCredential, signing in through an `az` whose network blips twice.
    calls, az = tmp_path / "calls", tmp_path / "bin" / "az"
    az.parent.mkdir()
    az.write_text(AZ_CLI.format(python=sys.executable, calls=str(calls)))
    az.chmod(0o755)
    no_azure_identity(monkeypatch, str(az.parent))
    async with FakeVoiceLive(transcribe=tone_names) as server:
        settings = load_settings(
            env={"AZURE_VOICELIVE_ENDPOINT": server.endpoint},
            overrides={"targets": ["es", "fr"], "engine": "voicelive", "azure.model": "gpt-4.1"},
        )
        async with create_engine(settings) as engine:
            outcome = await speak(
                engine,
                tone_talk([(400, 0.6)]),
                lambda o: (
                    o.states("es")[-1:] == o.states("fr")[-1:] == ["ready"] and all_turns_finished(1)(o)
                ),
                within_s=90,
            )
    assert all(f.recoverable for f in outcome.of(EngineFailure)), "a sign-in hiccup is not the end"
    assert int(calls.read_text()) == 3, "one token for both languages, once signing in worked"
    assert len(server.connections) == 2
    assert {c.headers["Authorization"] for c in server.connections} == {"Bearer token-from-az"}


async def test_a_drop_closes_the_open_translation_and_loses_no_turn() -> None:
    talk = [(300, 0.6), (400, 0.6), (500, 0.6), (600, 0.6)]
    server = FakeVoiceLive(transcribe=tone_names, response_s=1.5, transcription_delay_s=0.0)
    await server.start()
    dropped = False

    async def drop_during_the_first_translation(_: float) -> None:
        nonlocal dropped
        if not dropped and server.answers:
            dropped = True
            await server.drop_all()

    try:
        async with create_engine(settings_for(server, "es")) as engine:
            outcome = await speak(
                engine,
                tone_talk(talk, gap_s=1.0),
                all_turns_finished(len(talk) + 1),
                pace=1,
                during=drop_during_the_first_translation,
            )
    finally:
        await server.stop()
    assert dropped and len(server.connections) == 2
    utterances = [u for u in outcome.utterances().values() if u.status]
    interrupted = [u for u in utterances if u.status == "interrupted"]
    assert len(interrupted) == 1 and interrupted[0].final, "the open caption is closed"
    # What the interrupted translation covered is heard again by the new session: nothing is lost.
    completed = [name for u in utterances if u.status == "completed" for name in _names(u.source)]
    assert completed == [f"tone {f}" for f, _ in talk]
    assert outcome.states() == ["connecting", "ready", "reconnecting", "ready"]


async def test_a_session_is_replaced_before_it_ages_out_with_no_turn_or_audio_lost() -> None:
    talk = [(300 + 50 * i, 0.8) for i in range(10)]
    async with FakeVoiceLive(transcribe=tone_names) as server:
        settings = settings_for(server, "es", **{"azure.max_session_minutes": 0.05})
        async with create_engine(settings) as engine:
            outcome = await speak(engine, tone_talk(talk, gap_s=0.8), all_turns_finished(len(talk)), pace=1)
    assert len(server.connections) >= 3
    assert all(len(c.session_updates) == 1 for c in server.connections)
    # Make before break: each successor was confirmed before its predecessor closed.
    for old, new in zip(server.sessions, server.sessions[1:], strict=False):
        assert new.opened_at < (old.closed_at or time.monotonic())
    assert outcome.states() == ["connecting", "ready"]
    assert not outcome.of(EngineFailure)
    assert_every_turn_once_under_its_own_sentence(outcome, talk)


async def test_a_session_is_replaced_before_it_expires(talk: Path) -> None:
    async with (
        FakeVoiceLive(strict=False, session_seconds=int(ROLLOVER_LEAD_S) + 2) as server,
        create_engine(settings_for(server, "es")) as engine,
    ):
        outcome = await speak(engine, bytes(FRAME), lambda o: len(server.connections) >= 2)
    assert outcome.states() == ["connecting", "ready"] and not outcome.of(EngineFailure)


async def test_a_spoken_talk_becomes_normalized_events(voicelive: FakeVoiceLive, talk: Path) -> None:
    async with create_engine(settings_for(voicelive, "es")) as engine:
        outcome = await speak(engine, read_wav(talk), all_turns_finished(2))
    first = next(e for e in outcome.events if isinstance(e, SpeechStarted))
    stopped = next(e for e in outcome.events if isinstance(e, SpeechStopped))
    # The talk opens with 1.2 s of silence; espeak's first sentence lasts about a second.
    assert 1000 <= first.start_ms <= 1500 < stopped.end_ms <= 3500
    utterances = list(outcome.utterances().values())
    assert [u.source for u in utterances] == ["Good morning everyone"] * 2


def test_bad_azure_settings_name_the_field_and_never_echo_a_key() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(env={"AZURE_VOICELIVE_ENDPOINT": "https://x.test/?api-key=s3cret"})
    assert error.value.field == "azure.endpoint" and "s3cret" not in str(error.value)
    unspoken = load_settings(
        env={"AZURE_VOICELIVE_ENDPOINT": "https://x.test/"}, overrides={"targets": ["es", "eo"]}
    )
    with pytest.raises(ConfigError) as error:
        check_targets(create_engine(unspoken), "")  # what a room does before it opens its input
    assert error.value.field == "targets[1]"
    assert "no voice for Esperanto" in str(error.value) and "es, fr" in str(error.value)
    with pytest.raises(ConfigError, match="azure.max_response_tokens"):
        load_settings(
            env={"AZURE_VOICELIVE_ENDPOINT": "https://x.test/"}, overrides={"azure.max_response_tokens": 0}
        )


BILINGUAL_TURNS = [(300, 1.0), (550, 1.0), (350, 0.6), (600, 0.8), (400, 0.5)]
SPANISH_TONES = {"tone 550", "tone 600"}


@pytest.mark.parametrize("model", ["gpt-4.1", "gpt-4o-mini-realtime"])
async def test_on_a_bilingual_floor_each_language_translates_only_what_was_not_said_in_it(model: str) -> None:
    """A panel in English and Spanish: the Spanish session passes the Spanish sentences through
    and never asks the model for them, the English session the reverse; French translates all.
    On a cascaded model (the item exists once recognised) and a native one (the item exists at the
    commit, its language later)."""
    server = FakeVoiceLive(
        transcribe=tone_names, language_of=lambda text: "es-ES" if text in SPANISH_TONES else "en-US"
    )
    async with server:
        settings = settings_for(server, "es", "fr", spoken=["en", "es"], **{"azure.model": model})
        async with create_engine(settings) as engine:
            assert [t.code for t in engine.targets] == ["es", "fr", "en"]
            outcome = await speak(
                engine,
                # Speakers take turns with a second between them: a turn that ran on across the
                # change would be in two languages, neither passed through nor translated whole.
                tone_talk(BILINGUAL_TURNS, gap_s=1.0),
                lambda o: all(all_turns_finished(5, lang)(o) for lang in ("es", "fr", "en")),
                within_s=60,
            )
    spoken = {
        f"tone {freq}": "es" if f"tone {freq}" in SPANISH_TONES else "en" for freq, _ in BILINGUAL_TURNS
    }
    for lang in ("es", "fr", "en"):
        heard: list[str] = []
        for u in (u for u in outcome.utterances(lang).values() if u.status):
            names = _names(u.source)
            heard += names
            assert u.lang == spoken[names[0]], "each caption says which language was spoken"
            if u.status == "passthrough":
                assert names == [names[0]] and spoken[names[0]] == lang
                assert not u.text and not u.audio, "nothing was translated"
            else:
                assert all(spoken[name] != lang for name in names), "never translated into its own language"
                assert u.status == "completed" and u.audio
        # Every sentence once. A response answers every turn in the conversation, so a sentence
        # spoken just after a passed-through one may ride with the translation before it.
        assert sorted(heard) == sorted(spoken), f"{lang}: every sentence once"
    session = next(c for c in server.connections if voice_locale(c.session_updates[0]) == "es-ES")
    config = session.session_updates[0]
    assert config["input_audio_transcription"]["language"] == "en-US,es-ES"
    assert (
        "English" in config["instructions"]
        and "If the speaker already speaks Spanish, say nothing" in (config["instructions"])
    )
    if model not in CASCADED:
        # A native model puts a turn in the conversation at its commit, before anyone knows its
        # language; a response asked for just then sees it too (the service answers every turn in
        # the conversation). What listeners get is right all the same (above).
        return
    # On a cascaded model the engine knows a turn's language before its item exists: no model
    # request ever saw a sentence in its session's own language.
    for answer in server.answers:
        locale, _, said = answer.partition(": ")
        own = {"translated into es-ES": "es", "translated into en-US": "en"}.get(locale)
        assert own is None or all(spoken[name] != own for name in _names(said)), answer
