"""A rehearsal: a recording played through the room as configured, and the checklist of what to fix."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import msgspec
import numpy as np
import pytest

from harness.live import HeldSource, free_port, live_server, talk_wav
from tests.helpers import run, settled, until
from translator.audio.format import SAMPLE_RATE
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.server.rehearsal import RehearsalStatus, static_lines
from translator.server.rehearsal_checks import Checklist, input_check, input_levels
from translator.transcripts.store import read_transcript


def _verdicts(checklist: Checklist) -> dict[str, str]:
    return {line.check: line.verdict for line in checklist.lines}


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A disk of ``size`` at ``path`` (tmpfs): a full disk, provoked."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small disk needs root (CI runs as root)")
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def test_a_rehearsal_from_the_command_line_lists_what_to_fix(tmp_path: Path, talk: Path) -> None:
    # The talks' folder on a disk of 1 MB: two hours of recordings will not fit. The address phones
    # are given is this machine's loopback (the default host).
    with small_disk(tmp_path / "disk", "1m") as disk:
        config = tmp_path / "settings.toml"
        config.write_text(f'engine = "local"\ntargets = ["es"]\n[transcripts]\ndirectory = "{disk}"\n')
        state = {"XDG_STATE_HOME": str(tmp_path / "state")}  # no operator token stored yet
        result = run("rehearse", str(talk), "--config", str(config), "--hours", "2", env=state)
        kept = list(disk.glob("*.rehearsal.json"))
        assert len(kept) == 1, result.stdout + result.stderr
        checklist = msgspec.json.decode(kept[0].read_bytes(), type=Checklist)
        assert checklist.talk is not None
        transcript = read_transcript(disk, checklist.talk)
        bundled = tmp_path / "rehearsal.zip"
        exported = run(
            "export", "--config", str(config), "--talk", checklist.talk, "--bundle", "--out", str(bundled)
        )
        assert exported.returncode == 0, exported.stderr
        with zipfile.ZipFile(bundled) as archive:
            assert archive.read("rehearsal.json") == kept[0].read_bytes()
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "FAIL  phones reach the service: the public address is http://127.0.0.1:8000/" in out
    assert "fix: serve on the network (--host 0.0.0.0) or set server.public_url" in out
    disk_line = next(line for line in checklist.lines if line.check == "disk for recordings")
    assert disk_line.verdict == "fail" and f"for 2 h in {disk}" in disk_line.found
    assert " MB free" in disk_line.found and disk_line.fix
    verdicts = _verdicts(checklist)
    # What works says so: the talk was heard, Spanish came up and captioned both sentences in time.
    assert verdicts["input level"] == "pass"
    assert verdicts["language es"] == "pass" and verdicts["caption lag es"] == "pass"
    assert "local: up, 2 caption(s)" in out
    assert verdicts["output recording"] == verdicts["output hls"] == "pass"
    assert verdicts["quota"] == "pass" and verdicts["operator token"] == "warn"
    assert out.count("FAIL") == 2 and "2 to fix" in out
    # The rehearsal is a talk kept with the others: its transcript carries what Spanish heard.
    assert [caption.lang for caption in transcript.captions] == ["es", "es"]
    assert transcript.header.input == f"WAV file {talk.name}"


def _speech(level_dbfs: float, seconds: float = 3.0, clip: bool = False) -> bytes:
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    # A 200 Hz tone whose RMS is the level asked for (a sine's RMS is its peak over √2).
    wave = np.sin(2 * np.pi * 200 * t) * np.sqrt(2) * 32768 * 10 ** (level_dbfs / 20)
    if clip:
        wave *= 4
    return np.clip(wave, -32768, 32767).astype("<i2").tobytes()


@pytest.mark.parametrize(
    ("pcm", "verdict", "fix"),
    [
        (_speech(-20), "pass", ""),
        (_speech(-44), "warn", "quiet: raise the gain by about 24 dB"),
        (_speech(-48), "fail", "far too quiet"),
        (_speech(-12, clip=True), "fail", "the input clips"),
        (bytes(SAMPLE_RATE * 6), "fail", "the recording is silent"),
    ],
    ids=["good", "quiet", "far-too-quiet", "clipped", "silent"],
)
def test_the_inputs_level_and_clipping_are_judged_with_the_fix(pcm: bytes, verdict: str, fix: str) -> None:
    line = input_check(input_levels(pcm))
    assert line.verdict == verdict and line.fix.startswith(fix), line


async def test_the_console_rehearses_a_room_and_gives_it_back_its_own_input(
    tmp_path: Path, talk: Path
) -> None:
    # A speaker page's room (it needs https for the microphone), given a network address over http.
    settings = load_settings(
        env={},
        overrides={
            "engine": "local",
            "targets": ["es"],
            "audio.input": "publish",
            "server.public_url": "http://192.0.2.10:8000/",
            "transcripts.directory": str(tmp_path),
        },
    )
    # The room's own input, held silent: only the rehearsal speaks.
    own = HeldSource(WavSource(talk_wav(["Welcome."], tmp_path / "own.wav")))
    recording = await asyncio.to_thread(talk.read_bytes)
    async with (
        live_server(settings, own, outputs=True) as server,
        httpx.AsyncClient(base_url=server.url, headers=server.operator, timeout=30) as client,
    ):
        url = "/api/rooms/main/rehearsal"
        refused = await client.post(url, content=b"RIFF but not a wave", params={"name": "notes.txt"})
        assert refused.status_code == 400
        assert refused.json()["detail"].startswith("notes.txt: not a readable WAV file")
        started = await client.post(url, content=recording, params={"name": "talk.wav", "hours": 1})
        assert started.status_code == 202, started.text
        assert (await client.post(url, content=recording)).status_code == 409

        async def status() -> RehearsalStatus:
            return msgspec.json.decode((await client.get(url)).content, type=RehearsalStatus)

        done = await settled(status, lambda s: s.state in ("done", "failed"), within_s=90)
        assert done.state == "done", done.detail
        checklist = done.checklist
        assert checklist is not None and checklist.recording == "talk.wav" and checklist.hours == 1
        verdicts = _verdicts(checklist)
        address = next(line for line in checklist.lines if line.check == "phones reach the service")
        assert address.verdict == "fail" and "no microphone without https" in address.found
        assert verdicts["language es"] == "pass" and verdicts["disk for recordings"] == "pass"
        assert verdicts["operator token"] == "pass"
        # The room has its own input back, running, and a transcript of the rehearsal is kept.
        await until(lambda: server.room.state == "running")
        assert server.room.input_report().description == own.description
        assert checklist.talk is not None and (tmp_path / f"{checklist.talk}.rehearsal.json").is_file()


async def test_the_console_asks_the_address_phones_are_given_for_the_room(talk: Path) -> None:
    """Served on the network, the console's rehearsal asks the public address for the room, as a
    phone's page does: found there, the line passes; a wrong port in it fails, saying so."""
    settings = load_settings(
        env={}, overrides={"engine": "local", "targets": ["es"], "server.host": "0.0.0.0"}
    )
    async with live_server(settings, HeldSource(WavSource(talk))) as server:
        room = server.room.config
        reached, _ = await static_lines(settings, room, serving=True)
        host = urlsplit(reached.found.rpartition(" ")[2]).hostname
        settings.server.public_url = f"http://{host}:{free_port()}/"
        unreached, _ = await static_lines(settings, room, serving=True)
    assert reached.verdict == "pass" and reached.found == f"phones are given http://{host}:{server.port}/"
    assert unreached.verdict == "fail" and "from this machine it cannot be reached" in unreached.found
    assert unreached.fix.startswith("check the address and port in server.public_url")
