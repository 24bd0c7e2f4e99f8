"""Names and numbers checked live: each final caption's numbers, names kept and glossary terms, on
their own, through the Voice Live engine (a model that gets some wrong) to a listener, the console's
counts, /metrics and the transcript, and through the offline engine (real Apertium) that gets them
right."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile

from harness.live import Received, listen, live_server
from harness.talk import write_talk
from harness.voicelive_server import RATE, FakeVoiceLive, tone, tone_name
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.fidelity import check
from translator.glossary import Glossary
from translator.transcripts.store import read_transcript

GLOSSARY = Glossary(keep=["Contoso", "Ana Lucía"], terms={"es": {"keynote": "ponencia"}})


@pytest.mark.parametrize(
    ("source", "translation", "misses"),
    [
        # Right: digits, number words, another locale's separators, a date, the names, the term.
        ("Contoso sold 2,400 tickets.", "Contoso vendió 2.400 entradas.", []),
        ("It costs two thousand four hundred euros.", "Cuesta 2400 euros.", []),
        ("On the 15th of March, at 9:30.", "El quince de marzo, a las 9:30.", []),
        ("Ana Lucía opens the keynote at 3.5 percent.", "Ana Lucía abre la ponencia al 3,5 %.", []),
        # Wrong: each is flagged, in the words the operator reads.
        ("Contoso sold 2,400 tickets.", "Contoso vendió entradas.", ["2,400 → missing"]),
        ("Contoso sold 2,400 tickets.", "Contoso vendió 2.500 entradas.", ["2,400 → 2.500"]),
        ("Ana Lucía sold the tickets.", "Ana Lucia vendió las entradas.", ["Ana Lucía → missing"]),
        ("Contoso sold tickets.", "Contosa vendió entradas.", ["Contoso → missing"]),
        ("Welcome to the keynote.", "Bienvenidos a la conferencia.", ["ponencia → missing"]),
    ],
)
def test_numbers_names_and_terms_that_did_not_come_through_are_named(
    source: str, translation: str, misses: list[str]
) -> None:
    checked = check(source, translation, "en", "es", GLOSSARY)
    assert [miss.words() for miss in checked.misses] == misses


def test_numbers_said_in_words_are_not_checked_where_the_translations_words_cannot_be_read() -> None:
    # text2num reads no Esperanto: "du mil" cannot be told from a lost number, so it is not held against it.
    checked = check(
        "We sold two thousand tickets, and 15 more.",
        "Ni vendis du mil biletojn, kaj 15 pli.",
        "en",
        "eo",
        Glossary(),
    )
    assert checked.numbers == 1 and not checked.misses


SENTENCES = {
    "tone 300": "Contoso sold 2,400 tickets for the keynote.",
    "tone 400": "Ana Lucía arrives on the 15th of March.",
    "tone 500": "The keynote starts at 9:30 for 120 people.",
    "tone 600": "Contoso pays 2,400 euros.",
}
WRONG = {
    # A dropped number, a changed number, a kept name translated, a required term forgotten.
    "Contoso sold 2,400 tickets for the ponencia.": "Contoso sold tickets for the ponencia.",
    "Ana Lucía arrives on the 15th of March.": "Ana Lucía arrives on the 16th of March.",
    "The ponencia starts at 9:30 for 120 people.": "The keynote starts at 9:30 for 120 people.",
    "Contoso pays 2,400 euros.": "Contosa pays 2,400 euros.",
}
"""What the model says, its glossary followed, → what it says instead."""


def tone_wav(path: Path) -> Path:
    silence = bytes(int(RATE * 0.9) * 2)
    pcm = (
        bytes(RATE * 2)
        + b"".join(tone(1.0, freq) + silence for freq in (300, 400, 500, 600))
        + bytes(RATE * 2)
    )
    soundfile.write(str(path), np.frombuffer(pcm, dtype="<i2"), RATE, subtype="PCM_16")
    return path


def mistranslate(text: str) -> str:
    prefix, _, said = text.partition(": ")
    return f"{prefix}: {WRONG.get(said, said)}"


async def test_a_model_that_gets_names_and_numbers_wrong_is_flagged_under_each_caption(
    tmp_path: Path,
) -> None:
    server = FakeVoiceLive(transcribe=lambda audio: SENTENCES[tone_name(audio)], mistranslate=mistranslate)
    async with server:
        settings = load_settings(
            env={"AZURE_VOICELIVE_ENDPOINT": server.endpoint, "AZURE_VOICELIVE_API_KEY": "fidelity-key-123"},
            overrides={
                "targets": ["es"],
                "engine": "voicelive",
                "azure.model": "gpt-4.1",
                "glossary": {"keep": GLOSSARY.keep, "terms": GLOSSARY.terms},
                "transcripts.directory": str(tmp_path / "transcripts"),
            },
        )
        async with live_server(settings, WavSource(tone_wav(tmp_path / "talk.wav"), pace=2)) as live:

            def all_checked(received: Received) -> bool:
                finals = received.finals().values()
                return len(finals) == 4 and all(c["source_text"] for c in finals)

            received = await listen(f"{live.ws}/ws/listen/es", all_checked, within_s=60)
            async with httpx.AsyncClient(base_url=live.url, headers=live.operator) as client:
                status = (await client.get("/api/status")).json()
                metrics = (await client.get("/metrics")).text
    by_source = {c["source_text"]: c.get("misses", []) for c in received.finals().values()}
    assert by_source == {
        SENTENCES["tone 300"]: ["2,400 → missing"],
        SENTENCES["tone 400"]: ["15 → 16"],
        SENTENCES["tone 500"]: ["ponencia → missing"],
        SENTENCES["tone 600"]: ["Contoso → missing"],
    }
    fidelity = status["languages"][0]["fidelity"]
    assert fidelity == {
        "numbers": 6, "numbers_missed": 2, "names": 3, "names_missed": 1, "terms": 2, "terms_missed": 1,
    }  # fmt: skip
    assert 'translator_fidelity_missed_total{kind="number",lang="es",room="main"} 2.0' in metrics
    assert 'translator_fidelity_checked_total{kind="name",lang="es",room="main"} 3.0' in metrics
    written = next((tmp_path / "transcripts").glob("*.jsonl"))
    transcript = read_transcript(written.parent, written.stem)
    assert sorted(m for c in transcript.captions for m in c.misses) == sorted(sum(by_source.values(), []))


async def test_the_offline_engine_carries_names_and_numbers_and_nothing_is_flagged(tmp_path: Path) -> None:
    talk = tmp_path / "talk.wav"
    write_talk(
        talk, ["Contoso sold two thousand tickets.", "We open at nine thirty on the fifteenth of March."]
    )
    settings = load_settings(
        env={},
        overrides={"targets": ["es"], "audio.input": str(talk), "glossary": {"keep": ["Contoso"]}},
    )
    async with live_server(settings, WavSource(talk, pace=2)) as live:
        received = await listen(f"{live.ws}/ws/listen/es", lambda r: len(r.finals()) >= 2, within_s=90)
        async with httpx.AsyncClient(base_url=live.url, headers=live.operator) as client:
            status = (await client.get("/api/status")).json()
    finals = list(received.finals().values())
    assert not any(c.get("misses") for c in finals), finals
    fidelity = status["languages"][0]["fidelity"]
    assert fidelity["numbers"] >= 3 and fidelity["names"] == 1
    assert fidelity["numbers_missed"] == fidelity["names_missed"] == 0
