"""The cutting of a continuous interpretation into utterances, on its own: the rules the engine
tests exercise through the real client, here at their edges."""

from __future__ import annotations

from harness.translate_server import tone
from translator.audio import FRAME_MS
from translator.engines.events import (
    AnyEngineEvent,
    SpeechStopped,
    TranslationAudio,
    TranslationText,
    TurnDone,
)
from translator.engines.translate.segmenter import PAUSE_MS, Segmenter

LOUD, QUIET = -12.0, -100.0


class Stream:
    """A segmenter fed frame by frame, its events kept."""

    def __init__(self) -> None:
        self.events: list[AnyEngineEvent] = []
        self.segmenter = Segmenter("es", self.events.append, passthrough=False)
        self.position = 0

    def hear(self, ms: int, level: float) -> None:
        for _ in range(ms // FRAME_MS):
            self.segmenter.heard(self.position, level)
            self.position += FRAME_MS

    def finals(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, TranslationText) and e.final]

    def audio(self) -> int:
        return sum(len(e.pcm) for e in self.events if isinstance(e, TranslationAudio))


def test_the_last_utterance_is_finished_when_the_input_stops() -> None:
    stream = Stream()
    stream.hear(1000, LOUD)
    stream.segmenter.audio(tone(1.0, 440), stream.position)
    stream.segmenter.text("Buenos días", stream.position)
    assert not any(isinstance(e, TurnDone) for e in stream.events)
    stream.segmenter.settle()
    assert stream.finals() == ["Buenos días"]
    assert [e.status for e in stream.events if isinstance(e, TurnDone)] == ["completed"]
    assert stream.segmenter.idle


def test_a_pause_shorter_than_the_rule_stays_inside_the_utterance_and_its_audio_is_kept() -> None:
    stream = Stream()
    stream.hear(500, LOUD)
    stream.segmenter.audio(tone(0.5, 440), stream.position)
    stream.hear(300, QUIET)
    stream.segmenter.audio(bytes(int(24_000 * (PAUSE_MS - 100) / 1000) * 2), stream.position)
    stream.segmenter.audio(tone(0.5, 440), stream.position)
    stream.hear(600, QUIET)
    stream.segmenter.audio(bytes(24_000 * 2), stream.position)
    stops = [e for e in stream.events if isinstance(e, SpeechStopped)]
    assert len(stops) == 1, "one utterance, cut at the long pause only"
    # Both halves and the short pause between them; the onset and the trailing quiet are not.
    assert stream.audio() == (24_000 * (1000 + PAUSE_MS - 100) // 1000) * 2


def test_text_placed_by_its_arrival_that_comes_after_the_audio_joins_its_unfinished_sentence() -> None:
    stream = Stream()
    stream.hear(1000, LOUD)
    stream.segmenter.audio(tone(1.0, 440), stream.position)
    stream.segmenter.text("Buenos", stream.position)
    stream.hear(600, QUIET)
    stream.segmenter.audio(bytes(24_000 * 2), stream.position)
    stream.segmenter.text(" días.", stream.position)  # after the audio ended: the sentence it finishes
    stream.segmenter.text("Gracias", stream.position)  # a new sentence: waits for its own audio
    stream.hear(1000, QUIET)
    stream.segmenter.audio(tone(0.5, 440), stream.position)
    stream.segmenter.settle()
    assert stream.finals() == ["Buenos días.", "Gracias"]
