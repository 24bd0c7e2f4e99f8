"""Speech played faster without its pitch changing: Signalsmith Stretch (python-stretch, MIT).

A `Stretcher` takes one utterance's PCM16 as it arrives and gives it back ``tempo`` times shorter,
in step: the stretcher keeps its state between chunks, so the utterance is one continuous
stretch. At tempo 1 nothing is processed at all.
"""

from __future__ import annotations

import numpy as np
import python_stretch

from translator.audio import SAMPLE_RATE

SEED = 1
"""Signalsmith randomises its phases; a fixed seed makes the same input give the same output."""


class Stretcher:
    """One utterance's audio, ``tempo`` times faster (1 to 2), pitch unchanged."""

    def __init__(self, tempo: float) -> None:
        self.tempo = tempo
        self._stretch: python_stretch.Signalsmith.Stretch | None = None
        if tempo != 1.0:
            self._stretch = python_stretch.Signalsmith.Stretch(SEED)
            self._stretch.preset(1, SAMPLE_RATE)
            self._stretch.timeFactor = tempo
        self._odd = b""
        """A half sample left over from the last chunk."""

    def feed(self, pcm: bytes) -> bytes:
        """The stretched audio of ``pcm`` (24 kHz mono PCM16)."""
        if self._stretch is None:
            return pcm
        pcm, self._odd = self._odd + pcm, b""
        if len(pcm) % 2:
            pcm, self._odd = pcm[:-1], pcm[-1:]
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
        if not len(samples):
            return b""
        out = np.asarray(self._stretch.process(samples[None, :]), dtype=np.float32)[0]
        return (np.clip(out, -1.0, 1.0) * 32767).astype("<i2").tobytes()
