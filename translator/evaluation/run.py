"""``translator eval TALK.wav``: the replay, its progress on the terminal, and the files it writes."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from translator.audio import SAMPLE_RATE
from translator.audio.wav import read_wav
from translator.config import Settings
from translator.evaluation.metrics import LanguageScore, score
from translator.evaluation.readback import intelligibility
from translator.evaluation.reference import Reference, load_reference, reference_from_vad
from translator.evaluation.replay import Heard, replay
from translator.evaluation.report import Billed, comparison, markdown, plot


def evaluate(
    settings: Settings,
    talk: str,
    reference_path: str | None,
    out: Path,
    codec: str = "pcm",
    stream: TextIO = sys.stdout,
) -> list[tuple[LanguageScore, Billed]]:
    """Replay ``talk``, score it, write ``eval.md`` and ``lag.png`` into ``out``; return each
    language's score and what it was billed."""
    pcm = read_wav(talk)
    reference: Reference = load_reference(reference_path) if reference_path else reference_from_vad(pcm)
    duration = len(pcm) / 2 / SAMPLE_RATE
    started = time.monotonic()
    print(
        f"eval: {Path(talk).name}, {duration:.0f} s, {len(reference.utterances)} utterances, "
        f"{settings.resolved_engine()} engine, {settings.source} → {', '.join(settings.targets)}; "
        "replaying in real time…",
        file=stream,
        flush=True,
    )

    def progress(heard: Heard, caption: dict[str, Any]) -> None:
        print(
            f"  [{time.monotonic() - started:5.1f} / {duration:.0f} s] {heard.lang} #{caption['id']}: "
            f"{caption['text'][:70]}",
            file=stream,
            flush=True,
        )

    talk_started_at, heard = asyncio.run(replay(settings, talk, codec, progress))
    room = settings.room_configs()[0]
    scores = [
        score(reference, heard[lang], talk_started_at, room.source, room.glossary)
        for lang in settings.targets
    ]
    for scored in scores:
        scored.readback = intelligibility(heard[scored.lang])
    notes = [
        f"Talk `{Path(talk).name}` ({duration:.1f} s, {len(reference.utterances)} utterances; timings "
        f"from {'the reference ' + Path(reference_path).name if reference_path else 'the talk’s own VAD'}), "
        f"{settings.resolved_engine()} engine, codec {codec}, replayed in real time through the server "
        "to one WebSocket listener per language.",
        "Lags in ms after the true end of speech, as the listener received them.",
        "Speech read back: each sentence's translated audio as received, recognised by the "
        "multilingual Whisper base with the language forced, against its caption (word error rate: "
        "how intelligible the voice is; – without `make base-ear`, or with Opus listeners).",
    ]
    table = markdown("Translation lag and quality", scores, notes)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.md").write_text(table)
    plot(scores, out / "lag.png")
    print(table, file=stream)
    print(f"eval: written {out / 'eval.md'} and {out / 'lag.png'}", file=stream, flush=True)
    minutes = duration / 60
    return [(s, Billed(heard[s.lang].engine, heard[s.lang].tokens, minutes)) for s in scores]


def compare(
    runs: dict[str, Settings], talk: str, reference_path: str | None, out: Path, codec: str = "pcm"
) -> str:
    """The same talk through each engine (``runs``: engine → its settings), each written to
    ``out/<engine>/``, and side by side in ``out/comparison.md``; return that table."""
    rows: list[tuple[LanguageScore, Billed]] = []
    for name, settings in runs.items():
        rows += evaluate(settings, talk, reference_path, out / name, codec)
    notes = [
        f"Talk `{Path(talk).name}` through each engine in turn, replayed in real time through the server "
        "to one WebSocket listener per language; lags in ms after the true end of speech.",
        "Billed: tokens (Voice Live bills every translation's instructions, audio and answer) or audio "
        "minutes (gpt-realtime-translate bills the audio streamed, per language). Multiply by your "
        "agreement's prices: Voice Live per million tokens, gpt-realtime-translate per audio minute.",
    ]
    table = comparison(rows, notes)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.md").write_text(table)
    print(table)
    print(f"eval: written {out / 'comparison.md'}", flush=True)
    return table
