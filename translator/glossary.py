"""The glossary: terms with the translation each target language requires, and names kept as they are.

It is set in the configuration and may be changed by the operator during a talk; engines apply the
current one from the next utterance on (Voice Live through its instructions and phrase list, the
offline engine by replacing the terms around machine translation).
"""

from __future__ import annotations

import unicodedata

import msgspec

from translator.printable import printable

# Recognition bias lists are short (azure-speech takes fewer than 500 phrases); a glossary is a list
# of what matters at this event, not a dictionary.
MAX_ENTRIES = 400
MAX_TERM_CHARS = 100


class Glossary(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What must be translated one way, per target language, and what must not be translated at all."""

    keep: list[str] = []
    """Names and words that stay as they are in every language (people, products, places)."""
    terms: dict[str, dict[str, str]] = {}
    """Per target language code, each source term and the translation it must get."""
    avoid: dict[str, dict[str, str]] = {}
    """Per target language code, each source term and a translation it must never get (a
    terminologist's "forbidden" or "deprecated" term)."""
    exact_case: list[str] = []
    """Source terms that match only with the capitals they are written with ("Apple", not "apple")."""
    priority: list[str] = []
    """Source terms recognition is told of first, where the engine takes a bounded list of words to
    expect (Voice Live's phrase list and transcription prompt)."""

    def for_language(self, code: str) -> dict[str, str]:
        """Every source term with what it must become in ``code``: the names kept, then its terms."""
        return {name: name for name in self.keep} | self.terms.get(code, {})

    def phrases(self) -> list[str]:
        """The source words recognition should expect, the priority terms first: the names kept and
        every language's terms."""
        return list(dict.fromkeys(self.priority) | self._entries())

    def _entries(self) -> dict[str, None]:
        """Every source term and name, in the order given."""
        seen = dict.fromkeys(self.keep)
        for terms in (*self.terms.values(), *self.avoid.values()):
            seen.update(dict.fromkeys(terms))
        return seen

    def problem(self, offered: list[str]) -> tuple[str, str] | None:
        """The first bad entry as (field, problem), None when the glossary is usable.

        ``offered``: the room's languages; a term for another would never be used (a language
        added later gets its terms with it).
        """
        if len(self.phrases()) > MAX_ENTRIES:
            return "glossary", f"at most {MAX_ENTRIES} terms and names in all"
        for index, name in enumerate(self.keep):
            if problem := text_problem(name):
                return f"glossary.keep[{index}]", problem
        for kind, languages in (("terms", self.terms), ("avoid", self.avoid)):
            for code, terms in languages.items():
                if code not in offered:
                    problem = f"'{printable(code)}' is not a language offered here ({', '.join(offered)})"
                    return f"glossary.{kind}.{printable(code)}", problem
                for term, translation in terms.items():
                    if problem := text_problem(term) or text_problem(translation):
                        return f"glossary.{kind}.{printable(code)}.{printable(term)}", problem
        entries = self._entries()
        for kind, listed in (("exact_case", self.exact_case), ("priority", self.priority)):
            for index, term in enumerate(listed):
                if term not in entries:
                    return (
                        f"glossary.{kind}[{index}]",
                        f"'{printable(term)}' is not a term or name of the glossary",
                    )
        return None


def text_problem(text: str, limit: int = MAX_TERM_CHARS) -> str:
    """What is wrong with ``text`` as a glossary term or translation, or (``limit``) a caption a
    person wrote (empty when nothing is)."""
    if len(text) > limit:
        return f"at most {limit} characters"
    if any(ch in text for ch in "\n\r\t"):
        return "must be on one line"
    for ch in text:
        # Spoken to every listener: a NUL cuts the sentence short, a bidirectional override shows
        # other text than is spoken. Zero-width joiners stay: Persian and Indic spellings need them.
        if unicodedata.category(ch) in _REFUSED and ch not in _JOINERS:
            return (
                f"must not hold control, separator, bidirectional or invisible characters (U+{ord(ch):04X})"
            )
    if not "".join(ch for ch in text if ch not in _JOINERS).strip():
        return "must not be empty"
    return ""


# Control, format (bidirectional marks and overrides, zero-width characters), surrogate and
# private-use characters, and the line and paragraph separators.
_REFUSED = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
_JOINERS = frozenset("\u200c\u200d")
