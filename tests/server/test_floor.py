"""The floor and its languages through the whole service: a panel in English and Spanish, Voice
Live (the real SDK on the test service, which says which language each turn was in), real
WebSocket listeners on the Original channel and on each language's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import soundfile

from harness.live import HeldSource, Received, collect, listening, live_server
from harness.voicelive_server import RATE, FakeVoiceLive, tone, tone_names
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.messages import FLAG_END, opus_packets

# The panel: each sentence a tone the test service "transcribes" as its frequency.
PANEL = [(300, "en", 1.2), (550, "es", 1.0), (350, "en", 0.8), (600, "es", 1.4)]
SPANISH = {f"tone {freq}" for freq, lang, _ in PANEL if lang == "es"}


def panel_wav(path: Path) -> Path:
    silence = bytes(int(RATE * 0.9) * 2)
    pcm = (
        bytes(RATE * 2)
        + b"".join(tone(seconds, freq) + silence for freq, _, seconds in PANEL)
        + bytes(RATE * 2)
    )
    soundfile.write(str(path), np.frombuffer(pcm, dtype="<i2"), RATE, subtype="PCM_16")
    return path


def packets(received: Received, utterance: int) -> list[bytes]:
    """The Opus packets of one utterance, in order."""
    return [
        packet
        for (_, _, flags, number, _), payload in received.audio
        if number == utterance and not flags & FLAG_END
        for packet in opus_packets(payload)
    ]


def within(part: list[bytes], run: list[bytes]) -> bool:
    """``part`` is a stretch of ``run``, packet for packet."""
    return any(run[i : i + len(part)] == part for i in range(len(run) - len(part) + 1))


def whole(received: Received) -> bool:
    """Every sentence's final caption and the end of its audio."""
    finals = received.finals()
    return len(finals) == len(PANEL) and set(finals) <= received.ended()


@pytest.mark.alone  # beside four other tests the Original channel once missed a sentence (cause not found)
async def test_a_panel_in_two_languages_each_channel_hears_its_own_language_in_the_speakers_voice(
    tmp_path: Path,
) -> None:
    server = FakeVoiceLive(
        transcribe=tone_names, language_of=lambda text: "es-ES" if text in SPANISH else "en-US"
    )
    async with server:
        settings = load_settings(
            env={"AZURE_VOICELIVE_ENDPOINT": server.endpoint, "AZURE_VOICELIVE_API_KEY": "floor-key-123"},
            overrides={
                "spoken": ["en", "es"],
                "targets": ["fr"],
                "engine": "voicelive",
                "azure.model": "gpt-4.1",
            },
        )
        talk = panel_wav(tmp_path / "panel.wav")
        # Held until every channel listens, so that each hears the talk from its first sentence.
        source = HeldSource(WavSource(talk, pace=2))
        async with live_server(settings, source) as live:

            def floor_whole(received: Received) -> bool:
                spoken = {header[3] for header, _ in received.audio}
                return len(received.finals()) == len(PANEL) and len(spoken) >= len(PANEL) <= len(
                    received.ended()
                )

            channels, heard = await listening(live, ("original", "es", "en", "fr"))
            try:
                source.release()
                original, spanish, english, french = await asyncio.gather(
                    *(
                        collect(ws, heard[lang], floor_whole if lang == "original" else whole, within_s=60)
                        for lang, ws in channels.items()
                    )
                )
            finally:
                for ws in channels.values():
                    await ws.close()
    # The Original channel: every sentence's source caption, in the language spoken, and its audio.
    assert original.hello["name"] == "Original · English / Español"
    finals = original.finals().values()
    assert [(c["text"], c["source_lang"], c["lang"]) for c in finals] == [
        (f"tone {freq}", lang, "original") for freq, lang, _ in PANEL
    ]
    floor = [packets(original, number) for number in sorted({h[3] for h, _ in original.audio})]
    assert len(floor) == len(PANEL), "one utterance of the floor per sentence (cut at its pauses)"
    for received, own in ((spanish, "es"), (english, "en")):
        for caption in received.finals().values():
            spoken = "es" if caption["source_text"] in SPANISH else "en"
            assert caption["source_lang"] == spoken
            if spoken != own:
                assert (
                    caption["text"]
                    == f"translated into {own}-{'ES' if own == 'es' else 'US'}: {caption['source_text']}"
                )
                assert not caption.get("passthrough")
                continue
            assert caption.get("passthrough") and caption["text"] == caption["source_text"]
            # The speaker's own voice: the very packets the Original channel carried for that stretch.
            own_voice = packets(received, caption["id"])
            assert len(own_voice) >= 40, "the whole sentence (0.8 s at least)"
            assert any(within(own_voice, run) for run in floor)
    # French interprets everything.
    assert all(c["text"].startswith("translated into fr-FR") for c in french.finals().values())
