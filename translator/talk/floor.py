"""The floor: the speaker's own voice, encoded once, for the Original channel and for passthrough.

Every frame the engine hears (silence while the input is muted) is encoded by one continuous Opus
encoder and kept, PCM and packet, for `KEEP_S` on the talk's timeline: frame ``n`` covers
``n * 20`` ms. A *span* is a stretch of those frames published as one utterance of one channel:

- the Original channel's own utterances, cut at the floor's pauses (the input's level), published
  as the frames arrive: their lag is the encoding and one message's worth of audio;
- passthrough: a sentence spoken in a channel's own language, cut where the engine heard it and
  published once the engine has said which language it was.

Spans read the same packets, so passthrough costs no encoding and is byte-identical to the floor's
audio of the same stretch. Each utterance is a slice of one Opus stream: a page decodes it with a
fresh decoder, which settles within the first packet; the cuts fall in pauses, where that is silent.
A span may reach past the newest frame: it grows as frames arrive and ends once its last is out.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from translator.audio import FRAME_MS, FRAME_SAMPLES
from translator.audio.levels import LOUD_DBFS
from translator.audio.opus import OpusEncoder
from translator.hub import AudioChunk
from translator.languages import FLOOR
from translator.messages import MAX_PACKETS

KEEP_S = 60
"""Seconds of the floor kept for passthrough: far more than any engine takes to name a language."""
PREROLL_MS = 200
"""Kept before the first loud frame of an Original utterance: the onset of a word is quiet."""
HANGOVER_MS = 600
"""Quiet that ends an Original utterance: longer than a breath between words."""
MAX_UTTERANCE_MS = 15_000
"""An Original utterance is cut here even if the floor never pauses (a noisy room)."""
PASSTHROUGH_PAD_MS = 100
"""Added before and after a passthrough sentence's speech: the engine's VAD cuts it tight."""
FIRST_ID = 1 << 31
"""The Original channel's utterances are numbered from here: never a caption's id (those count
from 1), so that an id on the wire names one thing."""


@dataclass
class Span:
    """A stretch of the floor published as one utterance of one channel."""

    lang: str
    utterance: int
    first: int
    """Its first frame."""
    next: int
    """The next frame to publish."""
    last: int | None
    """The frame after its last; None while the stretch is still open (the floor still speaking)."""
    heard: bool = True
    """Published; an Original utterance while the Original channel is interpreted is not (it is
    kept only to tell when the floor speaks)."""


class Floor:
    """The input encoded once; `feed` every frame, `add` a passthrough, `close` when the input ends.

    Synchronous and free of I/O: what it publishes goes to ``publish`` (the hub), at once.
    """

    def __init__(self, publish: Callable[[AudioChunk], None]) -> None:
        self._publish = publish
        self._ids = itertools.count(FIRST_ID)
        """The Original channel's own utterance numbers."""
        self._encoder = OpusEncoder()
        keep = KEEP_S * 1000 // FRAME_MS
        self._pcm: deque[bytes] = deque(maxlen=keep)
        self._packets: deque[bytes] = deque(maxlen=keep)
        self.frames = 0
        """Frames fed so far: the talk position (in frames) of the next one."""
        self._spans: list[Span] = []
        self._own: Span | None = None
        """The Original channel's utterance in progress."""
        self._quiet = 0
        """Quiet frames since the floor was last loud."""
        self._own_end = 0
        """Where the last Original utterance ended: the next one never overlaps it."""
        self._interpreted = False
        """The Original channel hears an interpreter instead (a question asked aloud in another
        language on a floor of one): its own utterances are not published meanwhile."""

    @property
    def speaking(self) -> bool:
        """The floor is being spoken on: an Original utterance is open (loud, or quiet for less
        than `HANGOVER_MS`)."""
        return self._own is not None

    @property
    def _oldest(self) -> int:
        return self.frames - len(self._pcm)

    def feed(self, frame: bytes, level_dbfs: float) -> None:
        """One 20 ms frame of the floor (PCM16, 24 kHz) and its level."""
        self._pcm.append(frame)
        self._packets.extend(self._encoder.feed(frame))
        self.frames += 1
        self._cut(level_dbfs > LOUD_DBFS)
        self._advance()

    def add(self, lang: str, utterance: int, start_ms: int, end_ms: int) -> None:
        """Publish the floor's audio of ``[start_ms, end_ms]`` (padded) as ``utterance`` of ``lang``."""
        pad = PASSTHROUGH_PAD_MS // FRAME_MS
        first = max(self._oldest, start_ms // FRAME_MS - pad)
        last = max(first, math.ceil(end_ms / FRAME_MS) + pad)
        self._spans.append(Span(lang, utterance, first, first, last))
        self._advance()

    def interpret(self, interpreted: bool) -> None:
        """From the next frame on, publish the Original channel's own utterances (False) or not
        (True: an interpreter speaks to it). An utterance open now ends here and the next begins
        at once, so the floor goes on speaking as it did."""
        if interpreted == self._interpreted:
            return
        self._interpreted = interpreted
        own = self._own
        if own is not None:
            own.last = self._own_end = self.frames
            self._own = Span(FLOOR, next(self._ids), self.frames, self.frames, None, not interpreted)
            self._spans.append(self._own)
        self._advance()

    def close(self) -> None:
        """The input ended: every span ends at the last frame fed."""
        for span in self._spans:
            if span.last is None or span.last > self.frames:
                span.last = self.frames
        self._own = None
        self._advance()

    def _cut(self, loud: bool) -> None:
        """The Original channel's utterances: from a little before the floor is loud until it has
        been quiet for `HANGOVER_MS`, `MAX_UTTERANCE_MS` at most."""
        now = self.frames - 1  # the frame just fed
        own = self._own
        self._quiet = 0 if loud else self._quiet + 1
        if own is not None and (
            self._quiet >= HANGOVER_MS // FRAME_MS or now + 1 - own.first >= MAX_UTTERANCE_MS // FRAME_MS
        ):
            own.last = self._own_end = now + 1
            self._own = own = None
        if own is None and loud:
            first = max(self._own_end, self._oldest, now - PREROLL_MS // FRAME_MS)
            self._own = Span(FLOOR, next(self._ids), first, first, None, not self._interpreted)
            self._spans.append(self._own)

    def _advance(self) -> None:
        """Publish what each span can: whole messages of `MAX_PACKETS` frames, and its end."""
        for span in list(self._spans):
            end = self.frames if span.last is None else min(span.last, self.frames)
            if not span.heard:
                span.next = end
            while span.next < end and (end - span.next >= MAX_PACKETS or end == span.last):
                self._send(span, min(end, span.next + MAX_PACKETS))
            if span.last is not None and span.next >= span.last:
                self._spans.remove(span)
                if not span.heard:
                    continue
                length = (span.last - span.first) * FRAME_SAMPLES
                self._publish(AudioChunk.ending(span.lang, span.utterance, length, "pcm"))
                self._publish(AudioChunk.ending(span.lang, span.utterance, length, "opus"))

    def _send(self, span: Span, stop: int) -> None:
        oldest = self._oldest
        start = max(span.next, oldest)
        position = (span.next - span.first) * FRAME_SAMPLES
        # Frames older than what is kept are gone: the span starts later (its positions stay true).
        position += (start - span.next) * FRAME_SAMPLES
        pcm = b"".join(self._pcm[i - oldest] for i in range(start, stop))
        packets = [self._packets[i - oldest] for i in range(start, stop)]
        if pcm:
            self._publish(AudioChunk.pcm(span.lang, span.utterance, position, pcm))
            self._publish(AudioChunk.opus(span.lang, span.utterance, position, packets))
        span.next = stop
