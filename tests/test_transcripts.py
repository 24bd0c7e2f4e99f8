"""Transcripts: kept caption by caption while a real server translates a talk, exported over HTTP
and from the command line, and read back by real subtitle parsers with the captions' own times."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import av
import httpx
import pysrt
import pytest
import websockets
import webvtt

from harness.live import HeldSource, Received, collect, listen, live_server
from harness.voicelive_server import FakeVoiceLive
from tests.helpers import until, voicelive_settings
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.talk import room as room_module
from translator.transcripts.export import export
from translator.transcripts.store import (
    CaptionRecord,
    Transcript,
    TranscriptHeader,
    list_transcripts,
    read_transcript,
)


async def test_a_talk_is_kept_and_exported_with_its_captions_times(talk: Path, tmp_path: Path) -> None:
    settings = load_settings(
        env={},
        overrides={
            "engine": "local",
            "targets": ["es", "fr"],
            "audio.input": str(talk),
            "transcripts.directory": str(tmp_path),
        },
    )
    async with live_server(settings, WavSource(talk, pace=2)) as server:
        received = await listen(f"{server.ws}/ws/listen/es", lambda r: len(r.finals()) >= 2, within_s=60)
        # Flushed as it goes: readable while the talk is still running.
        (talk_id,) = [t.id for t in list_transcripts(tmp_path)]
        assert len([c for c in read_transcript(tmp_path, talk_id).captions if c.lang == "es"]) == 2
        async with httpx.AsyncClient(base_url=server.url, headers=server.operator) as client:
            listed = (await client.get("/api/transcripts")).json()
            said = await client.get(listed[0]["exports"]["original"]["srt"])
            srt, vtt, txt = [
                await client.get(f"/api/transcripts/{talk_id}/es", params={"format": fmt})
                for fmt in ("srt", "vtt", "txt")
            ]
            unknown_talk = await client.get("/api/transcripts/20200101-000000/es")
            unknown_lang = await client.get(f"/api/transcripts/{talk_id}/de")
            # Without the operator token.
            refused = await client.get(f"/api/transcripts/{talk_id}/es", headers={"Authorization": ""})
    finals = list(received.finals().values())
    # What was said first, then the languages; marked as the talk still running.
    assert listed[0]["id"] == talk_id and list(listed[0]["exports"]) == ["original", "es", "fr"]
    assert listed[0]["running"] is True
    assert [s.text for s in pysrt.from_string(said.text)][:2] == [f["source_text"] for f in finals][:2]
    assert srt.headers["content-disposition"] == f'attachment; filename="{talk_id}-es.srt"'
    subtitles = pysrt.from_string(srt.text)
    assert [s.text for s in subtitles] == [f["text"] for f in finals]
    assert [s.start.ordinal for s in subtitles] == [f["start_ms"] for f in finals]
    assert all(s.end.ordinal >= f["end_ms"] for s, f in zip(subtitles, finals, strict=True))
    assert subtitles[0].end.ordinal <= subtitles[1].start.ordinal, "a subtitle never overlaps the next"
    cues = list(webvtt.from_string(vtt.text))
    assert [c.text for c in cues] == [f["text"] for f in finals]
    assert [_ms(c.start) for c in cues] == [f["start_ms"] for f in finals]
    assert txt.text.splitlines()[0].endswith(finals[0]["text"])
    assert unknown_talk.status_code == 404 and talk_id in unknown_talk.json()["detail"]
    assert unknown_lang.status_code == 404 and "it has: original, es, fr" in unknown_lang.json()["detail"]
    assert refused.status_code == 401


def _ms(timestamp: str) -> int:
    hours, minutes, seconds = timestamp.split(":")
    return round((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000)


def test_the_command_line_lists_and_exports_talks(talk: Path, tmp_path: Path) -> None:
    talks = tmp_path / "talks"
    talks.mkdir()
    (talks / "20261126-101500.jsonl").write_text(
        '{"kind":"talk","id":"20261126-101500","started_at":1795680900000,"event_name":"Keynote",'
        '"source":"en","targets":["es"],"input":"WAV file talk.wav"}\n'
        '{"kind":"caption","utterance":1,"lang":"es","source_text":"Hello.","text":"Hola.",'
        '"start_ms":1200,"end_ms":2100,"at":1795680902500}\n'
        '{"kind":"language","lang":"de","engine":"local: tiny.en","at":1795680903000}\n'
        '{"kind":"caption","utterance":2,"lang":"es","source_text":"Bye.","text":"Adiós.","start_ms":4000,'
    )  # a language added during the talk; the last line cut short, as a crash would leave it
    config = tmp_path / "t.toml"
    config.write_text(f'[transcripts]\ndirectory = "{talks}"\n')

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "translator", "export", "--config", str(config), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    listing = run()
    assert listing.returncode == 0 and "20261126-101500" in listing.stdout and "Keynote" in listing.stdout
    assert "(es, de)" in listing.stdout, "the language added during the talk is listed"
    exported = run(
        "--talk", "20261126-101500", "--lang", "es", "--format", "vtt", "--out", str(tmp_path / "es.vtt")
    )
    assert exported.returncode == 0
    (cue,) = webvtt.read(str(tmp_path / "es.vtt"))
    assert (cue.start, cue.end, cue.text) == ("00:00:01.200", "00:00:02.700", "Hola.")
    missing = run("--talk", "20990101-000000", "--lang", "es")
    assert missing.returncode == 1 and "talks: 20261126-101500" in missing.stderr


def test_a_listing_read_by_a_reader_that_stops_early_ends_quietly(tmp_path: Path) -> None:
    """``translator export | head -1``: the reader closes the pipe long before two thousand talks are
    listed; no traceback follows."""
    talks = tmp_path / "talks"
    talks.mkdir()
    for n in range(2000):
        talk_id = f"20261126-{100000 + n}"
        (talks / f"{talk_id}.jsonl").write_text(
            f'{{"kind":"talk","id":"{talk_id}","started_at":1795680900000,"event_name":"Keynote",'
            '"source":"en","targets":["es"],"input":"WAV file talk.wav"}\n'
        )
    config = tmp_path / "t.toml"
    config.write_text(f'[transcripts]\ndirectory = "{talks}"\n')
    command = [sys.executable, "-m", "translator", "export", "--config", str(config)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as export:
        assert export.stdout is not None and export.stderr is not None
        first = export.stdout.readline()
        export.stdout.close()
        said = export.stderr.read().decode()
        export.wait(60)
    assert b"Keynote" in first
    assert said == "", said


def test_a_caption_that_looks_like_markup_or_a_cue_stays_its_own_text_in_webvtt() -> None:
    said = ["Use <b>bold</b> & see", "a --> b", "first line\n\nNOTE forged cue"]
    transcript = Transcript(
        TranscriptHeader("20261206-000000", 0, "test", "en", ["es"], "test"),
        [CaptionRecord(n, "es", text, text, n * 2000, n * 2000 + 1500, 0) for n, text in enumerate(said)],
    )
    cues = list(webvtt.from_string(export(transcript, "es", "vtt")))
    assert [html.unescape(c.text) for c in cues] == [
        "Use <b>bold</b> & see",
        "a --> b",
        "first line\nNOTE forged cue",
    ]


def _play_hls(url: str, stop: threading.Event) -> None:
    """An HLS player (FFmpeg, through PyAV) reading the stream live until ``stop``."""
    with av.open(url, timeout=10) as container:
        for _ in container.demux(audio=0):
            if stop.is_set():
                return


async def test_the_report_counts_a_crowd_of_known_size_and_prices_what_was_billed(
    voicelive: FakeVoiceLive, talk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two phones on Spanish and one on French for the whole talk, and an HLS player (FFmpeg) on
    Spanish: the report's listener-minutes are the crowd times the talk's length, the player is
    counted apart as the metrics count it, and each language's tokens are priced at its tier."""
    monkeypatch.setattr(room_module, "AUDIENCE_SAMPLE_S", 0.5)
    settings = voicelive_settings(voicelive, talk)
    settings.transcripts.directory = str(tmp_path)
    source = HeldSource(WavSource(talk, loop=True, pace=2))
    playing = threading.Event()
    async with live_server(settings, source, outputs=True) as server:
        async with (
            websockets.connect(f"{server.ws}/ws/listen/es?audio=0") as a,
            websockets.connect(f"{server.ws}/ws/listen/es?audio=0") as b,
            websockets.connect(f"{server.ws}/ws/listen/fr?audio=0") as c,
            httpx.AsyncClient(base_url=server.url, headers=server.operator) as client,
        ):
            await until(lambda: server.room.listeners("es") == 2 and server.room.listeners("fr") == 1)
            source.release()
            playlist = Path(str(settings.outputs.hls.directory)) / "main" / "es" / "audio.m3u8"
            await until(playlist.exists)
            player = asyncio.create_task(
                asyncio.to_thread(_play_hls, f"{server.url}/hls/es/audio.m3u8", playing)
            )
            try:
                for ws in (a, b, c):
                    await collect(ws, Received(json.loads(await ws.recv())), lambda r: len(r.finals()) >= 2)
                (talk_id,) = [t.id for t in list_transcripts(tmp_path)]
                await until(lambda: len(read_transcript(tmp_path, talk_id).audience) >= 6, 20)
                await until(lambda: any(s.hls for s in read_transcript(tmp_path, talk_id).audience), 20)
                metrics = (await client.get("/metrics")).text
            finally:
                playing.set()
                await player
        async with httpx.AsyncClient(base_url=server.url, headers=server.operator) as client:
            made = (await client.get("/api/report")).json()
            table = (await client.get("/api/report", params={"talk": talk_id, "format": "csv"})).text
            archive = (await client.get(f"/api/bundles/{talk_id}")).content
    samples = read_transcript(tmp_path, talk_id).audience
    crowd = [s for s in samples if s.listeners.get("es") == 2 and s.listeners.get("fr") == 1]
    assert len(crowd) >= 4
    channels = {c["lang"]: c for c in made["channels"]}
    assert channels["es"]["peak"] == 2 and channels["fr"]["peak"] == 1
    # Each sample stands for the half second before it: the crowd's minutes, within a sample. The
    # report gives minutes to two decimals: the bound allows for its rounding (0.1206 → 0.12).
    with_crowd_s = (crowd[-1].at - crowd[0].at) / 1000
    minutes = channels["es"]["listener_minutes"]
    assert 2 * with_crowd_s / 60 - 0.005 <= minutes <= 2 * (with_crowd_s + 2) / 60 + 0.1
    languages = {lang["lang"]: lang for lang in made["languages"]}
    for lang in ("es", "fr"):
        usage = languages[lang]
        assert usage["captions"] >= 2 and usage["tokens"] > 100 and usage["lag_p50_s"] is not None
        assert usage["cost_usd"] >= 0 and usage["rates"].startswith("Voice Live Pro: gpt-realtime-2.1's")
    costs = [usage["cost_usd"] for usage in languages.values()]
    assert made["talk"] == talk_id and made["cost_usd"] == round(sum(costs), 2)
    rows = list(csv.reader(io.StringIO(table)))
    header = [
        "lang",
        "peak",
        "average",
        "listener_minutes",
        "hls_peak",
        "hls_average",
        "hls_listener_minutes",
    ]
    assert rows[0][:2] == ["talk", talk_id] and header in rows
    # The player counted as one reader of Spanish, apart from the phones, as in the metrics.
    assert channels["es"]["hls_peak"] == 1 and channels["fr"]["hls_peak"] == 0
    assert channels["es"]["hls_listener_minutes"] > 0
    assert 'translator_hls_readers{lang="es",room="main"} 1.0' in metrics
    # The bundle has it too (made later: the crowd had gone by then).
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        kept = json.loads(bundle.read("report.json"))
        listed = [f["path"] for f in json.loads(bundle.read("manifest.json"))["files"]]
    assert kept["talk"] == talk_id and {c["lang"] for c in kept["channels"]} == set(channels)
    assert {"report.json", "report.csv"} <= set(listed)
