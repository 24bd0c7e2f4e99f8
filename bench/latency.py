"""Offline engine latency: end of speech → first translated audio, per target language.

Feeds the benchmark talk (bench/talk.py) at real-time pace through the offline engine: as built
(the utterance closes 192 ms into a pause on the recognition started at 64 ms), as before that
(the same early recognition, the caption after the full 400 ms of silence), and the baseline
(faster-whisper's own ``transcribe``, 30 s window, recognition after the full 400 ms hangover).
Each variant runs in its own process, one after the other, so CPU and peak memory are its own.

    python -m bench.latency --out bench/results/latency.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.report import publish
from harness.talk import SENTENCES, write_talk
from translator.audio.wav import WavSource
from translator.config import LocalConfig
from translator.engines.events import SourceText, SpeechStopped, TranslationAudio, TranslationText
from translator.engines.local.asr import Heard, Recognizer
from translator.engines.local.engine import LocalEngine, RecognizerKey
from translator.evaluation.metrics import word_error_rate
from translator.languages import get_language

TARGETS = ["es", "fr", "it"]
VARIANTS = ("early-captions", "optimized", "baseline")
HELD_OUT = [
    "Our next speaker has worked on water projects in four countries.",
    "If you need help, please ask one of the volunteers in green shirts.",
    "The workshop on the second floor has moved to room two hundred.",
    "Remember to collect your badge before the evening reception.",
    "Slides from this morning will be shared with everyone by email.",
    "The bus to the hotel leaves from the main entrance at six.",
]
"""Sentences no setting was tuned on."""
TALKS = {"demo": SENTENCES, "held-out": HELD_OUT}
CONFIGS = {
    "early-captions": LocalConfig(),
    "optimized": LocalConfig(early_caption_ms=0),
    "baseline": LocalConfig(early_recognition_ms=0, early_caption_ms=0),
}


class TranscribeRecognizer(Recognizer):
    """The baseline: faster-whisper's ``transcribe`` as documented (30 s window)."""

    def hear(self, audio: np.ndarray, beam_size: int | None = None, languages: tuple[str, ...] = ()) -> Heard:
        segments, _ = self._whisper.transcribe(
            audio,
            beam_size=beam_size or self.beam_size,
            language="en",
            without_timestamps=True,
            condition_on_previous_text=False,
        )
        return Heard(" ".join(s.text.strip() for s in segments).strip(), "en")


class BaselineEngine(LocalEngine):
    @property
    def _recognizer_key(self) -> RecognizerKey:
        return super()._recognizer_key._replace(kind=TranscribeRecognizer)


async def measure(variant: str, wav: Path, talk: str) -> dict[str, object]:
    """Run one variant over the talk; timings in ms relative to the wall-clock end of speech."""
    config = CONFIGS[variant]
    engine_class = BaselineEngine if variant == "baseline" else LocalEngine
    engine = engine_class(get_language("en"), [get_language(t) for t in TARGETS], config)
    usage_before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    first_audio: dict[tuple[str, str], float] = {}
    final_caption: dict[tuple[str, str], float] = {}
    speech_end: dict[str, int] = {}
    transcripts: dict[str, str] = {}
    async with engine:
        loop = asyncio.get_running_loop()
        started = 0.0

        async def collect() -> None:
            async for event in engine.events():
                now = loop.time()
                if isinstance(event, SpeechStopped):
                    speech_end[event.utterance] = event.end_ms
                elif isinstance(event, TranslationAudio):
                    first_audio.setdefault((event.target, event.utterance), now)
                elif isinstance(event, TranslationText) and event.final:
                    final_caption[(event.target, event.utterance)] = now
                elif isinstance(event, SourceText) and event.final:
                    transcripts[event.utterance] = event.text

        collector = asyncio.create_task(collect())
        wall_start = time.perf_counter()
        async with WavSource(wav) as source:
            started = loop.time()
            async for frame in source.frames():
                await engine.send_audio(frame)
        for _ in range(50):
            await engine.send_audio(bytes(960))
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.0)
        collector.cancel()
        wall = time.perf_counter() - wall_start
    usage_after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(
        a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime
        for a, b in zip(usage_after, usage_before, strict=True)
    )
    result: dict[str, object] = {"variant": variant, "talk": talk, "utterances": len(speech_end)}
    for target in TARGETS:
        # The frame holding the end of speech was sent at started + end_ms (the source is paced).
        audio = [
            (first_audio[(target, u)] - started) * 1000 - end
            for u, end in speech_end.items()
            if (target, u) in first_audio
        ]
        caption = [
            (final_caption[(target, u)] - started) * 1000 - end
            for u, end in speech_end.items()
            if (target, u) in final_caption
        ]
        result[target] = {"first_audio": audio, "final_caption": caption}
    hypothesis = " ".join(transcripts[u] for u in sorted(transcripts, key=lambda u: int(u[1:])))
    result["wer"] = word_error_rate(" ".join(TALKS[talk]), hypothesis)
    result["transcript"] = hypothesis
    result["cpu_percent_of_one_core"] = 100 * cpu / wall
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["recognitions"] = engine.recognitions
    return result


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else float("nan")


def report(results: list[dict]) -> str:
    lines = [
        "# Offline engine latency",
        "",
        f"Talks: the demo ({len(SENTENCES)} espeak-ng sentences) and a held-out one ({len(HELD_OUT)}), "
        f"at real-time pace; targets {', '.join(TARGETS)}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores.",
        "Times in ms after the end of speech (the speech's last sample, as fed).",
        "",
        "| variant | target | first audio mean / p95 | final caption median / mean / p95 / max |",
        "|---|---|---|---|",
    ]
    for r in results:
        for target in TARGETS:
            t = r[target]
            caption = t["final_caption"]
            lines.append(
                f"| {r['talk']}: {r['variant']} | {target} | {statistics.mean(t['first_audio']):.0f} / "
                f"{p95(t['first_audio']):.0f} | {statistics.median(caption):.0f} / "
                f"{statistics.mean(caption):.0f} / {p95(caption):.0f} / {max(caption):.0f} |"
            )
    lines += [
        "",
        "| variant | utterances | whisper runs | WER | CPU (% of one core) | peak RSS (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['talk']}: {r['variant']} | {r['utterances']} | {r['recognitions']} | "
            f"{100 * r['wer']:.1f} % | {r['cpu_percent_of_one_core']:.0f} | {r['peak_rss_mb']:.0f} |"
        )
    lines += ["", "Transcripts:", ""] + [f"- {r['talk']}, {r['variant']}: {r['transcript']}" for r in results]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/latency.md"))
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--wav", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--talk", choices=list(TALKS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(asyncio.run(measure(args.variant, args.wav, args.talk))))
        return 0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for talk, sentences in TALKS.items():
            wav = Path(tmp) / f"{talk}.wav"
            write_talk(wav, sentences)
            for variant in VARIANTS:
                print(f"bench: {talk} talk, {variant} (about 40 s)...", file=sys.stderr, flush=True)
                command = ["--variant", variant, "--wav", str(wav), "--talk", talk]
                output = subprocess.run(
                    [sys.executable, "-m", "bench.latency", *command],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                results.append(json.loads(output.strip().splitlines()[-1]))
    text = report(results)
    return publish(args.out, text)


if __name__ == "__main__":
    raise SystemExit(main())
