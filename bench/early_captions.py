"""Offline captions at the early recognition: lag after the true end of speech, and the word error
rate, with the caption going out 192 ms into a pause (as built) and after the full 400 ms of
silence (as before), on the demo talk and on a held-out one, side by side in one run.

Each run is `translator eval` (the talk replayed in real time through the real service to a
WebSocket listener) against the talk's reference: true ends of speech, text, human translations.

    python -m bench.early_captions --out bench/results/early-captions.md
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path

import msgspec

from bench.latency import HELD_OUT
from bench.report import publish
from harness.talk import SENTENCES, TRANSLATIONS, write_talk
from translator.config import load_settings
from translator.evaluation.metrics import LanguageScore
from translator.evaluation.run import evaluate

VARIANTS = {"192 ms into the pause (as built)": 192, "after 400 ms of silence (before)": 0}


def run(talk: Path, reference: Path, early_caption_ms: int, out: Path) -> LanguageScore:
    settings = load_settings(
        env={},
        overrides={"targets": ["es"], "audio.input": str(talk), "local.early_caption_ms": early_caption_ms},
    )
    ((score, _),) = evaluate(settings, str(talk), str(reference), out, stream=io.StringIO())
    return score


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/early-captions.md"))
    args = parser.parse_args()
    lines = [
        "# Offline captions at the early recognition",
        "",
        "`translator eval` on each talk, in real time, into Spanish on the offline engine; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores. Caption lag: "
        "from the true end of each sentence to its last final caption, in ms.",
        "",
        "| talk | caption goes out | captioned | caption lag median / p95 / max | source WER | chrF |",
        "|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        for name, sentences in (("demo", SENTENCES), ("held-out", HELD_OUT)):
            talk, reference = Path(folder) / f"{name}.wav", Path(folder) / f"{name}.json"
            truth = write_talk(talk, sentences)
            if name == "demo":
                for utterance, translation in zip(truth.utterances, TRANSLATIONS["es"], strict=True):
                    utterance.translations = {"es": translation}
            reference.write_bytes(msgspec.json.encode(truth))
            for label, early in VARIANTS.items():
                print(f"bench: {name} talk, caption {label} (about 40 s)…", flush=True)
                s = run(talk, reference, early, Path(folder) / f"{name}-{early}")
                lag = s.caption_lag
                chrf = "–" if s.chrf is None else f"{s.chrf:.1f}"
                lines.append(
                    f"| {name} | {label} | {s.captioned}/{s.utterances} | {lag.median:.0f} / {lag.p95:.0f} / "
                    f"{lag.max:.0f} | {100 * (s.wer or 0):.1f} % | {chrf} |"
                )
    return publish(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
