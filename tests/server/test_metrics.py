"""``/metrics`` scraped from a real server translating a talk, read by prometheus-client's parser."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import websockets
from prometheus_client.parser import text_string_to_metric_families

from harness.live import listen, live_server
from translator.audio.wav import WavSource
from translator.config import load_settings


async def test_metrics_count_what_listeners_got(talk: Path) -> None:
    settings = load_settings(
        env={}, overrides={"engine": "local", "targets": ["es", "fr"], "audio.input": str(talk)}
    )
    async with (
        live_server(settings, WavSource(talk)) as server,
        websockets.connect(f"{server.ws}/ws/listen/fr") as french,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        assert json.loads(await french.recv())["type"] == "hello"
        received = await listen(f"{server.ws}/ws/listen/es", lambda r: len(r.finals()) >= 2, within_s=60)
        refused = await client.get("/metrics")
        scraped = await client.get("/metrics", headers=server.operator)
    assert refused.status_code == 401
    samples = {
        (s.name, s.labels.get("lang")): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }
    # The Spanish listener has left; the French one is still here.
    assert samples[("translator_listeners", "es")] == 0 and samples[("translator_listeners", "fr")] == 1
    # Every message the Spanish listener got was counted, the hello aside.
    es_messages = len(received.captions) + len(received.audio) + len(received.other)
    assert samples[("translator_messages_queued_total", "es")] >= es_messages
    # Most went out as they were published, with no queue and no task switch.
    at_once = samples[("translator_messages_written_at_publish_total", "es")]
    assert es_messages / 2 < at_once <= samples[("translator_messages_queued_total", "es")]
    assert samples[("translator_caption_lag_seconds_count", "es")] == 2
    assert samples[("translator_language_ready", "es")] == 1
    assert samples[("translator_engine_failures_total", "es")] == 0
    assert ("translator_input_level_dbfs", None) in samples
    assert samples[("process_resident_memory_bytes", None)] > 50_000_000
    # Two sentences recognised by the model's own threads and spoken by espeak-ng processes; the event
    # loop carried it all.
    cpu = {
        s.labels["part"]: s.value
        for f in text_string_to_metric_families(scraped.text)
        for s in f.samples
        if s.name == "translator_cpu_seconds_total"
    }
    assert set(cpu) == {"event_loop", "engine", "models", "outputs", "child_processes", "other"}
    assert all(cpu[part] > 0 for part in ("event_loop", "models", "child_processes")), cpu
