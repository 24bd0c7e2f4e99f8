"""The gpt-realtime-translate engine, through the OpenAI SDK's realtime translation client, against a
server on 127.0.0.1 that follows the documented protocol.

Talks are pure tones, one frequency per sentence: the test server names a sentence by its tone, so
every caption and every utterance's audio can be checked against the sentence it belongs to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
import pytest

from harness.engine_driver import Outcome, Utterance, speak
from harness.translate_server import RATE, FakeTranslate, tone
from harness.voicelive_server import FakeVoiceLive, tone_name
from translator.config import Settings, load_settings
from translator.engines import table
from translator.engines.credentials import SharedCredential
from translator.engines.events import EngineFailure, Passthrough, SessionState, TranslationAudio, TurnDone
from translator.engines.translate import segmenter
from translator.engines.translate.connection import Link, client_for
from translator.errors import ConfigError

# A fast speaker: 0.4 s sentences beside long ones, a 15 s one, a second's pause between.
TALK = [(300, 3.0), (350, 0.4), (400, 2.0), (450, 0.4), (500, 15.0), (550, 1.0)]
GAP_S = 0.7
SAFE_GAP_S = 1.0
"""Between sentences, for a connection opened mid-talk: its 200 ms frames fall anywhere, and the
test model ends a sentence on three whole quiet ones (a 0.7 s pause may hold only two)."""
LEAD_S = 0.5


def settings_for(server: FakeTranslate, *targets: str, **extra: object) -> Settings:
    return load_settings(
        env={"AZURE_OPENAI_ENDPOINT": server.endpoint, "AZURE_OPENAI_API_KEY": server.api_key},
        overrides={"targets": list(targets), "engine": "realtime-translate", **extra},
    )


def tone_talk(turns: list[tuple[int, float]], gap_s: float = GAP_S) -> bytes:
    silence = bytes(int(RATE * gap_s) * 2)
    return bytes(int(RATE * LEAD_S) * 2) + b"".join(tone(seconds, freq) + silence for freq, seconds in turns)


def spans(turns: list[tuple[int, float]], gap_s: float = GAP_S) -> list[tuple[int, int]]:
    """Each sentence's speech on the talk's timeline, in ms."""
    result, at = [], LEAD_S
    for _, seconds in turns:
        result.append((round(at * 1000), round((at + seconds) * 1000)))
        at += seconds + gap_s
    return result


def finished(outcome: Outcome, lang: str) -> list[Utterance]:
    """``lang``'s utterances whose turn has ended, in the order they ended."""
    utterances = outcome.utterances(lang)
    return [utterances[e.utterance] for e in outcome.of(TurnDone) if e.target == lang]


def all_done(count: int, *langs: str) -> Callable[[Outcome], bool]:
    return lambda outcome: all(len(finished(outcome, lang)) >= count for lang in langs)


def audio_of(outcome: Outcome, lang: str) -> dict[str, bytes]:
    """Each utterance's translated audio, joined."""
    audio: dict[str, bytearray] = {}
    for e in outcome.of(TranslationAudio):
        if e.target == lang:
            audio.setdefault(e.utterance, bytearray()).extend(e.pcm)
    return {key: bytes(pcm) for key, pcm in audio.items()}


# Each reading of what the service is known to do (harness/translate_server.py says which public
# log or docstring each rests on); the last is all of the live logs at once.
SERVICES: dict[str, dict[str, object]] = {
    "input-clock-at-sending": {},
    "input-clock-of-the-frame": {"clock": "frame"},
    "no-clock-no-heartbeats": {"clock": "none", "continuous": False},
    "wall-clock": {"clock": "wall"},
    "jumping-clock": {"clock": "jumps"},
    "text-ahead-400ms-deltas-in-bursts": {"text": "leads", "delta_frames": 2, "burst_frames": 5},
    "live-logs": {"clock": "wall", "text": "leads", "delta_frames": 2, "burst_frames": 4, "delay_ms": 1000},
}


@pytest.mark.parametrize(
    "service",
    [
        # Without a clock, the engine places the service's events by when they arrive: a busy
        # machine's late arrivals put a sentence's audio under the next one (seen with five tests
        # at a time on two cores), which is what the mode is, not a defect of the engine.
        pytest.param(name, marks=pytest.mark.alone) if SERVICES[name].get("clock") == "none" else name
        for name in SERVICES
    ],
)
async def test_each_sentence_is_one_utterance_with_its_caption_and_its_whole_audio(service: str) -> None:
    async with (
        FakeTranslate(**SERVICES[service]) as server,  # type: ignore[arg-type]
        table.create_engine(settings_for(server, "es", "fr").room_configs()[0]) as engine,
    ):
        # Without a clock, events are placed by when they arrive: the talk is sent as it is spoken,
        # since the engine's pauses and bounds are in real time.
        pace = 1.0 if SERVICES[service].get("clock") == "none" else 4.0
        outcome = await speak(
            engine, tone_talk(TALK), all_done(len(TALK), "es", "fr"), pace=pace, within_s=90
        )
    for lang in ("es", "fr"):
        done = finished(outcome, lang)
        audio = audio_of(outcome, lang)
        ids = [e.utterance for e in outcome.of(TurnDone) if e.target == lang]
        assert [u.text for u in done] == [f"[{lang}] tone {freq}." for freq, _ in TALK], (
            "one caption per sentence"
        )
        assert [u.source for u in done] == [f"tone {freq}." for freq, _ in TALK], "the source under its own"
        assert all(u.status == "completed" for u in done)
        for (freq, seconds), engine_id, (start, end), heard in zip(TALK, ids, spans(TALK), done, strict=True):
            pcm = np.frombuffer(audio[engine_id], dtype="<i2").astype(np.float64)
            assert tone_name(pcm) == f"tone {freq}", "the sentence's own audio"
            # Whole: the server speaks in 200 ms frames; an onset of 100 ms is kept before it.
            assert seconds <= len(pcm) / RATE <= seconds + 0.55, f"{lang} {freq}: {len(pcm) / RATE:.2f} s"
            assert heard.start_ms is not None and heard.end_ms is not None
            assert abs(heard.start_ms - start) <= 40 and abs(heard.end_ms - end) <= 40, "its speech's times"


async def test_a_sentence_longer_than_the_bound_is_cut_and_loses_no_audio() -> None:
    talk = [(300, 26.0)]
    async with (
        FakeTranslate() as server,
        table.create_engine(settings_for(server, "es").room_configs()[0]) as engine,
    ):
        outcome = await speak(engine, tone_talk(talk), all_done(2, "es"), pace=8, within_s=60)
    audio = audio_of(outcome, "es")
    lengths = [len(pcm) / 2 / RATE for pcm in audio.values()]
    assert len(lengths) == 2 and lengths[0] == pytest.approx(
        (segmenter.MAX_MS + segmenter.ONSET_MS) / 1000, abs=0.05
    )
    assert 26.0 <= sum(lengths) <= 26.55, "every second of the interpretation, across the cut"
    texts = [u.text for u in finished(outcome, "es")]
    assert "".join(texts).replace(" ", "") == "[es]tone300.", "the text is split, not repeated"


async def test_speech_already_in_the_channels_language_is_passed_through() -> None:
    # Tones of 1000 Hz and more are Spanish; the rest English. The model leaves speech already in
    # its output language untranslated: it says nothing then.
    talk = [(300, 1.5), (1200, 1.5), (400, 1.0), (1300, 0.6)]
    sentences = ["tone 300.", "tone 1200.", "tone 400.", "tone 1300."]

    def language_of(name: str) -> str:
        return "es" if int(name.split()[-1]) >= 1000 else "en"

    async with FakeTranslate(language_of=language_of) as server:
        settings = settings_for(server, "fr", spoken=["en", "es"])
        async with table.create_engine(settings.room_configs()[0]) as engine:
            assert [t.code for t in engine.targets] == ["fr", "en", "es"]
            outcome = await speak(engine, tone_talk(talk), all_done(4, "fr", "en", "es"), pace=4, within_s=60)
    passed = {(e.target, e.utterance) for e in outcome.of(Passthrough)}
    by_start = {
        lang: sorted(
            ((k, u) for k, u in outcome.utterances(lang).items() if u.status),
            key=lambda item: item[1].start_ms or 0,
        )
        for lang in ("fr", "en", "es")
    }
    assert [u.status for _, u in by_start["fr"]] == ["completed"] * 4
    assert [u.text for _, u in by_start["fr"]] == [f"[fr] {s}" for s in sentences]
    expected = {"en": ["passthrough", "completed", "passthrough", "completed"]}
    expected["es"] = ["completed", "passthrough", "completed", "passthrough"]
    for lang, statuses in expected.items():
        heard = by_start[lang]
        kinds = ["passthrough" if (lang, k) in passed else "completed" for k, _ in heard]
        assert kinds == statuses, lang
        assert [u.source for _, u in heard] == sentences, f"{lang}: each sentence's own words"
        audio = audio_of(outcome, lang)
        assert not any(k in audio for k, _ in heard if (lang, k) in passed), (
            "no model audio for a passthrough"
        )
        spans_heard = [(u.start_ms, u.end_ms) for _, u in heard]
        assert all(
            abs(a - b) <= 40 and abs(c - d) <= 40
            for (a, c), (b, d) in zip(spans_heard, spans(talk), strict=True)  # type: ignore[operator]
        ), f"{lang}: {spans_heard}"


async def test_a_refused_key_or_deployment_fails_the_language_in_plain_words() -> None:
    async with FakeTranslate() as server:
        settings = load_settings(
            env={"AZURE_OPENAI_ENDPOINT": server.endpoint, "AZURE_OPENAI_API_KEY": "wrong-key-123"},
            overrides={"targets": ["es"], "engine": "realtime-translate"},
        )
        async with table.create_engine(settings.room_configs()[0]) as engine:
            outcome = await speak(engine, b"", lambda o: "failed" in o.states("es"), within_s=20)
        wrong = settings_for(server, "es", **{"translate.deployment": "gpt-translate-typo"})
        async with table.create_engine(wrong.room_configs()[0]) as engine:
            typo = await speak(engine, b"", lambda o: "failed" in o.states("es"), within_s=20)
    failures = [e.message for e in outcome.of(EngineFailure) if not e.recoverable]
    assert failures == [
        "gpt-realtime-translate rejected the key or the token (HTTP 401): check AZURE_OPENAI_API_KEY"
    ]
    assert "wrong-key" not in repr(outcome.events), "the key is never told"
    assert [e.message for e in typo.of(EngineFailure)][-1] == (
        f"nothing at {server.endpoint}/openai/v1/realtime/translations for deployment 'gpt-translate-typo' "
        "(HTTP 404): check AZURE_OPENAI_ENDPOINT, translate.deployment, that the resource's region offers "
        "gpt-realtime-translate, and translate.api_path"
    )


async def test_a_region_that_serves_another_path_is_reached_once_it_is_set() -> None:
    async with FakeTranslate(api_path="/openai/v2") as server:
        async with table.create_engine(settings_for(server, "es").room_configs()[0]) as engine:
            missing = await speak(engine, b"", lambda o: "failed" in o.states("es"), within_s=20)
        moved = settings_for(server, "es", **{"translate.api_path": "/openai/v2"})
        async with table.create_engine(moved.room_configs()[0]) as engine:
            outcome = await speak(engine, tone_talk(TALK[:1]), all_done(1, "es"), pace=4, within_s=40)
    assert [e.message for e in missing.of(EngineFailure)][-1].startswith(
        f"nothing at {server.endpoint}/openai/v1/realtime/translations for deployment "
        "'gpt-realtime-translate'"
    )
    assert [u.text for u in finished(outcome, "es")] == ["[es] tone 300."]


async def test_an_unavailable_service_is_retried_until_it_answers() -> None:
    async with (
        FakeTranslate(handshake_statuses=[503, 429]) as server,
        table.create_engine(settings_for(server, "es").room_configs()[0]) as engine,
    ):
        outcome = await speak(engine, tone_talk(TALK[:2]), all_done(2, "es"), pace=4, within_s=40)
    recoverable = [e.message for e in outcome.of(EngineFailure) if e.recoverable]
    assert recoverable == [
        "gpt-realtime-translate is unavailable (HTTP 503)",
        "gpt-realtime-translate quota exceeded (HTTP 429)",
    ]
    assert outcome.states("es")[-1] == "ready"
    assert [u.text for u in finished(outcome, "es")] == ["[es] tone 300.", "[es] tone 350."]


async def test_a_transcription_model_not_deployed_leaves_the_interpretation_and_says_so_once() -> None:
    async with FakeTranslate() as server:
        settings = settings_for(server, "es", **{"translate.transcription_model": "gpt-4o-mini-transcribe"})
        async with table.create_engine(settings.room_configs()[0]) as engine:
            outcome = await speak(engine, tone_talk(TALK), all_done(len(TALK), "es"), pace=4, within_s=60)
    done = finished(outcome, "es")
    assert [u.text for u in done] == [f"[es] tone {freq}." for freq, _ in TALK], "interpreted all the same"
    assert all(not u.source for u in done)
    assert [e.message for e in outcome.of(EngineFailure)] == [
        "no source captions: the transcription deployment 'gpt-4o-mini-transcribe' was not found (the "
        'interpretation goes on); deploy it, or set translate.transcription_model ("" for none)'
    ], "once, not once a sentence"
    assert outcome.states("es")[-1] == "ready"


async def test_the_services_retry_after_is_waited_for() -> None:
    async with (
        FakeTranslate(handshake_statuses=[429], retry_after_s=3) as server,
        table.create_engine(settings_for(server, "es").room_configs()[0]) as engine,
    ):
        outcome = await speak(engine, tone_talk(TALK[:1]), all_done(1, "es"), pace=4, within_s=40)
    # Back-off alone would have tried again within a second.
    assert server.handshakes[1] - server.handshakes[0] >= 3.0
    assert [u.text for u in finished(outcome, "es")] == ["[es] tone 300."]


async def test_an_overloaded_service_is_asked_again_and_a_used_up_quota_fails_at_once() -> None:
    async with (
        FakeTranslate(update_errors=[("server_error", "server_is_overloaded")]) as server,
        table.create_engine(settings_for(server, "es").room_configs()[0]) as engine,
    ):
        busy = await speak(engine, tone_talk(TALK[:1]), all_done(1, "es"), pace=4, within_s=40)
    async with (
        FakeTranslate(handshake_statuses=[429, 429], quota_used_up=True) as server,
        table.create_engine(settings_for(server, "es").room_configs()[0]) as engine,
    ):
        broke = await speak(engine, b"", lambda o: "failed" in o.states("es"), within_s=20)
        asked = len(server.handshakes)
    assert [e.message for e in busy.of(EngineFailure) if e.recoverable] == [
        "gpt-realtime-translate could not start the session (server_is_overloaded: Try again later.)"
    ]
    assert busy.states("es")[-1] == "ready"
    assert [u.text for u in finished(busy, "es")] == ["[es] tone 300."]
    assert [(e.message, e.recoverable) for e in broke.of(EngineFailure)] == [
        (
            "gpt-realtime-translate's quota is used up (HTTP 429, insufficient_quota): add credit or raise "
            "the deployment's quota",
            False,
        )
    ]
    assert asked == 1, "billing is not retried"


async def test_a_stalled_or_ended_input_keeps_the_session_open_and_its_last_sentence_is_heard() -> None:
    # The talk stops in the middle of nowhere: no silence follows its last sentence, no frame at
    # all. The service closes a session that is sent nothing; it needs silence to hear the end.
    talk = [(300, 1.0), (400, 1.0)]
    pcm = tone_talk(talk)[: -int(RATE * GAP_S) * 2]
    async with (
        FakeTranslate(idle_timeout_s=2.0, **SERVICES["live-logs"]) as server,  # type: ignore[arg-type]
        table.create_engine(settings_for(server, "es").room_configs()[0]) as engine,
    ):
        outcome = await speak(engine, pcm, all_done(2, "es"), pace=4, within_s=30, tail=False)
        # Kept open past the service's idle limit.
        await asyncio.wait_for(server.audio_beyond(len(pcm) // 48 + 3000), timeout=10)
        assert len(server.connections) == 1 and not server.connections[0].of_type("session.close")
    assert [u.text for u in finished(outcome, "es")] == ["[es] tone 300.", "[es] tone 400."]
    assert [u.source for u in finished(outcome, "es")] == ["tone 300.", "tone 400."]
    assert "reconnecting" not in outcome.states("es")


async def test_a_session_without_a_translated_transcript_is_heard_whole_and_says_so() -> None:
    async with (
        FakeTranslate(
            text="none", **{k: v for k, v in SERVICES["live-logs"].items() if k != "text"}
        ) as server,  # type: ignore[arg-type]
        table.create_engine(settings_for(server, "es").room_configs()[0]) as engine,
    ):
        outcome = await speak(engine, tone_talk(TALK[:4]), all_done(4, "es"), pace=4, within_s=60)
    done = finished(outcome, "es")
    assert [u.source for u in done] == [f"tone {freq}." for freq, _ in TALK[:4]], "the speaker's captions"
    assert [u.text for u in done] == [""] * 4
    audio = audio_of(outcome, "es")
    for (freq, seconds), key in zip(TALK[:4], [e.utterance for e in outcome.of(TurnDone)], strict=True):
        pcm = np.frombuffer(audio[key], dtype="<i2").astype(np.float64)
        assert tone_name(pcm) == f"tone {freq}" and seconds <= len(pcm) / RATE <= seconds + 0.55
    told = [e.detail for e in outcome.of(SessionState) if e.target == "es" and "no translated" in e.detail]
    assert len(told) == 1, "listeners are told once why there are no captions"


@pytest.mark.parametrize("service", ["input-clock-at-sending", "live-logs"])
async def test_a_dropped_connection_closes_the_open_caption_and_the_sentence_is_translated_again(
    service: str,
) -> None:
    talk = [(300, 1.0), (400, 4.0), (500, 1.0)]
    async with FakeTranslate(**SERVICES[service]) as server:  # type: ignore[arg-type]
        dropped = asyncio.Event()

        async def drop_during_the_second(at_s: float) -> None:
            # Two seconds into the 4 s sentence, its translation under way.
            if not dropped.is_set() and at_s >= LEAD_S + 1.0 + SAFE_GAP_S + 2.0:
                dropped.set()
                await server.drop_all()

        async with table.create_engine(settings_for(server, "es").room_configs()[0]) as engine:
            outcome = await speak(
                engine,
                tone_talk(talk, SAFE_GAP_S),
                lambda o: any(u.text == "[es] tone 500." and u.status for u in o.utterances("es").values()),
                pace=4,
                within_s=60,
                during=drop_during_the_second,
            )
        assert len(server.connections) == 2
        replayed_from = server.connections[1]
    done = finished(outcome, "es")
    assert [(u.text, u.status) for u in done] == [
        ("[es] tone 300.", "completed"),
        ("[es] tone", "incomplete"),
        ("[es] tone 400.", "completed"),
        ("[es] tone 500.", "completed"),
    ], "the cut caption is closed; the sentence comes again whole, and the rest follows"
    assert outcome.states("es")[-2:] == ["reconnecting", "ready"]
    # The new session was sent the talk from the end of the last whole sentence (1.5 s), replayed.
    assert replayed_from.audio_ms >= len(tone_talk(talk, SAFE_GAP_S)) // 48 - 1500 - 200
    whole = audio_of(outcome, "es")
    second = [k for k, u in outcome.utterances("es").items() if u.text == "[es] tone 400."][0]
    assert len(whole[second]) / 2 / RATE >= 4.0


@pytest.mark.parametrize("service", ["input-clock-at-sending", "live-logs-slow-drain"])
async def test_a_session_is_replaced_before_it_expires_with_nothing_lost_or_doubled(service: str) -> None:
    talk = [(300 + 50 * i, 1.0) for i in range(8)]
    kind = {"drain_pace": 0.4, **SERVICES["live-logs"]} if service.endswith("drain") else SERVICES[service]
    async with FakeTranslate(session_seconds=8, **kind) as server:  # type: ignore[arg-type]
        async with table.create_engine(settings_for(server, "es").room_configs()[0]) as engine:
            outcome = await speak(
                engine, tone_talk(talk, SAFE_GAP_S), all_done(len(talk), "es"), pace=1, within_s=60
            )
        assert len(server.connections) >= 2, "a successor was opened"
        assert server.connections[0].of_type("session.close"), "the old session was closed, flushing"
    assert [u.text for u in finished(outcome, "es")] == [f"[es] tone {f}." for f, _ in talk]
    assert "reconnecting" not in outcome.states("es"), "make-before-break: listeners never see a gap"


async def test_a_token_credential_signs_in_once_for_every_connection() -> None:
    class Identity:
        fetched = 0

        async def get_token(self, *scopes: str, **_: object) -> object:
            from azure.core.credentials import AccessToken

            assert scopes == ("https://cognitiveservices.azure.com/.default",)
            self.fetched += 1
            return AccessToken("entra-token", int(__import__("time").time()) + 3600)

        async def close(self) -> None:
            pass

    identity = Identity()
    credential = SharedCredential(identity)

    async def token() -> str:
        return (await credential.get_token("https://cognitiveservices.azure.com/.default")).token

    async with FakeTranslate(api_key="not-used-here", token="entra-token") as server:
        settings = settings_for(server, "es")
        config = settings.room_configs()[0].translate
        config.api_key = None
        client = client_for(config, token)
        links = [await Link.open(client, "es", config) for _ in range(3)]
        for link in links:
            await link.close()
        await client.close()
        assert [c.headers.get("Authorization") for c in server.connections] == ["Bearer entra-token"] * 3
    assert identity.fetched == 1


async def test_a_room_mixes_the_dedicated_model_and_voice_live() -> None:
    async with FakeTranslate() as translate, FakeVoiceLive(transcript="Good morning everyone") as voicelive:
        settings = load_settings(
            env={
                "AZURE_OPENAI_ENDPOINT": translate.endpoint,
                "AZURE_OPENAI_API_KEY": translate.api_key,
                "AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint,
                "AZURE_VOICELIVE_API_KEY": "voicelive-key-123",
            },
            overrides={
                "targets": ["es", "fr"],
                "engine": "voicelive",
                "engines": {"es": "realtime-translate"},
                "azure.model": "gpt-4.1",
            },
        )
        room = settings.room_configs()[0]
        assert table.describe(room) == "realtime-translate + voicelive"
        async with table.create_engine(room) as engine:
            assert {code: engine.engine_of(code) for code in ("es", "fr")} == {
                "es": "realtime-translate",
                "fr": "voicelive",
            }
            outcome = await speak(engine, tone_talk(TALK[:2]), all_done(2, "es", "fr"), pace=4, within_s=60)
    assert [u.text for u in finished(outcome, "es")] == ["[es] tone 300.", "[es] tone 350."]
    assert len(finished(outcome, "fr")) >= 1 and all(u.audio for u in finished(outcome, "fr"))
    assert all(c.query["model"] == "gpt-realtime-translate" for c in translate.connections)
    assert len(translate.connections) == 1 and len(voicelive.connections) == 1, "one session per language"


def test_auto_chooses_the_dedicated_model_where_it_serves_and_no_glossary_speaks_of_the_language() -> None:
    env = {
        "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com/",
        "AZURE_VOICELIVE_ENDPOINT": "https://example.services.ai.azure.com/",
    }
    glossary = {"terms": {"fr": {"keynote": "conférence"}}}
    settings = load_settings(env=env, overrides={"targets": ["es", "fr", "nl"], "glossary": glossary})
    room = settings.room_configs()[0]
    chosen = {code: table.engine_for(room, code).name for code in room.channels()}
    assert chosen == {"es": "realtime-translate", "fr": "voicelive", "nl": "voicelive"}
    without = load_settings(
        env={k: v for k, v in env.items() if "OPENAI" not in k}, overrides={"targets": ["es"]}
    )
    assert table.describe(without.room_configs()[0]) == "voicelive"


def test_a_language_the_model_does_not_speak_is_refused_at_start_naming_the_setting() -> None:
    env = {"AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com/"}
    with pytest.raises(ConfigError) as error:
        load_settings(env=env, overrides={"targets": ["es", "nl"], "engine": "realtime-translate"})
    assert error.value.field == "engine"
    assert "does not interpret into 'nl'" in str(error.value)
    with pytest.raises(ConfigError) as error:
        load_settings(env=env, overrides={"targets": ["es"], "engines": {"de": "realtime-translate"}})
    assert error.value.field == "engines.de" and "not a language offered here (es)" in str(error.value)
    with pytest.raises(ConfigError) as error:
        load_settings(env={}, overrides={"targets": ["es"], "engines": {"es": "realtime-translate"}})
    assert error.value.field == "translate.endpoint"
