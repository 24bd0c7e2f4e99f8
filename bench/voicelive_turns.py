"""A fast speaker through the Voice Live engine (real SDK) against the strict and the lenient test
service, with sessions replaced every few seconds: are all turns translated once, each under its
own sentence, with all of their audio?

    python -m bench.voicelive_turns --out bench/results/voicelive.md

Each run on a cascaded model (gpt-4.1) and on a native one (gpt-realtime). Then a speaker who
never pauses long enough for the VAD to end a turn (12 sentences in 36 s, 0.6 s between them), in
real time on gpt-realtime, with the engine's turn bound off and on: how long the turns ran, and how
long after each sentence was said its caption came.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.voicelive_server import CHAT_ANSWER, RATE, FakeVoiceLive, tone, tone_names
from translator.config import Settings, load_settings
from translator.engines import table
from translator.engines.base import Engine
from translator.engines.events import SourceText, TranslationAudio, TranslationText, TurnDone


def create_engine(settings: Settings) -> Engine:
    """The engine of the settings' (first) room, not started."""
    return table.create_engine(settings.room_configs()[0])


# Long turns straight after short ones; pauses just over the service's 500 ms.
DURATIONS = (3.0, 0.4, 2.0, 0.4, 0.5, 4.0, 0.4, 1.0, 6.0, 0.4)
TURNS = 30
GAP_S = 0.6
REPLY_S = 0.3
PACE = 2.0
FRAME = 960


@dataclass
class Run:
    name: str
    spoken: int = 0
    translated_once: int = 0
    duplicated: int = 0
    cut_at_bound: int = 0
    """Sentences as long as the turn bound, said without a pause: heard across two captions."""
    missing: int = 0
    captions: int = 0
    wrong_sentence: int = 0
    audio_lost_ms: float = 0.0
    connections: int = 0
    chat_answers: int = 0
    refusals: int = 0


async def run(name: str, strict: bool, session_minutes: float, model: str) -> Run:
    turns = [(300 + 50 * i, d) for i, d in zip(range(TURNS), itertools.cycle(DURATIONS), strict=False)]
    pcm = bytes(RATE) + b"".join(tone(d, f) + bytes(int(RATE * GAP_S) * 2) for f, d in turns)
    server = FakeVoiceLive(strict=strict, transcribe=tone_names, response_s=1.2, reply_s=REPLY_S)
    await server.start()
    settings = load_settings(
        env={"AZURE_VOICELIVE_ENDPOINT": server.endpoint, "AZURE_VOICELIVE_API_KEY": "bench"},
        overrides={
            "targets": ["es"],
            "engine": "voicelive",
            "azure.model": model,
            "azure.max_session_minutes": session_minutes,
        },
    )
    utterances: dict[str, dict] = {}
    try:
        async with create_engine(settings) as engine:

            async def collect() -> None:
                async for e in engine.events():
                    if not hasattr(e, "utterance"):
                        continue
                    u = utterances.setdefault(
                        e.utterance, {"source": "", "text": "", "audio": 0, "status": ""}
                    )
                    if isinstance(e, SourceText):
                        u["source"], u["source_final"] = e.text, e.final
                    elif isinstance(e, TranslationText) and e.final:
                        u["text"] = e.text
                    elif isinstance(e, TranslationAudio):
                        u["audio"] += len(e.pcm)
                    elif isinstance(e, TurnDone):
                        u["status"] = e.status

            def finished() -> int:
                words = [
                    word
                    for u in utterances.values()
                    if u["status"] and u.get("source_final")
                    for word in u["source"].split()
                ]
                return len(set(zip(words[::2], words[1::2], strict=False)))

            collector = asyncio.create_task(collect())
            for start in range(0, len(pcm), FRAME):
                await engine.send_audio(pcm[start : start + FRAME].ljust(FRAME, b"\0"))
                await asyncio.sleep(0.02 / PACE)
            async with asyncio.timeout(60):
                while finished() < TURNS:
                    await engine.send_audio(bytes(FRAME))
                    await asyncio.sleep(0.02)
            collector.cancel()
    finally:
        await server.stop()
    result = Run(name, spoken=TURNS, connections=len(server.connections))
    result.chat_answers = server.answers.count(CHAT_ANSWER)
    result.refusals = len(server.refusals)
    heard: list[str] = []
    for u in utterances.values():
        if u["status"] != "completed":
            continue
        result.captions += 1
        words = u["source"].split()
        heard += [" ".join(words[i : i + 2]) for i in range(0, len(words), 2)]
        result.wrong_sentence += u["text"] != f"translated into es-ES: {u['source']}"
        result.audio_lost_ms += max(0, int(REPLY_S * RATE) * 2 - u["audio"]) / 2 / RATE * 1000
    spoken = [f"tone {f}" for f, _ in turns]
    result.translated_once = sum(heard.count(name) == 1 for name in spoken)
    long = {f"tone {f}" for f, d in turns if d >= settings.azure.max_turn_seconds}
    result.duplicated = sum(heard.count(name) > 1 for name in spoken if name not in long)
    result.cut_at_bound = sum(heard.count(name) > 1 for name in spoken if name in long)
    result.missing = sum(name not in heard for name in spoken)
    return result


RUNNING = [(300 + 50 * i, 2.4) for i in range(12)]
RUNNING_GAP_S = 0.6


@dataclass
class Bounded:
    name: str
    turns: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    """Each sentence: seconds from its end to its caption's final text."""
    sentences_per_caption: list[int] = field(default_factory=list)


async def running_speaker(max_turn_s: float) -> Bounded:
    """The fast speaker, in real time; each sentence's caption timed from the sentence's end."""
    server = FakeVoiceLive(transcribe=tone_names, response_s=0.5)
    await server.start()
    settings = load_settings(
        env={"AZURE_VOICELIVE_ENDPOINT": server.endpoint, "AZURE_VOICELIVE_API_KEY": "bench"},
        overrides={"targets": ["es"], "engine": "voicelive", "azure.max_turn_seconds": max_turn_s},
    )
    ended: dict[str, float] = {}
    captioned: dict[str, float] = {}
    sources: dict[str, str] = {}
    result = Bounded(f"{max_turn_s:g} s" if max_turn_s else "off (the service's VAD alone)")
    try:
        async with create_engine(settings) as engine:

            async def collect() -> None:
                async for e in engine.events():
                    if isinstance(e, SourceText):
                        sources[e.utterance] = e.text
                    elif isinstance(e, TranslationText) and e.final:
                        captioned[e.utterance] = time.monotonic()

            collector = asyncio.create_task(collect())
            pcm = bytes(RATE)
            schedule = []
            for freq, seconds in RUNNING:
                pcm += tone(seconds, freq)
                schedule.append((len(pcm), f"tone {freq}"))
                pcm += bytes(int(RATE * RUNNING_GAP_S) * 2)
            began = time.monotonic()
            for index, start in enumerate(range(0, len(pcm), FRAME)):
                await engine.send_audio(pcm[start : start + FRAME].ljust(FRAME, b"\0"))
                for end, name in schedule:
                    if start < end <= start + FRAME:
                        ended[name] = time.monotonic()
                await asyncio.sleep(max(0.0, began + (index + 1) * 0.02 - time.monotonic()))
            async with asyncio.timeout(60):
                while sum(len(sources.get(u, "").split()) // 2 for u in captioned) < len(RUNNING):
                    await engine.send_audio(bytes(FRAME))
                    await asyncio.sleep(0.02)
            collector.cancel()
    finally:
        await server.stop()
    result.turns = server.turn_seconds
    for utterance, at in captioned.items():
        words = sources.get(utterance, "").split()
        names = [" ".join(words[i : i + 2]) for i in range(0, len(words), 2)]
        result.sentences_per_caption.append(len(names))
        result.lags += [at - ended[name] for name in names if name in ended]
    return result


def bounded_report(runs: list[Bounded]) -> str:
    lines = [
        "",
        "# Voice Live turns: a speaker who never pauses 800 ms (gpt-realtime, no end-of-utterance model)",
        "",
        f"{len(RUNNING)} sentences of {RUNNING[0][1]:g} s with {RUNNING_GAP_S:g} s between them, in real "
        "time; each response takes 0.5 s. Turn length: the audio committed, the pause that ended it "
        "included. Lag: from the end of a sentence to its caption's final text.",
        "",
        "| turn bound (`azure.max_turn_seconds`) | turns | turn length s (mean / max) "
        "| sentences a caption | lag s per sentence (median / p90 / max) |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        lags = sorted(r.lags)
        p90 = lags[min(len(lags) - 1, int(len(lags) * 0.9))]
        lines.append(
            f"| {r.name} | {len(r.turns)} | {statistics.mean(r.turns):.1f} / {max(r.turns):.1f} "
            f"| {min(r.sentences_per_caption)}–{max(r.sentences_per_caption)} "
            f"| {statistics.median(lags):.1f} / {p90:.1f} / {max(lags):.1f} |"
        )
    return "\n".join(lines) + "\n"


def report(runs: list[Run]) -> str:
    lines = [
        "# Voice Live turns: a fast speaker, sessions replaced every 12 s (strict: no expires_at)",
        "",
        f"{TURNS} turns of tones ({', '.join(f'{d:g}' for d in DURATIONS)} s, repeating), "
        f"{GAP_S} s pauses, sent {PACE:g}× real time; each response takes 1.2 s. "
        "Real SDK, test service on 127.0.0.1.",
        "",
        "| service | turns translated once / spoken | duplicated | cut at the 6 s turn bound | missing "
        "| captions | captions under the wrong sentence | audio lost (ms) | connections | chat answers "
        "| refusals |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.name} | {r.translated_once} / {r.spoken} | {r.duplicated} | {r.cut_at_bound} | {r.missing} "
        f"| {r.captions} | "
        f"{r.wrong_sentence} | {r.audio_lost_ms:.0f} | {r.connections} | {r.chat_answers} | {r.refusals} |"
        for r in runs
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/voicelive.md"))
    args = parser.parse_args()

    async def both() -> list[Run]:
        # gpt-4.1 is cascaded (its turns join the conversation 200 ms after their commit, as
        # recorded); gpt-realtime is a native audio model (at the commit).
        return [
            await run(f"{'strict' if strict else 'lenient'}, {model}", strict, 0.2, model)
            for model in ("gpt-4.1", "gpt-realtime")
            for strict in (True, False)
        ]

    async def bounds() -> list[Bounded]:
        return [await running_speaker(bound) for bound in (0.0, 6.0)]

    text = report(asyncio.run(both())) + bounded_report(asyncio.run(bounds()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
