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

from translator.cpu_use import CpuMeter
from translator.server import loop_watch
from translator.server.operator import require_operator
from translator.server.rooms import Rooms
from translator.talk.room import Room

LAG_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


class _RoomsCollector(Collector):
    def __init__(self, rooms: Rooms) -> None:
        self.rooms = rooms

    def collect(self) -> Iterator[Metric]:
        per_language = ["room", "lang"]
        listeners = GaugeMetricFamily(
            "translator_listeners",
            "Connected listeners (in every process sharing the room)",
            labels=per_language,
        )
        readers = GaugeMetricFamily(
            "translator_hls_readers",
            "HLS players reading the channel from this process (seen in the last 10 s)",
            labels=per_language,
        )
        queued = CounterMetricFamily(
            "translator_messages_queued", "Messages queued to listeners", labels=per_language
        )
        at_once = CounterMetricFamily(
            "translator_messages_written_at_publish",
            "Messages written to a listener as they were published (no queue, no task switch)",
            labels=per_language,
        )
        skipped = CounterMetricFamily(
            "translator_utterances_skipped",
            "Utterances whose audio a listener missed (fell behind)",
            labels=per_language,
        )
        evictions = CounterMetricFamily(
            "translator_evictions", "Listeners closed for not keeping up", labels=per_language
        )
        failures = CounterMetricFamily(
            "translator_engine_failures", "Engine failures reported", labels=per_language
        )
        reconnects = CounterMetricFamily(
            "translator_engine_reconnects", "Engine sessions restarted", labels=per_language
        )
        stalls = CounterMetricFamily(
            "translator_stalls",
            "Times speech went into the language's interpreter and nothing came out (each restarted it)",
            labels=per_language,
        )
        ready = GaugeMetricFamily(
            "translator_language_ready", "1 when the language's session is ready", labels=per_language
        )
        tokens = GaugeMetricFamily(
            "translator_tokens_per_minute",
            "Tokens the language's translations were billed over the last minute (Voice Live)",
            labels=per_language,
        )
        carried = CounterMetricFamily(
            "translator_fidelity_checked",
            "Numbers, names kept and glossary terms said in the source of final captions",
            labels=[*per_language, "kind"],
        )
        missed = CounterMetricFamily(
            "translator_fidelity_missed",
            "Numbers, names kept and glossary terms said that the translation lost",
            labels=[*per_language, "kind"],
        )
        behind = GaugeMetricFamily(
            "translator_listener_behind_seconds",
            "What a listener hearing everything in order still has to hear",
            labels=per_language,
        )
        tempo = GaugeMetricFamily(
            "translator_tempo",
            "How fast the latest utterance plays (more than 1 while catching up)",
            labels=per_language,
        )
        running = GaugeMetricFamily(
            "translator_room_running", "1 while the room's talk runs", labels=["room"]
        )
        level = GaugeMetricFamily("translator_input_level_dbfs", "Input level (RMS, dBFS)", labels=["room"])
        restarts = CounterMetricFamily("translator_input_restarts", "Input restarts", labels=["room"])
        delay = GaugeMetricFamily(
            "translator_input_delay_seconds",
            "How long the input holds its sound before the engines get it (not the network's transit)",
            labels=["room"],
        )
        buffered = GaugeMetricFamily(
            "translator_input_buffered_seconds",
            "A network input's jitter buffer: the delay it adds now",
            labels=["room"],
        )
        gaps = CounterMetricFamily(
            "translator_input_gaps", "Times a network input's audio ran out while publishing", labels=["room"]
        )
        burst_dropped = CounterMetricFamily(
            "translator_input_dropped_seconds",
            "A network input's audio lost to bursts beyond the jitter buffer's bound",
            labels=["room"],
        )
        failing = GaugeMetricFamily(
            "translator_transcript_failing",
            "1 while the transcript's writes fail (retried with back-off)",
            labels=["room"],
        )
        pending = GaugeMetricFamily(
            "translator_transcript_pending", "Captions waiting to be written", labels=["room"]
        )
        dropped = CounterMetricFamily(
            "translator_transcript_dropped", "Captions lost while writes failed", labels=["room"]
        )
        malformed = CounterMetricFamily(
            "translator_broker_malformed",
            "Messages and keys found in Redis that could not be read, dropped",
            labels=["room"],
        )
        for room in self.rooms.rooms.values():
            assert isinstance(room, Room)
            for lang, channel in room.hub.channels.items():
                labels = [room.id, lang]
                listeners.add_metric(labels, room.listeners(lang))
                readers.add_metric(labels, room.hls_readers.count(lang))
                queued.add_metric(labels, channel.queued)
                at_once.add_metric(labels, channel.written_at_once)
                skipped.add_metric(labels, channel.skipped)
                evictions.add_metric(labels, channel.evictions)
                if (language := room.language_state(lang)) is not None:
                    failures.add_metric(labels, language.failures)
                    reconnects.add_metric(labels, language.reconnects)
                    stalls.add_metric(labels, language.stalls)
                    ready.add_metric(labels, room.state == "running" and language.shown[0] == "ready")
                    if language.tokens is not None:
                        tokens.add_metric(labels, language.tokens.rate())
                    behind.add_metric(labels, language.catch_up.behind_s())
                    tempo.add_metric(labels, language.catch_up.tempo)
                    counts = language.fidelity
                    for kind, said, lost in (
                        ("number", counts.numbers, counts.numbers_missed),
                        ("name", counts.names, counts.names_missed),
                        ("term", counts.terms, counts.terms_missed),
                    ):
                        carried.add_metric([*labels, kind], said)
                        missed.add_metric([*labels, kind], lost)
            report = room.input_report()
            running.add_metric([room.id], room.state == "running")
            level.add_metric([room.id], report.level_dbfs)
            restarts.add_metric([room.id], report.restarts)
            delay.add_metric([room.id], report.delay_s)
            if report.network is not None:
                buffered.add_metric([room.id], report.network.buffered_s)
                gaps.add_metric([room.id], report.network.gaps)
                burst_dropped.add_metric([room.id], report.network.dropped_s)
            transcript = room.transcript_status()
            failing.add_metric([room.id], transcript.state == "failing")
            pending.add_metric([room.id], transcript.pending)
            dropped.add_metric([room.id], transcript.dropped)
            if room.broker is not None:
                malformed.add_metric([room.id], room.broker.malformed)
        yield from (
            listeners,
            readers,
            queued,
            at_once,
            skipped,
            evictions,
            failures,
            reconnects,
            stalls,
            ready,
        )
        yield from (tokens, carried, missed, behind, tempo)
        yield from (running, level, restarts, delay, buffered, gaps, burst_dropped)
        yield from (failing, pending, dropped, malformed)
        working = GaugeMetricFamily(
            "translator_output_working",
            "1 while an output works (writes, sends, serves, or waits for a talk or a client), 0 while it "
            "retries or has stopped (the console says why)",
            labels=["room", "output", "lang"],
        )
        for room_id, outputs in self.rooms.outputs.items():
            for output in outputs:
                status = output.status()
                working.add_metric(
                    [room_id, status.name, status.lang], status.state not in ("retrying", "stopped")
                )
        yield working
        yield CounterMetricFamily(
            "translator_event_loop_stalls",
            f"Times the server's event loop did not run for {loop_watch.BLOCKED_S:.0f} s or more",
            value=loop_watch.LoopWatch.process_stalls,
        )


class _CpuCollector(Collector):
    def __init__(self) -> None:
        self.meter = CpuMeter()

    def collect(self) -> Iterator[Metric]:
        used = CounterMetricFamily(
            "translator_cpu_seconds",
            "CPU time by part of the service: event_loop, engine, models, outputs, child_processes, other",
            labels=["part"],
        )
        for part, seconds in self.meter.read().seconds.items():
            used.add_metric([part.value], seconds)
        yield used


def install(rooms: Rooms) -> CollectorRegistry:
    """A registry of its own for this server (several can run in one process: tests, eval)."""
    registry = CollectorRegistry()
    registry.register(_RoomsCollector(rooms))
    # Made on the event loop's thread, which it counts as the event loop.
    registry.register(_CpuCollector())
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    lag = Histogram(
        "translator_caption_lag_seconds",
        "From the end of an utterance's speech to its final caption",
        ["room", "lang"],
        buckets=LAG_BUCKETS,
        registry=registry,
    )
    for room in rooms.rooms.values():
        assert isinstance(room, Room)
        room.on_lag = lambda lang, seconds, room_id=room.id: lag.labels(room_id, lang).observe(seconds)
    return registry


@get("/metrics", sync_to_thread=False, guards=[require_operator], include_in_schema=False)
def metrics(state: State) -> Response[bytes]:
    """The Prometheus text format."""
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
