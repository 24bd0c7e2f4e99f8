"""A continuous interpretation cut into utterances, so that it reads like any other engine's.

The dedicated interpreter model streams translated audio and both transcripts with no turns. The
rest of the service (captions, the listener protocol, transcripts, lags, the evaluation) works by
utterance, so this module cuts the stream, in one language, by these rules:

- **Pauses in the translated audio.** An utterance opens at the first loud block of output (with a
  little of the quiet before it, so that no onset is clipped) and ends when the output has been quiet
  for `PAUSE_MS`: quiet samples (the service's exact-zero heartbeats), or, from a service that has
  sent no quiet audio at all, no audio for `ABSENT_MS` of input. Quiet inside an utterance is kept;
  quiet between utterances is dropped (a listener's queue does not grow with silence).
- **Punctuation.** When the translated text so far ends a sentence, a shorter pause
  (`SENTENCE_PAUSE_MS`) ends the utterance: one caption per sentence for a speaker who hardly stops.
- **A bound on length.** Past `LONG_MS` any pause of `LONG_PAUSE_MS` ends it, and at `MAX_MS` it is
  cut where it is: a caption never grows without end.

Text is given out in order, by its sentences. The translated transcript has no utterance boundary
and usually leads its audio, so text that comes once the open utterance's text ends a sentence
starts the *next* sentence: it waits for the next utterance, and the open one then ends at any
pause of `LONG_PAUSE_MS` (or, if its audio never pauses, `NEXT_SENTENCE_MS` after). Text that comes
after an utterance's audio ended joins it while its sentence is unfinished, for `TEXT_GRACE_MS` of
input (`SENTENCE_GRACE_MS` once it ends a sentence), or when the service's ``elapsed_ms`` places it
there (`clock`: only where that reading agrees with what is certain); a finished sentence takes
no more. The source transcript goes to the utterance whose speech it was heard in.

The *speech* an utterance translates (its start and end on the talk's timeline, for the caption
times and the lag) comes from the input itself: the stretches where the floor is loud. An utterance
spans the speech from the end of the one before to the last stretch that had ended before its last
output (and, when the output is placed only by its arrival, had begun before its first). A stretch
that no output ever followed in `PASSTHROUGH_WAIT_MS` (the model "tries not to translate speech
already in the output language") is reported as passed through, when the target is one of the
floor's languages.

Synchronous and free of I/O: everything it decides goes to ``emit``, at once. Positions are ms on
the talk's timeline.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from translator.audio import FRAME_MS
from translator.audio.levels import LOUD_DBFS, level_dbfs
from translator.engines.events import (
    AnyEngineEvent,
    Passthrough,
    SourceText,
    SpeechStarted,
    SpeechStopped,
    TranslationAudio,
    TranslationText,
    TurnDone,
)

BLOCK_MS = 20
BLOCK_BYTES = 24 * BLOCK_MS * 2
QUIET_DBFS = -45.0
"""Output quieter than this is a pause in the interpreter's speech."""
PAUSE_MS = 500
SENTENCE_PAUSE_MS = 200
LONG_MS = 10_000
LONG_PAUSE_MS = 100
MAX_MS = 20_000
ABSENT_MS = 800
"""No output audio at all for this long (of input) is a pause, from a service that sends none in
silence (one that streams silence may be late, never silent)."""
NEXT_SENTENCE_MS = 3000
"""How much more audio the open utterance is given once the next sentence's text has come."""
ONSET_MS = 100
"""Quiet output kept before an utterance's first loud block."""
TEXT_GRACE_MS = 800
"""How long (of input) an ended utterance waits for text that comes after its audio."""
SENTENCE_GRACE_MS = 200
"""As long, when its text already ends a sentence (the source transcript may still be finishing)."""
TEXT_SLACK_MS = 400
SOURCE_SLACK_MS = 1000
"""The source transcript of a sentence is heard up to this long after its speech ended."""
MIN_DELAY_MS = 200
"""The least the model takes to speak of what it heard: one of its frames."""
HANGOVER_MS = 300
"""Quiet on the floor that ends a stretch of speech."""
PASSTHROUGH_WAIT_MS = 4000
"""Speech that no output followed within this long (of input) was left untranslated."""
SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
KEEP_STRETCHES = 64


def ends_sentence(text: str) -> bool:
    """The text ends with a sentence's final punctuation."""
    return text.rstrip().endswith(SENTENCE_END)


def first_sentence(text: str) -> tuple[str, str]:
    """``text`` split after its first sentence (all of it when no sentence ends in it)."""
    for at, char in enumerate(text):
        if char in SENTENCE_END and (at + 1 == len(text) or text[at + 1].isspace()):
            return text[: at + 1], text[at + 1 :]
    return text, ""


@dataclass
class _Stretch:
    """Speech on the floor."""

    start: int
    end: int | None = None
    """None while the floor is still speaking."""
    covered: bool = False
    """An utterance translated it, or it was passed through."""


@dataclass
class _Piece:
    """One utterance of the interpretation."""

    id: str
    start_ms: int
    opened_at: int
    """The output position it opened at."""
    text: str = ""
    audio_ms: int = 0
    quiet_ms: int = 0
    held: bytearray = field(default_factory=bytearray)
    """Quiet output inside the utterance, sent only if its speech goes on."""
    last_pos: int = 0
    """The output position of its last loud block."""
    aligned: bool = False
    """``last_pos`` is where the output belongs, not only the input sent when it came."""
    heard_at: int = 0
    """The input position when its last output arrived."""
    end_ms: int | None = None
    closed_at: int | None = None
    """The input position when its audio ended; None while open."""


class Segmenter:
    """One language's interpretation stream, cut into utterances reported through ``emit``."""

    def __init__(self, target: str, emit: Callable[[AnyEngineEvent], None], passthrough: bool) -> None:
        self.target = target
        self._emit = emit
        self.passthrough = passthrough
        """The target is one of the floor's languages: speech left untranslated is passed through."""
        self._ids = itertools.count(1)
        self._now = 0
        """The input position: where the talk is."""
        self._stretches: deque[_Stretch] = deque(maxlen=KEEP_STRETCHES)
        self._last_loud = -HANGOVER_MS
        self._open: _Piece | None = None
        self._ending: _Piece | None = None
        """Ended, its audio out; waiting for text that comes after the audio."""
        self._onset: deque[bytes] = deque(maxlen=ONSET_MS // BLOCK_MS)
        self._early = ""
        """Translated text of the next utterance: it came before any audio of its own."""
        self._early_at = 0
        """The open utterance's audio length when the next one's text began to come."""
        self._streams_silence = False
        """The service has sent quiet audio between utterances: it streams silence (heartbeats)."""
        self.audio_only = 0
        """Utterances in a row that ended with audio and no translated text."""
        self._source: list[tuple[int, str]] = []
        """Source transcript not yet given to an utterance: (position, delta)."""
        self._last_end = 0
        """The end of the speech of the last utterance."""
        self.last_done = 0
        """The end of the speech of the last utterance that finished whole: a replacement connection
        starts from here."""

    @property
    def speaking(self) -> bool:
        """The floor is speaking now (no pause to switch connections in)."""
        return bool(self._stretches) and self._stretches[-1].end is None

    @property
    def idle(self) -> bool:
        """No utterance is open or waiting for its text."""
        return self._open is None and self._ending is None

    def heard(self, position_ms: int, level_dbfs: float) -> None:
        """The input frame at ``position_ms`` went to the service, at ``level_dbfs``."""
        self._now = position_ms + FRAME_MS
        if level_dbfs > LOUD_DBFS:
            if not self._stretches or self._stretches[-1].end is not None:
                self._stretches.append(_Stretch(position_ms))
            self._last_loud = position_ms
        elif self.speaking and position_ms - self._last_loud >= HANGOVER_MS:
            self._stretches[-1].end = self._last_loud + FRAME_MS
        self._tick()

    def plausible(self, pcm: bytes, position_ms: int) -> bool:
        """Whether output at ``position_ms`` can be what the service made of the speech so far: loud
        output that would open an utterance needs speech on the floor at least `MIN_DELAY_MS`
        before it."""
        if self._open is not None or level_dbfs(pcm) <= QUIET_DBFS:
            return True
        return any(
            s.start <= position_ms - MIN_DELAY_MS and (s.end is None or s.end > self._last_end)
            for s in self._stretches
        )

    def audio(self, pcm: bytes, position_ms: int, aligned: bool = False) -> None:
        """Translated audio, 24 kHz PCM16, that belongs at or before ``position_ms`` (at it, when
        ``aligned``)."""
        out = bytearray()
        for start in range(0, len(pcm) - len(pcm) % 2, BLOCK_BYTES):
            block = pcm[start : start + BLOCK_BYTES]
            piece = self._open
            if level_dbfs(block) > QUIET_DBFS:
                if piece is None:
                    piece = self._start(position_ms)
                    out += b"".join(self._onset)
                    self._onset.clear()
                out += piece.held + block
                piece.held.clear()
                piece.audio_ms += piece.quiet_ms + BLOCK_MS
                piece.quiet_ms = 0
                piece.last_pos, piece.aligned = position_ms, aligned
                next_due = self._early and piece.audio_ms - self._early_at >= NEXT_SENTENCE_MS
                if piece.audio_ms >= MAX_MS or next_due:
                    self._flush(piece, out)
                    self._cut(piece)
            elif piece is None:
                self._streams_silence = True
                self._onset.append(block)
            else:
                piece.held += block
                piece.quiet_ms += BLOCK_MS
                if piece.quiet_ms >= self._pause_ms(piece):
                    self._flush(piece, out)
                    self._cut(piece)
        if self._open is not None:
            self._open.heard_at = self._now
            self._flush(self._open, out)

    def text(self, delta: str, position_ms: int, aligned: bool = False) -> None:
        """A delta of the translated transcript, which came at or before ``position_ms`` (at it,
        when ``aligned``)."""
        ending, piece = self._ending, self._open
        if (
            ending is not None
            and not ends_sentence(ending.text)
            and (position_ms <= ending.last_pos + TEXT_SLACK_MS if aligned else piece is None)
        ):
            piece = ending  # the rest of its sentence, after its audio
        elif piece is not None and (self._early or ends_sentence(piece.text)):
            # The next sentence's, ahead of its audio (the service's clock is too coarse, and shared
            # by what comes together, to say otherwise).
            piece = None
        if piece is None:
            if not self._early and self._open is not None:
                self._early_at = self._open.audio_ms
            self._early += delta
            return
        piece.text += delta
        self._emit(TranslationText(self.target, piece.id, piece.text.strip(), final=False))

    def source(self, delta: str, position_ms: int) -> None:
        """A delta of the source transcript, heard at ``position_ms``."""
        self._source.append((position_ms, delta))
        if (piece := self._open) is not None:
            # What was heard up to the output so far: the model cannot have spoken of later speech.
            text = "".join(d for p, d in self._source if p <= piece.last_pos).strip()
            self._emit(SourceText(self.target, piece.id, text, final=False))

    def settle(self) -> None:
        """The input has stopped (a recording ended): end what is open and finish what waits."""
        if (piece := self._open) is not None:
            self._cut(piece)
        if self._ending is not None:
            self._finish(self._ending, "completed")

    def interrupt(self) -> int:
        """The connection is gone: end what is open now (its translation cut short), and say where a
        new connection should start: the end of the speech of the last utterance that finished whole."""
        if self._ending is not None:
            self._finish(self._ending, "completed")
        if (piece := self._open) is not None:
            self._cut(piece)
            self._finish(piece, "incomplete")
        self._early = ""
        self._source.clear()
        self._onset.clear()
        return self.last_done

    def _pause_ms(self, piece: _Piece) -> int:
        if piece.audio_ms >= LONG_MS or self._early:
            return LONG_PAUSE_MS
        if ends_sentence(piece.text):
            return SENTENCE_PAUSE_MS
        return PAUSE_MS

    def _tick(self) -> None:
        piece = self._open
        if piece is not None and not self._streams_silence and self._now - piece.heard_at >= ABSENT_MS:
            self._cut(piece)
        ending = self._ending
        if ending is not None and ending.closed_at is not None:
            grace = SENTENCE_GRACE_MS if ends_sentence(ending.text) else TEXT_GRACE_MS
            if self._now - ending.closed_at >= grace:
                self._finish(ending, "completed")
        self._pass_through()

    def _flush(self, piece: _Piece, out: bytearray) -> None:
        if out:
            self._emit(TranslationAudio(self.target, piece.id, bytes(out)))
            out.clear()

    def _start(self, position: int) -> _Piece:
        if self._ending is not None:
            self._finish(self._ending, "completed")
        last = self._last_end
        pending = [s for s in self._stretches if s.end is None or s.end > last]
        if self.passthrough:
            # The model may have stayed silent on speech in its own language: this output is of the
            # latest speech it can have heard, and what it skipped is left to pass through.
            heard = [s for s in pending if s.start <= position - MIN_DELAY_MS]
            pending = heard[-1:] or pending
        start = max(pending[0].start, last) if pending else last
        # Text ahead of its audio may run a sentence or more ahead: this utterance takes its first.
        text, self._early = first_sentence(self._early)
        self._early_at = 0
        piece = self._open = _Piece(f"{self.target}-{next(self._ids)}", start, position, text)
        piece.heard_at = self._now
        self._emit(SpeechStarted(self.target, piece.id, start))
        if piece.text:
            self._emit(TranslationText(self.target, piece.id, piece.text.strip(), final=False))
        return piece

    def _cut(self, piece: _Piece) -> None:
        """The utterance's audio has ended: its speech is known; its text may still come."""
        # Output placed only by when it came may come late (in bursts): of the speech it can be,
        # what began after its first output is left to the utterances after it.
        began_by = piece.last_pos if piece.aligned else piece.opened_at
        ended = [
            s.end
            for s in self._stretches
            if s.end is not None and piece.start_ms < s.end <= piece.last_pos and s.start < began_by
        ]
        end = max(ended) if ended else min(max(piece.last_pos, piece.start_ms + FRAME_MS), self._now)
        piece.end_ms = max(end, piece.start_ms + FRAME_MS)
        for stretch in self._stretches:
            if stretch.end is not None and piece.start_ms < stretch.end <= piece.end_ms:
                stretch.covered = True
        self._last_end = piece.end_ms
        piece.closed_at = self._now
        self._open = None
        self._emit(SpeechStopped(self.target, piece.id, piece.end_ms))
        self._ending = piece

    def _finish(self, piece: _Piece, status: str) -> None:
        assert piece.end_ms is not None
        self._ending = None
        source = self._take_source(piece.start_ms, self._source_until(piece.end_ms))
        self._emit(SourceText(self.target, piece.id, source, final=True))
        self._emit(TranslationText(self.target, piece.id, piece.text.strip(), final=True))
        self._emit(TurnDone(self.target, piece.id, status))
        self.audio_only = self.audio_only + 1 if piece.audio_ms and not piece.text.strip() else 0
        if status == "completed":
            self.last_done = piece.end_ms

    def _source_until(self, end_ms: int) -> int:
        """Where the source transcript of speech that ended at ``end_ms`` ends: what was heard in the
        pause after it belongs to it (a transcription ends its sentence late), up to the next speech
        or for `SOURCE_SLACK_MS`."""
        following = (s.start for s in self._stretches if s.start >= end_ms)
        return next(following, end_ms + SOURCE_SLACK_MS)

    def _take_source(self, start_ms: int, until_ms: int) -> str:
        """The source transcript heard from ``start_ms`` to ``until_ms``. What was heard before is
        kept for speech still to pass through, or dropped."""
        source = self._source

        def text(indices: list[int]) -> str:
            return "".join(source[i][1] for i in indices)

        taken = [i for i, (p, _) in enumerate(source) if start_ms <= p < until_ms]
        owed: list[int] = []
        earlier = [i for i, (p, _) in enumerate(source) if p < start_ms]
        if self.passthrough and earlier and not ends_sentence(text(earlier)):
            # Earlier speech still to pass through: the end of its sentence, heard late, is its own.
            while taken and not ends_sentence(text(earlier + owed)):
                owed.append(taken.pop(0))
        # A transcription ends its sentence late, often once the next speech has begun: what
        # finishes the sentence goes with it.
        later = (i for i, (p, _) in enumerate(source) if p >= until_ms)
        while taken and not ends_sentence(text(taken)):
            if (index := next(later, None)) is None:
                break
            taken.append(index)
        self._source = [
            (p, d)
            for i, (p, d) in enumerate(source)
            if i not in taken and (p >= until_ms or (self.passthrough and (p < start_ms or i in owed)))
        ]
        return text(taken).strip()

    def _pass_through(self) -> None:
        """Speech that ended long enough ago with no output since it began: left untranslated."""
        if not self.passthrough or not self.idle:
            return  # after the utterance under way, so that its events stay together
        for stretch in self._stretches:
            if stretch.covered or stretch.end is None or self._now - stretch.end < PASSTHROUGH_WAIT_MS:
                continue
            stretch.covered = True
            piece_id = f"{self.target}-{next(self._ids)}"
            self._emit(SpeechStarted(self.target, piece_id, stretch.start))
            self._emit(SpeechStopped(self.target, piece_id, stretch.end))
            source = self._take_source(stretch.start, self._source_until(stretch.end))
            self._emit(SourceText(self.target, piece_id, source, final=True))
            self._emit(Passthrough(self.target, piece_id))
            self._emit(TurnDone(self.target, piece_id, "completed"))
            self.last_done = max(self.last_done, stretch.end)
