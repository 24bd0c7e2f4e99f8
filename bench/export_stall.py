"""How long a long talk's export holds the server's event loop: made in a thread of the server's
process (the baseline, as it was) and in a child process (as the server makes it now).

    python -m bench.export_stall --captions 300000 --out bench/results/export-stall.md
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from bench.report import publish
from translator import processes
from translator.transcripts.export import export
from translator.transcripts.store import CaptionRecord, TranscriptHeader, read_transcript

TALK = "20261206-000000"
SENTENCE = "Buenos días a todos y gracias por venir a esta charla, que será larga. "


def write_talk(directory: Path, captions: int) -> None:
    """A talk of ``captions`` Spanish captions, one every 3 s, as the service writes transcripts."""
    import msgspec

    encode = msgspec.json.Encoder().encode
    with (directory / f"{TALK}.jsonl").open("wb") as file:
        file.write(encode(TranscriptHeader(TALK, 0, "bench", "en", ["es"], "wav")) + b"\n")
        for n in range(captions):
            record = CaptionRecord(n, "es", SENTENCE, SENTENCE * 2, n * 3000, n * 3000 + 2500, 0)
            file.write(encode(record) + b"\n")


async def exports(directory: Path, how: str) -> tuple[float, float]:
    """Seconds the SRT and WebVTT exports took, and the event loop's longest stall meanwhile."""
    worst, done = 0.0, asyncio.Event()

    async def ping() -> None:
        nonlocal worst
        while not done.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.01)
            worst = max(worst, time.monotonic() - before - 0.01)

    pinging = asyncio.create_task(ping())
    began = time.monotonic()
    for fmt in ("srt", "vtt"):
        if how == "thread":
            await asyncio.to_thread(lambda f=fmt: export(read_transcript(directory, TALK), "es", f).encode())
        else:
            args = [sys.executable, "-m", "translator.transcripts.export", str(directory), TALK, "es", fmt]
            await processes.run(args, 600)
    took = time.monotonic() - began
    done.set()
    await pinging
    return took, worst


async def measure(captions: int) -> str:
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        write_talk(directory, captions)
        rows = []
        for how, label in (
            ("thread", "in a thread of the server (before)"),
            ("child", "in a child process (now)"),
        ):
            took, worst = await exports(directory, how)
            rows.append(f"| {label} | {took:.1f} s | {worst * 1000:.0f} ms |")
    return "\n".join(
        [
            "# A long talk's export beside the live talk",
            "",
            f"{captions:,} captions (about {captions * 3 / 3600:.0f} hours of talk), SRT then WebVTT; "
            "the event loop's longest stall while they are made (a live caption waits that long).",
            "",
            "| export made | took | longest event-loop stall |",
            "|---|---|---|",
            *rows,
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--captions", type=int, default=300_000)
    parser.add_argument("--out", type=Path, default=Path("bench/results/export-stall.md"))
    args = parser.parse_args()
    return publish(args.out, asyncio.run(measure(args.captions)))


if __name__ == "__main__":
    raise SystemExit(main())
