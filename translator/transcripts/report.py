"""The report of a talk, from its transcript: who listened to each channel (peak, average,
listener-minutes), and per language what its engine was billed and what that costs at list prices
(`engines.pricing`), its caption lag, the captions whose numbers or names went missing, and the
corrections made. For the finance office and the organiser's after (``GET …/report``, the bundle).
"""

from __future__ import annotations

import csv
import io
import statistics

import msgspec

from translator.config import PricesConfig
from translator.engines import pricing
from translator.engines.events import TokensUsed
from translator.transcripts.store import Transcript


class ChannelAudience(msgspec.Struct, frozen=True):
    """One channel's listeners over the talk, as sampled."""

    lang: str
    peak: int
    average: float
    listener_minutes: float
    hls_peak: int = 0
    """HLS players, counted apart: they hold no connection (seen by their playlist fetches)."""
    hls_average: float = 0.0
    hls_listener_minutes: float = 0.0


class AudiencePoint(msgspec.Struct, frozen=True):
    """One sample of who listened: seconds into the talk, and each channel's audience."""

    at_s: float
    listeners: dict[str, int]


class LanguageUsage(msgspec.Struct, frozen=True):
    """One language's interpretation over the talk."""

    lang: str
    engine: str
    captions: int
    """Final captions."""
    missed: int
    """Captions whose numbers, names kept or glossary terms did not all come through."""
    corrected: int
    lag_p50_s: float | None
    """From the end of a sentence's speech to its final caption, median and 95th percentile."""
    lag_p95_s: float | None
    tokens: int | None
    """What it was billed (engines that bill by token)."""
    audio_minutes: float | None
    """What it was billed by the minute (gpt-realtime-translate: the whole talk, silence included)."""
    cost_usd: float | None
    """At the list prices of `rates`; None where no list price covers the engine."""
    rates: str


class TalkReport(msgspec.Struct, frozen=True):
    """A talk's report."""

    talk: str
    room: str
    event_name: str
    started_at: int
    duration_s: float
    channels: list[ChannelAudience]
    languages: list[LanguageUsage]
    cost_usd: float
    """Every language's cost that a list price covers."""
    corrections: int
    timeline: list[AudiencePoint] = []
    """Every sample, for a chart of listeners over the talk."""


def talk_report(transcript: Transcript, prices: PricesConfig) -> TalkReport:
    """The report of ``transcript``'s talk, its costs at ``prices``."""
    header = transcript.header
    samples = transcript.audience
    ends = [sample.at for sample in samples] + [caption.at for caption in transcript.captions]
    duration_s = max(0.0, (max(ends, default=header.started_at) - header.started_at) / 1000)
    # Each sample stands for the time since the one before (the first: since the talk began).
    times = [header.started_at] + [sample.at for sample in samples]
    spans = [(later - earlier) / 60_000 for earlier, later in zip(times, times[1:], strict=False)]
    channels = []
    for lang in dict.fromkeys(code for sample in samples for code in [*sample.listeners, *sample.hls]):
        counted = [_audience([s.listeners.get(lang, 0) for s in samples], spans)]
        counted.append(_audience([s.hls.get(lang, 0) for s in samples], spans))
        channels.append(ChannelAudience(lang, *counted[0], *counted[1]))
    billed = samples[-1].billed if samples else {}
    languages = [_language(transcript, lang, billed.get(lang), duration_s, prices) for lang in header.targets]
    total = sum(language.cost_usd or 0.0 for language in languages)
    return TalkReport(
        header.id, header.room, header.event_name, header.started_at, round(duration_s, 1),
        channels, languages, round(total, 2), len(transcript.corrections),
        [AudiencePoint(round((s.at - header.started_at) / 1000, 1), s.listeners) for s in samples],
    )  # fmt: skip


def _audience(counts: list[int], spans: list[float]) -> tuple[int, float, float]:
    """Peak, average and listener-minutes of one channel's samples."""
    minutes = round(sum(count * span for count, span in zip(counts, spans, strict=True)), 2)
    return max(counts), round(statistics.fmean(counts), 1), minutes


def _language(
    transcript: Transcript, lang: str, billed: TokensUsed | None, duration_s: float, prices: PricesConfig
) -> LanguageUsage:
    header = transcript.header
    captions = [caption for caption in transcript.captions if caption.lang == lang]
    lags = sorted(
        (caption.at - header.started_at - caption.end_ms) / 1000
        for caption in captions
        if caption.end_ms is not None
    )
    engine = header.engines.get(lang, "")
    name, _, models = engine.partition(": ")
    tokens = minutes = cost = None
    rates = ""
    if name == "voicelive" and billed is not None:
        tokens = billed.tokens
        if (priced := pricing.voicelive_cost(models.split(" ")[0], billed, prices)) is not None:
            cost, rates = priced
    elif name == "realtime-translate":
        minutes = duration_s / 60
        cost, rates = pricing.translate_cost(minutes, "(transcription: )" not in models, prices)
    elif name == "local":
        cost, rates = 0.0, "the offline engine: nothing billed"
    return LanguageUsage(
        lang,
        engine,
        len(captions),
        sum(bool(caption.misses) for caption in captions),
        sum(correction.lang == lang for correction in transcript.corrections),
        round(_quantile(lags, 0.5), 2) if lags else None,
        round(_quantile(lags, 0.95), 2) if lags else None,
        tokens,
        None if minutes is None else round(minutes, 1),
        None if cost is None else round(cost, 2),
        rates,
    )


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def report_csv(report: TalkReport) -> str:
    """The report as a spreadsheet: a row per channel's audience, then a row per language's usage."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["talk", report.talk, "room", report.room, "event", report.event_name])
    writer.writerow(
        ["duration_s", report.duration_s, "cost_usd", report.cost_usd, "corrections", report.corrections]
    )
    writer.writerow([])
    writer.writerow(list(ChannelAudience.__struct_fields__))
    for channel in report.channels:
        writer.writerow(msgspec.structs.astuple(channel))
    writer.writerow([])
    fields = [name for name in LanguageUsage.__struct_fields__]
    writer.writerow(fields)
    for language in report.languages:
        writer.writerow(["" if value is None else value for value in msgspec.structs.astuple(language)])
    return out.getvalue()
