"""Which of our languages Azure's voices speak."""

from __future__ import annotations

from translator.languages import Language

UNSPOKEN = frozenset({"eo"})
"""Languages Azure Speech has no voice for: Voice Live can hear them, not speak them."""


def speaks(language: Language) -> bool:
    """Whether Voice Live can speak ``language``."""
    return language.code not in UNSPOKEN
