"""Glossary terms through a translator that knows nothing of them: each term is replaced by a
placeholder word before translation, and the placeholder by the term's required translation after.

A word no language has passes through Apertium unchanged, and through a neural model copied where
it stands, where a noun would be: the sentence around a term is still translated as a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

PLACEHOLDER = "zxq"
"""No language has this word."""
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+)$")


def protect(
    text: str, terms: Mapping[str, str], exact_case: Collection[str] = ()
) -> tuple[str, dict[str, str]]:
    """``text`` with each glossary term (whole words, any case but for those in ``exact_case``)
    replaced by a placeholder word, and what each placeholder must become."""
    if not terms:
        return text, {}
    # Longest first, one group each: the group that matched says which term it was. Case-folding the
    # match instead fails where IGNORECASE and casefold() disagree (İstanbul matches "istanbul").
    ordered = sorted(terms, key=len, reverse=True)
    alternatives = "|".join(
        f"((?-i:{re.escape(term)}))" if term in exact_case else f"({re.escape(term)})" for term in ordered
    )
    placeholders: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        word = PLACEHOLDER + "".join(chr(ord("a") + int(d)) for d in str(len(placeholders)))
        placeholders[word] = terms[ordered[match.lastindex - 1]]  # type: ignore[operator]
        return word

    return re.sub(rf"(?<!\w)(?:{alternatives})(?!\w)", placeholder, text, flags=re.IGNORECASE), placeholders


def restore(text: str, placeholders: Mapping[str, str]) -> str:
    """Each placeholder replaced by its translation, capitalised where it starts a sentence."""

    def translation(match: re.Match[str]) -> str:
        wanted = placeholders[match.group()]
        if _SENTENCE_START.search(text[: match.start()]):
            wanted = wanted[0].upper() + wanted[1:]
        return wanted

    if not placeholders:
        return text
    return re.sub("|".join(sorted(placeholders, key=len, reverse=True)), translation, text)
