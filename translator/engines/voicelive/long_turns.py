"""Turns a listener can wait for: the engine ends a long turn itself, at the speaker's next short
pause, instead of waiting for the silence the service's VAD needs.

Without an end-of-utterance model the VAD ends a turn after 800 ms of silence (less commits at every
breath). A fast speaker never pauses that long, and a turn then runs on for sentence after sentence:
its first sentence is heard after the last one is said. The service accepts
``input_audio_buffer.commit`` under server VAD (voicelive.md), so once a turn has run for half of
the bound, the next pause of `PAUSE_MS` ends it; past five sixths, any pause of `SHORT_PAUSE_MS`;
at the bound, the turn ends where it is. Whole sentences stay together wherever the speaker pauses
between them, and no turn is longer than the bound.

Pure bookkeeping on the talk's timeline, fed the level of each frame as it is sent.
"""

from __future__ import annotations

from translator.audio import FRAME_MS

PAUSE_MS = 300
"""A pause between sentences, for a fast speaker."""
SHORT_PAUSE_MS = 100
"""A breath: taken once the turn is close to the bound."""


class TurnLimiter:
    """Says when the open turn should be committed by the engine."""

    def __init__(self, max_ms: int) -> None:
        self.max_ms = max_ms
        """The longest turn (0: only the service ends turns)."""
        self._start: int | None = None
        self._quiet_from: int | None = None
        self.pause_at = 0
        """Where the speech of the turn last committed by the engine ended (talk ms)."""

    def started(self, start_ms: int) -> None:
        """The service heard speech begin at ``start_ms``: a turn is open."""
        self._start = start_ms

    def ended(self) -> None:
        """The service ended the open turn itself."""
        self._start = None

    def heard(self, position_ms: int, loud: bool) -> bool:
        """The frame at ``position_ms`` was sent: whether to commit the open turn now."""
        if loud:
            self._quiet_from = None
        elif self._quiet_from is None:
            self._quiet_from = position_ms
        start = self._start
        if not self.max_ms or start is None:
            return False
        end = position_ms + FRAME_MS
        quiet = 0 if self._quiet_from is None else end - self._quiet_from
        speech = (end if self._quiet_from is None else self._quiet_from) - start
        due = (
            (speech >= self.max_ms / 2 and quiet >= PAUSE_MS)
            or (speech >= self.max_ms * 5 / 6 and quiet >= SHORT_PAUSE_MS)
            or speech >= self.max_ms
        )
        if due:
            self._start = None
            self.pause_at = end if self._quiet_from is None else self._quiet_from
        return due
