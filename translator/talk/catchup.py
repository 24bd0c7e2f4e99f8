"""Catching up: a language whose interpretation runs behind the talk is spoken faster for a while.

Translated speech is usually longer than its source, and an utterance can only play once the one
before it has; a listener who hears everything in order falls further behind a speaker who does
not pause, until the page skips whole sentences. So the service follows, per language, the
listener the page is (`JitterBuffer`, web/jitter.js): each utterance plays from when its audio
begins to arrive or when the one before has played, whichever is later, at real time. An
utterance's *lateness* is how long it waits; it is what the page shows as ``lagSeconds``.

When an utterance begins, its tempo is chosen from the lateness it will have: past `START_S`, in
proportion up to ``max_tempo`` at `FULL_S`; back to 1 once under `STOP_S`. It holds for the whole
utterance (a sentence does not change speed halfway). The audio is stretched once per language,
before it is encoded, for every listener alike (`translator.audio.stretch`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

START_S = 1.0
"""Lateness at which utterances start being sped up."""
FULL_S = 2.5
"""Lateness at which they play at the most tempo allowed."""
STOP_S = 0.3
"""Once caught up below this, utterances play at normal speed again."""


class CatchUp:
    """One language's listener, followed: its lateness now and the tempo of the next utterance."""

    def __init__(self, max_tempo: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_tempo = max_tempo
        """1: never speed up."""
        self._clock = clock
        self._free_at = 0.0
        """When the listener will have played everything that has arrived."""
        self.tempo = 1.0
        """The tempo of the latest utterance."""
        self.lateness_s = 0.0
        """How long the latest utterance waited (or will wait) to play."""

    def begin(self) -> float:
        """An utterance's audio begins to arrive: its tempo."""
        now = self._clock()
        self.lateness_s = max(0.0, self._free_at - now)
        self._free_at = max(self._free_at, now)
        late = self.lateness_s
        if self.max_tempo <= 1.0 or late < STOP_S or (late < START_S and self.tempo == 1.0):
            self.tempo = 1.0
        else:
            share = min(1.0, (late - STOP_S) / (FULL_S - STOP_S))
            self.tempo = round(1.0 + share * (self.max_tempo - 1.0), 2)
        return self.tempo

    def played(self, seconds: float) -> None:
        """Audio of the current utterance arrived (as it will play: stretched already)."""
        if seconds:
            self._free_at = max(self._free_at, self._clock()) + seconds

    def behind_s(self) -> float:
        """What the listener still has to hear of what has arrived."""
        return max(0.0, self._free_at - self._clock())
