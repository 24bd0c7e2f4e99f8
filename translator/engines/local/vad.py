"""Voice activity: Silero v6 (ONNX, shipped in the faster-whisper wheel) and an I/O-free segmenter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faster_whisper
import msgspec
import numpy as np

ASR_RATE = 16_000
CHUNK = 512
"""Samples per VAD step at 16 kHz (32 ms), Silero's native step."""
CHUNK_MS = CHUNK * 1000 // ASR_RATE
CONTEXT = 64
MODEL_PATH = Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"


class SileroVad:
    """Streaming Silero VAD: one speech probability per 32 ms chunk, state carried between calls."""

    def __init__(self) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            str(MODEL_PATH), providers=["CPUExecutionProvider"], sess_options=options
        )
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)

    def __call__(self, chunk: np.ndarray) -> float:
        """Speech probability of one chunk of ``CHUNK`` float32 samples at 16 kHz."""
        window = np.concatenate([self._context, chunk])[None, :]
        probs, self._h, self._c = self._session.run(None, {"input": window, "h": self._h, "c": self._c})
        self._context = chunk[-CONTEXT:]
        return float(probs.reshape(-1)[0])


class SegmentEvent(msgspec.Struct, frozen=True, tag_field="kind"):
    """Positions are sample indices at 16 kHz from the start of the input."""


class Started(SegmentEvent, frozen=True, tag="started"):
    start: int


class Paused(SegmentEvent, frozen=True, tag="paused"):
    """Silence has begun and lasted a while: recognition may start, speech may still resume."""

    start: int
    end: int


class Settled(SegmentEvent, frozen=True, tag="settled"):
    """Silence has lasted ``close_ms``: the utterance is closed here; should speech resume before
    ``silence_ms``, what follows is an utterance of its own that continues it."""

    start: int
    end: int


class Resumed(SegmentEvent, frozen=True, tag="resumed"):
    """Speech came back after a pause: a recognition started at the pause is stale."""


class Ended(SegmentEvent, frozen=True, tag="ended"):
    start: int
    end: int
    forced: bool = False


@dataclass
class SegmenterConfig:
    silence_ms: int = 400
    min_speech_ms: int = 250
    max_utterance_ms: int = 15_000
    pause_ms: int = 64
    """Silence after which recognition starts speculatively (before ``silence_ms`` confirms the end)."""
    close_ms: int = 0
    """Silence after which the utterance is closed (`Settled`) before ``silence_ms``; 0: never."""
    preroll_ms: int = 192
    threshold: float = 0.5
    neg_threshold: float = 0.35


class Segmenter:
    """Turns per-chunk speech probabilities into utterances (``feed()`` one probability at a time)."""

    def __init__(self, config: SegmenterConfig) -> None:
        self.config = config
        self.position = 0
        self._speaking = False
        self._voiced_from: int | None = None
        self._start = 0
        self._silent_from: int | None = None
        self._paused = False
        self._settled = False
        self._last_end = 0

    @property
    def speaking(self) -> bool:
        return self._speaking

    @property
    def in_silence(self) -> bool:
        return self._silent_from is not None

    def feed(self, prob: float) -> list[SegmentEvent]:
        """Advance one chunk; return what changed."""
        c = self.config
        here = self.position
        self.position += CHUNK
        events: list[SegmentEvent] = []
        if not self._speaking:
            if prob >= c.threshold:
                if self._voiced_from is None:
                    self._voiced_from = here
                if ms(self.position - self._voiced_from) >= c.min_speech_ms:
                    self._speaking = True
                    self._start = max(self._last_end, self._voiced_from - c.preroll_ms * ASR_RATE // 1000)
                    self._silent_from, self._paused = None, False
                    events.append(Started(self._start))
            elif prob < c.neg_threshold:
                self._voiced_from = None
            return events
        if prob >= c.threshold:
            if self._paused:
                events.append(Resumed())
            self._silent_from, self._paused, self._settled = None, False, False
        elif prob < c.neg_threshold and self._silent_from is None:
            self._silent_from = here
        if self._silent_from is not None:
            silent = ms(self.position - self._silent_from)
            if silent >= c.silence_ms:
                return [*events, self._end(self._silent_from)]
            if silent >= c.pause_ms and not self._paused:
                self._paused = True
                events.append(Paused(self._start, self._silent_from))
            if c.close_ms and silent >= c.close_ms and not self._settled:
                self._settled = True
                events.append(Settled(self._start, self._silent_from))
        if ms(self.position - self._start) >= c.max_utterance_ms:
            events.append(self._end(self.position, forced=True))
        return events

    def split(self, at: int) -> None:
        """The utterance was closed at ``at`` (in its pause): if speech resumes, what follows is an
        utterance of its own, from ``at``; if not, it ends empty there."""
        self._start = at

    def _end(self, end: int, forced: bool = False) -> Ended:
        self._speaking, self._voiced_from, self._silent_from, self._paused = False, None, None, False
        self._settled = False
        self._last_end = end
        return Ended(self._start, end, forced)


def ms(samples: int) -> int:
    """Samples at 16 kHz to milliseconds."""
    return samples * 1000 // ASR_RATE
