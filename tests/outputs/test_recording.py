"""Each talk recorded per language on the talk's timeline: every file decodes, each interpretation
sits where the transcript says it was spoken, a process killed mid-talk leaves files that play to
their last second, and a full disk stops the recording, not the talk."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import time
import zipfile
from pathlib import Path

import av
import httpx
import msgspec
import numpy as np
import pytest
import webvtt

from harness.live import OPERATOR_TOKEN, free_port
from harness.voicelive_server import FakeVoiceLive, tone_names
from tests.helpers import ready, run, spans, three_turns, tone_talk, until
from translator.outputs import recording
from translator.outputs.bundle import Manifest
from translator.transcripts.store import TranscriptWriter, list_transcripts, read_transcript

FULL = Path("/dev/full")
LATENCY_BOUND_S = 2.5
"""An interpretation begins within this of its speech's end (the test service answers at once)."""


def decode(path: Path) -> tuple[np.ndarray, dict[str, str]]:
    """The file's samples (floats, 48 kHz: Opus decodes at 48 kHz) and its Vorbis comments."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        comments = dict(stream.metadata)
        samples = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
    return np.concatenate(samples), comments


async def test_each_language_is_recorded_on_the_talks_timeline_and_labelled(tmp_path: Path) -> None:
    async with tone_talk(tmp_path, {"transcripts.directory": str(tmp_path / "talks")}) as server:
        room = server.rooms.rooms["main"]
        programme = server.rooms.programmes["main"]
        # The talk's input ends after 6.7 s; the last interpretation plays out after it.
        await until(
            lambda: (
                room.input_health == "ended"
                and all(
                    len(track.cues) == 3
                    and max(cue.end for cue in track.cues.values()) < programme.frame - 10
                    for lang, track in programme.tracks.items()
                    if lang != "original"
                )
            )
        )
        async with httpx.AsyncClient(base_url=server.url) as client:
            headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
            (listed,) = (await client.get("/api/transcripts", headers=headers)).json()
            downloaded = await client.get(listed["bundle"], headers=headers)
            refused = await client.get(listed["bundle"])
            unknown = await client.get("/api/bundles/20000101-000000", headers=headers)
    folder = tmp_path / "talks"
    (header,) = list_transcripts(folder)
    transcript = read_transcript(folder, header.id)
    # The bundle, from the console while the talk's room still runs, and from the command line.
    assert refused.status_code == 401 and unknown.status_code == 404
    assert downloaded.headers["content-type"] == "application/zip"
    check_bundle(downloaded.content, header.id)
    config = tmp_path / "config.toml"
    config.write_text(f'[transcripts]\ndirectory = "{folder}"\n')
    exported = run(
        "export", "--config", str(config), "--talk", header.id, "--bundle", "--out", str(tmp_path / "b.zip")
    )
    assert exported.returncode == 0 and "14 files (3 audio" in exported.stdout, exported
    check_bundle((tmp_path / "b.zip").read_bytes(), header.id)
    files = {lang: recording.recording_path(folder, header.id, lang) for lang in ("original", "es", "fr")}
    decoded = {lang: decode(path) for lang, path in files.items()}
    # Labelled: the interpretations as AI-generated, the Original as captured.
    for lang in ("es", "fr"):
        comments = decoded[lang][1]
        assert comments["DIGITAL_SOURCE_TYPE"] == recording.AI_GENERATED
        assert comments["LANGUAGE"] == lang and "AI interpretation" in comments["TITLE"]
    assert decoded["original"][1]["DIGITAL_SOURCE_TYPE"] == recording.CAPTURED
    # The files run the same length (the talk's).
    lengths = [len(samples) / 48_000 for samples, _ in decoded.values()]
    assert max(lengths) - min(lengths) <= 0.1, lengths
    # The Original holds each tone where the transcript says it was spoken.
    spoken = sorted(
        (c.start_ms / 1000, c.end_ms / 1000)
        for c in transcript.captions
        if c.lang == "es" and c.start_ms is not None and c.end_ms is not None
    )
    assert len(spoken) == 3
    heard = spans(decoded["original"][0], 48_000)
    assert len(heard) == 3, heard
    for (start, end), (said_start, said_end) in zip(heard, spoken, strict=True):
        assert abs(start - said_start) <= 0.3 and abs(end - said_end) <= 0.3, (heard, spoken)
    # Each interpretation plays after its speech, within the bound, whole (1 s).
    for lang in ("es", "fr"):
        heard = spans(decoded[lang][0], 48_000)
        assert [round(end - start, 1) for start, end in heard] == [1.0, 1.0, 1.0], (lang, heard)
        for (start, _), (said_start, said_end) in zip(heard, spoken, strict=True):
            assert said_start < start <= said_end + LATENCY_BOUND_S, (lang, heard, spoken)


async def test_a_language_added_and_a_glossary_applied_during_the_talk_are_in_its_files(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "talks"
    overrides = {"transcripts.directory": str(folder)}
    async with tone_talk(tmp_path, overrides, loop=True) as server:
        room = server.rooms.rooms["main"]
        async with httpx.AsyncClient(base_url=server.url, headers=server.operator) as client:
            # Added once the transcript's header is written (its first caption is in).
            await until(lambda: bool(list_transcripts(folder)), 40)
            assert (await client.post("/api/languages", json={"code": "de"})).status_code == 201
            glossary = {"keep": ["Contoso"], "terms": {"es": {"keynote": "ponencia"}}}
            assert (await client.put("/api/glossary", json=glossary)).status_code == 200
            programme = server.rooms.programmes["main"]
            # Two German utterances played: the first one's caption is in the transcript by then.
            await until(lambda: "de" in programme.tracks and len(programme.tracks["de"].cues) >= 2, 40)
            assert (await client.post("/api/rooms/main/stop")).status_code == 200
            await until(lambda: room.state == "stopped" and not recording_open(server))
            (listed,) = (await client.get("/api/transcripts")).json()
            bundle = await client.get(listed["bundle"])
    (header,) = list_transcripts(folder)
    samples, comments = decode(recording.recording_path(folder, header.id, "de"))
    assert comments["DIGITAL_SOURCE_TYPE"] == recording.AI_GENERATED
    assert comments["LANGUAGE"] == "de" and "German, AI interpretation" in comments["TITLE"]
    assert "generated by AI (voicelive" in comments["comment"]
    assert len(spans(samples, 48_000)) >= 1, "its interpretation is in it"
    # The take-home bundle has it, with its engine, its file marked as AI-generated.
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        manifest = msgspec.json.decode(archive.read("manifest.json"), type=Manifest)
    (german,) = [language for language in manifest.languages if language.code == "de"]
    assert german.engine.startswith("voicelive: gpt-4.1"), german
    assert any(f.lang == "de" and f.kind == "audio" and f.ai_generated for f in manifest.files)
    # And the glossary the later sentences were translated with (it said the glossary was empty).
    whole = {**glossary, "avoid": {}, "exact_case": [], "priority": []}
    assert manifest.glossary is not None and msgspec.to_builtins(manifest.glossary) == whole


def recording_open(server) -> bool:
    """Whether the room's recorder still has a talk's files open."""
    (recorder,) = [o for o in server.rooms.outputs["main"] if o.status().name == "recording"]
    return recorder.status().state == "writing"


def check_bundle(data: bytes, talk_id: str) -> None:
    """Everything of the talk is in it, and decodes; the interpretations are marked as AI."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = msgspec.json.decode(archive.read("manifest.json"), type=Manifest)
        names = set(archive.namelist())
        assert manifest.talk_id == talk_id and manifest.room == "main" and manifest.spoken == ["en"]
        assert [(language.code, language.engine.split(" ")[:2]) for language in manifest.languages] == [
            ("es", ["voicelive:", "gpt-4.1"]),
            ("fr", ["voicelive:", "gpt-4.1"]),
        ]
        assert "generated by AI" in manifest.notice
        expected = {"manifest.json", "report.json", "report.csv"} | {
            f"{folder}/{lang}.{fmt}"
            for lang in ("original", "es", "fr")
            for folder, fmt in (
                ("audio", "ogg"),
                ("subtitles", "srt"),
                ("subtitles", "vtt"),
                ("transcripts", "txt"),
            )
        }
        assert names == expected, names ^ expected
        for file in manifest.files:
            if file.kind == "report":
                continue  # who listened and what it cost (tests/test_transcripts.py)
            assert file.ai_generated == (file.lang != "original"), file
            content = archive.read(file.path)
            if file.kind == "audio":
                with av.open(io.BytesIO(content)) as container:
                    stream = container.streams.audio[0]
                    assert stream.metadata["DIGITAL_SOURCE_TYPE"] == file.digital_source_type
                    assert sum(frame.samples for frame in container.decode(stream)) > 48_000 * 5
            elif file.path.endswith(".vtt"):
                cues = webvtt.from_buffer(io.StringIO(content.decode()))
                said = "tone" if file.lang == "original" else f"translated into {file.lang}"
                assert len(cues) == 3 and all(cue.text.startswith(said) for cue in cues), file


async def test_a_recording_cut_by_sigkill_plays_to_its_last_second(tmp_path: Path) -> None:
    async with FakeVoiceLive(transcribe=tone_names, reply_s=(1.0,)) as voicelive:
        talk = three_turns(tmp_path / "talk.wav")
        folder = tmp_path / "talks"
        config = tmp_path / "config.toml"
        config.write_text(
            f'[transcripts]\ndirectory = "{folder}"\n[audio]\ninput = "{talk}"\nloop = true\n'
            '[azure]\nmodel = "gpt-4.1"\n'
        )
        port = free_port()
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "translator", "serve", "--port", str(port), "--config", str(config)),
            *("--engine", "voicelive", "--target", "es"),
            env=os.environ
            | {
                "AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint,
                "AZURE_VOICELIVE_API_KEY": "rec-key-2",
                "TRANSLATOR_OPERATOR_TOKEN": OPERATOR_TOKEN,
            },
            stdout=asyncio.subprocess.DEVNULL,
        )
        try:
            await ready(port)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
                async with asyncio.timeout(30):
                    while True:  # three sentences interpreted and played, the looped talk going on
                        status = (await client.get("/api/status", headers=headers)).json()
                        talks = await asyncio.to_thread(list_transcripts, folder)
                        if talks and len(read_transcript(folder, talks[0].id).captions) >= 4:
                            break
                        await asyncio.sleep(0.2)
            assert any(o["name"] == "recording" and o["state"] == "writing" for o in status["outputs"])
            killed_at = time.time()
            process.send_signal(signal.SIGKILL)
        finally:
            await process.wait()
    (header,) = list_transcripts(folder)
    talk_s = killed_at - header.started_at / 1000
    for lang in ("original", "es"):
        samples, _ = decode(recording.recording_path(folder, header.id, lang))
        played = len(samples) / 48_000
        # Pages of 500 ms, one held back by the muxer: at most the last second (and a batch) is lost.
        assert talk_s - 1.3 <= played <= talk_s, (lang, played, talk_s)
        assert len(spans(samples, 48_000)) >= 3, lang


@pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full (a device that is always full)")
async def test_a_full_disk_stops_the_recording_not_the_talk(tmp_path: Path) -> None:
    folder = tmp_path / "talks"
    folder.mkdir()
    # The Spanish file, whatever second the talk starts in, lands on a device that is always full.
    now = time.time()
    for second in range(60):
        talk_id = TranscriptWriter.talk_id(int((now + second) * 1000))
        recording.recording_path(folder, talk_id, "es").symlink_to(FULL)
    async with tone_talk(tmp_path, {"transcripts.directory": str(folder)}) as server:
        room = server.rooms.rooms["main"]
        (recorder,) = [o for o in server.rooms.outputs["main"] if isinstance(o, recording.Recorder)]
        await until(
            lambda: recorder.status().state == "stopped" and len(room.hub.channels["fr"].history) == 3
        )
        async with httpx.AsyncClient(base_url=server.url) as client:
            headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
            status = (await client.get("/api/status", headers=headers)).json()
    (shown,) = [o for o in status["outputs"] if o["name"] == "recording"]
    assert shown["state"] == "stopped" and "No space left on device" in shown["detail"]
    # The talk went on: every sentence interpreted and captioned in both languages.
    assert [c.text for c in room.hub.channels["fr"].history][-3:] == [
        f"translated into fr-FR: tone {freq}" for freq in (300, 350, 400)
    ]
    assert status["state"] == "running"
