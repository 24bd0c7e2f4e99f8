"""The demo and benchmark talk: English sentences spoken by espeak-ng, with pauses between them.

python -m bench.talk --demo build/demo-talk.wav
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import jiwer
import numpy as np
import soundfile

SENTENCES = [
    "Good morning everyone, and welcome to the conference.",
    "Please turn off your mobile phones.",
    "The first talk starts at ten o'clock in the main hall.",
    "Lunch will be served in the garden.",
    "Thank you for coming, and enjoy the day.",
    "We have speakers from twelve countries this year.",
    "Questions can be asked at the end of each session.",
    "The coffee break is at eleven thirty.",
]
GAP_S = 1.0


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


def write_talk(path: Path, sentences: list[str] = SENTENCES, gap_s: float = GAP_S) -> Path:
    """Speak ``sentences`` into one WAV at ``path`` (22.05 kHz mono), ``gap_s`` of silence between."""
    parts: list[np.ndarray] = []
    rate = 22_050
    with tempfile.TemporaryDirectory() as tmp:
        for index, sentence in enumerate(sentences):
            piece = Path(tmp) / f"{index}.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(piece), sentence], check=True)
            samples, rate = soundfile.read(str(piece), dtype="int16")
            parts += [np.zeros(int(rate * gap_s), dtype="int16"), samples]
    parts.append(np.zeros(int(rate * gap_s), dtype="int16"))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.concatenate(parts), rate, subtype="PCM_16")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo", type=Path, required=True, help="where to write the WAV")
    args = parser.parse_args()
    write_talk(args.demo)
    print(f"wrote {args.demo} ({len(SENTENCES)} sentences)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
