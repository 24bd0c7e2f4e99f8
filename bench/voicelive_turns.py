"""A fast speaker through the Voice Live engine (real SDK) against the strict and the lenient test
service, with sessions replaced every few seconds: are all turns translated once, each under its
own sentence, with all of their audio?

    python -m bench.voicelive_turns --out bench/results/voicelive.md

Each run on a cascaded model (gpt-4.1) and on a native one (gpt-realtime).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from dataclasses import dataclass
from pathlib import Path

from harness.voicelive_server import CHAT_ANSWER, RATE, FakeVoiceLive, tone, tone_name
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
    server = FakeVoiceLive(strict=strict, transcribe=tone_name, response_s=1.2, reply_s=REPLY_S)
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
                return sum(
                    len(u["source"].split()) // 2
                    for u in utterances.values()
                    if u["status"] and u.get("source_final")
                )

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
    result.duplicated = sum(heard.count(name) > 1 for name in spoken)
    result.missing = sum(name not in heard for name in spoken)
    return result


def report(runs: list[Run]) -> str:
    lines = [
        "# Voice Live turns: a fast speaker, sessions replaced every 12 s (strict: no expires_at)",
        "",
        f"{TURNS} turns of tones ({', '.join(f'{d:g}' for d in DURATIONS)} s, repeating), "
        f"{GAP_S} s pauses, sent {PACE:g}× real time; each response takes 1.2 s. "
        "Real SDK, test service on 127.0.0.1.",
        "",
        "| service | turns translated once / spoken | duplicated | missing | captions "
        "| captions under the wrong sentence | audio lost (ms) | connections | chat answers | refusals |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.name} | {r.translated_once} / {r.spoken} | {r.duplicated} | {r.missing} | {r.captions} | "
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

    text = report(asyncio.run(both()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
