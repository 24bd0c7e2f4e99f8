"""Consecutive turns, for panels (``consecutive = true``): whether the next speaker may begin, or
must wait while the one before is still being interpreted, as Teams' interpretation asks.

When the floor falls quiet, every language owes an answer to what was just said: it has given it
once it has answered (its turn done, or passed through as its own language) an utterance whose
speech ran to the end of the floor's. An interpreter that announces no speech at all within
`HEARD_WITHIN_S` heard none (a cough the floor's level took for speech). A language is then still
interpreting while its listeners hear the answer: a channel's utterances play one after another,
each from its first audio (or from the end of the one before, if that is later) for its length.
Bookkeeping on the talk's timeline (ms) and the caller's monotonic clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from translator.audio.format import SAMPLE_RATE
from translator.hub import AudioChunk

Light = Literal["clear", "speaking", "interpreting"]
HEARD_WITHIN_S = 10.0
"""An interpreter that hears speech announces it within this of the floor falling quiet: Voice Live
announces a turn once it is committed and transcribed, which a busy service or machine delays by
seconds (3 s let the light clear before English had begun, in a clean CI run); later than this is
a stall anyway (`stalls.OWED_S`). A cough the floor's level took for speech holds the light as long."""
ANSWER_WITHIN_S = 15.0
"""An answer still not given this long after the floor fell quiet is let go: the light must not
stay on for ever (a stalled interpreter is restarted anyway)."""
MARGIN_MS = 300
"""How far an interpreter's account of where speech began and ended may differ from the floor's."""


class TurnState(msgspec.Struct, frozen=True):
    """What the panel's next speaker is told."""

    light: Light
    """``speaking``: the floor is being spoken on now; ``interpreting``: wait, the last speaker is
    still being interpreted; ``clear``: the next speaker may begin."""
    spoken: str | None
    """The language of what is being interpreted (None while the floor speaks: not known yet)."""
    languages: list[str] = []
    """The languages still interpreting it."""
    wait_s: float | None = None
    """While interpreting: about how long until clear (None: the interpretation has not begun to
    play in some language, so its length is not known yet)."""


@dataclass
class _Playhead:
    """When one channel's listeners will have heard everything published to it so far."""

    utterance: int | None = None
    start: float = 0.0
    """When the current utterance begins to play."""
    heard_s: float = 0.0
    """Its audio so far, in seconds."""

    @property
    def until(self) -> float:
        return self.start + self.heard_s

    def audio(self, chunk: AudioChunk, now: float) -> None:
        if chunk.utterance != self.utterance:
            self.start, self.utterance, self.heard_s = max(now, self.until), chunk.utterance, 0.0
        self.heard_s = max(self.heard_s, chunk.position / SAMPLE_RATE + chunk.seconds)


@dataclass
class _Owed:
    """An answer a language owes to the floor's last speech."""

    quiet_at: float
    """When the floor fell quiet (monotonic)."""
    since_ms: int
    until_ms: int
    """The floor's speech, on the talk's timeline."""
    heard: bool = False
    """The interpreter has announced speech of it."""


@dataclass
class TurnLight:
    """Every channel's playhead and owed answer; `state` says whether the floor is clear."""

    _channels: dict[str, _Playhead] = field(default_factory=dict)
    _owed: dict[str, _Owed] = field(default_factory=dict)
    _since_ms: int | None = None
    """Where the floor's speech began, while it speaks."""
    _heard: set[str] = field(default_factory=set)
    """The languages whose interpreter announced the speech while the floor still spoke."""
    _answered: dict[str, int] = field(default_factory=dict)
    """Where each language's answers given while the floor still spoke ended (ms): an interpreter
    whose own VAD ends a turn on a shorter silence than the floor's hangover (Voice Live's 500 ms
    against 600) may answer before the floor falls quiet."""
    speaking: bool = False
    quiets: int = 0
    """How often the floor has fallen quiet."""
    spoken: str | None = None
    """The language of the last utterance heard on the floor."""

    def floor(self, speaking: bool, at_ms: int, languages: list[str], now: float) -> None:
        """The floor began to speak at ``at_ms``, or fell quiet having spoken until ``at_ms``."""
        self.speaking = speaking
        if speaking:
            self._since_ms, self._heard, self._answered = at_ms, set(), {}
            return
        self.quiets += 1
        since = at_ms if self._since_ms is None else self._since_ms
        for lang in languages:
            answered = self._answered.get(lang)
            if answered is not None and answered >= at_ms - MARGIN_MS:
                # Answered to the end of the floor's speech already (and so all that came before).
                self._owed.pop(lang, None)
                continue
            # Speech still owed an answer from before joins this one.
            before = self._owed.get(lang)
            heard = lang in self._heard or (before is not None and before.heard)
            self._owed[lang] = _Owed(now, before.since_ms if before else since, at_ms, heard)

    def heard(self, lang: str, start_ms: int | None) -> None:
        """``lang``'s interpreter announced speech that began at ``start_ms``."""
        if start_ms is None:
            return
        owed = self._owed.get(lang)
        if owed is not None and start_ms >= owed.since_ms - MARGIN_MS:
            owed.heard = True
        elif self.speaking and self._since_ms is not None and start_ms >= self._since_ms - MARGIN_MS:
            self._heard.add(lang)  # an engine that announces speech as it begins

    def answered(self, lang: str, end_ms: int | None) -> None:
        """``lang``'s interpreter is done with an utterance whose speech ended at ``end_ms`` (its
        audio is published by now)."""
        if end_ms is None:
            return
        owed = self._owed.get(lang)
        if owed is not None and end_ms >= owed.until_ms - MARGIN_MS:
            del self._owed[lang]
        elif self.speaking:
            self._answered[lang] = max(end_ms, self._answered.get(lang, end_ms))

    def audio(self, chunk: AudioChunk, now: float) -> None:
        """One chunk published to a language's listeners (one codec's is enough: both play alike)."""
        if chunk.codec == "pcm" and not chunk.end:
            self._channels.setdefault(chunk.lang, _Playhead()).audio(chunk, now)

    def forget(self, lang: str) -> None:
        self._channels.pop(lang, None)
        self._owed.pop(lang, None)

    def owing(self, now: float) -> bool:
        """Some language still owes an answer to what the floor said."""
        self._owed = {
            lang: owed
            for lang, owed in self._owed.items()
            if now - owed.quiet_at < (ANSWER_WITHIN_S if owed.heard else HEARD_WITHIN_S)
        }
        return bool(self._owed)

    def state(self, now: float) -> TurnState:
        """The light now."""
        self.owing(now)
        if self.speaking:
            return TurnState("speaking", None)  # its language is known once it has been heard
        owing = set(self._owed)
        playing = {lang: head.until - now for lang, head in self._channels.items() if head.until > now}
        busy = sorted({*owing, *playing})
        if not busy:
            return TurnState("clear", self.spoken)
        wait = None if owing else round(max(playing.values()), 1)
        return TurnState("interpreting", self.spoken, busy, wait)
