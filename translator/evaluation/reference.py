"""What a talk really contains: utterance timings, the source text and reference translations.

A reference file is JSON::

    {"utterances": [
        {"start": 1.0, "end": 3.4, "text": "Good morning everyone.",
         "translations": {"es": "Buenos días a todos.", "fr": "Bonjour à tous."}},
        ...
    ]}

``start`` and ``end`` are seconds from the beginning of the WAV file (the true end of speech);
``text`` and ``translations`` are optional. Without a reference, the talk's own voice activity
(Silero VAD, the offline engine's segmenter) gives the timings, and quality is not scored.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np

from translator.errors import ConfigError


class ReferenceUtterance(msgspec.Struct, forbid_unknown_fields=True):
    """One utterance of the talk."""

    start: float
    end: float
    text: str = ""
    translations: dict[str, str] = {}


class Reference(msgspec.Struct, forbid_unknown_fields=True):
    """A talk's utterances, in order."""

    utterances: list[ReferenceUtterance]

    @property
    def has_text(self) -> bool:
        return all(u.text for u in self.utterances)

    def translations(self, lang: str) -> list[str] | None:
        """The reference translations into ``lang``, if every utterance has one."""
        texts = [u.translations.get(lang, "") for u in self.utterances]
        return texts if all(texts) else None


def load_reference(path: str | Path) -> Reference:
    """Read and check a reference file; a problem raises ConfigError naming the file and the field."""
    path = Path(path)
    try:
        reference = msgspec.json.decode(path.read_bytes(), type=Reference)
    except FileNotFoundError:
        raise ConfigError(str(path), "no such reference file") from None
    except msgspec.ValidationError as exc:
        raise ConfigError(str(path), str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ConfigError(str(path), f"not valid JSON ({exc})") from None
    previous_end = 0.0
    for index, u in enumerate(reference.utterances):
        if not 0 <= u.start < u.end or u.start < previous_end:
            raise ConfigError(
                str(path),
                f"utterances[{index}]: start/end must increase ({u.start} → {u.end}) "
                "and not overlap the previous utterance",
            )
        previous_end = u.end
    if not reference.utterances:
        raise ConfigError(str(path), "utterances: the list is empty")
    return reference


def reference_from_vad(pcm: bytes) -> Reference:
    """Utterance timings found by the offline engine's VAD in 24 kHz PCM16 (no text)."""
    from translator.audio import SAMPLE_RATE, Resampler
    from translator.engines.local.vad import ASR_RATE, CHUNK, Ended, Segmenter, SegmenterConfig, SileroVad

    samples = Resampler(SAMPLE_RATE, ASR_RATE).feed_float(pcm)
    samples = np.concatenate([samples, np.zeros(ASR_RATE, np.float32)])  # close a final utterance
    vad, segmenter = SileroVad(), Segmenter(SegmenterConfig())
    utterances = []
    for offset in range(0, len(samples) - CHUNK + 1, CHUNK):
        for event in segmenter.feed(vad(samples[offset : offset + CHUNK])):
            if isinstance(event, Ended):
                utterances.append(ReferenceUtterance(event.start / ASR_RATE, event.end / ASR_RATE))
    return Reference(utterances)
