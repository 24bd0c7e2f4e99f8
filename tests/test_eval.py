"""``translator eval`` as a user runs it: a real process replaying a short talk on the offline engine."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import msgspec
from PIL import Image

from harness.talk import write_talk
from harness.translate_server import FakeTranslate
from tests.helpers import run, without_azure
from translator.audio.wav import read_wav
from translator.evaluation.replay import Heard

SENTENCES = ["Good morning everyone.", "Please turn off your mobile phones."]
TRANSLATIONS = ["Buenos días a todos.", "Por favor, apaguen sus teléfonos móviles."]


def test_eval_measures_lag_delivery_and_quality_of_a_talk(tmp_path: Path) -> None:
    talk = tmp_path / "talk.wav"
    reference = write_talk(talk, SENTENCES, gap_s=1.0)
    for utterance, translation in zip(reference.utterances, TRANSLATIONS, strict=True):
        utterance.translations = {"es": translation}
    reference_path = tmp_path / "talk.json"
    reference_path.write_bytes(msgspec.json.encode(reference))
    out = tmp_path / "results"
    result = run("eval", str(talk), "--reference", str(reference_path), "--target", "es", "--out", str(out))
    assert result.returncode == 0, result.stderr
    # Progress while it runs: one line per final caption.
    assert result.stdout.count("] es #") == 2
    table = (out / "eval.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| es |")).split("|")
    captioned, caption_lag, audio_lag, _, delivered, skipped, wer, chrf, bleu, kept, revised, readback = (
        c.strip() for c in row[2:14]
    )
    assert captioned == "2/2" and skipped == "0"
    median, p95, worst = (float(v) for v in caption_lag.split(" / "))
    # Lag after the true end of speech: above the 400 ms end-of-speech silence, far below a second.
    assert 0 < median <= worst < 3000
    assert all(0 < float(v) < 3000 for v in audio_lag.split(" / "))
    assert delivered == "100.0 % / 100.0 %"
    assert float(wer.rstrip(" %")) <= 20
    assert float(chrf) > 30 and float(bleu) > 5
    assert kept == "– · – · –", "no number, name or term in these sentences"
    # The Spanish voice read back against its captions: espeak-ng's short sentences are hard to
    # understand (63.6 % on one processor, 81.8 % on another: Whisper's arithmetic differs by CPU;
    # "Buenos días a todos" is heard as "Bueno, ¡sí! ¡Asaconos!"); speech cut short or missing
    # would be near 100 %.
    assert float(readback.rstrip(" %")) <= 90, readback
    with Image.open(out / "lag.png") as plot:
        assert plot.size == (800, 400)


def test_eval_without_a_reference_times_the_talk_by_its_own_voice_activity(tmp_path: Path) -> None:
    talk = tmp_path / "talk.wav"
    truth = write_talk(talk, SENTENCES, gap_s=1.0)
    from translator.audio.wav import read_wav
    from translator.evaluation.reference import reference_from_vad

    found = reference_from_vad(read_wav(talk))
    assert len(found.utterances) == 2
    for real, heard in zip(truth.utterances, found.utterances, strict=True):
        assert abs(real.end - heard.end) < 0.15 and abs(real.start - heard.start) < 0.3


def test_a_bad_reference_file_is_named_with_its_problem(tmp_path: Path) -> None:
    talk = tmp_path / "talk.wav"
    write_talk(talk, SENTENCES[:1])
    bad = tmp_path / "ref.json"
    bad.write_text(json.dumps({"utterances": [{"start": 2.0, "end": 1.0}]}))
    result = run("eval", str(talk), "--reference", str(bad), "--target", "es")
    assert result.returncode == 2
    assert f"{bad}: utterances[0]: start/end must increase" in result.stderr
    bad.write_text(json.dumps({"utterances": [{"start": "soon", "end": 1.0}]}))
    assert "Expected `float`" in run("eval", str(talk), "--reference", str(bad)).stderr


async def test_eval_compares_engines_on_the_same_talk_side_by_side(tmp_path: Path) -> None:
    talk = tmp_path / "talk.wav"
    sentences = ["Contoso sold two thousand tickets.", SENTENCES[1]]
    reference = write_talk(talk, sentences, gap_s=1.0)
    for utterance, translation in zip(
        reference.utterances, ["Contoso vendió 2000 entradas.", TRANSLATIONS[1]], strict=True
    ):
        utterance.translations = {"es": translation}
    config = tmp_path / "glossary.toml"
    config.write_text('[glossary]\nkeep = ["Contoso"]\n')
    reference_path = tmp_path / "talk.json"
    reference_path.write_bytes(msgspec.json.encode(reference))
    out = tmp_path / "results"
    async with FakeTranslate() as server:
        env = without_azure()
        env |= {"AZURE_OPENAI_ENDPOINT": server.endpoint, "AZURE_OPENAI_API_KEY": server.api_key}
        args = ["eval", str(talk), "--reference", str(reference_path), "--target", "es", "--out", str(out)]
        args += ["--config", str(config)]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "translator", *args, "--engine", "local", "--engine", "realtime-translate",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()
    table = (out / "comparison.md").read_text()
    rows = {line.split("|")[1].strip(): line.split("|") for line in table.splitlines() if "| es |" in line}
    assert set(rows) == {"local", "realtime-translate"}
    first_audio: dict[str, float] = {}
    for engine, row in rows.items():
        captioned, audio, caption, delivered = (c.strip() for c in row[3:7])
        assert captioned == "2/2", engine
        assert all(0 < float(v) < 5000 for v in caption.split(" / ")), engine
        assert delivered == "100.0 %", engine
        first_audio[engine] = float(audio.split(" / ")[0])
    # The dedicated model streams: its interpretation starts while the sentence is still spoken.
    assert first_audio["realtime-translate"] < 0 < first_audio["local"]
    assert float(rows["local"][7]) > 30, "the offline engine's translation scored against the reference"
    # The test server "translates" into tone names: the number and the name said are lost.
    assert rows["local"][9].strip() == "1/1 · 1/1 · –"
    assert rows["realtime-translate"][9].strip() == "0/1 · 0/1 · –"
    duration = len(read_wav(talk)) / 2 / 24_000 / 60
    assert rows["realtime-translate"][10].strip() == f"{duration:.1f} audio min"
    assert rows["local"][10].strip() == "– (runs here)"
    assert (out / "local" / "eval.md").is_file() and (out / "realtime-translate" / "eval.md").is_file()
    assert server.api_key not in stdout.decode() + stderr.decode() + table


def test_a_caption_changed_after_it_was_shown_is_counted_as_revised() -> None:
    heard = Heard("es", "pcm")
    for text, final in (
        ("Buenos", False),
        ("Buenos días", False),
        ("Bueno, días", False),
        ("Buenos días.", True),
    ):
        message = {"type": "caption", "id": 1, "lang": "es", "final": final, "text": text, "source_text": ""}
        heard.take(msgspec.json.encode(message).decode())
    heard.take(msgspec.json.encode({"type": "caption", "id": 2, "lang": "es", "final": True, "text": "Hola",
                                    "source_text": ""}).decode())  # fmt: skip
    assert heard.revised == 2, "growing is not revising; a changed word and its correction are"
