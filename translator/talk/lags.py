"""Rolling lag figures: how far behind the speaker each language's audio and captions arrive."""

from __future__ import annotations

from collections import deque

import msgspec
import numpy as np

WINDOW = 50
"""Utterances the rolling figures cover: a few minutes of speech."""


class LagFigures(msgspec.Struct, frozen=True):
    """Rolling figures of one lag, in seconds."""

    p50: float | None
    p95: float | None
    n: int
    """How many utterances they cover."""


class LagsReport(msgspec.Struct, frozen=True):
    """A language's rolling lags from the end of speech to its first translated audio and to its
    final caption."""

    audio: LagFigures
    caption: LagFigures


class RollingLag:
    """The lags of the last ``WINDOW`` utterances, in seconds."""

    def __init__(self) -> None:
        self._values: deque[float] = deque(maxlen=WINDOW)

    def add(self, seconds: float) -> None:
        self._values.append(seconds)

    def summary(self) -> LagFigures:
        """``p50`` and ``p95`` (None before the first utterance) and how many utterances they cover."""
        if not self._values:
            return LagFigures(None, None, 0)
        p50, p95 = np.percentile(np.fromiter(self._values, float), [50, 95])
        return LagFigures(round(float(p50), 2), round(float(p95), 2), len(self._values))


class LanguageLags:
    """One language's lags from the end of speech to the first translated audio and to the final caption."""

    def __init__(self) -> None:
        self.audio = RollingLag()
        self.caption = RollingLag()

    def summary(self) -> LagsReport:
        """Both rolling figures."""
        return LagsReport(self.audio.summary(), self.caption.summary())
