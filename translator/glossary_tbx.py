"""A glossary from TBX, the terminology exchange format a vendor's termbase exports (ISO 30042: TBX
2008's ``martif`` with ``termEntry``/``langSet``/``tig``, and TBX 2019's ``tbx`` with
``conceptEntry``/``langSec``/``termSec``; the Basic dialect's data categories).

Each concept with a term in the speaker's language becomes a row of the glossary: its preferred or
admitted term in a language offered here is the translation to use, a deprecated or superseded one a
translation to avoid. Languages not offered are left out (a termbase holds many). The file is parsed
with entity expansion and external references refused (`defusedxml`); one that does not parse is
refused with the line and column, one with a bad term with its concept's id, and nothing of either
is applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeTree
from defusedxml import DefusedXmlException

from translator.glossary import MAX_ENTRIES, Glossary, text_problem
from translator.glossary_file import GlossaryFileError
from translator.printable import printable

TBX_MEDIA_TYPES = frozenset(("application/x-tbx", "application/tbx+xml", "application/xml", "text/xml"))
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
CONCEPTS = ("termEntry", "conceptEntry")
LANGUAGES = ("langSet", "langSec")
TERMS = ("tig", "ntig", "termSec")
AVOIDED = frozenset(("deprecatedterm-admn-sts", "supersededterm-admn-sts", "deprecated", "superseded"))
"""Administrative statuses of a term never to use (TBX-Basic's values, and TBX 2019's)."""


def read_tbx(data: bytes, offered: Iterable[str], source: str) -> Glossary:
    """The glossary in a TBX file for a room whose speaker speaks ``source`` and that offers
    ``offered``; GlossaryFileError at the first problem."""
    offered = list(offered)
    try:
        root = SafeTree.fromstring(data)
    except ParseError as exc:
        line, column = exc.position
        raise GlossaryFileError(line, column + 1, f"not TBX: {_reason(exc)}") from None
    except DefusedXmlException as exc:
        raise GlossaryFileError(
            1, None, f"refused: {type(exc).__name__} (entities and DTDs are not read)"
        ) from None
    if _name(root) not in ("martif", "tbx"):
        raise GlossaryFileError(1, None, f"not TBX: the document is <{printable(_name(root))}>")
    terms: dict[str, dict[str, str]] = {}
    avoid: dict[str, dict[str, str]] = {}
    count = 0
    for index, concept in enumerate(_descendants(root, CONCEPTS), 1):
        where = concept.get("id") or f"#{index}"
        by_language = _terms(concept, where)
        spoken = [text for text, avoided in by_language.get(source, []) if not avoided]
        if not spoken:
            continue
        term = spoken[0]
        count += 1
        for code in offered:
            for text, avoided in by_language.get(code, []):
                chosen = avoid if avoided else terms
                chosen.setdefault(code, {}).setdefault(term, text)
    if count > MAX_ENTRIES:
        raise GlossaryFileError(1, None, f"{count} concepts in the speaker's language: at most {MAX_ENTRIES}")
    return Glossary(terms=terms, avoid=avoid)


def _terms(concept: Element, where: str) -> dict[str, list[tuple[str, bool]]]:
    """Per language (its primary subtag), each term and whether it is one to avoid."""
    found: dict[str, list[tuple[str, bool]]] = {}
    for language in (child for child in concept if _name(child) in LANGUAGES):
        code = (language.get(XML_LANG) or language.get("lang") or "").split("-")[0].split("_")[0].lower()
        for holder in (child for child in language if _name(child) in TERMS):
            text = "".join(next((e.itertext() for e in holder if _name(e) == "term"), [])).strip()
            if not text:
                continue
            if problem := text_problem(text):
                raise GlossaryFileError(1, None, f"concept '{printable(where)}': the {code} term {problem}")
            status = next(("".join(e.itertext()).strip().lower() for e in holder.iter() if _status(e)), "")
            found.setdefault(code, []).append((text, status in AVOIDED))
    return found


def _status(element: Element) -> bool:
    return _name(element) in ("termNote", "descrip") and element.get("type") == "administrativeStatus"


def _descendants(root: Element, names: tuple[str, ...]) -> Iterable[Element]:
    return (element for element in root.iter() if _name(element) in names)


def _name(element: Element) -> str:
    """The element's name without its namespace (TBX 2019 puts one on every element)."""
    return element.tag.rpartition("}")[2] if isinstance(element.tag, str) else ""


def _reason(exc: ParseError) -> str:
    return str(exc).split(":")[0]
