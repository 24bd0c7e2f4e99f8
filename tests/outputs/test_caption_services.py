"""Captions to Zoom and YouTube, received by local servers that follow both services' documented
endpoints: every final caption of a talk, in order, once, numbered as the services ask, timed on the
talk's clock for YouTube; a service that refuses for 10 s loses nothing; the addresses (secrets)
appear in no log and no status."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from harness.caption_services import CaptionReceivers
from harness.live import listen, live_server
from harness.voicelive_server import FakeVoiceLive, tone_names
from tests.helpers import every_tone_final, three_turns, until
from translator.audio.wav import WavSource
from translator.config import Settings, load_settings
from translator.errors import ConfigError

SECRETS = ("nYtXJqRKCWsecret", "abcd-efgh-secret")


def retrying(outputs: list[dict]) -> list[dict]:
    return [o for o in outputs if o["state"] == "retrying"]


def captioned(voicelive: FakeVoiceLive, targets: list[str], services: dict[str, object]) -> Settings:
    """A room on the strict service into ``targets``, its captions to ``services``, no other output."""
    return load_settings(
        env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "captions-key"},
        overrides={
            "targets": targets,
            "azure.model": "gpt-4.1",
            "outputs.hls.enabled": False,
            "outputs.recordings.enabled": False,
            **services,
        },
    )


async def test_zoom_and_youtube_take_every_final_caption_in_order_once_after_refusing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    talk = three_turns(tmp_path / "talk.wav")
    async with CaptionReceivers() as receivers, FakeVoiceLive(transcribe=tone_names) as voicelive:
        settings = captioned(
            voicelive,
            ["es", "fr"],
            {"outputs.zoom": {"es": receivers.zoom_url}, "outputs.youtube": {"fr": receivers.youtube_url}},
        )
        # The meeting starts, and YouTube answers, 10 s after the talk does (its first caption
        # is final about 4 s in).
        receivers.refuse_for(10)
        async with (
            live_server(settings, WavSource(talk)) as server,
            httpx.AsyncClient(base_url=server.url, headers=server.operator) as client,
        ):

            async def outputs() -> list[dict]:
                return (await client.get("/api/status")).json()["outputs"]

            async def while_refused() -> list[dict]:
                """The outputs as the operator sees them while the services refuse."""
                async with asyncio.timeout(30):
                    while not retrying(seen := await outputs()):  # noqa: ASYNC110 - a status, no event
                        await asyncio.sleep(0.1)
                return seen

            refusing, in_spanish, in_french = await asyncio.gather(
                while_refused(),
                listen(f"{server.ws}/ws/listen/es", every_tone_final, within_s=60),
                listen(f"{server.ws}/ws/listen/fr", every_tone_final, within_s=60),
            )
            es = [c for _, c in sorted(in_spanish.finals().items())]
            fr = [c for _, c in sorted(in_french.finals().items())]
            await until(lambda: len(receivers.zoom) == len(es) and len(receivers.youtube) == len(fr), 40)
            sent = await outputs()
            metrics = (await client.get("/metrics")).text
    # Every final caption, in order, once; numbered one by one (a retry kept its number).
    assert [t.text for t in receivers.zoom] == [c["text"] for c in es]
    assert [t.text for t in receivers.youtube] == [c["text"] for c in fr]
    assert [t.seq for t in receivers.zoom] == list(range(1, len(es) + 1))
    assert [t.seq for t in receivers.youtube] == list(range(1, len(fr) + 1))
    assert {t.lang for t in receivers.zoom} == {"es-ES"}
    assert receivers.wrong == []
    # YouTube's times are when each sentence began, on the wall clock: the caption over its video.
    started = in_french.hello["talk_started_at"]
    for taken, caption in zip(receivers.youtube, fr, strict=True):
        at = datetime.strptime(taken.at, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
        assert round(at.timestamp() * 1000) == started + caption["start_ms"]
    # The operator saw the refusal and then the delivery; nobody saw an address's secret part.
    assert all("answered 4" in o["detail"] or "answered 5" in o["detail"] for o in retrying(refusing))
    posted = [o for o in sent if o["name"] in ("zoom", "youtube")]
    assert {(o["name"], o["lang"], o["state"]) for o in posted} == {
        ("zoom", "es", "sending"),
        ("youtube", "fr", "sending"),
    }
    for output in posted:
        count = len(es) if output["name"] == "zoom" else len(fr)
        assert f"{count} sent, 0 waiting" in output["detail"]
    assert 'translator_output_working{lang="es",output="zoom",room="main"} 1.0' in metrics
    shown = f"{refusing} {sent} {metrics} {caplog.text}"
    assert "retrying" in caplog.text and not any(secret in shown for secret in SECRETS)


async def test_a_restarted_service_goes_on_numbering_youtube_captions(tmp_path: Path) -> None:
    """YouTube wants each caption numbered one more than the last it took, and cannot be asked
    which that was: a service restarted during the stream goes on from where it stopped."""
    talk = three_turns(tmp_path / "talk.wav")
    async with CaptionReceivers() as receivers, FakeVoiceLive(transcribe=tone_names) as voicelive:
        settings = captioned(voicelive, ["fr"], {"outputs.youtube": {"fr": receivers.youtube_url}})
        taken = []
        for _ in range(2):  # the service, then the service started again
            async with live_server(settings, WavSource(talk)) as server:
                heard = await listen(f"{server.ws}/ws/listen/fr", every_tone_final, within_s=60)
                finals = len(heard.finals())
                await until(lambda: len(receivers.youtube) == len(taken) + finals, 40)  # noqa: B023
            taken = list(receivers.youtube)
    assert [t.seq for t in taken] == list(range(1, len(taken) + 1)) and len(taken) >= 4
    assert receivers.wrong == []


def test_a_caption_address_is_checked_and_never_echoed(tmp_path: Path) -> None:
    secret = "https://wmcapi.zoom.us/closedcaption?id=1&signature=s3cr3t"
    with pytest.raises(ConfigError) as unknown:
        load_settings(env={}, overrides={"targets": ["es"], "outputs.zoom": {"it": secret}})
    with pytest.raises(ConfigError) as plain:
        load_settings(
            env={},
            overrides={
                "targets": ["es"],
                "outputs.youtube": {"es": "http://upload.youtube.com/x?cid=s3cr3t"},
            },
        )
    rooms = tmp_path / "rooms.toml"
    rooms.write_text(f'[outputs.zoom]\nes = "{secret}"\n[[rooms]]\nid = "main"\ntargets = ["es"]\n')
    with pytest.raises(ConfigError) as shared:
        load_settings(rooms.as_posix(), env={})
    assert unknown.value.field == "outputs.zoom.it" and "original, es" in str(unknown.value)
    assert plain.value.field == "outputs.youtube.es" and "https://" in str(plain.value)
    assert shared.value.field == "outputs.zoom" and "rooms[N].outputs.zoom" in str(shared.value)
    assert not any("s3cr3t" in str(e.value) for e in (unknown, plain, shared))
    # A room's own addresses, and the Original's captions (in the floor's language) to Zoom.
    rooms.write_text(
        f'[[rooms]]\nid = "main"\ntargets = ["es"]\n[rooms.outputs.zoom]\noriginal = "{secret}"\n'
    )
    assert load_settings(rooms.as_posix(), env={}).rooms[0].outputs.zoom == {"original": secret}
