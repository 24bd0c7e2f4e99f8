"""Typed questions from the audience, through the real server: asked without a token, limited per
listener, moderated with the operator token, sent to every channel in its language (by the room's Voice Live
model, or the offline translators where it fails), kept in the transcript, never mixed with the
talk's captions."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import websockets

from harness.live import HeldSource, Received, RedisServer, collect, live_server
from harness.voicelive_server import FakeVoiceLive
from tests.helpers import ready, settled, shared_talk, translator_process, voicelive_settings
from translator.audio.wav import WavSource
from translator.talk.questions import MAX_QUESTION_CHARS, PER_LISTENER
from translator.transcripts.export import QUESTION_MARK
from translator.transcripts.store import read_transcript

ASKED = "¿Cuándo empieza la comida?"
WORDED = "What time is lunch?"


def questions_of(received: Received) -> list[dict]:
    return [m for m in received.other if m["type"] == "question"]


async def test_a_typed_question_is_moderated_and_reaches_every_channel_in_its_language(
    voicelive: FakeVoiceLive, talk: Path, tmp_path: Path
) -> None:
    settings = voicelive_settings(voicelive, talk)
    settings.transcripts.directory = str(tmp_path)
    async with (
        live_server(settings, WavSource(talk, loop=True, pace=2)) as server,
        httpx.AsyncClient(base_url=server.url) as client,
        websockets.connect(f"{server.ws}/ws/listen/es?audio=0") as es,
        websockets.connect(f"{server.ws}/ws/listen/fr?audio=0") as fr,
        websockets.connect(f"{server.ws}/ws/listen/original?audio=0") as floor,
    ):
        spanish, french, original = [Received(json.loads(await ws.recv())) for ws in (es, fr, floor)]
        offered = (await client.get("/api/languages")).json()
        asked = await client.post("/api/questions", json={"lang": "es", "text": f"  {ASKED}\u00a0"})
        other = await client.post(
            "/api/questions", json={"lang": "fr", "text": "Où est la salle principale ?"}
        )
        unsigned = await client.get("/api/questions")
        queue = (await client.get("/api/questions", headers=server.operator)).json()
        accepted = await client.post(
            f"/api/questions/{asked.json()['id']}/accept", json={"text": WORDED}, headers=server.operator
        )
        rejected = await client.post(f"/api/questions/{other.json()['id']}/reject", headers=server.operator)
        again = await client.post(f"/api/questions/{other.json()['id']}/accept", headers=server.operator)
        for ws, received in ((es, spanish), (fr, french), (floor, original)):
            await collect(ws, received, lambda r: bool(questions_of(r)) and bool(r.finals()), within_s=30)
        async with websockets.connect(f"{server.ws}/ws/listen/fr?audio=0") as late:
            late_hello = json.loads(await late.recv())
        # Refused before they count: a field that is wrong, a language the room does not offer.
        too_long = await client.post(
            "/api/questions", json={"lang": "es", "text": "a" * (MAX_QUESTION_CHARS + 1)}
        )
        unknown = await client.post("/api/questions", json={"lang": "xx", "text": "Hello?"})
        missing = await client.post("/api/questions", json={"lang": "es"})
        # This address asked twice: the rest of its allowance, then a refusal with when to ask again.
        allowed = [
            await client.post("/api/questions", json={"lang": "es", "text": f"¿Pregunta {n}?"})
            for n in range(PER_LISTENER - 2)
        ]
        flooded = await client.post("/api/questions", json={"lang": "es", "text": "¿Otra más?"})
        # The same question asked again: merged into the one answered.
        repeat = allowed[-1].json()["id"]
        merged = await client.post(
            f"/api/questions/{repeat}/merge", json={"into": asked.json()["id"]}, headers=server.operator
        )
        merged_again = await client.post(
            f"/api/questions/{repeat}/merge", json={"into": asked.json()["id"]}, headers=server.operator
        )
        listed = {q["id"]: q for q in (await client.get("/api/questions", headers=server.operator)).json()}
        talk = (await client.get("/api/transcripts", headers=server.operator)).json()[0]
        text_export = (await client.get(talk["exports"]["fr"]["txt"], headers=server.operator)).text
    assert offered["questions"] is True
    assert asked.status_code == 202 and other.status_code == 202, (asked.text, other.text)
    assert unsigned.status_code == 401
    first = queue[0]
    assert (first["lang"], first["text"], first["state"], first["translated"]) == (
        "es",
        ASKED,
        "pending",
        True,
    )
    # Translated for the moderator by the room's model, in a session of its own.
    assert first["floor_text"] == f"translated into en-US: {ASKED}", first
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    assert rejected.status_code == 200 and again.status_code == 409, again.text
    # Each channel in its language: as typed for Spanish, the moderator's words for the floor,
    # translated from them for French; the rejected question reaches nobody.
    (to_es,), (to_fr,), (to_floor,) = questions_of(spanish), questions_of(french), questions_of(original)
    assert (to_es["text"], to_es["lang"]) == (ASKED, "es")
    assert (to_floor["text"], to_floor["lang"]) == (WORDED, "en")
    assert (to_fr["text"], to_fr["lang"]) == (f"translated into fr-FR: {WORDED}", "fr")
    assert all(q["source_text"] == ASKED and q["source_lang"] == "es" for q in (to_es, to_fr, to_floor))
    assert late_hello["question"] == to_fr, "a listener who joins after it was put is told it"
    for received in (spanish, french, original):
        assert not any(ASKED in c["text"] or WORDED in c["text"] for c in received.captions)
    assert too_long.status_code == 400 and f"text: at most {MAX_QUESTION_CHARS}" in too_long.json()["detail"]
    assert unknown.status_code == 400 and "languages: en, es, fr" in unknown.json()["detail"]
    assert missing.status_code == 400 and "text" in missing.json()["detail"]
    assert all(response.status_code == 202 for response in allowed)
    assert flooded.status_code == 429 and int(flooded.headers["Retry-After"]) > 0
    assert merged.status_code == 200 and merged.json()["merged_into"] == asked.json()["id"]
    assert merged_again.status_code == 409 and "already merged" in merged_again.json()["detail"]
    assert listed[asked.json()["id"]]["merged"] == [repeat]
    kept = read_transcript(tmp_path, talk["id"]).questions
    assert [(q.lang, q.text) for q in kept] == [("es", ASKED)]
    assert kept[0].translations == {"es": ASKED, "fr": to_fr["text"], "en": WORDED}
    assert f"{QUESTION_MARK} {to_fr['text']}" in text_export, text_export


async def test_a_question_the_rooms_model_cannot_translate_is_translated_offline(
    voicelive: FakeVoiceLive, talk: Path
) -> None:
    """The service refuses the question's session (its content filter, say): the offline
    translator's pair serves instead, and the talk's interpreters are untouched."""
    voicelive.refuse_instructions = "question an audience member typed"
    async with (
        live_server(voicelive_settings(voicelive, talk), WavSource(talk, loop=True, pace=2)) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        asked = await client.post("/api/questions", json={"lang": "es", "text": ASKED})
        queue = (await client.get("/api/questions", headers=server.operator)).json()
        accepted = await client.post(f"/api/questions/{asked.json()['id']}/accept", headers=server.operator)
    assert (queue[0]["translated"], accepted.status_code) == (True, 200)
    assert "lunch" in queue[0]["floor_text"].lower(), queue  # Apertium's spa-eng
    # Refused twice (for the moderator, and into French on its way out); nothing else was.
    refused = [e["error"]["message"] for e in voicelive.refusals]
    assert refused == ["The instructions were rejected by the content filter."] * 2, refused


async def test_a_question_asked_of_a_listener_process_reaches_the_moderator_and_its_listeners(
    voicelive: FakeVoiceLive, talk: Path, redis_server: RedisServer
) -> None:
    """With --workers a phone's question may land on a listener-only process: it is checked there,
    passed on through Redis to the process that runs the talk, and comes back to the listeners of
    every process once accepted."""
    async with (
        shared_talk(voicelive, talk, redis_server) as (pipeline, worker),
        httpx.AsyncClient() as client,
        websockets.connect(f"ws://127.0.0.1:{worker}/ws/listen/es?audio=0") as ws,
    ):
        spanish = Received(json.loads(await ws.recv()))
        there = f"http://127.0.0.1:{worker}/api/questions"
        asked = await client.post(there, json={"lang": "es", "text": ASKED})
        unknown = await client.post(there, json={"lang": "xx", "text": "Hello?"})
        queue = await settled(
            lambda: client.get(f"{pipeline.url}/api/questions", headers=pipeline.operator),
            lambda answer: len(answer.json()) == 1,
        )
        question = queue.json()[0]
        accepted = await client.post(
            f"{pipeline.url}/api/questions/{question['id']}/accept",
            json={"text": WORDED},
            headers=pipeline.operator,
        )
        await collect(ws, spanish, lambda r: bool(questions_of(r)), within_s=30)
        # A listener process started after it knows it from the room's state in Redis.
        async with translator_process("--listener-only", "--broker", redis_server.url) as later:
            await ready(later)
            async with websockets.connect(f"ws://127.0.0.1:{later}/ws/listen/es?audio=0") as late:
                late_hello = json.loads(await late.recv())
    assert late_hello["question"] is not None and late_hello["question"]["text"] == ASKED, late_hello
    assert asked.status_code == 202 and asked.json() == {"id": None, "state": "forwarded"}, asked.text
    assert unknown.status_code == 400 and "languages: en, es, fr" in unknown.json()["detail"]
    assert (question["lang"], question["text"], question["translated"]) == ("es", ASKED, True)
    assert accepted.status_code == 200
    assert [(q["text"], q["lang"]) for q in questions_of(spanish)] == [(ASKED, "es")]


async def test_a_room_that_takes_no_questions_says_so(voicelive: FakeVoiceLive, talk: Path) -> None:
    settings = voicelive_settings(voicelive, talk)
    settings.questions = False
    async with (
        live_server(settings, HeldSource(WavSource(talk))) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        offered = (await client.get("/api/languages")).json()
        refused = await client.post("/api/questions", json={"lang": "es", "text": "¿Hola?"})
    assert offered["questions"] is False
    assert refused.status_code == 403 and "takes no questions" in refused.json()["detail"]
