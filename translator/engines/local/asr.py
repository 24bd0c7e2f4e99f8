"""Speech recognition with faster-whisper (CTranslate2), on a window sized to the utterance.

faster-whisper always encodes a 30 s window, which costs most of the recognition time for a few
seconds of speech. The CTranslate2 model accepts shorter mel features, so each utterance is encoded
in a window of its own length plus a margin, in 5 s steps (10 s at least, 30 s at most;
shorter windows made whisper repeat itself).
"""

from __future__ import annotations

import difflib
import math
import os
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from translator.engines.local.models import model_path
from translator.errors import PermanentEngineError

if TYPE_CHECKING:
    from faster_whisper.tokenizer import Tokenizer

FRAMES_PER_S = 100
MIN_WINDOW_S = 10
MAX_WINDOW_S = 30
MARGIN_S = 2.0


def window_frames(samples: int, rate: int = 16_000) -> int:
    """Mel frames to encode for an utterance of ``samples``: its length plus a margin, in 5 s steps."""
    seconds = samples / rate + MARGIN_S
    return int(min(MAX_WINDOW_S, max(MIN_WINDOW_S, 5 * math.ceil(seconds / 5))) * FRAMES_PER_S)


class Heard(NamedTuple):
    """One utterance as recognised: its text, and the language it was spoken in."""

    text: str
    language: str
    sentence: str = ""
    """For a part that goes on with a sentence: the whole sentence so far (else empty: ``text``)."""


def _word(token: str) -> str:
    return "".join(ch for ch in token.lower() if ch.isalnum())


REPEAT_WORDS = 4
"""A run of this many words or more said twice in a row is whisper repeating itself, not the speaker."""


def repeats(text: str) -> bool:
    """Whether ``text`` says a run of `REPEAT_WORDS` words or more twice in a row (case and
    punctuation aside)."""
    words = [w for w in (_word(token) for token in text.split()) if w]
    for size in range(REPEAT_WORDS, len(words) // 2 + 1):
        for start in range(len(words) - 2 * size + 1):
            if words[start : start + size] == words[start + size : start + 2 * size]:
                return True
    return False


def words_after(sentence: str, said: str) -> str:
    """What ``sentence`` goes on with after the words of ``said`` (the part of it already told),
    matched word by word regardless of case and punctuation, and however either was misheard."""
    tokens, told = sentence.split(), [_word(t) for t in said.split()]
    matcher = difflib.SequenceMatcher(None, told, [_word(t) for t in tokens], autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size]
    if not blocks:
        return " ".join(tokens[len(told) :])
    last = blocks[-1]
    # Words told after the last match were misheard one way or the other: as many are skipped here.
    return " ".join(tokens[last.b + last.size + len(told) - (last.a + last.size) :])


class Recognizer:
    """One loaded whisper model. `hear` and `transcribe` block: call them from a worker thread."""

    def __init__(
        self,
        model: str | None = None,
        *,
        language: str = "en",
        threads: int = 2,
        beam_size: int = 5,
        full_window: bool = False,
    ) -> None:
        # The bundled model is on disk; never let the hub library reach for the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        path = model_path(model)
        try:
            self._whisper = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads)
        except Exception as exc:
            raise PermanentEngineError(f"cannot load the speech model {path}: {exc}") from None
        self.multilingual = self._whisper.model.is_multilingual
        self.language = language if self.multilingual else "en"
        """The language taken when identification has no say: the floor's default (English on an
        English-only model, which hears nothing else)."""
        self._tokenizer = Tokenizer(
            self._whisper.hf_tokenizer,
            self.multilingual,
            task="transcribe",
            language=language if self.multilingual else None,
        )
        self._tokenizers = {self.language: self._tokenizer}
        """One per language heard, on a multilingual model."""
        self._suppress = get_suppressed_tokens(self._tokenizer, (-1,))
        self.beam_size = beam_size
        self.full_window = full_window
        self.path = path

    def transcribe(self, audio: np.ndarray, beam_size: int | None = None) -> str:
        """The text of one utterance (float32 samples at 16 kHz) in the default language."""
        return self.hear(audio, beam_size).text

    def hear(
        self,
        audio: np.ndarray,
        beam_size: int | None = None,
        languages: tuple[str, ...] = (),
        context: str = "",
        hotwords: str = "",
    ) -> Heard:
        """One utterance (float32 samples at 16 kHz): which of ``languages`` it was spoken in (a
        multilingual model's language identification, on the same encoding as the text), and its
        text in that language. An English-only model hears English. ``context``: what was said just
        before, when this goes on with the same sentence (whisper's previous text); ``hotwords``:
        words of the default language to expect (the glossary's priority terms)."""
        features = self._whisper.feature_extractor(audio)
        full = MAX_WINDOW_S * FRAMES_PER_S
        frames = full if self.full_window else window_frames(len(audio))
        heard = self._decode(features, frames, beam_size, languages, context, hotwords)
        if frames < full and repeats(heard.text):
            # A window fitted to the utterance sometimes makes whisper say the sentence twice
            # ("Our next speaker … countries. Our next speaker … countries."); its padded 30 s
            # window does not. Heard again on that, only then.
            heard = self._decode(features, full, beam_size, languages, context, hotwords)
        return heard

    def _decode(
        self,
        features: np.ndarray,
        frames: int,
        beam_size: int | None,
        languages: tuple[str, ...],
        context: str,
        hotwords: str,
    ) -> Heard:
        from faster_whisper.audio import pad_or_trim

        whisper = self._whisper
        encoded = whisper.encode(pad_or_trim(features, frames))
        language = self._identify(encoded, languages)
        tokenizer = self._tokenizer_for(language)
        previous = tokenizer.encode(" " + context.strip()) if context.strip() else []
        expected = hotwords if language == self.language and hotwords else None
        prompt = whisper.get_prompt(tokenizer, previous, without_timestamps=True, hotwords=expected)
        result = whisper.model.generate(
            encoded,
            [prompt],
            beam_size=beam_size or self.beam_size,
            max_length=224,
            suppress_blank=True,
            suppress_tokens=self._suppress,
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        return Heard(tokenizer.decode(tokens).strip(), language)

    def _identify(self, encoded: object, languages: tuple[str, ...]) -> str:
        """The most likely of ``languages`` (whisper's language tokens), or the default."""
        if not self.multilingual or len(languages) < 2:
            return self.language
        scores = dict(self._whisper.model.detect_language(encoded)[0])
        return max(languages, key=lambda code: scores.get(f"<|{code}|>", 0.0))

    def _tokenizer_for(self, language: str) -> Tokenizer:
        if language not in self._tokenizers:
            from faster_whisper.tokenizer import Tokenizer

            self._tokenizers[language] = Tokenizer(
                self._whisper.hf_tokenizer, True, task="transcribe", language=language
            )
        return self._tokenizers[language]
