"""Rolling lag figures: how far behind the speaker each language's audio and captions arrive."""

from __future__ import annotations

from collections import deque

import numpy as np

WINDOW = 50
"""Utterances the rolling figures cover: a few minutes of speech."""


class RollingLag:
    """The lags of the last ``WINDOW`` utterances, in seconds."""

    def __init__(self) -> None:
        self._values: deque[float] = deque(maxlen=WINDOW)

    def add(self, seconds: float) -> None:
        self._values.append(seconds)

    def summary(self) -> dict[str, float | int | None]:
        """``p50`` and ``p95`` (None before the first utterance) and how many utterances they cover."""
        if not self._values:
            return {"p50": None, "p95": None, "n": 0}
        p50, p95 = np.percentile(np.fromiter(self._values, float), [50, 95])
        return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "n": len(self._values)}


class LanguageLags:
    """One language's lags from the end of speech to the first translated audio and to the final caption."""

    def __init__(self) -> None:
        self.audio = RollingLag()
        self.caption = RollingLag()

    def summary(self) -> dict[str, dict[str, float | int | None]]:
        return {"audio": self.audio.summary(), "caption": self.caption.summary()}
