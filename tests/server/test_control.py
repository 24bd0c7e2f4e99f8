"""The operator's controls on a running server (Voice Live engine, real SDK, local service): pause,
languages added and removed during the talk, the glossary; each refused without the token."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pysrt
import pytest
import websockets

from harness.live import LiveServer, Received, collect, listen, live_server
from harness.voicelive_server import FakeVoiceLive, voice_locale
from tests.helpers import until, voicelive_settings
from translator.audio.wav import WavSource
from translator.talk.pipeline import TONE_CAPTION
from translator.transcripts.store import read_transcript


@pytest.fixture
async def server(voicelive: FakeVoiceLive, talk: Path) -> AsyncIterator[LiveServer]:
    """The service on the Voice Live test server, the talk on a loop."""
    async with live_server(
        voicelive_settings(voicelive, talk), WavSource(talk, loop=True, pace=2)
    ) as running:
        yield running


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that carries the operator token."""
    async with httpx.AsyncClient(base_url=server.url, headers=server.operator) as operator:
        yield operator


async def test_every_control_needs_the_operator_token(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        for method, path, body in (
            ("POST", "/api/input", {"paused": True}),
            ("GET", "/api/glossary", None),
            ("PUT", "/api/glossary", {"keep": ["Contoso"]}),
            ("POST", "/api/languages", {"code": "it"}),
            ("DELETE", "/api/languages/fr", None),
        ):
            response = await client.request(method, path, json=body)
            assert response.status_code == 401, (method, path)
        assert not server.room.pipeline.input.paused
        assert [t.code for t in server.room.pipeline.engine.targets] == ["es", "fr"]


async def test_a_language_added_during_the_talk_gets_listeners_and_captions(
    voicelive: FakeVoiceLive, server: LiveServer, client: httpx.AsyncClient
) -> None:
    await listen(f"{server.ws}/ws/listen/es", lambda r: len(r.finals()) >= 1)
    unknown = await client.post("/api/languages", json={"code": "xx"})
    source = await client.post("/api/languages", json={"code": "en"})
    twice = await client.post("/api/languages", json={"code": "es"})
    added = await client.post("/api/languages", json={"code": "it"})
    assert added.status_code == 201, added.text
    italian = await listen(
        f"{server.ws}/ws/listen/it",
        lambda r: any(c["text"] and c["source_text"] for c in r.finals().values()) and r.ended(),
    )
    public = (await client.get("/api/languages")).json()
    status = (await client.get("/api/status")).json()
    (talk,) = (await client.get("/api/transcripts")).json()
    assert "it" in talk["exports"], "a language added during the talk has its exports too"
    italian_srt = await client.get(talk["exports"]["it"]["srt"])
    assert italian_srt.status_code == 200 and "translated into it-IT" in italian_srt.text
    assert unknown.status_code == 400 and "available: ar, ca" in unknown.json()["detail"]
    assert source.status_code == 400 and "speaker's language" in source.json()["detail"]
    assert twice.status_code == 400 and "already offered" in twice.json()["detail"]
    assert [t["code"] for t in added.json()] == ["es", "fr", "it"]
    assert [t["code"] for t in public["targets"]] == ["es", "fr", "it"]
    assert "it" not in [a["code"] for a in status["addable"]] and "de" in [
        a["code"] for a in status["addable"]
    ]
    final = next(c for c in italian.finals().values() if c["text"])
    assert final["text"] == "translated into it-IT: Good morning everyone"
    assert all(share == 1.0 for share in italian.audio_shares().values()), "the whole translated audio"
    # Its own session, configured for Italian.
    locales = [voice_locale(c.session_updates[0]) for c in voicelive.connections]
    assert sorted(locales) == ["es-ES", "fr-FR", "it-IT"]


async def test_a_removed_language_closes_its_listeners_and_nobody_else_notices(
    voicelive: FakeVoiceLive, server: LiveServer, client: httpx.AsyncClient
) -> None:
    async with websockets.connect(f"{server.ws}/ws/listen/fr") as french:
        assert json.loads(await french.recv())["type"] == "hello"
        spanish = asyncio.create_task(
            listen(f"{server.ws}/ws/listen/es", lambda r: len(r.finals()) >= 3, within_s=60)
        )
        await asyncio.sleep(1.0)
        removed = await client.delete("/api/languages/fr")
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(french.recv(), 10)
        closed = french.close_code, french.close_reason
        missing = await client.delete("/api/languages/fr")
        last = await client.delete("/api/languages/es")
        received = await spanish
        languages = (await client.get("/api/languages")).json()
        late = await websockets.connect(f"{server.ws}/ws/listen/fr")
        with pytest.raises(websockets.ConnectionClosed):
            await late.recv()
    assert removed.status_code == 200 and [t["code"] for t in removed.json()] == ["es"]
    assert closed == (4404, "Français is no longer offered")
    assert missing.status_code == 404 and "offered: es" in missing.json()["detail"]
    assert last.status_code == 409
    assert [t["code"] for t in languages["targets"]] == ["es"]
    assert late.close_code == 4404
    assert len(received.finals()) >= 3, "Spanish went on"
    assert not any(c["type"] == "error" for c in received.other)
    fr_session = next(c for c in voicelive.sessions if voice_locale(c.config) == "fr-FR")
    assert fr_session.ws.closed, "its Voice Live session was closed"


async def test_pause_tells_listeners_and_sends_silence_until_resumed(
    voicelive: FakeVoiceLive, server: LiveServer, client: httpx.AsyncClient
) -> None:
    # The sessions up first (on a busy machine the server answers before they are): a pause is
    # told over a ready session, and undone back to it.
    await until(lambda: server.room.pipeline is not None and server.room.pipeline.ready)
    async with websockets.connect(f"{server.ws}/ws/listen/es?audio=0") as spanish:
        assert json.loads(await spanish.recv())["state"] == "ready"
        paused = await client.post("/api/input", json={"paused": True})
        statuses = [await _next_status(spanish)]
        await asyncio.sleep(0.5)
        connection = voicelive.connections[0]
        sent_before = len(connection.of_type("input_audio_buffer.append"))
        await asyncio.sleep(1.5)
        appended = connection.of_type("input_audio_buffer.append")[sent_before:]
        async with websockets.connect(f"{server.ws}/ws/listen/fr?audio=0") as late:
            late_hello = json.loads(await late.recv())
        resumed = await client.post("/api/input", json={"paused": False})
        statuses.append(await _next_status(spanish))
        status = (await client.get("/api/status")).json()
    assert paused.json() == {"muted": False, "paused": True}
    assert resumed.json() == {"muted": False, "paused": False}
    assert statuses == [("paused", "the talk is paused"), ("ready", "")]
    assert (late_hello["state"], late_hello["detail"]) == ("paused", "the talk is paused")
    assert appended and all(not any(base64.b64decode(e["audio"])) for e in appended), "paused: silence"
    assert len(voicelive.connections) == 2, "the sessions stayed open"
    assert status["input"]["paused"] is False


async def _next_status(ws: websockets.ClientConnection) -> tuple[str, str]:
    while True:
        message = await asyncio.wait_for(ws.recv(), 10)
        if isinstance(message, str) and (data := json.loads(message))["type"] == "status":
            return data["state"], data["detail"]


async def test_a_bad_glossary_names_its_field_and_changes_nothing(client: httpx.AsyncClient) -> None:
    good = {"keep": ["Contoso"], "terms": {"es": {"keynote": "ponencia"}}}
    assert (await client.put("/api/glossary", json=good)).status_code == 200
    unknown = await client.put("/api/glossary", json={"terms": {"xx": {"a": "b"}}})
    not_offered = await client.put("/api/glossary", json={"terms": {"it": {"keynote": "intervento"}}})
    empty = await client.put("/api/glossary", json={"terms": {"es": {"keynote": ""}}})
    wrong_type = await client.put("/api/glossary", json={"keep": "Contoso"})
    kept = (await client.get("/api/glossary")).json()
    assert (
        unknown.status_code == 400
        and "glossary.terms.xx: 'xx' is not a language offered here (" in (unknown.json()["detail"])
    )
    # A language the service knows but the room does not offer: its terms would never be used.
    assert not_offered.status_code == 400
    assert "glossary.terms.it: 'it' is not a language offered here (es, fr)" in not_offered.json()["detail"]
    assert (
        empty.status_code == 400 and "glossary.terms.es.keynote: must not be empty" in empty.json()["detail"]
    )
    assert wrong_type.status_code == 400
    assert kept == {**good, "avoid": {}, "exact_case": [], "priority": []}


VENDOR_CSV = (
    "term,keep,avoid,case,priority,es,fr\r\n"
    "Contoso,yes,,,1,,\r\n"
    "keynote,,,,,ponencia,conférence plénière\r\n"
    "keynote,,yes,,,discurso,\r\n"
)


async def test_a_glossary_file_is_applied_whole_or_refused_where_it_breaks(
    client: httpx.AsyncClient, voicelive: FakeVoiceLive
) -> None:
    applied = await client.put("/api/glossary", content=VENDOR_CSV, headers={"Content-Type": "text/csv"})
    assert applied.status_code == 200, applied.text
    # The sessions are told: the required term, and the one to avoid.

    def told() -> list[str]:
        updates = [u for c in voicelive.connections for u in c.session_updates]
        return [u["instructions"] for u in updates if "never “discurso”" in u.get("instructions", "")]

    await until(lambda: bool(told()))
    assert "- keynote → ponencia" in told()[0] and "- Contoso" in told()[0]
    written = await client.get("/api/glossary", params={"format": "tsv"})
    broken = VENDOR_CSV.replace("keynote,,yes,,,discurso", "keynote,,perhaps,,,discurso").replace(",", "\t")
    refused = await client.put(
        "/api/glossary", content=broken, headers={"Content-Type": "text/tab-separated-values"}
    )
    kept = (await client.get("/api/glossary")).json()
    assert written.headers["content-type"].startswith("text/tab-separated-values")
    assert written.text.splitlines()[0] == "term\tkeep\tavoid\tcase\tpriority\tes\tfr"
    # A file that breaks on its fourth line: refused there, and nothing of it applied.
    assert refused.status_code == 400
    assert "line 4, column 3: 'perhaps' is not yes or no" in refused.json()["detail"]
    assert kept == applied.json() and kept["avoid"] == {"es": {"keynote": "discurso"}}
    assert kept["priority"] == ["Contoso"]


async def test_a_glossary_that_would_go_over_the_token_quota_is_applied_with_a_warning(
    client: httpx.AsyncClient,
) -> None:
    small = await client.put("/api/glossary", json={"keep": ["Contoso"]})
    names = [
        f"Professor Maria-Alejandra {n:03d} of the Universidad Autonoma de Barcelona" for n in range(400)
    ]
    large = await client.put("/api/glossary", json={"keep": names})
    assert small.status_code == 200 and "x-glossary-warning" not in small.headers
    assert large.status_code == 200 and large.json()["keep"] == names, "applied all the same"
    warning = large.headers["x-glossary-warning"]
    assert "tokens a minute for 2 language(s), over the resource's 100,000" in warning


async def test_a_test_tone_reaches_that_languages_listeners_only_and_stays_out_of_the_transcript(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    def toned(r: Received) -> bool:
        return any(c["text"] == TONE_CAPTION for c in r.finals().values()) and bool(r.ended())

    async with (
        websockets.connect(f"{server.ws}/ws/listen/es?codec=opus", compression=None) as es,
        websockets.connect(f"{server.ws}/ws/listen/fr", compression=None) as fr,
    ):
        # Each hello comes once its listener is subscribed: both hear what is sent from now on.
        spanish, french = Received(json.loads(await es.recv())), Received(json.loads(await fr.recv()))
        unknown = await client.post("/api/languages/xx/tone")
        sent = await client.post("/api/languages/es/tone")
        heard = await collect(es, spanish, toned)
        other = await collect(fr, french, lambda r: len(r.finals()) >= 2)
    assert unknown.status_code == 404 and "offered: es, fr" in unknown.json()["detail"]
    assert sent.status_code == 202
    tone = next(c for c in heard.finals().values() if c["text"] == TONE_CAPTION)
    assert heard.audio_shares()[tone["id"]] == 1.0, "the whole second of it"
    assert not any(c["text"] == TONE_CAPTION for c in other.finals().values())
    transcript = server.room.pipeline.transcript
    assert transcript is not None
    kept = read_transcript(transcript.directory, next(transcript.directory.glob("*.jsonl")).stem)
    assert kept.captions and all(c.text != TONE_CAPTION for c in kept.captions)


EDITOR_KEY = "es-volunteer-key-0001"


async def test_a_corrected_caption_reaches_every_listener_and_the_transcript(
    voicelive: FakeVoiceLive, talk: Path, tmp_path: Path
) -> None:
    """The Spanish volunteer puts right a caption the engine got wrong: a WebSocket listener and an
    SSE reader get it in its place, marked corrected; so does a listener who joins later; the
    transcript, its SRT and the operator's list of corrections keep it, with who and what it was."""
    settings = voicelive_settings(voicelive, talk)
    settings.editors = {"es": EDITOR_KEY}
    settings.transcripts.directory = str(tmp_path)
    async with (
        live_server(settings, WavSource(talk, loop=True, pace=2)) as server,
        httpx.AsyncClient(base_url=server.url) as client,
        websockets.connect(f"{server.ws}/ws/listen/es?audio=0") as ws,
        client.stream("GET", "/sse/captions/es") as sse,
    ):
        spanish = Received(json.loads(await ws.recv()))
        first = await collect(ws, spanish, lambda r: len(r.finals()) >= 1, within_s=30)
        wrong = min(first.finals().values(), key=lambda c: c["id"])
        volunteer = {"Authorization": f"Bearer {EDITOR_KEY}"}
        corrected = await client.post(
            f"/api/languages/es/captions/{wrong['id']}", json={"text": "Buenos días a todas y todos"},
            headers=volunteer,
        )  # fmt: skip
        assert corrected.status_code == 200, corrected.text
        again = await collect(
            ws, spanish, lambda r: any(c.get("corrected") for c in r.finals().values()), within_s=10
        )
        events = []
        async for line in sse.aiter_lines():
            if line.startswith("data: ") and '"corrected":true' in line:
                events.append(json.loads(line[6:]))
                break
        async with websockets.connect(f"{server.ws}/ws/listen/es?audio=0") as late:
            late_hello = json.loads(await late.recv())
        not_french = await client.post(
            f"/api/languages/fr/captions/{wrong['id']}", json={"text": "Bonjour"}, headers=volunteer
        )
        nobody = await client.post(f"/api/languages/es/captions/{wrong['id']}", json={"text": "x"})
        operator = {"Authorization": f"Bearer {server.rooms.operator_token}"}
        gone = await client.post("/api/languages/es/captions/999999", json={"text": "x"}, headers=operator)
        empty = await client.post(
            f"/api/languages/es/captions/{wrong['id']}", json={"text": " "}, headers=operator
        )
        listed = (await client.get("/api/corrections", headers=operator)).json()
        talks = (await client.get("/api/transcripts", headers=operator)).json()
        srt = (await client.get(talks[0]["exports"]["es"]["srt"], headers=operator)).text
    fixed = again.finals()[wrong["id"]]
    assert (fixed["text"], fixed["corrected"], fixed["source_text"]) == (
        "Buenos días a todas y todos",
        True,
        wrong["source_text"],
    )
    assert events and events[0]["id"] == wrong["id"] and events[0]["text"] == "Buenos días a todas y todos"
    held = {c["id"]: c for c in late_hello["captions"]}
    assert held[wrong["id"]]["corrected"] is True, "a listener who joins later gets the corrected one"
    assert not_french.status_code == 401 and nobody.status_code == 401
    assert gone.status_code == 404 and "is not among the last final ones" in gone.json()["detail"]
    assert empty.status_code == 400 and "text: must not be empty" in empty.json()["detail"]
    assert [(c["lang"], c["utterance"], c["before"], c["text"], c["who"]) for c in listed] == [
        ("es", wrong["id"], wrong["text"], "Buenos días a todas y todos", "editor (es)")
    ]
    assert pysrt.from_string(srt)[0].text == "Buenos días a todas y todos", srt
    assert EDITOR_KEY not in json.dumps(listed)
