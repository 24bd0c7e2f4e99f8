"""The results of ``translator eval`` as a Markdown table and a plot of lag over the talk."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from translator.evaluation.metrics import LanguageScore


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.0f}"


def _num(value: float | None, scale: float = 1.0, unit: str = "") -> str:
    return "–" if value is None or math.isnan(value) else f"{value * scale:.1f}{unit}"


def _kept(s: LanguageScore) -> str:
    """Recall of numbers, names and terms: ``12/12 · 2/3 · –``."""
    return " · ".join(f"{kept}/{said}" if said else "–" for said, kept in (s.numbers, s.names, s.terms))


def markdown(title: str, scores: list[LanguageScore], notes: list[str]) -> str:
    """One row per language: lag after the true end of speech (ms), audio delivered, quality."""
    lines = [
        f"# {title}",
        "",
        *notes,
        "",
        "| lang | captioned | caption lag median / p95 / max | first audio median / p95 / max | "
        "trend (ms/min) | audio delivered min / median | skipped | source WER | chrF | BLEU | "
        "numbers / names / terms kept | revised | speech read back WER |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        c, a = s.caption_lag, s.audio_lag
        lines.append(
            f"| {s.lang} | {s.captioned}/{s.utterances} | {_ms(c.median)} / {_ms(c.p95)} / {_ms(c.max)} | "
            f"{_ms(a.median)} / {_ms(a.p95)} / {_ms(a.max)} | {_ms(s.trend_ms_per_min)} | "
            f"{_num(min(s.delivered.values, default=math.nan), 100, ' %')} / "
            f"{_num(s.delivered.median, 100, ' %')} | {s.skipped} | {_num(s.wer, 100, ' %')} | "
            f"{_num(s.chrf)} | {_num(s.bleu)} | {_kept(s)} | {s.revised} | {_num(s.readback, 100, ' %')} |"
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Billed:
    """What one language of a run was billed."""

    engine: str
    tokens: int | None
    """Tokens over the talk (engines that bill by token), else None."""
    minutes: float
    """Minutes of audio streamed (engines that bill by the audio minute)."""

    def words(self) -> str:
        if self.tokens is not None:
            return f"{self.tokens:,} tokens"
        if self.engine == "realtime-translate":
            return f"{self.minutes:.1f} audio min"
        return "– (runs here)"


def comparison(rows: list[tuple[LanguageScore, Billed]], notes: list[str]) -> str:
    """One row per engine and language: lag to the first audio and to the final caption, quality,
    what it was billed."""
    lines = [
        "# Engines compared on one talk",
        "",
        *notes,
        "",
        "| engine | lang | captioned | first audio median / p95 | final caption median / p95 | "
        "audio delivered median | chrF | BLEU | numbers / names / terms kept | billed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s, billed in rows:
        c, a = s.caption_lag, s.audio_lag
        lines.append(
            f"| {billed.engine} | {s.lang} | {s.captioned}/{s.utterances} | {_ms(a.median)} / {_ms(a.p95)} | "
            f"{_ms(c.median)} / {_ms(c.p95)} | {_num(s.delivered.median, 100, ' %')} | {_num(s.chrf)} | "
            f"{_num(s.bleu)} | {_kept(s)} | {billed.words()} |"
        )
    return "\n".join(lines) + "\n"


def plot(scores: list[LanguageScore], path: Path) -> None:
    """Caption lag after each true end of speech, over the talk, one line per language."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 4), dpi=100)
    for s in scores:
        axes.plot(s.ends_s, s.caption_lag.values, marker="o", label=f"{s.lang} caption")
    axes.set_xlabel("talk time (s)")
    axes.set_ylabel("lag after end of speech (ms)")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
