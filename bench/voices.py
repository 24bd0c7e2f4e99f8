"""The offline voices, read back: each language with a better voice than espeak-ng's speaks the
demo talk's human translations with both, in one run; the multilingual Whisper base reads each
sentence back with the language forced. Word errors (lower is better) and the time a sentence
takes to speak, the voice kept loaded.

    python -m bench.voices --out bench/results/voices.md
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from bench.report import publish
from harness.talk import TRANSLATIONS
from translator.engines.local.tts import synthesizer
from translator.engines.local.voices import BETTER, ESPEAK_VOICES, Voice
from translator.evaluation.metrics import word_error_rate
from translator.evaluation.readback import listener, read_back


async def measure(lang: str, voice: Voice) -> tuple[float, float]:
    """The voice's read-back word error rate over the sentences, and its median ms a sentence."""
    speaker = synthesizer(voice)
    heard = await asyncio.to_thread(listener, lang)
    await speaker.start()
    said, back, times = [], [], []
    try:
        for sentence in TRANSLATIONS[lang]:
            started = time.perf_counter()
            pcm = await speaker.synthesize(sentence)
            times.append((time.perf_counter() - started) * 1000)
            said.append(sentence)
            back.append(await asyncio.to_thread(read_back, heard, pcm))
    finally:
        await speaker.stop()
    return word_error_rate(" ".join(said), " ".join(back)), statistics.median(times)


CANDIDATES = {"pt": [Voice("espeak-ng", "pt-br", "espeak-ng")]}
"""Voices measured and not chosen: espeak-ng's Brazilian voice reads the offline engine's
Portuguese (European, from the neural model) worse than its Portuguese voice."""


async def main_async() -> str:
    rows = []
    for lang in [*BETTER, *CANDIDATES]:
        baseline = Voice("espeak-ng", ESPEAK_VOICES[lang], "espeak-ng")
        for voice in [baseline, *BETTER.get(lang, []), *CANDIDATES.get(lang, [])]:
            if not voice.installed():
                rows.append(f"| {lang} | {voice.description} | not installed ({voice.package}) | – |")
                continue
            wer, ms = await measure(lang, voice)
            rows.append(f"| {lang} | {voice.description} | {wer * 100:.1f} % | {ms:.0f} |")
    return "\n".join(
        [
            "# Offline voices read back",
            "",
            f"The demo talk's {len(TRANSLATIONS['it'])} sentences in each language (human translations), "
            "spoken by espeak-ng (the baseline) and by the better voice the engine now chooses (or a "
            "candidate it does not choose), in one run; each read back by the multilingual Whisper base "
            "with the language forced. Word error "
            "rate over the sentences (lower: more intelligible); time to speak a sentence, the voice "
            "kept loaded (festival resident).",
            "",
            "| lang | voice | read-back word errors | ms a sentence (median) |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/voices.md"))
    args = parser.parse_args()
    return publish(args.out, asyncio.run(main_async()))


if __name__ == "__main__":
    raise SystemExit(main())
