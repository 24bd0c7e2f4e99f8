"""End to end on the offline engine: a WAV file → real models → a listener on the running server."""

from __future__ import annotations

from pathlib import Path

import httpx

from harness.live import listen, live_server
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.talk import pipeline


async def test_a_listener_gets_spanish_captions_and_audio(talk: Path) -> None:
    settings = load_settings(env={}, overrides={"targets": ["es", "fr"], "audio.input": str(talk)})
    async with live_server(settings, WavSource(talk, pace=2)) as server:
        received = await listen(
            f"{server.ws}/ws/listen/es", lambda r: len(r.finals()) >= 2 and len(r.audio) > 10, within_s=60
        )
        async with httpx.AsyncClient(base_url=server.url) as client:
            status = (await client.get("/api/status", headers=server.operator)).json()
    finals = list(received.finals().values())
    assert "Buenos días" in finals[0]["text"]
    assert "good morning" in finals[0]["source_text"].lower()
    assert "teléfonos" in finals[1]["text"]
    assert all(c["lang"] == "es" for c in received.captions)
    assert {h[3] for h, _ in received.audio} <= {f["id"] for f in finals}
    assert status["engine"] == "local"


async def test_a_language_that_falls_behind_is_not_ready(talk: Path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "MAX_LAG_S", 0.0)
    settings = load_settings(env={}, overrides={"targets": ["es"], "audio.input": str(talk)})
    async with live_server(settings, WavSource(talk)) as server:
        await listen(f"{server.ws}/ws/listen/es", lambda r: len(r.finals()) >= 1, within_s=60)
        async with httpx.AsyncClient(base_url=server.url) as client:
            ready = await client.get("/readyz")
            languages = (await client.get("/api/languages")).json()
    assert ready.status_code == 503 and ready.json()["lag_s"]["es"] > 0
    assert languages["targets"][0]["lag_s"] > 0 and "detail" not in languages["targets"][0]
