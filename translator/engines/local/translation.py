"""Which translator the offline engine uses for a pair: a packaged neural model where one exists
(`neural.py`), else Apertium (`mt.py`), directly or through a pivot."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from translator.engines.local import neural
from translator.engines.local.mt import ROUTES, ApertiumPipe, ApertiumTranslator
from translator.errors import PermanentEngineError


class TextTranslator(Protocol):
    """Text of one language into another, the glossary's terms as required."""

    description: str
    """What translates, in words (the status names it)."""

    async def warm(self) -> None:
        """Load or start what it needs, before the first sentence."""
        ...

    async def restart(self) -> None:
        """After a failed sentence: the next one starts from a fresh state."""
        ...

    async def close(self) -> None:
        """Let go of what it alone holds."""
        ...

    async def translate(
        self, text: str, terms: Mapping[str, str] | None = None, exact_case: Collection[str] = ()
    ) -> str:
        """``text`` translated, each of ``terms`` (source term → required translation) as required
        (those in ``exact_case`` only where written with their capitals)."""
        ...


def targets_from(source: str) -> set[str]:
    """The languages the offline engine translates ``source`` into."""
    return {*ROUTES.get(source, {}), *(target for src, target in neural.MODELS if src == source)}


def offline_pairs() -> list[str]:
    """Every pair the offline engine can serve, as ``en→es``."""
    sources = dict.fromkeys([*ROUTES, *(source for source, _ in neural.MODELS)])
    return [f"{source}→{target}" for source in sources for target in sorted(targets_from(source))]


def describe(source: str, target: str) -> str:
    """What translates ``source`` into ``target``, in words."""
    if (source, target) in neural.MODELS:
        return neural.name(source, target)
    return ApertiumTranslator.description


def translator_for(source: str, target: str, pipes: dict[str, ApertiumPipe]) -> TextTranslator:
    """The translator of a pair (sharing ``pipes`` with the engine's other Apertium pairs), or an
    error listing the pairs that exist."""
    if (source, target) in neural.MODELS:
        return neural.NeuralTranslator(source, target)
    modes = ROUTES.get(source, {}).get(target)
    if modes is None:
        raise PermanentEngineError(
            f"the offline engine cannot translate {source}→{target}; it can do {', '.join(offline_pairs())} "
            "(use Azure Voice Live for other pairs)"
        )
    return ApertiumTranslator(modes, pipes)
