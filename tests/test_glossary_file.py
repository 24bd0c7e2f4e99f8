"""Glossaries from the people who keep them: CSV and TSV files as spreadsheets and vendors write
them, and termbases' TBX, read into the glossary whole or refused at the first problem, saying
where."""

from __future__ import annotations

import pytest

from translator.glossary import Glossary
from translator.glossary_file import GlossaryFileError, read_table, write_table
from translator.glossary_tbx import read_tbx

OFFERED = ["es", "fr"]

VENDOR = (
    "Term,Keep,Avoid,Case,Priority,ES,FR\r\n"
    "Contoso,yes,,,2,,\r\n"
    "keynote,,,,,ponencia,conférence plénière\r\n"
    "keynote,,yes,,,discurso,keynote\r\n"
    "Apple,,,x,1,Apple,Apple\r\n"
    ",,,,,,\r\n"
    '"board, the",,,,,"junta, la",\r\n'
)

PLAIN = VENDOR.rsplit("\r\n", 2)[0] + "\r\n"
"""The file without its quoted cell: as TSV or with semicolons, no cell holds the separator."""


def test_a_vendors_csv_reads_into_the_glossary() -> None:
    glossary = read_table(VENDOR, OFFERED)
    assert glossary == Glossary(
        keep=["Contoso"],
        terms={"es": {"keynote": "ponencia", "Apple": "Apple", "board, the": "junta, la"},
               "fr": {"keynote": "conférence plénière", "Apple": "Apple"}},
        avoid={"es": {"keynote": "discurso"}, "fr": {"keynote": "keynote"}},
        exact_case=["Apple"],
        priority=["Contoso", "Apple"],
    )  # fmt: skip
    assert glossary.problem(OFFERED) is None
    # What recognition hears of first: the priority terms, highest first.
    assert glossary.phrases()[:2] == ["Contoso", "Apple"]


@pytest.mark.parametrize(
    "text",
    [
        PLAIN.replace(",", "\t"),
        "\ufeff" + PLAIN.replace(",", ";"),  # Excel's UTF-8 export where the comma is a decimal sign
    ],
    ids=["tsv", "excel-semicolons"],
)
def test_tsv_and_excels_exports_read_the_same(text: str) -> None:
    assert read_table(text, OFFERED).keep == ["Contoso"]
    assert read_table(text, OFFERED).terms["es"]["keynote"] == "ponencia"


def test_what_is_written_reads_back_the_same() -> None:
    glossary = read_table(VENDOR, OFFERED)
    for kind in ("csv", "tsv"):
        written = write_table(glossary, OFFERED, kind)  # type: ignore[arg-type]
        assert read_table(written, OFFERED, kind) == glossary  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("", "line 1", "the first line names the columns"),
        ("es,fr\nhola,salut\n", "line 1", "no 'term' column"),
        ("term,es,de\nkeynote,ponencia,Grundsatzrede\n", "line 1, column 3", "'de' is neither term"),
        ("term,es,es\nkeynote,a,b\n", "line 1, column 3", "a second 'es' column"),
        ("term,keep,es\nContoso,perhaps,\n", "line 2, column 2", "'perhaps' is not yes or no"),
        ("term,es\nkeynote,ponencia\nkeynote,discurso\n", "line 3, column 1", "also on line 2"),
        ("term,keep,es\nContoso,yes,Contoso\n", "line 2", "is kept as it is: it takes no translation"),
        ("term,es\nkeynote,\n", "line 2", "no translation, and not marked keep"),
        ("term,es\nkeynote,pon\u202eencia\n", "line 2, column 2", "bidirectional"),
        ("term,es\nkeynote,ponencia,extra\n", "line 2, column 3", "a cell beyond the named columns"),
        ("term,priority,es\nkeynote,high,ponencia\n", "line 2, column 2", "neither yes, no nor a number"),
    ],
)
def test_a_file_that_does_not_read_whole_is_refused_where_it_breaks(
    text: str, where: str, words: str
) -> None:
    with pytest.raises(GlossaryFileError) as refused:
        read_table(text, OFFERED)
    assert str(refused.value).startswith(f"{where}: ") and words in str(refused.value), str(refused.value)


TBX_2008 = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE martif SYSTEM "TBXcoreStructV02.dtd">
<martif type="TBX-Basic" xml:lang="en">
  <martifHeader><fileDesc><sourceDesc><p>the vendor's termbase</p></sourceDesc></fileDesc></martifHeader>
  <text><body>
    <termEntry id="c1">
      <langSet xml:lang="en"><tig><term>keynote</term></tig></langSet>
      <langSet xml:lang="es-ES">
        <tig><term>ponencia</term>
          <termNote type="administrativeStatus">preferredTerm-admn-sts</termNote></tig>
        <tig><term>discurso</term>
          <termNote type="administrativeStatus">deprecatedTerm-admn-sts</termNote></tig>
      </langSet>
      <langSet xml:lang="fr"><tig><term>conférence plénière</term></tig></langSet>
      <langSet xml:lang="de"><tig><term>Grundsatzrede</term></tig></langSet>
    </termEntry>
    <termEntry id="c2">
      <langSet xml:lang="de"><tig><term>Tagung</term></tig></langSet>
    </termEntry>
  </body></text>
</martif>
"""

TBX_2019 = """<?xml version="1.0" encoding="UTF-8"?>
<tbx type="TBX-Basic" style="dca" xml:lang="en" xmlns="urn:iso:std:iso:30042:ed-2">
  <tbxHeader><fileDesc><sourceDesc><p>the vendor's termbase</p></sourceDesc></fileDesc></tbxHeader>
  <text><body>
    <conceptEntry id="c1">
      <langSec xml:lang="en"><termSec><term>keynote</term></termSec></langSec>
      <langSec xml:lang="es">
        <termSec><term>ponencia</term></termSec>
        <termSec><term>discurso</term>
          <termNote type="administrativeStatus">supersededTerm-admn-sts</termNote></termSec>
      </langSec>
      <langSec xml:lang="fr"><termSec><term>conférence plénière</term></termSec></langSec>
    </conceptEntry>
  </body></text>
</tbx>
"""


@pytest.mark.parametrize("tbx", [TBX_2008, TBX_2019], ids=["tbx-2008", "tbx-2019"])
def test_a_termbases_tbx_reads_into_the_glossary(tbx: str) -> None:
    """The speaker's term of each concept, its preferred translation in each language offered, and
    its deprecated one to avoid; languages not offered, and concepts the speaker has no term for,
    are left out."""
    assert read_tbx(tbx.encode(), OFFERED, "en") == Glossary(
        terms={"es": {"keynote": "ponencia"}, "fr": {"keynote": "conférence plénière"}},
        avoid={"es": {"keynote": "discurso"}},
    )


@pytest.mark.parametrize(
    ("tbx", "words"),
    [
        ("<martif><text><body><termEntry>", "line 1, column 32: not TBX"),
        ("<glossary/>", "line 1: not TBX: the document is <glossary>"),
        (
            '<!DOCTYPE martif [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            "<martif><text><body/></text></martif>",
            "refused: EntitiesForbidden",
        ),
        (
            TBX_2008.replace("<term>ponencia</term>", "<term>pon\u202eencia</term>"),
            "concept 'c1': the es term must not hold control",
        ),
    ],
    ids=["cut-short", "not-tbx", "entities", "bidirectional"],
)
def test_a_tbx_that_does_not_read_is_refused_saying_where(tbx: str, words: str) -> None:
    with pytest.raises(GlossaryFileError) as refused:
        read_tbx(tbx.encode(), OFFERED, "en")
    assert words in str(refused.value), str(refused.value)
