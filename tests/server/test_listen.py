"""End to end: a WAV file → the Voice Live engine (real SDK, local server) → hub → WebSocket listeners."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import av
import httpx
import pytest
import websockets

from harness.live import listen, live_server
from harness.translate_server import FakeTranslate
from harness.voicelive_server import FakeVoiceLive
from tests.helpers import voicelive_settings
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.messages import FLAG_END, opus_packets


def two_finals(received) -> bool:
    return len(received.finals()) >= 2 and all(f["source_text"] for f in received.finals().values())


async def test_two_languages_each_get_their_own_captions_and_audio(
    voicelive: FakeVoiceLive, talk: Path
) -> None:
    settings = voicelive_settings(voicelive, talk)
    async with live_server(settings, WavSource(talk, pace=4)) as server:
        spanish, french = await asyncio.gather(
            listen(f"{server.ws}/ws/listen/es", two_finals),
            listen(f"{server.ws}/ws/listen/fr", two_finals),
        )
        async with httpx.AsyncClient(base_url=server.url) as client:
            languages = (await client.get("/api/languages")).json()
            status = (await client.get("/api/status", headers=server.operator)).json()
            ready = await client.get("/readyz")
    for received, lang, locale in ((spanish, "es", "es-ES"), (french, "fr", "fr-FR")):
        hello = received.hello
        assert hello["type"] == "hello" and hello["lang"] == lang and hello["protocol"] == 2
        assert hello["codec"] == "pcm" and hello["sample_rate"] == 24000 and hello["audio_header_bytes"] == 12
        assert hello["talk_started_at"] is None or hello["talk_started_at"] > 1_700_000_000_000
        finals = list(received.finals().values())
        assert all(c["lang"] == lang for c in received.captions)
        assert all(f"translated into {locale}" in c["text"] for c in finals)
        assert finals[0]["source_text"] == "Good morning everyone"
        assert 1000 <= finals[0]["start_ms"] < finals[0]["end_ms"] < finals[1]["start_ms"]
        # Partial captions came before the final of the same utterance.
        first_id = finals[0]["id"]
        assert any(c["id"] == first_id and not c["final"] for c in received.captions)
        # Audio frames name the utterance they translate, and positions run on without gaps.
        frames = [(h, pcm) for h, pcm in received.audio if h[3] == first_id]
        assert [h[4] for h, _ in frames] == [0, 2400, 4800, 7200]
        assert all(h[0] == 2 and h[1] == 0 and h[2] == 0 and len(pcm) == 4800 for h, pcm in frames[:3])
        # The end of the utterance's audio: an empty frame flagged as the end.
        assert frames[3][0][2] == FLAG_END and frames[3][1] == b""
    assert {t["code"]: t["native"] for t in languages["targets"]} == {"es": "Español", "fr": "Français"}
    assert all(t["state"] == "ready" for t in languages["targets"])
    assert status["engine"] == "voicelive" and status["input"]["state"] in ("running", "ended")
    assert ready.status_code == 200
    assert "secret-key-456" not in json.dumps(status) + json.dumps(languages)


async def test_a_late_joiner_gets_recent_finals_in_its_hello(voicelive: FakeVoiceLive, talk: Path) -> None:
    async with live_server(voicelive_settings(voicelive, talk), WavSource(talk, pace=4)) as server:
        await listen(f"{server.ws}/ws/listen/es", two_finals)
        late = await listen(f"{server.ws}/ws/listen/es", lambda r: True)
    assert len(late.hello["captions"]) == 2
    assert all(c["final"] for c in late.hello["captions"])


async def test_a_language_whose_configuration_is_refused_says_why_everywhere(talk: Path) -> None:
    async with (
        FakeVoiceLive(refuse_locales={"fr-FR"}) as server,
        live_server(voicelive_settings(server, talk), WavSource(talk, pace=4)) as live,
    ):
        spanish = await listen(f"{live.ws}/ws/listen/es", two_finals)
        french = await listen(
            f"{live.ws}/ws/listen/fr",
            lambda r: "failed" in [r.hello["state"], *(m.get("state") for m in r.other)],
        )
        async with httpx.AsyncClient(base_url=live.url) as client:
            status = (await client.get("/api/status", headers=live.operator)).json()
            ready = await client.get("/readyz")
    reason = "Voice Live refused the session configuration: Voice 'en-US-AvaMultilingualNeural' is not"
    languages = {t["code"]: t for t in status["languages"]}
    assert languages["fr"]["state"] == "failed" and languages["fr"]["detail"].startswith(reason)
    assert languages["es"]["state"] == "ready" and languages["es"]["detail"] == ""
    assert ready.status_code == 503
    told = [french.hello["detail"]] + [m.get("detail", "") for m in french.other]
    assert any(detail.startswith(reason) for detail in told)
    assert len(spanish.finals()) == 2


async def test_unknown_language_is_refused_with_a_reason(voicelive: FakeVoiceLive, talk: Path) -> None:
    async with live_server(voicelive_settings(voicelive, talk), WavSource(talk, pace=4)) as server:
        async with websockets.connect(f"{server.ws}/ws/listen/de") as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd.code == 4404
        assert "available: original, es, fr" in closed.value.rcvd.reason
        async with websockets.connect(f"{server.ws}/ws/listen/es?codec=mp3") as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd.code == 4400


async def test_misbehaving_listeners_are_closed_and_nobody_else_notices(
    voicelive: FakeVoiceLive, talk: Path
) -> None:
    async with live_server(voicelive_settings(voicelive, talk), WavSource(talk, pace=4)) as server:
        hub = server.room.hub
        good = asyncio.create_task(listen(f"{server.ws}/ws/listen/es", two_finals))
        async with websockets.connect(f"{server.ws}/ws/listen/es") as flooder:
            await flooder.recv()
            with pytest.raises(websockets.ConnectionClosed):
                for _ in range(100):
                    await flooder.send("x")
                    await asyncio.sleep(0.001)
                await flooder.recv()
            assert flooder.close_code == 1008
        async with websockets.connect(f"{server.ws}/ws/listen/es") as big:
            await big.recv()
            await big.send("y" * 10_000)
            with pytest.raises(websockets.ConnectionClosed):
                await big.recv()
            assert big.close_code == 1009
        received = await good
    assert len(received.finals()) == 2
    assert hub.listener_count("es") == 0


async def test_opus_listeners_get_packets_encoded_once_per_language(
    voicelive: FakeVoiceLive, talk: Path
) -> None:
    async with live_server(voicelive_settings(voicelive, talk), WavSource(talk, pace=4)) as server:
        opus, pcm = await asyncio.gather(
            listen(f"{server.ws}/ws/listen/es?codec=opus", two_finals),
            listen(f"{server.ws}/ws/listen/es?codec=pcm", two_finals),
        )
    assert opus.hello["codec"] == "opus" and opus.hello["protocol"] == 2
    assert opus.hello["opus"] == {"length_prefix": "uint16le", "packet_samples": 480, "max_packets": 5}
    first = min(opus.finals())
    messages = [
        (header, opus_packets(payload)) for header, payload in opus.audio if header[3] == first and payload
    ]
    assert all(header[1] == 1 for header, _ in opus.audio)
    # Up to 100 ms a message: the engine's 100 ms chunks go out as 5 packets each, not 5 messages.
    assert all(1 <= len(packets) <= 5 for _, packets in messages)
    assert len(messages) <= sum(len(p) for _, p in messages) / 4
    positions, position = [], 0
    for _, packets in messages:
        positions.append(position)
        position += 480 * len(packets)
    assert [header[4] for header, _ in messages] == positions, "each message starts where the last ended"
    # Each utterance is an Opus stream of its own: a fresh decoder decodes it whole.
    decoder = av.CodecContext.create("libopus", "r")
    packets = [packet for _, batch in messages for packet in batch]
    decoded = sum(f.samples for packet in packets for f in decoder.decode(av.Packet(packet)))
    pcm_samples = sum(len(p) // 2 for h, p in pcm.audio if h[3] == first)
    # The decoder runs at 48 kHz; the same speech, padded to whole 20 ms packets, and the packet
    # that empties the encoder's lookahead.
    assert pcm_samples * 2 <= decoded <= (pcm_samples + 2 * 480) * 2
    assert opus.audio_shares()[first] == 1.0
    assert all(len(packet) < 200 for packet in packets)


async def sse_events(url: str, until, within_s: float = 30.0) -> list[tuple[str, dict]]:
    """(event name, data) of a Server-Sent Events stream, read with a real HTTP client until
    ``until(events)``."""
    events: list[tuple[str, dict]] = []
    async with httpx.AsyncClient(timeout=within_s) as client, client.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        async with asyncio.timeout(within_s):
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[6:])))
                    if until(events):
                        return events
    raise AssertionError(f"the stream ended after {events}")


async def test_server_sent_events_carry_the_same_captions_as_the_websocket(
    voicelive: FakeVoiceLive, talk: Path
) -> None:
    """The hub frames once per transport: an overlay on SSE reads what a page on the WebSocket reads."""
    settings = voicelive_settings(voicelive, talk)
    source = WavSource(talk, pace=4)
    async with live_server(settings, source) as server:
        seen: list[tuple[int, int]] = []  # (listeners, audience) of the channel while SSE reads

        def finals(events: list[tuple[str, dict]]) -> bool:
            channel = server.room.hub.channels["es"]
            seen.append((len(channel.listeners), channel.audience))
            return len([d for name, d in events if name == "caption" and d["final"]]) >= 2

        sse, ws = await asyncio.gather(
            sse_events(f"{server.url}/sse/captions/es", finals),
            listen(f"{server.ws}/ws/listen/es", two_finals),
        )
        async with httpx.AsyncClient(base_url=server.url) as client:
            unknown = await client.get("/sse/captions/xx")
    assert sse[0][0] == "hello" and sse[0][1]["lang"] == "es" and sse[0][1]["audio"] is False
    captions = [data for name, data in sse if name == "caption"]
    assert {c["id"]: c for c in captions if c["final"]} == ws.finals()
    assert unknown.status_code == 404 and "available: original, es, fr" in unknown.json()["detail"]
    # Not the audience: the SSE reader, and the room's own programme (streams, HLS, recordings).
    assert all(listeners - audience == 2 for listeners, audience in seen), "SSE readers are not the audience"


async def test_a_room_serves_languages_on_different_engines(voicelive: FakeVoiceLive, talk: Path) -> None:
    async with FakeTranslate() as translate:
        settings = load_settings(
            env={
                "AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint,
                "AZURE_VOICELIVE_API_KEY": "secret-key-456",
                "AZURE_OPENAI_ENDPOINT": translate.endpoint,
                "AZURE_OPENAI_API_KEY": translate.api_key,
            },
            overrides={
                "targets": ["es", "fr"],
                "engines": {"es": "realtime-translate"},
                "engine": "voicelive",
                "audio.input": str(talk),
                "azure.model": "gpt-4.1",
                "glossary": {"keep": ["Contoso"]},
            },
        )
        async with live_server(settings, WavSource(talk, pace=4)) as server:
            spanish, french = await asyncio.gather(
                listen(f"{server.ws}/ws/listen/es", two_finals),
                listen(f"{server.ws}/ws/listen/fr", two_finals),
            )
            async with httpx.AsyncClient(base_url=server.url) as client:
                status = (await client.get("/api/status", headers=server.operator)).json()
    assert all(c["text"].startswith("[es] tone") for c in spanish.finals().values())
    assert all("translated into fr-FR" in c["text"] for c in french.finals().values())
    assert status["engine"] == "realtime-translate + voicelive"
    engines = {lang["code"]: (lang["engine"], lang["detail"]) for lang in status["languages"]}
    assert engines["fr"] == ("voicelive", "")
    assert engines["es"][0] == "realtime-translate"
    assert "takes no glossary: 1 name(s) and term(s) for Spanish are not enforced" in engines["es"][1]
    assert translate.api_key not in json.dumps(status)
