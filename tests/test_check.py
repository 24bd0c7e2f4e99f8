"""``translator check`` as a user runs it: a real process, the real SDK, the strict test server."""

from __future__ import annotations

import asyncio
import json
import re
import sys

import pytest

from harness.translate_server import FakeTranslate
from harness.voicelive_server import FakeVoiceLive
from tests.helpers import without_azure
from translator.config import PricesConfig, TokenPrices
from translator.engines import pricing
from translator.engines.events import TokensUsed


async def check(server: FakeVoiceLive, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    voicelive = {"AZURE_VOICELIVE_ENDPOINT": server.endpoint, "AZURE_VOICELIVE_API_KEY": "s3cret-key"}
    return await run_check(*args, env=voicelive | (env or {}))


async def run_check(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """``translator check`` in a process of its own, with only the Azure settings in ``env``."""
    environment = without_azure() | env
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "translator",
        "check",
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_check_prints_timings_and_each_translation() -> None:
    async with FakeVoiceLive(transcript="Good morning everyone, and welcome to the conference.") as server:
        status, out, err = await check(server, "--target", "es", "--target", "fr")
    assert status == 0, out + err
    for locale, lang in (("es-ES", "es"), ("fr-FR", "fr")):
        line = next(line for line in out.splitlines() if line.startswith(f"{lang}: ok"))
        assert "handshake" in line and "first audio" in line and "final caption" in line
        assert f"translated: translated into {locale}: Good morning everyone, and welcome" in out
    assert "heard:      Good morning everyone, and welcome to the conference." in out
    # The built-in utterance went through the service's VAD as one turn per language.
    assert server.turns == 2
    assert "s3cret-key" not in out + err


@pytest.mark.parametrize(
    ("statuses", "words"),
    [
        ([401], "rejected the key or the role (HTTP 401)"),
        ([403], "rejected the key or the role (HTTP 403)"),
        ([404], "wrong endpoint or deployment (HTTP 404)"),
        ([429] * 50, "quota exceeded (HTTP 429)"),
    ],
)
async def test_check_says_what_is_wrong_and_fails(statuses: list[int], words: str) -> None:
    async with FakeVoiceLive(handshake_statuses=statuses) as server:
        status, out, err = await check(server, "--target", "es", "--timeout", "4")
    assert status == 1
    assert f"es: FAILED: Voice Live {words}" in out or f"es: FAILED: {words}" in out, out + err
    assert "s3cret-key" not in out + err


async def test_a_refused_configuration_fails_the_check_for_that_language() -> None:
    async with FakeVoiceLive(refuse_locales={"fr-FR"}) as server:
        status, out, _ = await check(server, "--target", "es", "--target", "fr")
    assert status == 1
    assert "es: ok" in out
    assert "fr: FAILED: Voice Live refused the session configuration: Voice " in out


async def test_logs_are_json_lines_at_the_configured_level_without_secrets(tmp_path) -> None:
    config = tmp_path / "t.toml"
    config.write_text('[log]\nlevel = "info"\nformat = "json"\n')
    async with FakeVoiceLive(reject_status=404) as server:
        status, _, err = await check(server, "--config", str(config), "--target", "es", "--timeout", "4")
    assert status == 1
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    failure = next(line for line in lines if "wrong endpoint" in line["message"])
    assert failure["levelname"] == "ERROR" and failure["name"].startswith("translator.engines.voicelive")
    assert "s3cret-key" not in err


async def test_check_speaks_the_source_language_and_estimates_a_minute_of_tokens(tmp_path) -> None:
    config = tmp_path / "t.toml"
    config.write_text("[azure]\ntokens_per_minute = 1000\n")
    async with FakeVoiceLive(transcript="Buenos días a todos") as server:
        status, out, err = await check(
            server, "--config", str(config), "--source", "es", "--target", "en", "--target", "fr"
        )
    assert status == 0, out + err
    assert "speaking Spanish (espeak-ng)" in out.splitlines()[0]
    sessions = [c.session_updates[0] for c in server.connections]
    assert {s["input_audio_transcription"]["language"] for s in sessions} == {"es"}
    assert server.turns == 2, "the greeting went through the service's VAD as one turn per language"
    tokens = [
        int(line.rsplit(", ", 1)[1].split()[0]) for line in out.splitlines() if line.endswith(" tokens")
    ]
    assert len(tokens) == 2 and all(t > 100 for t in tokens)
    (estimate,) = [line for line in out.splitlines() if line.startswith("estimate:")]
    assert f"~{sum(tokens) * 12:,} tokens a minute for 2 language(s)" in estimate
    assert "OVER the quota" in estimate, "1,000 tokens a minute cannot carry two languages"


async def test_a_translation_without_its_transcription_is_a_warning_not_a_failure() -> None:
    # gpt-realtime hears the audio itself: the translation comes even when the caption fails.
    async with FakeVoiceLive(failed_transcriptions={1}) as server:
        status, out, err = await check(server, "--target", "es")
    assert status == 0, out + err
    assert "es: ok" in out and "warning: not transcribed" in out


def answers(out: str) -> dict[str, str]:
    """The probe's answer lines, by experiment."""
    return dict(line.strip().split(": ", 1) for line in out.splitlines() if line.startswith("  "))


@pytest.mark.parametrize(
    ("model", "phrase_list", "early"),
    [
        ("gpt-4.1", "accepted", "started before the turn's item existed: it did not see the turn"),
        ("gpt-realtime", "refused", "held until the turn's item existed"),
    ],
)
async def test_the_probe_settles_what_the_docs_leave_open_and_its_recording_replays(
    tmp_path, model: str, phrase_list: str, early: str
) -> None:
    config = tmp_path / "t.toml"
    config.write_text(f'[azure]\nmodel = "{model}"\n')
    recording = tmp_path / "probe.jsonl"
    probe = ("--config", str(config), "--probe", "--target", "es", "--out")
    async with FakeVoiceLive() as server:
        status, out, err = await check(server, *probe, str(recording))
    assert status == 0, out + err
    found = answers(out)
    assert found["expires_at"].startswith("not announced")
    assert found["phrase_list"].startswith(phrase_list)
    assert found["after a refused update"].startswith("the session refuses every later message")
    assert found["response.create right after committed"].startswith(early)
    assert "billed" in found["response.create right after committed"]
    assert found["input_audio_buffer.commit while the speaker talks"] == (
        "taken: it committed the turn the VAD was hearing; the rest of the speech became a turn of its own"
    )
    # What a user attaches to a bug report: every event, no audio, no key.
    lines = [json.loads(line) for line in recording.read_text().splitlines()]
    assert {line["connection"] for line in lines} == {0, 1, 2, 3, 4}
    appends = [line["event"] for line in lines if line["event"]["type"] == "input_audio_buffer.append"]
    assert appends and all(re.fullmatch(r"<\d+ bytes( of sound)?>", e["audio"]) for e in appends)
    assert "s3cret-key" not in recording.read_text()
    # The test service answers a replayed recording as the recorded service did.
    async with FakeVoiceLive(replay=recording) as replaying:
        status, again, err = await check(
            replaying, "--probe", "--target", "es", "--out", str(tmp_path / "again.jsonl")
        )
    assert status == 0, again + err
    assert answers(again) == found


async def test_the_translate_probe_settles_what_the_live_logs_leave_open_and_its_recording_replays(
    tmp_path,
) -> None:
    # A service as the live logs describe it at its least convenient: a clock that jumps, 400 ms
    # deltas, heartbeats, no translated transcript, a drain after session.close, an idle limit;
    # and a resource where the transcription model is not deployed.
    recording = tmp_path / "probe-translate.jsonl"
    service = {
        "clock": "jumps",
        "jump_every_ms": 2000,
        "delta_frames": 2,
        "text": "none",
        "drain_pace": 0.05,
        "idle_timeout_s": 2.0,
        "transcription_deployments": (),
        "api_key": "s3cret-key",
    }
    async with FakeTranslate(**service) as server:  # type: ignore[arg-type]
        env = {"AZURE_OPENAI_ENDPOINT": server.endpoint, "AZURE_OPENAI_API_KEY": "s3cret-key"}
        status, out, err = await run_check("--probe", "--target", "es", "--out", str(recording), env=env)
    assert status == 0, out + err
    found = answers(out)
    assert found["handshake"] == (
        f"served at {server.endpoint.rstrip('/')}/openai/v1/realtime/translations; "
        "a session expires 60 min after it opens"
    )
    assert found["transcription model"].startswith("'gpt-realtime-whisper' is not deployed on this resource")
    assert re.fullmatch(
        r"\d+ audio deltas of 400 ms \(median\), \d+ of them all-zero heartbeats; "
        r"NO translated transcript",
        found["output"],
    ), found["output"]
    assert "jumped ahead" in found["elapsed_ms"] and "AHEAD of the audio sent" in found["elapsed_ms"]
    assert re.fullmatch(
        r"[1-9]\d* of \d+ audio deltas came after session.close; then session.closed",
        found["drain after session.close"],
    ), found["drain after session.close"]
    assert (
        found["idle session"] == "closed by the service after 2 s without audio (1011 keepalive ping timeout)"
    )
    assert found["a language it does not speak"] == (
        "invalid_request_error / invalid_value: Unsupported output language: xx; the session still answers"
    )
    # Each event with its wall time, the audio appended by then, elapsed_ms, type and size.
    lines = [json.loads(line) for line in recording.read_text().splitlines()]
    deltas = [line for line in lines if line["event"]["type"] == "session.output_audio.delta"]
    assert deltas and all({"at", "appended_ms", "elapsed_ms", "bytes"} <= line.keys() for line in deltas)
    assert "s3cret-key" not in recording.read_text()
    # The test service answers the recording as the recorded service did.
    async with FakeTranslate(replay=recording, api_key="s3cret-key") as replaying:
        env = {"AZURE_OPENAI_ENDPOINT": replaying.endpoint, "AZURE_OPENAI_API_KEY": "s3cret-key"}
        again = tmp_path / "again.jsonl"
        status, replayed, err = await run_check("--probe", "--target", "es", "--out", str(again), env=env)
    assert status == 0, replayed + err

    # How far elapsed_ms runs from this client's own count of the audio it sent may move by an
    # append between runs, and the service's address is another; what the service said may not.
    def facts(said: dict[str, str]) -> dict[str, str]:
        said = {k: re.sub(r"http://127\.0\.0\.1:\d+", "…", v) for k, v in said.items()}
        return {k: re.sub(r"\d+\.\d s", "… s", v) if k == "elapsed_ms" else v for k, v in said.items()}

    assert facts(answers(replayed)) == facts(found)


async def test_check_runs_each_language_on_its_engine(tmp_path) -> None:
    config = tmp_path / "mixed.toml"
    config.write_text('engine = "voicelive"\n[engines]\nes = "realtime-translate"\n')
    async with FakeVoiceLive(transcript="Good morning everyone.") as server, FakeTranslate() as translate:
        extra = {"AZURE_OPENAI_ENDPOINT": translate.endpoint, "AZURE_OPENAI_API_KEY": translate.api_key}
        status, out, err = await check(
            server, "--config", str(config), "--target", "es", "--target", "fr", "--hours", "2", env=extra
        )
        appended = [c.audio_ms for c in translate.connections]
    assert status == 0, out + err
    assert "checking es on gpt-realtime-translate (realtime-translate), fr on gpt-realtime" in out
    spanish = next(line for line in out.splitlines() if line.startswith("es: ok"))
    assert (
        "realtime-translate, handshake" in spanish and "first audio" in spanish and "final caption" in spanish
    )
    assert re.search(r"translated: \[es\] tone \d+\.", out), out
    assert "fr: ok  voicelive, handshake" in out and "translated into fr-FR: Good morning everyone." in out
    assert len(appended) == 1 and appended[0] >= 2000, "the utterance and its tail, on one session"
    assert translate.api_key not in out + err
    # The cost of two hours: gpt-realtime-translate by the minute with its source captions ($0.034 +
    # $0.017 a minute), Voice Live from what its translation was billed, 12 translations a minute.
    lines = out.splitlines()
    head = next(line for line in lines if line.startswith("cost at list prices:"))
    assert "  es: ~$3.06 an hour on gpt-realtime-translate (realtime-translate)" in lines
    fr_tokens = int(re.findall(r"fr: ok .*, (\d+) tokens", out)[0])
    fr_hour = float(next(line for line in lines if line.startswith("  fr: ~$")).split("$")[1].split()[0])
    # Every token priced between the cheapest rate (cached input, $0.40/M) and the dearest ($64/M).
    assert fr_tokens * 0.40e-6 * 720 <= fr_hour <= fr_tokens * 64e-6 * 720
    total = float(head.split("$")[1].split()[0])
    assert abs(total - 2 * (3.06 + fr_hour)) < 0.02 and "for 2 language(s) over 2 h" in head
    assert any("Voice Live Pro: gpt-realtime-2.1's list price" in line for line in lines)


def test_a_language_hour_is_priced_by_kind_of_token() -> None:
    billed = TokensUsed("es", 3500, text_in=500, cached_text_in=500, audio_in=1000, audio_out=2000)
    hour = pricing.voicelive_hour("gpt-realtime", billed)
    assert hour is not None and hour[0] == pytest.approx((500 * 0.40 + 1000 * 32 + 2000 * 64) / 1e6 * 720)
    mini = pricing.voicelive_hour("gpt-realtime-mini", billed)
    assert mini is not None and mini[0] == pytest.approx((500 * 0.06 + 1000 * 10 + 2000 * 20) / 1e6 * 720)
    assert pricing.voicelive_hour("gpt-5-nano", billed) is None, "Lite: no list price to quote"
    # An agreement's prices, from the settings: named as such.
    own = PricesConfig(voicelive_pro=TokenPrices(1.0, 1.0, 1.0, 1.0, 1.0, 1.0), translate_per_minute=0.01)
    assert pricing.voicelive_hour("gpt-realtime", billed, own) == (
        pytest.approx(3500 / 1e6 * 720),
        "Voice Live Pro: your prices (prices.voicelive_pro)",
    )
    assert pricing.translate_hour(False, own) == (
        pytest.approx(0.6),
        "your prices (prices.translate_per_minute)",
    )
    # A service that sends only the total: priced as audio input.
    assert pricing.voicelive_hour("gpt-realtime", TokensUsed("es", 1000))[0] == pytest.approx(  # type: ignore[index]
        1000 * 32 / 1e6 * 720
    )


async def test_check_names_a_transcription_model_that_is_not_deployed(tmp_path) -> None:
    config = tmp_path / "translate.toml"
    config.write_text(
        'engine = "realtime-translate"\n[translate]\ntranscription_model = "gpt-4o-mini-transcribe"\n'
    )
    async with FakeVoiceLive() as server, FakeTranslate() as translate:
        extra = {"AZURE_OPENAI_ENDPOINT": translate.endpoint, "AZURE_OPENAI_API_KEY": translate.api_key}
        status, out, err = await check(server, "--config", str(config), "--target", "es", env=extra)
    assert status == 1, out + err
    assert (
        "es: FAILED: no source captions: the transcription deployment 'gpt-4o-mini-transcribe' was not found"
    ) in out
