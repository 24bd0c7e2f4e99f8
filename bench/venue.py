"""A crowded venue Wi-Fi: N phones sharing one rate-limited link, today's PCM-on-http design beside
the new one, in the same run (see ``harness/venue.py`` for how the phones behave and what they
measure). The server is the real one, as a process, translating the demo talk into Spanish on the
offline engine.

    sudo python -m bench.venue --out bench/results/venue.md [--phones 50 200 500] [--rate 20mbit]

Needs root and network namespaces (``ip netns``); without them it says so and writes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench.report import publish
from harness.venue import can_bench, run_all

MEASURE_S = 40.0


def report(results: list[dict[str, object]], rate: str, seconds: float) -> str:
    def cell(value: object, form: str) -> str:
        return "–" if value is None else format(value, form)

    lines = [
        "# A crowded venue Wi-Fi",
        "",
        f"Server and phones in one network namespace, its loopback held to {rate} (tc tbf); the demo talk "
        f"into Spanish on the offline engine; {seconds:.0f} s per run; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores. pcm-on-http: every "
        "phone takes PCM16 from the moment it chose Spanish. opus: 70 % Opus on the WebSocket, 15 % the "
        "HTTP stream (screen off), 15 % captions only.",
        "",
        "| design | phones | audio on time, mean | p10 phone-utterance | caption lag p50 / p95 (s) "
        "| MB per phone per minute | link used (Mb/s) | failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        spent = ", ".join(f"{kind} {mb:.2f}" for kind, mb in r["mb_per_minute"].items())  # type: ignore[attr-defined]
        lines.append(
            f"| {r['design']} | {r['phones']} | {cell(r['on_time_mean'], '.1%')} "
            f"| {cell(r['on_time_p10'], '.1%')} "
            f"| {cell(r['caption_lag_p50'], '.2f')} / {cell(r['caption_lag_p95'], '.2f')} | {spent} "
            f"| {r['link_mbit']:.1f} | {r['failed']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/venue.md"))
    parser.add_argument("--phones", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--rate", default="20mbit")
    parser.add_argument("--talk", type=Path, default=Path("build/demo-talk.wav"))
    parser.add_argument("--seconds", type=float, default=MEASURE_S, help="listening time per run")
    args = parser.parse_args()
    if why := can_bench():
        print(f"venue: skipped: {why}", file=sys.stderr)
        return 0
    text = report(run_all(args.phones, args.rate, args.talk, args.seconds), args.rate, args.seconds)
    return publish(args.out, text)


if __name__ == "__main__":
    raise SystemExit(main())
