"""The ``translator`` command as a user runs it: a real process, its output and exit status."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path

import httpx
import pytest

from harness.live import OPERATOR_TOKEN, free_port, live_server
from harness.voicelive_server import FakeVoiceLive
from tests.helpers import run, without_azure
from tests.test_glossary_file import TBX_2019
from translator.audio.wav import WavSource
from translator.config import load_settings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "xx"], "targets[0]: unknown language 'xx'; available:"),
        (["--port", "99999"], "server.port: must be between 1 and 65535"),
        (["--input", "/nope/talk.wav"], "audio.input: no such file: /nope/talk.wav"),
        (["--config", "/nope/t.toml"], "--config: no such file"),
    ],
)
def test_bad_settings_stop_start_up_with_one_line_and_status_2(args: list[str], message: str) -> None:
    result = run("serve", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_unknown_engine_is_a_usage_error() -> None:
    result = run("serve", "--engine", "cloud")
    assert result.returncode == 2 and "invalid choice: 'cloud'" in result.stderr


def test_a_bad_wav_names_the_file(tmp_path: Path) -> None:
    fake = tmp_path / "notes.wav"
    fake.write_text("these are my notes, not audio")
    result = run(
        "serve",
        *("--port", str(free_port())),
        "--engine",
        "voicelive",
        "--input",
        str(fake),
        env={"AZURE_VOICELIVE_ENDPOINT": "http://127.0.0.1:9", "AZURE_VOICELIVE_API_KEY": "k-secret"},
    )
    assert result.returncode == 1
    assert f"{fake}: not a readable WAV file" in result.stderr
    assert "k-secret" not in result.stderr + result.stdout


def test_a_missing_microphone_is_a_clear_error() -> None:
    result = run(
        "serve",
        *("--port", str(free_port())),
        "--engine",
        "voicelive",
        "--device",
        "no-such-microphone",
        env={"AZURE_VOICELIVE_ENDPOINT": "http://127.0.0.1:9", "AZURE_VOICELIVE_API_KEY": "k-secret"},
    )
    assert result.returncode == 1
    assert "cannot open microphone 'no-such-microphone'" in result.stderr
    assert "`translator devices`" in result.stderr and "--input FILE.wav" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_language_the_offline_engine_cannot_serve_is_said_before_the_microphone_is_opened() -> None:
    # The default microphone on a machine without one: the language is what must be fixed first.
    # A free port each: a serve that gets as far as the port must not meet another test's.
    result = run(
        "serve",
        "--port",
        str(free_port()),
        "--engine",
        "local",
        "--device",
        "no-such-microphone",
        "--target",
        "de",
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "targets[0]: the offline engine cannot translate en→de" in line and "microphone" not in line


def test_version_and_help_say_what_they_should() -> None:
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("translator ")
    helped = run("serve", "--help")
    assert helped.returncode == 0
    assert "SERVER.HOST" not in helped.stdout and "--host HOST" in helped.stdout
    assert "default 8000" in helped.stdout and "default 127.0.0.1" in helped.stdout


def test_an_invalid_choice_in_the_config_lists_the_valid_ones(tmp_path: Path) -> None:
    lines = []
    for name, text in (("engine", 'engine = "azure"\n'), ("format", '[log]\nformat = "xml"\n')):
        config = tmp_path / f"{name}.toml"
        config.write_text(text)
        result = run("serve", "--config", str(config))
        assert result.returncode == 2
        lines += result.stderr.strip().splitlines()
    assert lines == [
        "translator: error: engine: 'azure' is not one of: auto, realtime-translate, voicelive, local",
        "translator: error: log.format: 'xml' is not one of: text, json",
    ]


def test_an_offline_pair_that_does_not_exist_is_refused_at_start_up(talk: Path) -> None:
    result = run(
        "serve", "--port", str(free_port()), "--engine", "local", "--input", str(talk), "--target", "de"
    )
    assert result.returncode == 2, "a language the engine cannot serve is a bad setting: it is named"
    assert "targets[0]: the offline engine cannot translate en→de; it can do en→ca, en→eo" in result.stderr
    assert "Traceback" not in result.stderr


async def test_serve_logs_json_lines_at_the_configured_level_without_secrets(
    tmp_path: Path, talk: Path
) -> None:
    config = tmp_path / "log.toml"
    config.write_text('[log]\nlevel = "info"\nformat = "json"\n')
    port = free_port()
    async with FakeVoiceLive() as voicelive:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "translator", "serve", "--config", str(config), "--input", str(talk)),
            *("--loop", "--port", str(port), "--target", "es"),
            env=without_azure()
            | {
                "AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint,
                "AZURE_VOICELIVE_API_KEY": "json-log-secret",
                "TRANSLATOR_OPERATOR_TOKEN": OPERATOR_TOKEN,
            },
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            async with asyncio.timeout(60):
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get("/readyz")).status_code == 200:
                            break
                    await asyncio.sleep(0.2)
            headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
            changed = await client.put("/api/glossary", json={"keep": ["Contoso"]}, headers=headers)
        process.terminate()
        _, err = await process.communicate()
    assert changed.status_code == 200
    text = err.decode()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is JSON
    assert any(
        line["name"] == "translator.server.control"
        and line["levelname"] == "INFO"
        and line["message"].startswith("room main: glossary changed by the operator")
        for line in lines
    ), text
    assert "json-log-secret" not in text and OPERATOR_TOKEN not in text


async def test_a_vendors_glossary_file_is_checked_applied_and_written_out_from_the_command_line(
    tmp_path: Path, talk: Path
) -> None:
    config = tmp_path / "room.toml"
    config.write_text('targets = ["es", "fr"]\nengine = "local"\n')
    good = tmp_path / "terms.tsv"
    good.write_text("term\tkeep\tes\tfr\nContoso\tyes\t\t\nkeynote\t\tponencia\tconférence plénière\n")
    broken = tmp_path / "broken.csv"
    broken.write_text("term,es\nkeynote,ponencia\nphones,\n")

    async def glossary(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "translator", "glossary", *args, "--config", str(config)),
            env=without_azure() | {"TRANSLATOR_OPERATOR_TOKEN": OPERATOR_TOKEN},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    checked = await glossary("check", str(good))
    termbase = tmp_path / "termbase.tbx"
    termbase.write_text(TBX_2019)
    from_termbase = await glossary("check", str(termbase))
    refused = await glossary("check", str(broken))
    settings = load_settings(str(config), env={}, overrides={"audio.input": str(talk)})
    async with live_server(settings, WavSource(talk, loop=True)) as server:
        applied = await glossary("import", str(good), "--url", server.url)
        not_sent = await glossary("import", str(broken), "--url", server.url)
        in_use = server.room.glossary
        written = await glossary("export", "--url", server.url, "--out", str(tmp_path / "out.csv"))
    unreachable = await glossary("import", str(good), "--url", server.url)
    assert checked == (0, f"{good}: 1 names kept, 2 translations to use, 0 to avoid, 0 matched with their "
                          "capitals, 0 priority terms\n", "")  # fmt: skip
    assert refused[0] == 2 and f"{broken}: line 3: 'phones' has no translation" in refused[2]
    assert from_termbase[0] == 0 and "0 names kept, 2 translations to use, 1 to avoid" in from_termbase[1]
    assert applied[0] == 0 and applied[1].startswith("applied to room main: 1 names kept, 2 translations")
    assert in_use.keep == ["Contoso"] and in_use.terms["fr"] == {"keynote": "conférence plénière"}
    assert not_sent[0] == 2, "a file that does not read is not sent"
    assert written[0] == 0
    out = (tmp_path / "out.csv").read_text().splitlines()
    assert (
        out[0] == "term,keep,avoid,case,priority,es,fr" and "keynote,,,,,ponencia,conférence plénière" in out
    )
    assert unreachable[0] == 1 and "cannot reach the service" in unreachable[2]
    assert not any(
        OPERATOR_TOKEN in text for result in (applied, written, unreachable) for text in result[1:]
    )
