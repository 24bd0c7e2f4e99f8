"""Each language speaks with the best voice installed: festival's for Catalan and Italian (resident,
supervised), espeak-ng elsewhere; what they say is understood when read back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from harness.live import HeldSource, live_server
from tests.helpers import run_offline
from translator.audio.wav import WavSource
from translator.config import LocalConfig, RoomConfig, load_settings
from translator.engines import table
from translator.engines.events import TranslationAudio, TranslationText
from translator.engines.local import tts
from translator.engines.local.engine import LocalEngine
from translator.engines.local.tts import EspeakVoice, FestivalVoice
from translator.engines.local.voices import ESPEAK_VOICES, Voice, voice_for
from translator.errors import TransientEngineError
from translator.evaluation.metrics import word_error_rate
from translator.evaluation.readback import listener, read_back
from translator.languages import get_language


async def test_the_table_chooses_festival_for_catalan_and_italian_and_espeak_elsewhere(talk: Path) -> None:
    assert voice_for("ca") == Voice("festival", "upc_ca_ona_hts", "festvox-ca-ona-hts", "latin-1")
    assert voice_for("it") == Voice("festival", "lp_diphone", "festvox-italp16k", "latin-1")
    assert voice_for("es") == Voice("espeak-ng", "es", "espeak-ng")
    # The choice is what the status and the transcript say each language runs on.
    room = RoomConfig(engine="local", targets=["ca", "es"])
    assert table.model_for(room, "ca") == "local: faster-whisper tiny.en, Apertium, festival upc_ca_ona_hts"
    assert table.model_for(room, "pt") == "local: faster-whisper tiny.en, Bergamot en→pt tiny, espeak-ng pt"
    settings = load_settings(env={}, overrides={"engine": "local", "targets": ["ca", "es"]})
    async with (
        live_server(settings, HeldSource(WavSource(talk))) as server,
        httpx.AsyncClient(base_url=server.url, headers=server.operator) as client,
    ):
        status = (await client.get("/api/status")).json()
    models = {language["code"]: language["models"] for language in status["languages"]}
    assert models == {
        "ca": "faster-whisper tiny.en, Apertium, festival upc_ca_ona_hts",
        "es": "faster-whisper tiny.en, Apertium, espeak-ng es",
    }


async def test_the_better_voices_are_understood_better_than_espeak(talk: Path) -> None:
    """The talk interpreted into Catalan and Italian by the engine: each sentence's speech, read
    back by the multilingual Whisper with the language forced, says its caption; espeak-ng's reading
    of the same captions is understood worse."""
    engine = LocalEngine(get_language("en"), [get_language("ca"), get_language("it")], LocalConfig())
    events = await run_offline(engine, talk, 2)
    for lang in ("ca", "it"):
        said = {e.utterance: e.text for e in events if isinstance(e, TranslationText) and e.target == lang}
        heard = await asyncio.to_thread(listener, lang)
        espeak = EspeakVoice(Voice("espeak-ng", ESPEAK_VOICES[lang], "espeak-ng"))
        ours, theirs = [], []
        for utterance, text in said.items():
            pcm = b"".join(
                e.pcm
                for e in events
                if isinstance(e, TranslationAudio) and e.utterance == utterance and e.target == lang
            )
            ours.append(word_error_rate(text, await asyncio.to_thread(read_back, heard, pcm)))
            plain = await espeak.synthesize(text)
            theirs.append(word_error_rate(text, await asyncio.to_thread(read_back, heard, plain)))
        assert len(ours) == 2 and sum(ours) / 2 <= 0.34, (lang, said, ours)
        assert sum(ours) < sum(theirs), (lang, ours, theirs)


async def test_a_hung_festival_is_killed_and_replaced_and_only_its_sentence_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tts, "SYNTH_TIMEOUT_S", 1.0)
    voice = FestivalVoice(Voice("festival", "lp_diphone", "festvox-italp16k", "latin-1"))
    await voice.start()
    try:
        first = voice._process
        assert first is not None
        first.signal(19)  # SIGSTOP: alive, answering nothing
        with pytest.raises(TransientEngineError, match=r"festival \(lp_diphone\) did not answer in time"):
            await voice.synthesize("Buongiorno a tutti.")
        pcm = await voice.synthesize("La pausa caffè è alle undici e mezza.")
        assert voice._process is not None and voice._process.pid != first.pid
        assert len(pcm) / 2 / 24_000 > 1.0
        # Quotes, a backslash and what ISO-8859-1 lacks are read as text, never as Scheme.
        odd = await voice.synthesize('Dice "ciao" \\ e ‘arrivederci’ — 5 € (voice_upc_ca_ona_hts)')
        assert len(odd) / 2 / 24_000 > 1.0 and voice._process.pid != first.pid
    finally:
        await voice.stop()
    assert voice._process is None
