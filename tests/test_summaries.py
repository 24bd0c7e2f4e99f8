"""A talk's summary in each language, from an Azure OpenAI chat deployment (the real ``openai`` SDK
against a local server that answers as the service does), marked AI-generated in the bundle."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import msgspec

from harness.chat_server import FakeChat
from harness.live import live_server
from tests.helpers import until
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.transcripts.store import read_transcript
from translator.transcripts.summary import NOTICE, Summaries


async def test_each_language_is_summarised_from_its_own_captions_and_marked_ai_generated(
    talk: Path, tmp_path: Path
) -> None:
    async with FakeChat() as chat:
        settings = load_settings(
            env={"AZURE_OPENAI_SUMMARY_DEPLOYMENT": chat.deployment},
            overrides={
                "engine": "local",
                "targets": ["es", "fr"],
                "transcripts.directory": str(tmp_path),
                "translate.endpoint": chat.endpoint,
                "translate.api_key": chat.key,
            },
        )
        async with (
            live_server(settings, WavSource(talk)) as server,
            httpx.AsyncClient(base_url=server.url, headers=server.operator, timeout=60) as client,
        ):
            writer = server.room.pipeline.transcript if server.room.pipeline else None
            assert writer is not None

            def said() -> bool:
                if writer.talk is None:
                    return False
                return len(read_transcript(tmp_path, writer.talk).captions) == 4

            await until(said)
            talk_id = writer.talk
            assert talk_id is not None
            assert (await client.get(f"/api/summaries/{talk_id}")).status_code == 404
            made = await client.post(f"/api/summaries/{talk_id}")
            assert made.status_code == 200, made.text
            summaries = msgspec.json.decode(made.content, type=Summaries)
            listed = (await client.get("/api/transcripts")).json()
            bundled = await client.get(f"/api/bundles/{talk_id}")
        transcript = read_transcript(tmp_path, talk_id)
    # Each language's summary comes from its own captions, the Original's from what was said.
    firsts = {lang: next(c.text for c in transcript.captions if c.lang == lang) for lang in ("es", "fr")}
    firsts["original"] = next(c.source_text for c in transcript.captions if c.lang == "es")
    got = {summary.lang: summary.text for summary in summaries.languages}
    assert got == {
        "original": f"the language the transcript is in: {firsts['original']}",
        "es": f"Spanish: {firsts['es']}",
        "fr": f"French: {firsts['fr']}",
    }
    assert summaries.ai_generated and summaries.notice == NOTICE and summaries.model == chat.deployment
    assert all(summary.tokens for summary in summaries.languages)
    assert len(chat.requests) == 3 and all("at most 200 words" in r.instructions for r in chat.requests)
    assert next(t for t in listed if t["id"] == talk_id)["summaries"] == f"/api/summaries/{talk_id}"
    with zipfile.ZipFile(io.BytesIO(bundled.content)) as archive:
        spanish = archive.read("summaries/es.txt").decode()
        manifest = msgspec.json.decode(archive.read("manifest.json"))
    assert spanish.startswith(NOTICE) and spanish.rstrip().endswith(got["es"])
    assert {"path": "summaries/es.txt", "kind": "summary", "lang": "es", "ai_generated": True} in [
        {k: f[k] for k in ("path", "kind", "lang", "ai_generated")} for f in manifest["files"]
    ]
    stored = (tmp_path / f"{talk_id}.summaries.json").read_text()
    assert chat.key not in stored


async def test_without_a_deployment_it_says_what_it_needs_and_a_refusal_is_named(
    talk: Path, tmp_path: Path
) -> None:
    async with FakeChat() as chat:
        settings = load_settings(
            env={},
            overrides={"engine": "local", "targets": ["es"], "transcripts.directory": str(tmp_path)},
        )
        async with (
            live_server(settings, WavSource(talk)) as server,
            httpx.AsyncClient(base_url=server.url, headers=server.operator, timeout=60) as client,
        ):
            writer = server.room.pipeline.transcript if server.room.pipeline else None
            assert writer is not None
            await until(lambda: writer.talk is not None)
            unset = await client.post(f"/api/summaries/{writer.talk}")
            assert unset.status_code == 409
            assert unset.json()["detail"] == (
                "summaries need an Azure OpenAI chat model: set a chat deployment (summaries.deployment, "
                "or AZURE_OPENAI_SUMMARY_DEPLOYMENT) and its resource (summaries.endpoint, or "
                "AZURE_OPENAI_ENDPOINT)"
            )
            # Configured with a wrong key: the service's refusal is named, the key is not.
            server.rooms.settings.summaries.deployment = chat.deployment
            server.rooms.settings.summaries.endpoint = chat.endpoint
            server.rooms.settings.summaries.api_key = "a-wrong-key-0123456789"
            await until(lambda: bool(read_transcript(tmp_path, str(writer.talk)).captions))
            refused = await client.post(f"/api/summaries/{writer.talk}")
            assert refused.status_code == 502
            detail = refused.json()["detail"]
            assert "answered 401: Access denied due to invalid subscription key" in detail
            assert "a-wrong-key" not in detail
            assert not chat.requests
