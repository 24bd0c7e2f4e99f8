"""Where on the talk's timeline an output event of gpt-realtime-translate belongs.

What is known for certain is the audio appended: nothing the service says can be about input it has
not been sent, so every event belongs at or before the talk position appended when it arrives (its
*arrival*). The service's ``elapsed_ms`` may say more, but its meaning is not documented ("alignment
metadata … advances in 200 ms increments … multiple deltas may share the same value"): one live client
read it as this connection's input clock, another saw multi-second jumps and reads it as a server
wall clock. So it is used only once it has shown, over `PACE_WINDOW_MS` of appended audio, that it
counts this connection's input, only while every reading agrees with what is certain, and never
again on the connection once one does not:

- a reading ahead of the arrival (input not yet sent: a jump, a clock that runs faster);
- a reading behind an earlier one of the same kind of event;
- a reading more than `MAX_LAG_MS` behind the arrival (no interpreter waits that long);
- a clock that advances at less than half the pace of the audio appended (a wall clock while audio
  is replayed faster than real time);
- loud output placed where the floor had not yet spoken (the segmenter's judgement).

Silence appended only to keep the session alive (`inserted`) is not on the talk's timeline and is
taken out of a reading before it is compared.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

MAX_LAG_MS = 4000
PACE_WINDOW_MS = 2000


class ElapsedClock:
    """One connection's reading of ``elapsed_ms``, trusted until it disagrees once."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        """The talk position of the connection's first appended frame."""
        self.trusted = True
        self._last: dict[str, int] = {}
        self._first: tuple[int, int] | None = None
        """The first reading: (arrival, position)."""
        self._inserted: list[tuple[int, int]] = []
        """Keep-alive silence: (connection ms where it was appended, its length)."""

    def inserted(self, at_ms: int, length_ms: int) -> None:
        """Silence of ``length_ms`` was appended at the connection's ``at_ms``, off the talk's timeline."""
        self._inserted.append((at_ms, length_ms))

    def position(self, kind: str, elapsed_ms: int | None, arrival: int) -> tuple[int, bool]:
        """The talk position of an event of ``kind`` that arrived when the input up to ``arrival``
        had been appended, and whether ``elapsed_ms`` placed it (else: its arrival)."""
        if elapsed_ms is None or not self.trusted:
            return arrival, False
        position = self._talk_position(elapsed_ms)
        first = self._first = self._first or (arrival, position)
        why = ""
        if position > arrival:
            why = f"{position - arrival} ms ahead of the audio sent"
        elif position < self._last.get(kind, position):
            why = f"went back by {self._last[kind] - position} ms"
        elif arrival - position > MAX_LAG_MS:
            why = f"{arrival - position} ms behind the audio sent"
        elif arrival - first[0] >= PACE_WINDOW_MS and position - first[1] < (arrival - first[0]) / 2:
            why = "slower than the audio sent"
        if why:
            self.distrust(why)
            return arrival, False
        self._last[kind] = position
        if arrival - first[0] < PACE_WINDOW_MS:
            return arrival, False  # not yet shown to keep pace with the input
        return position, True

    def distrust(self, why: str) -> None:
        """Stop reading ``elapsed_ms`` on this connection."""
        if self.trusted:
            log.info("elapsed_ms no longer read as a position on this connection: %s", why)
        self.trusted = False

    def _talk_position(self, elapsed_ms: int) -> int:
        silence = 0
        for at, length in self._inserted:
            if at >= elapsed_ms:
                break
            silence += min(length, elapsed_ms - at)
        return self.offset + elapsed_ms - silence
