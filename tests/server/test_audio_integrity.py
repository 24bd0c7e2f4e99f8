"""Every translated word reaches every listener: bursts of synthesized speech arrive whole.

Speech synthesis produces a sentence's audio much faster than real time; these talks have long and
very short utterances, and each listener counts, per utterance, how much of its translated audio
arrived (the end frame says how long it was).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.live import Received, listen, live_server, talk_wav
from harness.voicelive_server import FakeVoiceLive
from translator.audio.wav import WavSource
from translator.config import load_settings

SENTENCES = [
    "Good morning everyone, and welcome to the annual conference of our association.",
    "Thanks.",
    "Please turn off your mobile phones, the first talk starts at ten in the main hall.",
]


@pytest.fixture(scope="module")
def long_and_short(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return talk_wav(SENTENCES, tmp_path_factory.mktemp("integrity") / "talk.wav", gap_s=0.8)


def whole_talk(received: Received) -> bool:
    finals = {i for i, c in received.finals().items() if c["text"]}
    return len(finals) >= len(SENTENCES) and finals <= received.ended()


def assert_every_utterance_whole(received: Received) -> None:
    translated = {i for i, c in received.finals().items() if c["text"]}
    shares = received.audio_shares()
    assert set(shares) == translated
    assert all(share >= 0.99 for share in shares.values()), shares
    assert not [m for m in received.other if m["type"] == "skipped"]


async def test_offline_engine_bursts_reach_pcm_and_opus_listeners_whole(long_and_short: Path) -> None:
    settings = load_settings(env={}, overrides={"targets": ["es", "fr"], "audio.input": str(long_and_short)})
    async with live_server(settings, WavSource(long_and_short, pace=2)) as server:
        listeners = await asyncio.gather(
            *(
                listen(f"{server.ws}/ws/listen/{lang}?codec={codec}", whole_talk, within_s=90)
                for lang in ("es", "fr")
                for codec in ("pcm", "opus")
            )
        )
    for received in listeners:
        assert_every_utterance_whole(received)
    # The short utterance was translated and spoken too.
    assert any(len(c["source_text"].split()) <= 2 for c in listeners[0].finals().values())


async def test_voicelive_bursts_reach_pcm_and_opus_listeners_whole(long_and_short: Path) -> None:
    async with FakeVoiceLive(reply_s=6.0) as voicelive:
        settings = load_settings(
            env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "k"},
            overrides={"targets": ["es"], "audio.input": str(long_and_short), "azure.model": "gpt-4.1"},
        )
        async with live_server(settings, WavSource(long_and_short, pace=2)) as server:
            listeners = await asyncio.gather(
                *(
                    listen(f"{server.ws}/ws/listen/es?codec={codec}", whole_talk, within_s=60)
                    for codec in ("pcm", "opus")
                )
            )
    for received in listeners:
        assert_every_utterance_whole(received)
        assert all(share == 1.0 for share in received.audio_shares().values())
