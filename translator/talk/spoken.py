"""A question spoken from a listener's phone.

The listener asks to speak and waits; the moderator gives them the floor; from the next frame the
phone's microphone is the room's input (through a jitter buffer onto the talk's clock, as a
publisher's is) and the engines interpret it as they would the speaker. It ends when the listener
finishes (what they sent still plays), when its time is up, or when the moderator ends it (at
once). The room's own input keeps running all along, its frames set aside, so it is back on the
very next frame.
"""

from __future__ import annotations

import asyncio

from translator.audio.format import FRAME_MS
from translator.audio.jitter import JitterBuffer

MAX_SPOKEN_S = 60.0
"""The longest a spoken question holds the floor: a question, not a speech."""
TIME_UP = "the time for a question is up"
ENDED_BY_MODERATOR = "the moderator ended the question"
DECLINED = "the moderator declined the question"
FINISHED = "thank you: your question was heard"
ENDINGS = {FINISHED: "heard", TIME_UP: "time", ENDED_BY_MODERATOR: "ended", DECLINED: "declined"}
"""How a question ended, as a word a page turns into the listener's language (anything else: the
room stopped, or the listener withdrew)."""


class SpokenQuestion:
    """One listener's spoken question: waiting, then live (the room's input), then over."""

    def __init__(self, question_id: int, lang: str, rate: int, limit_s: float = MAX_SPOKEN_S) -> None:
        self.id = question_id
        self.lang = lang
        self.buffer = JitterBuffer()
        self.buffer.begin(rate)
        self.limit_s = limit_s
        self.limit_frames = int(limit_s * 1000 / FRAME_MS)
        self.granted = asyncio.Event()
        """Set when the moderator gives the listener the floor."""
        self.over = asyncio.Event()
        """Set once it no longer holds the floor (or never will): ``why`` says how it ended."""
        self.why = ""
        self.frames = 0
        """Frames it has given the room so far."""

    @property
    def ending(self) -> str:
        """How it ended, in one word (`ENDINGS`; ``stopped`` otherwise)."""
        return ENDINGS.get(self.why, "stopped")

    @property
    def live(self) -> bool:
        """It holds the floor now."""
        return self.granted.is_set() and not self.over.is_set()

    def grant(self) -> None:
        """The floor is the listener's from the next frame the room takes."""
        self.granted.set()

    def push(self, pcm: bytes) -> None:
        """The listener's audio (mono PCM16 at the rate it began with); what comes before the floor
        is given, or after the listener finished, is not the question."""
        if self.live and self.buffer.sending:
            self.buffer.push(pcm)

    def finish(self) -> None:
        """The listener is done (or gone): what they sent still plays, then the floor goes back."""
        self.buffer.end()
        if not self.granted.is_set():
            self._end("the question was withdrawn")

    def end(self, why: str) -> None:
        """Ended from outside (the moderator, the room stopping): the floor goes back at once."""
        self._end(why)

    def take(self) -> bytes | None:
        """The frame the room hears in place of its own input; None once the question is over."""
        if not self.live:
            return None
        if not self.buffer.sending and self.buffer.buffered_s * 1000 < FRAME_MS:
            self._end(FINISHED)
            return None
        self.frames += 1
        if self.frames > self.limit_frames:
            self._end(TIME_UP)
            return None
        return self.buffer.take()

    def _end(self, why: str) -> None:
        if not self.over.is_set():
            self.why = why
            self.over.set()
