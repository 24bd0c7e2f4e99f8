"""The pipeline over the scripted engine: no server, no model, the same events every run.

What listeners of each language are handed (captions, audio chunks, states) is recorded by a framer
of the test's own, as any transport's framer would get it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pytest

from harness.scripted_engine import Frames, ScriptConfig, ScriptedEngine, tone, utterance
from translator.audio import SAMPLE_RATE
from translator.errors import LastLanguageError, UnknownLanguageError
from translator.hub import CLOSE_LANGUAGE_REMOVED, AudioChunk, Hub, Listener, Outgoing
from translator.languages import FLOOR, get_language
from translator.messages import PACKET_SAMPLES, Caption, ErrorMessage, ListenerMessage, Status
from translator.talk.pipeline import TONE_CAPTION, TONE_S, Pipeline
from translator.transcripts.store import TranscriptHeader, TranscriptWriter, read_transcript

SPEECH = (("Good morning everyone", "Buenos días a todos", 1.1), ("Thank you", "Gracias", 0.4))


CHANGED = asyncio.Event()
"""Set whenever a recorder is handed something: what `until` waits on."""


@dataclass(eq=False)  # a framer is a key of its listeners' group: hashed by identity
class Recorder:
    """A transport's framer that keeps what it is given, per language."""

    messages: list[ListenerMessage] = field(default_factory=list)
    chunks: list[AudioChunk] = field(default_factory=list)

    def text(self, message: ListenerMessage, json: str) -> Outgoing:
        self.messages.append(message)
        CHANGED.set()
        return Outgoing(json, b"")

    def audio(self, chunk: AudioChunk) -> Outgoing:
        self.chunks.append(chunk)
        CHANGED.set()
        return Outgoing(b"", b"")

    def finals(self) -> dict[int, Caption]:
        return {m.id: m for m in self.messages if isinstance(m, Caption) and m.final}

    def samples(self, utterance: int, codec: str) -> int:
        """Samples of the utterance's audio that came in ``codec``'s chunks (not counting the end)."""
        got = [c for c in self.chunks if c.utterance == utterance and c.codec == codec and not c.end]
        if codec == "opus":
            return sum(len(c.packets) * PACKET_SAMPLES for c in got)
        return sum(len(c.packets[0]) // 2 for c in got)

    def length(self, utterance: int, codec: str) -> int | None:
        """The utterance's length as its end chunk gives it."""
        return next(
            (c.position for c in self.chunks if c.utterance == utterance and c.codec == codec and c.end), None
        )


def script(targets: list[str], speech=SPEECH, gap_ms: int = 600) -> ScriptConfig:
    cues, start = [], 1000
    for number, (source, translation, seconds) in enumerate(speech, 1):
        end = start + 1200
        for target in targets:
            cues += utterance(target, number, start, end, source, f"{translation} ({target})", seconds)
        start = end + gap_ms
    return ScriptConfig(tuple(cues))


@asynccontextmanager
async def talk(
    targets: list[str],
    config: ScriptConfig | None = None,
    seconds: float = 6.0,
    transcript: Path | None = None,
    spoken: list[str] | None = None,
    floor: bytes | None = None,
) -> AsyncIterator[tuple[Pipeline, dict[str, Recorder], dict[str, Listener], asyncio.Task[None]]]:
    """A pipeline over the scripted engine, each language (and the floor) with one listener of each
    codec; the input is ``floor``, else ``seconds`` of silence."""
    hub = Hub([FLOOR, *targets])
    languages = [get_language(code) for code in spoken or ["en"]]
    engine = ScriptedEngine(
        languages[0], [get_language(t) for t in targets], config or script(targets), spoken=languages
    )
    pipeline = Pipeline(Frames(floor or bytes(int(SAMPLE_RATE * seconds) * 2)), engine, hub)
    if transcript is not None:
        pipeline.transcript = TranscriptWriter(transcript, lambda: header(pipeline))
    recorders = {t: Recorder() for t in [FLOOR, *targets]}
    listeners = {}
    for target in [FLOOR, *targets]:
        listeners[target] = hub.subscribe(target, recorders[target], codec="pcm")
        hub.subscribe(target, recorders[target], codec="opus")
    async with engine:
        task = asyncio.create_task(pipeline.run())
        try:
            yield pipeline, recorders, listeners, task
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            if pipeline.transcript is not None:
                pipeline.transcript.close()


def header(pipeline: Pipeline) -> TranscriptHeader:
    started = pipeline.input.talk_started_at or 0
    return TranscriptHeader(TranscriptWriter.talk_id(started), started, "test", "en", ["es"], "scripted")


async def until(condition: Callable[[], bool], within_s: float = 10.0) -> None:
    """Wait until ``condition`` holds, looking again each time a listener is handed something."""
    async with asyncio.timeout(within_s):
        while not condition():
            CHANGED.clear()
            await CHANGED.wait()


async def test_every_utterance_reaches_each_language_with_its_caption_and_whole_audio() -> None:
    async with talk(["es", "fr"]) as (pipeline, recorded, _, _task):
        del recorded[FLOOR]
        await until(lambda: all(len(r.finals()) == 2 and r.length(2, "opus") for r in recorded.values()))
    for lang, recorder in recorded.items():
        finals = recorder.finals()
        assert [c.text for c in finals.values()] == [f"Buenos días a todos ({lang})", f"Gracias ({lang})"]
        assert [c.source_text for c in finals.values()] == ["Good morning everyone", "Thank you"]
        assert [(c.start_ms, c.end_ms) for c in finals.values()] == [(1000, 2200), (2800, 4000)]
        for number, (_, _, seconds) in enumerate(SPEECH, 1):
            whole = len(tone(seconds)) // 2
            assert recorder.samples(number, "pcm") == recorder.length(number, "pcm") == whole
            # Opus: every sample encoded (the last packet padded to 20 ms), one stream per utterance.
            assert recorder.length(number, "opus") == recorder.samples(number, "opus") >= whole
            assert all(len(c.packets) <= 5 for c in recorder.chunks if c.codec == "opus")
    # Languages that share a recognition share its caption id.
    assert set(recorded["es"].finals()) == set(recorded["fr"].finals()) == {1, 2}
    for lang in ("es", "fr"):
        language = pipeline.languages[lang]
        assert language.state == "ready" and language.lags.caption.summary().n == 2


async def test_a_refused_language_fails_alone_and_its_listeners_are_told() -> None:
    config = script(["es", "fr"])
    config = ScriptConfig(config.cues, frozenset({"fr"}))
    async with talk(["es", "fr"], config) as (pipeline, recorded, _, _task):
        await until(lambda: len(recorded["es"].finals()) == 2)
    french = recorded["fr"].messages
    assert Status("fr", "failed", "refused by the script") in french
    assert ErrorMessage("refused by the script") in french
    assert not recorded["fr"].chunks and not recorded["fr"].finals()
    assert pipeline.languages["fr"].failures == 1 and pipeline.languages["es"].failures == 0
    assert not pipeline.ready


async def test_pausing_tells_every_listener_and_resuming_gives_the_state_back() -> None:
    async with talk(["es", "fr"]) as (pipeline, recorded, _, _task):
        await until(lambda: pipeline.languages["es"].state == "ready")
        pipeline.set_paused(True)
        pipeline.set_paused(False)
    for lang, recorder in recorded.items():
        statuses = [m for m in recorder.messages if isinstance(m, Status)]
        assert Status(lang, "paused", "the talk is paused") in statuses
        assert statuses[-1] == Status(lang, "ready", "")


async def test_a_language_removed_during_the_talk_closes_its_listeners_and_the_last_stays() -> None:
    async with talk(["es", "fr"]) as (pipeline, recorded, listeners, _task):
        await until(lambda: len(recorded["es"].finals()) >= 1)
        await pipeline.remove_language("fr")
        assert listeners["fr"].closed == (CLOSE_LANGUAGE_REMOVED, "Français is no longer offered")
        with pytest.raises(LastLanguageError):
            await pipeline.remove_language("es")
        with pytest.raises(UnknownLanguageError):
            await pipeline.remove_language("fr")
        await until(lambda: len(recorded["es"].finals()) == 2)
    assert list(pipeline.languages) == ["es"]


async def test_the_test_tone_is_one_second_captioned_and_not_kept(tmp_path: Path) -> None:
    async with talk(["es"], transcript=tmp_path) as (pipeline, recorded, _, _task):
        await until(lambda: pipeline.languages["es"].state == "ready")
        pipeline.send_tone("es")
        es = recorded["es"]
        await until(lambda: len(es.finals()) == 3 and all(es.length(i, "pcm") for i in es.finals()))
    tone_caption = next(c for c in recorded["es"].finals().values() if c.text == TONE_CAPTION)
    assert recorded["es"].samples(tone_caption.id, "pcm") == int(SAMPLE_RATE * TONE_S)
    (written,) = await asyncio.to_thread(lambda: list(tmp_path.glob("*.jsonl")))
    kept = read_transcript(tmp_path, written.stem)
    assert [c.text for c in kept.captions] == ["Buenos días a todos (es)", "Gracias (es)"]


BILINGUAL = (
    ("en", "Good morning everyone", 1000, 2200, 330.0),
    ("es", "Buenos días a todos", 2800, 4000, 550.0),
    ("en", "Thank you", 4600, 5200, 330.0),
)
"""A panel: (language spoken, what was said, speech start and end on the talk's timeline, the tone
standing in for the voice)."""


def bilingual_floor() -> bytes:
    """The floor's audio: each sentence's tone where it is spoken, silence around."""
    pcm = bytearray(int(SAMPLE_RATE * 7.0) * 2)
    for _, _, start, end, hz in BILINGUAL:
        voice = tone((end - start) / 1000, hz)
        offset = SAMPLE_RATE * start // 1000 * 2
        pcm[offset : offset + len(voice)] = voice
    return bytes(pcm)


def bilingual_script(targets: list[str]) -> ScriptConfig:
    cues = []
    for number, (spoken, text, start, end, _) in enumerate(BILINGUAL, 1):
        for target in targets:
            cues += utterance(target, number, start, end, text, f"{text} → {target}", 0.8, spoken=spoken)
    return ScriptConfig(tuple(cues))


def decoded(packets: list[bytes]) -> np.ndarray:
    """Opus packets decoded by FFmpeg (PyAV) with a fresh decoder, as a page decodes an utterance."""
    codec = av.CodecContext.create("libopus", "r")
    codec.sample_rate, codec.layout = 48_000, "mono"
    out = []
    for data in packets:
        for frame in codec.decode(av.Packet(data)):
            out.append(frame.to_ndarray().reshape(-1))
    return np.concatenate(out).astype(np.float32)


async def test_each_channel_is_the_talk_in_its_language_and_the_floor_carries_everything() -> None:
    targets = ["es", "en", "fr"]
    floor = bilingual_floor()
    config = bilingual_script(targets)
    async with talk(targets, config, spoken=["en", "es"], floor=floor) as (pipeline, recorded, _, _task):
        await until(
            lambda: (
                all(len(recorded[t].finals()) == 3 for t in [FLOOR, *targets])
                and all(recorded[t].length(n, "opus") for t in targets for n in recorded[t].finals())
            )
        )
    for target in targets:
        for caption, (spoken, text, start, end, hz) in zip(
            recorded[target].finals().values(), BILINGUAL, strict=True
        ):
            number = caption.id
            assert caption.source_lang == spoken and caption.source_text == text
            if spoken != target:
                assert not caption.passthrough and caption.text == f"{text} → {target}"
                assert recorded[target].samples(number, "pcm") == len(tone(0.8)) // 2
                continue
            # Passed through: the speaker's own words and voice, the floor's PCM and its very packets.
            assert caption.passthrough and caption.text == text
            first, last = start // 20 - 5, end // 20 + 5
            pcm = b"".join(
                p
                for c in recorded[target].chunks
                if c.utterance == number and c.codec == "pcm"
                for p in c.packets
            )
            assert pcm == floor[first * 960 : last * 960]
            packets = [
                p
                for c in recorded[target].chunks
                if c.utterance == number and c.codec == "opus"
                for p in c.packets
            ]
            assert len(packets) == last - first
            assert recorded[target].length(number, "opus") == (last - first) * PACKET_SAMPLES
            assert set(packets) <= set(floor_packets(recorded[FLOOR]))
            # An independent decoder hears the sentence's tone in it.
            audio = decoded(packets)
            spectrum = np.abs(np.fft.rfft(audio))
            assert abs(np.fft.rfftfreq(len(audio), 1 / 48_000)[int(np.argmax(spectrum))] - hz) < 10
    # No translation was ever made for a sentence in the channel's own language.
    assert not any(c.text.endswith("→ en") for c in recorded["en"].finals().values() if c.source_lang == "en")
    # The Original channel: every sentence's source caption, and all of the floor's speech.
    originals = recorded[FLOOR].finals()
    assert [(c.text, c.source_lang, c.lang) for c in originals.values()] == [
        (text, spoken, FLOOR) for spoken, text, *_ in BILINGUAL
    ]
    heard = b"".join(p for c in recorded[FLOOR].chunks if c.codec == "pcm" for p in c.packets)
    for _, _, start, end, _ in BILINGUAL:
        assert floor[start * 48 : end * 48] in heard
    assert pipeline.languages["en"].lags.caption.summary().n == 3


def floor_packets(recorder: Recorder) -> list[bytes]:
    return [p for c in recorder.chunks if c.codec == "opus" for p in c.packets]
