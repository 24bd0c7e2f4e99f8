"""What must come through a translation unchanged: numbers, the names the glossary keeps, and the
terms it requires.

BLEU and chrF barely move when one number changes; a listener who hears "2,500 euros" for "2,400"
is misinformed. So every final caption is checked: the numbers of the source (digits, and number
words in the source language, read by text2num where it knows the language) must each come out as
the same number in the translation (read the same way in its language; "2,400", "2.400" and
"2 400" are one number); each name the glossary keeps that was said must appear as written; each
glossary term that was said must appear as its required translation. What is missing is a `Miss`,
said as the operator reads it: ``2,400 → missing``, ``2,400 → 2,500``, ``Contoso → missing``.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Literal

import msgspec
from text_to_num import alpha2digit

from translator.glossary import Glossary

NUMBER_WORD_LANGUAGES = frozenset(("en", "es", "fr", "de", "it", "pt", "nl"))
"""The languages text2num reads number words in."""
NUMBER = re.compile(r"\d{1,3}(?:[,.\u00a0\u202f ]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?")
"""Thousands grouped by any separator (``2,400``, ``2.400``, ``2 400``), or plain digits; either
with a decimal part."""
Kind = Literal["number", "name", "term"]
KINDS: tuple[Kind, ...] = ("number", "name", "term")


class Miss(msgspec.Struct, frozen=True):
    """Something that did not come through."""

    kind: Kind
    expected: str
    """As the source has it (a number as said: ``2,400``), or the required form (a term)."""
    found: str = ""
    """A different number the translation has instead, when there is one."""

    def words(self) -> str:
        """As the operator reads it under the caption."""
        return f"{self.expected} → {self.found or 'missing'}"


class Fidelity(msgspec.Struct, frozen=True):
    """One caption checked: how many numbers, names and terms it had to carry, and what it lost."""

    numbers: int = 0
    names: int = 0
    terms: int = 0
    misses: list[Miss] = []

    def said(self, kind: Kind) -> int:
        """How many of ``kind`` the source had."""
        return {"number": self.numbers, "name": self.names, "term": self.terms}[kind]

    def missed(self, kind: Kind) -> int:
        """How many of ``kind`` the translation lost."""
        return sum(1 for miss in self.misses if miss.kind == kind)


def value(number: str) -> str:
    """A number as written, in one form: separators of thousands dropped, a decimal mark as ``.``.

    A separator followed by exactly three digits groups thousands (``2,400``, ``2.400``, ``2 400``:
    said aloud, "2.400" is two thousand four hundred); the last one followed by other than three
    digits is the decimal mark (``2,5``, ``3.75``)."""
    parts = re.split(r"[.,\u00a0\u202f ]", number)
    whole, decimal = (parts[:-1], parts[-1]) if len(parts) > 1 and len(parts[-1]) != 3 else (parts, "")
    integer = "".join(whole).lstrip("0") or "0"
    decimal = decimal.rstrip("0")
    return f"{integer}.{decimal}" if decimal else integer


def numbers(text: str, lang: str, words: bool = True) -> list[tuple[str, str]]:
    """The numbers of ``text`` in order, as (written, value); number words too (``words``) where
    text2num reads the language."""
    if words and lang in NUMBER_WORD_LANGUAGES:
        text = alpha2digit(text, lang)
    return [(match.group(), value(match.group())) for match in NUMBER.finditer(text)]


def _said(term: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, flags=re.IGNORECASE) is not None


def check(source: str, translation: str, source_lang: str, target_lang: str, glossary: Glossary) -> Fidelity:
    """Check one final caption: ``translation`` (into ``target_lang``) of ``source``."""
    misses: list[Miss] = []
    # Numbers said in words are checked only where the translation's number words can be read too.
    said = numbers(source, source_lang, words=target_lang in NUMBER_WORD_LANGUAGES)
    came = Counter(v for _, v in numbers(translation, target_lang))
    unmatched: list[tuple[str, str]] = []
    for written, number in said:
        if came[number]:
            came[number] -= 1
        else:
            unmatched.append((written, number))
    # A number that came out different stands beside the one that went missing, in order.
    others = [written for written, number in numbers(translation, target_lang) if came[number] > 0]
    for index, (written, _) in enumerate(unmatched):
        misses.append(Miss("number", written, others[index] if index < len(others) else ""))
    names = [name for name in glossary.keep if _said(name, source)]
    misses += [Miss("name", name) for name in names if name not in translation]
    terms = [
        (term, required)
        for term, required in glossary.terms.get(target_lang, {}).items()
        if _said(term, source)
    ]
    misses += [Miss("term", required) for _, required in terms if not _said(required, translation)]
    return Fidelity(len(said), len(names), len(terms), misses)
