"""Scores of a replayed talk: lag after the true end of speech, audio delivered, WER, chrF and BLEU."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import jiwer
import numpy as np
import sacrebleu

from translator import fidelity
from translator.evaluation.reference import Reference
from translator.evaluation.replay import Heard
from translator.glossary import Glossary


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER ignoring case and punctuation."""
    normalize = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
            jiwer.ReduceToListOfListOfWords(),
        ]
    )
    return jiwer.wer(reference, hypothesis, reference_transform=normalize, hypothesis_transform=normalize)


@dataclass
class Spread:
    """Median, 95th percentile and maximum of a list of values (NaN when empty)."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def p95(self) -> float:
        return float(np.percentile(self.values, 95)) if self.values else float("nan")

    @property
    def max(self) -> float:
        return max(self.values) if self.values else float("nan")


@dataclass
class LanguageScore:
    """One language's results."""

    lang: str
    ends_s: list[float] = field(default_factory=list)
    """The true end of speech of each utterance that got a caption, seconds into the talk."""
    caption_lag: Spread = field(default_factory=lambda: Spread([]))
    audio_lag: Spread = field(default_factory=lambda: Spread([]))
    trend_ms_per_min: float = float("nan")
    """How the caption lag moves over the talk (a least-squares slope): positive drifts behind."""
    captioned: int = 0
    utterances: int = 0
    delivered: Spread = field(default_factory=lambda: Spread([]))
    """Share of each translated utterance's audio that reached the listener."""
    skipped: int = 0
    wer: float | None = None
    chrf: float | None = None
    bleu: float | None = None
    hypotheses: list[str] = field(default_factory=list)
    numbers: tuple[int, int] = (0, 0)
    """Numbers said, and how many of them came through (recall = second / first)."""
    names: tuple[int, int] = (0, 0)
    terms: tuple[int, int] = (0, 0)
    revised: int = 0
    """How often a caption already shown was changed other than by adding to it (flicker)."""
    readback: float | None = None
    """Word error rate of the translated speech read back against its captions (`readback.py`)."""


def _assign(reference: Reference, heard: Heard) -> list[list[dict]]:
    """The final captions of each reference utterance: each caption goes to the utterance its source
    speech overlaps most (ties and no overlap: the nearest)."""
    groups: list[list[dict]] = [[] for _ in reference.utterances]
    for _, caption in sorted(heard.finals.values(), key=lambda item: item[1]["id"]):
        start = (caption["start_ms"] or 0) / 1000
        end = (caption["end_ms"] or caption["start_ms"] or 0) / 1000

        def closeness(index: int, start: float = start, end: float = end) -> tuple[float, float]:
            u = reference.utterances[index]
            overlap = min(end, u.end) - max(start, u.start)
            return overlap, -abs((start + end) / 2 - (u.start + u.end) / 2)

        groups[max(range(len(groups)), key=closeness)].append(caption)
    return groups


def score(
    reference: Reference, heard: Heard, talk_started_at: int, source: str, glossary: Glossary
) -> LanguageScore:
    """Lag, delivery and quality of one language against the reference; numbers, names kept and
    glossary terms of what was said (``source``: its language) checked in the translation."""
    result = LanguageScore(
        heard.lang, utterances=len(reference.utterances), skipped=heard.skipped, revised=heard.revised
    )
    caption_lags, audio_lags = [], []
    said = dict.fromkeys(fidelity.KINDS, 0)
    lost = dict.fromkeys(fidelity.KINDS, 0)
    for utterance, captions in zip(reference.utterances, _assign(reference, heard), strict=True):
        translation = " ".join(c["text"] for c in captions)
        result.hypotheses.append(translation)
        # What was truly said when the reference has it (a number the recognition lost is lost too).
        spoken = utterance.text or " ".join(c["source_text"] for c in captions)
        checked = fidelity.check(spoken, translation, source, heard.lang, glossary)
        for kind in fidelity.KINDS:
            said[kind] += checked.said(kind)
            lost[kind] += checked.missed(kind)
        if not captions:
            continue
        result.captioned += 1
        true_end = talk_started_at + utterance.end * 1000
        last = captions[-1]
        caption_lags.append(heard.finals[last["id"]][0] - true_end)
        firsts = [heard.first_audio[c["id"]] for c in captions if c["id"] in heard.first_audio]
        if firsts:
            audio_lags.append(min(firsts) - true_end)
        result.ends_s.append(utterance.end)
    result.caption_lag, result.audio_lag = Spread(caption_lags), Spread(audio_lags)
    if len(caption_lags) >= 2:
        slope = np.polyfit(np.array(result.ends_s) / 60, np.array(caption_lags), 1)[0]
        result.trend_ms_per_min = float(slope)
    result.numbers, result.names, result.terms = ((said[k], said[k] - lost[k]) for k in fidelity.KINDS)
    result.delivered = Spread([heard.received.get(u, 0) / n for u, n in heard.lengths.items() if n] or [])
    if reference.has_text:
        sources = [c["source_text"] for _, c in sorted(heard.finals.values(), key=lambda i: i[1]["id"])]
        result.wer = word_error_rate(" ".join(u.text for u in reference.utterances), " ".join(sources))
    translations = reference.translations(heard.lang)
    if translations is not None:
        result.chrf = sacrebleu.corpus_chrf(result.hypotheses, [translations]).score
        result.bleu = sacrebleu.corpus_bleu(result.hypotheses, [translations]).score
    return result
