"""What every benchmark does with its result: a Markdown file, and the same text on the terminal."""

from __future__ import annotations

import sys
from pathlib import Path


def publish(out: Path, text: str) -> int:
    """Write ``text`` to ``out`` (its folder made), print it, and say where it went; the exit status."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"written to {out}", file=sys.stderr)
    return 0
