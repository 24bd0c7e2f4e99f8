"""``GET /metrics`` (operator token): Prometheus metrics through prometheus-client.

Counts that change on the audio path (messages queued, utterances skipped) stay plain integers in
the hub and the pipeline; a collector reads them at scrape time, so that fan-out never pays for them.
"""

from __future__ import annotations

from collections.abc import Iterator

from litestar import Response, get
from litestar.datastructures import State
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from translator.server.operator import require_operator
from translator.server.services import Services

LAG_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


class _ServiceCollector(Collector):
    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        hub, pipeline = self.services.hub, self.services.pipeline
        listeners = GaugeMetricFamily(
            "translator_listeners", "Connected listeners (in every process sharing the talk)", labels=["lang"]
        )
        queued = CounterMetricFamily(
            "translator_messages_queued", "Messages queued to listeners", labels=["lang"]
        )
        at_once = CounterMetricFamily(
            "translator_messages_written_at_publish",
            "Messages written to a listener as they were published (no queue, no task switch)",
            labels=["lang"],
        )
        skipped = CounterMetricFamily(
            "translator_utterances_skipped",
            "Utterances whose audio a listener missed (fell behind)",
            labels=["lang"],
        )
        evictions = CounterMetricFamily(
            "translator_evictions", "Listeners closed for not keeping up", labels=["lang"]
        )
        failures = CounterMetricFamily(
            "translator_engine_failures", "Engine failures reported", labels=["lang"]
        )
        reconnects = CounterMetricFamily(
            "translator_engine_reconnects", "Engine sessions restarted", labels=["lang"]
        )
        ready = GaugeMetricFamily(
            "translator_language_ready", "1 when the language's session is ready", labels=["lang"]
        )
        tokens = GaugeMetricFamily(
            "translator_tokens_per_minute",
            "Tokens the language's translations were billed over the last minute (Voice Live)",
            labels=["lang"],
        )
        for lang, channel in hub.channels.items():
            listeners.add_metric([lang], self.services.listeners(lang))
            queued.add_metric([lang], channel.queued)
            at_once.add_metric([lang], channel.written_at_once)
            skipped.add_metric([lang], channel.skipped)
            evictions.add_metric([lang], channel.evictions)
            failures.add_metric([lang], pipeline.failures[lang])
            reconnects.add_metric([lang], pipeline.reconnects[lang])
            ready.add_metric([lang], pipeline.states.get(lang) == "ready")
            if (rate := pipeline.tokens.get(lang)) is not None:
                tokens.add_metric([lang], rate.rate())
        yield from (listeners, queued, at_once, skipped, evictions, failures, reconnects, ready, tokens)
        yield GaugeMetricFamily(
            "translator_input_level_dbfs", "Input level (RMS, dBFS)", value=pipeline.input.level_dbfs
        )
        yield CounterMetricFamily(
            "translator_input_restarts", "Input restarts", value=pipeline.input.restarts
        )
        transcript = pipeline.transcript_status()
        yield GaugeMetricFamily(
            "translator_transcript_failing",
            "1 while the transcript's writes fail (retried with back-off)",
            value=transcript.state == "failing",
        )
        yield GaugeMetricFamily(
            "translator_transcript_pending", "Captions waiting to be written", value=transcript.pending
        )
        yield CounterMetricFamily(
            "translator_transcript_dropped", "Captions lost while writes failed", value=transcript.dropped
        )


def install(services: Services) -> CollectorRegistry:
    """A registry of its own for this service (several can run in one process: tests, eval)."""
    registry = CollectorRegistry()
    registry.register(_ServiceCollector(services))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    lag = Histogram(
        "translator_caption_lag_seconds",
        "From the end of an utterance's speech to its final caption",
        ["lang"],
        buckets=LAG_BUCKETS,
        registry=registry,
    )
    services.pipeline.on_lag = lambda lang, seconds: lag.labels(lang).observe(seconds)
    return registry


@get("/metrics", sync_to_thread=False, guards=[require_operator], include_in_schema=False)
def metrics(state: State) -> Response[bytes]:
    """The Prometheus text format."""
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
