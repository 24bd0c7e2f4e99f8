"""Questions asked aloud (``WS /ws/ask``): a listener's phone becomes the room's input for one
question once the moderator gives the floor, and the room's own input comes back after it.

The room is an English and Spanish floor on the Voice Live test server (the real SDK), which names
tones and hears 550 Hz as Spanish (and, in one test, 650 Hz as French); the speaker is a real
WebSocket publisher sending in real time, the asker a real WebSocket client sending in bursts, the
listeners real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets

from harness.live import LiveServer, Received, collect, listening
from harness.voicelive_server import RATE, tone
from tests.helpers import QUESTION_HZ, published_room, send_in_bursts, spanish, speaking, until
from translator.messages import FLAG_END
from translator.talk.floor import FIRST_ID
from translator.talk.spoken import DECLINED, ENDED_BY_MODERATOR, FINISHED, TIME_UP, SpokenQuestion

SET_ASIDE_HZ = 600
"""What the speaker says while the question holds the floor: nobody hears it."""


@pytest.fixture
async def server() -> AsyncIterator[LiveServer]:
    async with published_room({"spoken": ["en", "es"]}, language_of=spanish) as running:
        yield running


async def ask(server: LiveServer, lang: str = "es") -> websockets.ClientConnection:
    ws = await websockets.connect(f"{server.ws}/ws/ask")
    await ws.send(json.dumps({"type": "ask", "lang": lang, "sample_rate": RATE}))
    return ws


async def over(asker: websockets.ClientConnection, why: str, reason: str) -> None:
    """The asker is told how the question ended, then closed normally saying it in words."""
    assert json.loads(await asker.recv()) == {"type": "over", "why": why}
    with pytest.raises(websockets.ConnectionClosedOK):
        await asker.recv()
    assert (asker.close_code, asker.close_reason) == (1000, reason)


def finals_naming(received: Received, hz: int) -> list[dict]:
    return [c for c in received.finals().values() if f"tone {hz}" in c["source_text"]]


async def test_a_spanish_question_asked_aloud_is_interpreted_for_english_passed_through_for_spanish(
    server: LiveServer,
) -> None:
    channels, heard = await listening(server, ("en", "es"))

    def got(lang: str, hz: int) -> bool:
        found = finals_naming(heard[lang], hz)
        return bool(found) and {c["id"] for c in found} <= heard[lang].ended()

    async def until_heard(lang: str, hz: int) -> None:
        await collect(channels[lang], heard[lang], lambda _: got(lang, hz), within_s=60)

    async with (
        speaking(server) as speaker,
        httpx.AsyncClient(base_url=server.url, headers=server.operator) as moderator,
    ):
        speaker.say(tone(1.0, 300))
        await asyncio.gather(until_heard("en", 300), until_heard("es", 300))

        asker = await ask(server)
        waiting = json.loads(await asker.recv())
        assert waiting["type"] == "waiting"
        listed = (await moderator.get("/api/questions")).json()
        assert [(q["id"], q["lang"], q["spoken"], q["state"]) for q in listed] == [
            (waiting["id"], "es", True, "pending")
        ]
        given = await moderator.post(f"/api/questions/{waiting['id']}/accept")
        assert given.status_code == 200 and given.json()["state"] == "speaking"
        assert json.loads(await asker.recv()) == {"type": "speak", "seconds": 60}
        speaker.say(tone(1.0, SET_ASIDE_HZ))
        await send_in_bursts(asker, tone(1.2, QUESTION_HZ) + bytes(RATE * 2 // 2))
        await asker.send(json.dumps({"type": "done"}))
        await over(asker, "heard", FINISHED)

        speaker.say(tone(1.0, 350))
        await asyncio.gather(until_heard("en", QUESTION_HZ), until_heard("es", QUESTION_HZ))
        await asyncio.gather(until_heard("en", 350), until_heard("es", 350))
        assert (await moderator.get("/api/questions")).json()[0]["state"] == "accepted"

    for ws in channels.values():
        await ws.close()
    # English hears the question interpreted, Spanish in the asker's own voice and words.
    [interpreted] = finals_naming(heard["en"], QUESTION_HZ)
    assert interpreted["text"] == f"translated into en-US: tone {QUESTION_HZ}"
    [passed] = finals_naming(heard["es"], QUESTION_HZ)
    assert passed["text"] == f"tone {QUESTION_HZ}" and passed["source_lang"] == "es"
    for lang in ("en", "es"):
        shares = heard[lang].audio_shares()
        assert all(shares[c["id"]] == 1.0 for c in heard[lang].finals().values()), shares
        assert not finals_naming(heard[lang], SET_ASIDE_HZ), "the speaker was set aside for the question"
    # The Spanish channel's question is the asker's 1.2 s (padded by the passthrough's 0.1 s each side).
    ending = {
        number: position for (_, _, flags, number, position), _ in heard["es"].audio if flags & FLAG_END
    }
    assert 1.1 <= ending[passed["id"]] / RATE <= 1.6, ending[passed["id"]] / RATE
    # The talk's order: the speaker, the question, the speaker again.
    order = [c["source_text"] for c in sorted(heard["es"].finals().values(), key=lambda c: c["id"])]
    assert order == ["tone 300", f"tone {QUESTION_HZ}", "tone 350"], order


async def test_the_moderator_declines_ends_and_keeps_one_question_on_the_floor(server: LiveServer) -> None:
    async with speaking(server), httpx.AsyncClient(base_url=server.url, headers=server.operator) as moderator:
        refused = await ask(server, "fr")
        with pytest.raises(websockets.ConnectionClosedError):
            await refused.recv()
        assert (refused.close_code, refused.close_reason) == (
            4400,
            "lang: questions are asked aloud here in en, es; type yours",
        )

        first, second, third = await ask(server), await ask(server, "original"), await ask(server)
        ids = [json.loads(await ws.recv())["id"] for ws in (first, second, third)]
        assert (await moderator.post(f"/api/questions/{ids[0]}/accept")).status_code == 200
        busy = await moderator.post(f"/api/questions/{ids[1]}/accept")
        assert busy.status_code == 409 and f"question {ids[0]} holds the floor" in busy.json()["detail"]

        assert (await moderator.post(f"/api/questions/{ids[2]}/reject")).json()["state"] == "rejected"
        await over(third, "declined", DECLINED)

        assert json.loads(await first.recv())["type"] == "speak"
        await send_in_bursts(first, tone(0.5, QUESTION_HZ))
        ended = await moderator.post(f"/api/questions/{ids[0]}/end")
        assert ended.json()["state"] == "speaking", ended.text
        await over(first, "ended", ENDED_BY_MODERATOR)
        await until(lambda: server.room.pipeline is not None and server.room.pipeline.question is None)
        assert (await moderator.get("/api/questions")).json()[0]["state"] == "accepted"

        again = await moderator.post(f"/api/questions/{ids[0]}/end")
        assert again.status_code == 409

        # A phone that sends audio before it has the floor is closed, and its question withdrawn.
        await second.send(tone(0.05, QUESTION_HZ))
        with pytest.raises(websockets.ConnectionClosedError):
            await second.recv()
        assert (second.close_code, second.close_reason) == (
            1008,
            "audio is sent once the moderator has given the floor",
        )
        await until(lambda: server.room.questions.get(ids[1]).state == "withdrawn")
        gone = await moderator.post(f"/api/questions/{ids[1]}/accept")
        assert gone.status_code == 409 and "asker has gone" in gone.json()["detail"], gone.text


def test_a_question_gives_the_floor_back_when_its_time_is_up_or_the_moderator_ends_it() -> None:
    timed = SpokenQuestion(1, "es", RATE, limit_s=0.2)
    assert timed.take() is None, "nothing before the floor is given"
    timed.grant()
    timed.push(tone(1.0, QUESTION_HZ))
    frames = []
    while (frame := timed.take()) is not None:
        frames.append(frame)
    assert len(frames) == 10 and timed.why == TIME_UP

    ended = SpokenQuestion(2, "es", RATE)
    ended.grant()
    ended.push(tone(1.0, QUESTION_HZ))
    assert ended.take() is not None
    ended.end(ENDED_BY_MODERATOR)
    assert ended.take() is None and ended.why == ENDED_BY_MODERATOR

    finished = SpokenQuestion(3, "es", RATE)
    finished.grant()
    finished.push(tone(0.5, QUESTION_HZ))
    finished.finish()
    played = 0
    while finished.take() is not None:
        played += 1
    assert played == 25 and finished.why == FINISHED, "what was sent plays out whole"


FRENCH_HZ = 650


def french(text: str) -> str:
    """The locale the Voice Live test server hears a turn in: French for 650 Hz, Spanish for the
    question's tone, English otherwise (each only where the session lists it as a candidate)."""
    return "fr-FR" if str(FRENCH_HZ) in text else spanish(text)


@pytest.fixture
async def panel() -> AsyncIterator[LiveServer]:
    """An English and Spanish floor, interpreted into French too."""
    async with published_room(
        {"spoken": ["en", "es"], "targets": ["es", "fr"]}, language_of=french
    ) as running:
        yield running


async def test_a_question_in_a_language_the_talk_is_not_in_is_heard_in_it_while_it_is_asked(
    panel: LiveServer,
) -> None:
    server = panel
    channels, heard = await listening(server, ("en", "es", "fr"))

    async def until_heard(hz: int, times: int) -> None:
        def got(lang: str) -> bool:
            found = finals_naming(heard[lang], hz)
            return len(found) >= times and {c["id"] for c in found} <= heard[lang].ended()

        await asyncio.gather(
            *(
                collect(channels[lang], heard[lang], lambda _, lang=lang: got(lang), within_s=60)
                for lang in channels
            )
        )

    async with (
        speaking(server) as speaker,
        httpx.AsyncClient(base_url=server.url, headers=server.operator) as moderator,
    ):
        languages = (await moderator.get("/api/languages")).json()
        assert languages["ask_aloud"] == ["en", "es", "fr"]
        asker = await ask(server, "fr")
        waiting = json.loads(await asker.recv())
        assert (await moderator.post(f"/api/questions/{waiting['id']}/accept")).json()["state"] == "speaking"
        assert json.loads(await asker.recv()) == {"type": "speak", "seconds": 60}
        await send_in_bursts(asker, tone(1.2, FRENCH_HZ) + bytes(RATE * 2 // 2))
        await asker.send(json.dumps({"type": "done"}))
        await over(asker, "heard", FINISHED)
        await until_heard(FRENCH_HZ, 1)

        # Once every channel has answered it, the floor is heard in its own languages again: French
        # from the floor is then interpreted into French like any other language not spoken there.
        engine = server.room.pipeline.engine if server.room.pipeline is not None else None
        await until(lambda: engine is not None and [lang.code for lang in engine.spoken] == ["en", "es"])
        speaker.say(tone(1.0, FRENCH_HZ))
        await until_heard(FRENCH_HZ, 2)

    for ws in channels.values():
        await ws.close()
    asked = {lang: sorted(finals_naming(heard[lang], FRENCH_HZ), key=lambda c: c["id"]) for lang in channels}
    # The question: interpreted into English and Spanish, passed through in French in the asker's voice.
    assert asked["en"][0]["text"] == f"translated into en-US: tone {FRENCH_HZ}"
    assert asked["es"][0]["text"] == f"translated into es-ES: tone {FRENCH_HZ}"
    assert asked["fr"][0]["text"] == f"tone {FRENCH_HZ}" and asked["fr"][0]["source_lang"] == "fr"
    # After it, the same sound from the floor is not French to the service (no candidate): it is
    # interpreted into French too.
    assert asked["fr"][1]["text"] == f"translated into fr-FR: tone {FRENCH_HZ}"
    for lang in channels:
        shares = heard[lang].audio_shares()
        assert all(shares[c["id"]] == 1.0 for c in heard[lang].finals().values()), (lang, shares)


@pytest.fixture
async def english_room() -> AsyncIterator[LiveServer]:
    """A floor of English alone, interpreted into Spanish and French."""
    async with published_room({"targets": ["es", "fr"]}, language_of=spanish) as running:
        yield running


async def test_on_a_floor_of_one_language_the_original_channel_hears_a_question_in_another_interpreted(
    english_room: LiveServer,
) -> None:
    server = english_room
    channels, heard = await listening(server, ("original", "es", "fr"))

    async def until_heard(hz: int) -> None:
        def got(lang: str) -> bool:
            found = finals_naming(heard[lang], hz)
            # The Original channel's own utterances are numbered apart from its captions.
            return bool(found) and (lang == "original" or {c["id"] for c in found} <= heard[lang].ended())

        await asyncio.gather(
            *(
                collect(channels[lang], heard[lang], lambda _, lang=lang: got(lang), within_s=60)
                for lang in channels
            )
        )

    engine = server.room.pipeline.engine if server.room.pipeline is not None else None
    assert engine is not None
    async with (
        speaking(server) as speaker,
        httpx.AsyncClient(base_url=server.url, headers=server.operator) as moderator,
    ):
        speaker.say(tone(1.0, 300))
        await until_heard(300)
        assert (await moderator.get("/api/languages")).json()["ask_aloud"] == ["en", "es", "fr"]

        asker = await ask(server, "es")
        waiting = json.loads(await asker.recv())
        assert (await moderator.post(f"/api/questions/{waiting['id']}/accept")).json()["state"] == "speaking"
        assert json.loads(await asker.recv()) == {"type": "speak", "seconds": 60}
        # The Original channel's interpreter runs while the question is heard, and is no channel.
        assert [lang.code for lang in engine.targets] == ["es", "fr", "en"]
        listed = (await moderator.get("/api/languages")).json()
        assert [lang["code"] for lang in listed["targets"]] == ["es", "fr"]
        speaker.say(tone(1.0, SET_ASIDE_HZ))
        await send_in_bursts(asker, tone(1.2, QUESTION_HZ) + bytes(RATE * 2 // 2))
        await asker.send(json.dumps({"type": "done"}))
        await over(asker, "heard", FINISHED)
        await until_heard(QUESTION_HZ)
        await collect(
            channels["original"],
            heard["original"],
            lambda r: {c["id"] for c in finals_naming(r, QUESTION_HZ)} <= r.ended(),
            within_s=30,
        )

        # Answered everywhere, the floor is English alone again and the interpreter stops.
        await until(lambda: [t.code for t in engine.targets] == ["es", "fr"] and len(engine.spoken) == 1)
        speaker.say(tone(1.0, 350))
        await until_heard(350)

    for ws in channels.values():
        await ws.close()
    original = heard["original"]
    # The question: interpreted for the Original channel, whole; passed through for Spanish.
    [interpreted] = finals_naming(original, QUESTION_HZ)
    assert interpreted["text"] == f"translated into en-US: tone {QUESTION_HZ}", interpreted
    assert interpreted["source_lang"] == "es" and not interpreted.get("passthrough")
    assert original.audio_shares()[interpreted["id"]] == 1.0
    [passed] = finals_naming(heard["es"], QUESTION_HZ)
    assert passed["text"] == f"tone {QUESTION_HZ}" and passed["source_lang"] == "es"
    [into_french] = finals_naming(heard["fr"], QUESTION_HZ)
    assert into_french["text"] == f"translated into fr-FR: tone {QUESTION_HZ}"
    # Before and after it, the Original channel is the floor itself: the speaker's words and voice.
    for hz in (300, 350):
        [own] = finals_naming(original, hz)
        assert own["text"] == f"tone {hz}" and own["passthrough"], own
    assert not finals_naming(original, SET_ASIDE_HZ), "the speaker was set aside for the question"
    # The floor's own audio: the speaker's two tones, each whole; none of the asker's raw voice.
    own_audio = {u: share for u, share in original.audio_shares().items() if u >= FIRST_ID}
    assert list(own_audio.values()) == [1.0, 1.0], own_audio
    lengths = sorted(
        position / RATE
        for (_, codec, flags, number, position), _ in original.audio
        if flags & FLAG_END and number >= FIRST_ID and codec == 1
    )
    assert all(1.0 <= length <= 2.2 for length in lengths), lengths
