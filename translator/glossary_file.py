"""A glossary as a spreadsheet: CSV or TSV with one row per source term and one column per language,
as a translation vendor or a terminologist keeps one (``translator glossary``, and the glossary's
``PUT`` with ``Content-Type: text/csv``).

The first row names the columns, in any order and any case:

- ``term``: the source term, as the speaker says it (required);
- ``keep``: yes to keep it as it is in every language (a name: no translations on its row);
- ``avoid``: yes when the row's translations are ones never to use (a forbidden term);
- ``case``: yes when it matches only with its capitals ("Apple", not "apple");
- ``priority``: yes, or a number (higher first), for the terms recognition hears of first;
- one column per language code (``es``, ``fr``): the translation the term must get.

Flags read yes/no, true/false, 1/0, x or empty. Rows that are empty are skipped. A file that does not
read whole is refused with the line and column of the first problem, and nothing of it is applied.
Excel's UTF-8 (with its byte-order mark) and semicolon-separated exports read as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Literal

from translator.glossary import MAX_ENTRIES, Glossary, text_problem
from translator.printable import printable

Format = Literal["csv", "tsv"]
MEDIA_TYPES: dict[Format, str] = {"csv": "text/csv", "tsv": "text/tab-separated-values"}
FLAGS = ("keep", "avoid", "case", "priority")
YES = frozenset(("yes", "y", "true", "1", "x", "✓"))
NO = frozenset(("no", "n", "false", "0", ""))


class GlossaryFileError(ValueError):
    """The file does not read: where (line, column from 1) and why."""

    def __init__(self, line: int, column: int | None, problem: str) -> None:
        where = f"line {line}" + (f", column {column}" if column is not None else "")
        super().__init__(f"{where}: {problem}")
        self.line = line
        self.column = column


def read_table(text: str, offered: Iterable[str], kind: Format | None = None) -> Glossary:
    """The glossary in ``text`` (CSV, TSV, or guessed from its first line when ``kind`` is None)
    for a room offering ``offered``; GlossaryFileError at the first problem."""
    offered = list(offered)
    text = text.removeprefix("\ufeff")
    header_line = text.split("\n", 1)[0]
    delimiter = "\t" if kind == "tsv" else "," if kind == "csv" else _delimiter(header_line)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise GlossaryFileError(1, None, "empty: the first line names the columns (term, es, fr …)")
    columns = [cell.strip().lower() for cell in rows[0]]
    for index, name in enumerate(columns, 1):
        if name and name != "term" and name not in FLAGS and name not in offered:
            raise GlossaryFileError(
                1, index, f"'{printable(name)}' is neither term, {', '.join(FLAGS)} nor a language offered "
                f"here ({', '.join(offered)})"
            )  # fmt: skip
        if name and columns.index(name) != index - 1:
            raise GlossaryFileError(1, index, f"a second '{printable(name)}' column")
    if "term" not in columns:
        raise GlossaryFileError(1, None, "no 'term' column (the source term, as the speaker says it)")
    return _glossary(rows, columns)


def _delimiter(header: str) -> str:
    return "\t" if "\t" in header else ";" if header.count(";") > header.count(",") else ","


def _glossary(rows: list[list[str]], columns: list[str]) -> Glossary:
    keep: list[str] = []
    terms: dict[str, dict[str, str]] = {}
    avoid: dict[str, dict[str, str]] = {}
    exact_case: list[str] = []
    ranked: list[tuple[float, int, str]] = []
    seen: dict[str, dict[str, int]] = {}
    """Per term, the line of its row of each kind (keep, use, avoid)."""
    where = {name: index for index, name in enumerate(columns) if name}
    for line, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(columns) and any(cell.strip() for cell in row[len(columns) :]):
            raise GlossaryFileError(line, len(columns) + 1, "a cell beyond the named columns")
        cell = {name: row[index].strip() if index < len(row) else "" for name, index in where.items()}
        term = cell["term"]
        if problem := text_problem(term):
            raise GlossaryFileError(line, where["term"] + 1, f"the term {problem}")
        flags = {name: _flag(cell.get(name, ""), line, where.get(name)) for name in ("keep", "avoid", "case")}
        # A term may have a row of translations to use and one of translations to avoid; a name
        # kept as it is has only its own.
        kind = "keep" if flags["keep"] else "avoid" if flags["avoid"] else "use"
        earlier = seen.setdefault(term, {})
        if clash := earlier.get(kind) or (
            (kind == "keep" or "keep" in earlier) and min(earlier.values(), default=0)
        ):
            raise GlossaryFileError(line, where["term"] + 1, f"'{printable(term)}' is also on line {clash}")
        earlier[kind] = line
        translations = {name: text for name, text in cell.items() if name not in ("term", *FLAGS) and text}
        for name, text in translations.items():
            if problem := text_problem(text):
                raise GlossaryFileError(line, where[name] + 1, f"the {name} translation {problem}")
        if flags["keep"] and (translations or flags["avoid"]):
            raise GlossaryFileError(
                line, None, f"'{printable(term)}' is kept as it is: it takes no translation"
            )
        if not flags["keep"] and not translations:
            problem = "no translation, and not marked keep (a name said as it is: keep = yes)"
            raise GlossaryFileError(line, None, f"'{printable(term)}' has {problem}")
        if flags["keep"]:
            keep.append(term)
        for name, text in translations.items():
            (avoid if flags["avoid"] else terms).setdefault(name, {})[term] = text
        if flags["case"]:
            exact_case.append(term)
        if rank := _rank(cell.get("priority", ""), line, where.get("priority")):
            ranked.append((-rank, line, term))
    if len(seen) > MAX_ENTRIES:
        raise GlossaryFileError(len(rows), None, f"{len(seen)} terms: at most {MAX_ENTRIES} in all")
    priority = list(dict.fromkeys(term for _, _, term in sorted(ranked)))
    return Glossary(keep, terms, avoid, list(dict.fromkeys(exact_case)), priority)


def _flag(text: str, line: int, column: int | None) -> bool:
    value = text.lower()
    if value in YES:
        return True
    if value in NO:
        return False
    assert column is not None  # an empty cell of a missing column reads "no"
    raise GlossaryFileError(line, column + 1, f"'{printable(text)}' is not yes or no")


def _rank(text: str, line: int, column: int | None) -> float:
    """A priority: 0 for none, 1 for yes, else the number given."""
    if text.lower() in YES:
        return 1.0
    if text.lower() in NO:
        return 0.0
    try:
        return max(float(text), 0.0)
    except ValueError:
        assert column is not None
        raise GlossaryFileError(
            line, column + 1, f"'{printable(text)}' is neither yes, no nor a number"
        ) from None


def write_table(glossary: Glossary, languages: Iterable[str], kind: Format = "csv") -> str:
    """``glossary`` as a file `read_table` reads back the same, a column per language of
    ``languages`` (and any other the glossary speaks of)."""
    codes = list(dict.fromkeys([*languages, *glossary.terms, *glossary.avoid]))
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t" if kind == "tsv" else ",", lineterminator="\r\n")
    writer.writerow(["term", *FLAGS, *codes])
    priority = {term: len(glossary.priority) - index for index, term in enumerate(glossary.priority)}
    exact = set(glossary.exact_case)

    def row(term: str, keep: bool, avoided: bool, translations: dict[str, str]) -> list[str]:
        flags = ["yes" if keep else "", "yes" if avoided else "", "yes" if term in exact else ""]
        return [term, *flags, str(priority.get(term, "")), *(translations.get(code, "") for code in codes)]

    for name in glossary.keep:
        writer.writerow(row(name, True, False, {}))
    for avoided, languages_terms in ((False, glossary.terms), (True, glossary.avoid)):
        by_term: dict[str, dict[str, str]] = {}
        for code, terms in languages_terms.items():
            for term, translation in terms.items():
                by_term.setdefault(term, {})[code] = translation
        for term, translations in by_term.items():
            writer.writerow(row(term, False, avoided, translations))
    return out.getvalue()
