"""The floor and passthrough: how soon the speaker's own voice reaches a listener, against the
interpretation of the same talk, in the same run.

A bilingual talk (English and Spanish sentences, espeak-ng) is fed at real-time pace through the
real pipeline and the offline engine with a multilingual whisper model (language identification);
channels en, es and it. Measured per sentence, from the moment the frame holding the end of its
speech was fed:

- the Original channel: when the audio holding that frame was handed to the hub (its lag is the
  encoding and one message of up to 100 ms);
- passthrough (a sentence on its own language's channel) and interpretation (on the others): when
  the sentence's first audio was handed to the hub;

and the translations the passthrough saved (each one a model request on Voice Live, a translation
and a synthesis offline).

    python -m bench.floor --out bench/results/floor.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.report import publish
from harness.talk import write_talk
from translator.audio import FRAME_MS
from translator.audio.wav import WavSource
from translator.config import LocalConfig
from translator.engines.local.engine import LocalEngine
from translator.hub import AudioChunk, Hub, Outgoing
from translator.languages import FLOOR, get_language
from translator.messages import Caption, ListenerMessage
from translator.talk.pipeline import Pipeline

SENTENCES = [
    ("en-us", "Good morning everyone, and welcome to the panel."),
    ("es", "Buenos días a todos, gracias por la invitación."),
    ("en-us", "Our first question is about the budget for next year."),
    ("es", "El presupuesto crece un diez por ciento."),
    ("en-us", "That is good news for the schools in the region."),
    ("es", "Las escuelas necesitan más profesores."),
    ("en-us", "Let us take a question from the audience."),
    ("es", "Muchas gracias y hasta pronto."),
]
CHANNELS = ["it", "en", "es"]


class Clock:
    """A listener's framer on every channel that notes when each thing was handed to it."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.floor_chunks: list[tuple[float, int]] = []
        """(when, the floor's frames fed by then) of each Original chunk."""
        self.first_audio: dict[tuple[str, int], float] = {}
        self.captions: dict[tuple[str, int], Caption] = {}
        self.changed = asyncio.Event()

    def text(self, message: ListenerMessage, json: str) -> Outgoing:
        if isinstance(message, Caption) and message.final:
            self.captions[message.lang, message.id] = message
            self.changed.set()
        return Outgoing(json, b"")

    def audio(self, chunk: AudioChunk) -> Outgoing:
        now = time.monotonic()
        if chunk.lang == FLOOR and not chunk.end:
            self.floor_chunks.append((now, self.pipeline.floor.frames))
        elif not chunk.end:
            self.first_audio.setdefault((chunk.lang, chunk.utterance), now)
            self.changed.set()
        return Outgoing(b"", b"")


async def measure(wav: Path, ends_ms: list[int]) -> dict[str, object]:
    """Run the talk once; lags in ms after the end of each sentence's speech was fed."""
    en, es = get_language("en"), get_language("es")
    engine = LocalEngine(
        en,
        [get_language(code) for code in CHANNELS],
        LocalConfig(asr_model="base"),
        spoken=[en, es],
    )
    hub = Hub([FLOOR, *CHANNELS])
    fed: dict[int, float] = {}
    """When each frame of the floor was fed (by its index)."""
    async with WavSource(wav) as source, engine:
        pipeline = Pipeline(source, engine, hub)
        clock = Clock(pipeline)
        for lang in [FLOOR, *CHANNELS]:
            hub.subscribe(lang, clock, codec="opus")
        feed = pipeline.floor.feed

        def timed_feed(frame: bytes, level: float) -> None:
            fed[pipeline.floor.frames] = time.monotonic()
            feed(frame, level)

        pipeline.floor.feed = timed_feed  # type: ignore[method-assign]
        run = asyncio.create_task(pipeline.run(), name="bench-floor")
        done = len(SENTENCES) * len(CHANNELS)
        captions, first_audio = clock.captions, clock.first_audio
        async with asyncio.timeout(len(SENTENCES) * 10 + 60):
            while sum(key[0] != FLOOR for key in captions) < done or len(first_audio) < done:
                clock.changed.clear()
                await clock.changed.wait()
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)

    floor_lags = []
    for end in ends_ms:
        frame = end // FRAME_MS
        when = next(t for t, frames in clock.floor_chunks if frames > frame)
        floor_lags.append((when - fed[frame]) * 1000)
    passthrough, interpreted = [], []
    saved = defaultdict(int)
    for (lang, number), caption in captions.items():
        if lang == FLOOR or caption.end_ms is None or (lang, number) not in first_audio:
            continue
        lag = (first_audio[lang, number] - fed[caption.end_ms // FRAME_MS]) * 1000
        (passthrough if caption.passthrough else interpreted).append(lag)
        saved[lang] += caption.passthrough
    detected = [captions["it", n].source_lang for (lang, n) in sorted(captions) if lang == "it"]
    return {
        "floor": floor_lags,
        "passthrough": passthrough,
        "interpreted": interpreted,
        "saved": dict(saved),
        "detected": detected,
        "sentences": len(SENTENCES),
    }


def row(name: str, values: list[float]) -> str:
    median, mean, p95 = statistics.median(values), statistics.mean(values), float(np.percentile(values, 95))
    return f"| {name} | {len(values)} | {median:.0f} | {mean:.0f} | {p95:.0f} |"


def report(result: dict) -> str:
    truth = ["en" if voice == "en-us" else "es" for voice, _ in SENTENCES]
    right = sum(a == b for a, b in zip(result["detected"], truth, strict=True))
    saved = result["saved"]
    return "\n".join(
        [
            "# The floor and passthrough",
            "",
            f"A bilingual talk ({len(SENTENCES)} espeak-ng sentences, English and Spanish alternating) at "
            f"real-time pace through the pipeline and the offline engine (multilingual whisper base); "
            f"channels {', '.join(CHANNELS)} and Original; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores. "
            "Times in ms after the frame holding the end of the sentence's speech was fed, to the audio "
            "handed to the hub (the network comes on top).",
            "",
            "| audio | sentences | median | mean | p95 |",
            "|---|---|---|---|---|",
            row("Original channel (the floor)", result["floor"]),
            row("passthrough (a sentence on its own language's channel)", result["passthrough"]),
            row("interpretation (the same talk, the other channels)", result["interpreted"]),
            "",
            f"Language identified right: {right} of {len(truth)} sentences.",
            "",
            "Translations saved by passthrough (each a Voice Live response, or an Apertium translation and "
            f"an espeak-ng synthesis offline): en {saved.get('en', 0)}, es {saved.get('es', 0)}, "
            f"it {saved.get('it', 0)} of {len(SENTENCES)} sentences per channel; "
            f"{sum(saved.values())} of {len(SENTENCES) * len(CHANNELS)} in all.",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/floor.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "panel.wav"
        reference = write_talk(wav, [text for _, text in SENTENCES], voices=[voice for voice, _ in SENTENCES])
        ends = [int(u.end * 1000) for u in reference.utterances]
        print(
            f"bench: the floor over a {len(SENTENCES)}-sentence bilingual talk (about 40 s)...",
            file=sys.stderr,
        )
        text = report(asyncio.run(measure(wav, ends)))
    return publish(args.out, text)


if __name__ == "__main__":
    raise SystemExit(main())
