"""A talk's transcript on disk: one JSON Lines file per talk, appended and flushed caption by caption.

The first line describes the talk; each later line is a final caption (or a later change to one,
such as a source text that arrived after the translation: the last line of an utterance wins).
Written unbuffered line by line, so a crash of the process loses at most the utterance in flight.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Literal

import msgspec

from translator.config import TranscriptsConfig
from translator.engines.events import TokensUsed
from translator.errors import TranslatorError
from translator.glossary import Glossary

log = logging.getLogger(__name__)

TALK_ID = re.compile(r"^\d{8}-\d{6}(-\d+)?$")
MAX_PENDING = 10_000
"""Captions kept while writes fail: hours of a talk in a few megabytes."""
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0


class TranscriptHeader(msgspec.Struct, tag="talk", tag_field="kind"):
    """What the talk was."""

    id: str
    started_at: int
    """Unix ms of the talk's first audio: caption times count from here."""
    event_name: str
    source: str
    targets: list[str]
    input: str
    room: str = "main"
    """The room whose talk it was (transcripts written before rooms: ``main``)."""
    spoken: list[str] = []
    """The languages that may be spoken on the floor, the default first (empty before: ``source``)."""
    engines: dict[str, str] = {}
    """Per target language, the engine and models that interpreted it (empty in older transcripts)."""
    glossary: Glossary | None = None
    """The glossary in use when the talk started."""


class CaptionRecord(msgspec.Struct, tag="caption", tag_field="kind"):
    """One final caption of one language."""

    utterance: int
    lang: str
    source_text: str
    text: str
    start_ms: int | None
    end_ms: int | None
    at: int
    """Unix ms when it was written."""
    source_lang: str = ""
    """The language spoken (empty in transcripts written before the floor had several)."""
    misses: list[str] = []
    """What the translation lost of the numbers, names and terms said (``2,400 → missing``)."""
    continues: int | None = None
    """The utterance this one goes on from (the speaker resumed the sentence after a pause)."""


class LanguageRecord(msgspec.Struct, tag="language", tag_field="kind"):
    """A language offered from this moment of the talk on (added after the header was written)."""

    lang: str
    engine: str
    """The engine and models that interpret it."""
    at: int
    """Unix ms when it was added."""


class GlossaryRecord(msgspec.Struct, tag="glossary", tag_field="kind"):
    """The glossary the operator applied during the talk, from this moment on."""

    glossary: Glossary
    at: int
    """Unix ms when it was applied."""


class CorrectionRecord(msgspec.Struct, tag="correction", tag_field="kind"):
    """A final caption corrected by a person: it stands over every version of that caption."""

    lang: str
    utterance: int
    text: str
    before: str
    who: str
    """``operator``, or ``editor (es)``."""
    at: int
    """Unix ms when it was corrected."""
    misses: list[str] = []
    """What the corrected text still loses of the numbers, names and terms said (checked again)."""


class QuestionRecord(msgspec.Struct, tag="question", tag_field="kind"):
    """A question from the audience the moderator accepted, as every channel got it. It carries no
    identity of who asked: only what they typed and in which language."""

    id: int
    lang: str
    """The language it was typed in."""
    text: str
    """As typed."""
    at: int
    """Unix ms when it was accepted."""
    translations: dict[str, str]
    """Per language, the text its listeners were shown."""
    merged: int = 0
    """Other listeners' questions merged into it."""
    spoken: bool = False
    """Asked aloud (``text`` empty): its words are the captions that follow ``at``."""


class AudienceRecord(msgspec.Struct, tag="audience", tag_field="kind"):
    """Who listened and what the engine was billed, sampled every few seconds of the talk."""

    at: int
    """Unix ms of the sample."""
    listeners: dict[str, int]
    """Per channel (the Original included), its audience at that moment."""
    billed: dict[str, TokensUsed] = {}
    """Per language on an engine that bills by token, what it was billed since the talk began."""
    hls: dict[str, int] = {}
    """Per channel, the HLS players reading it (none: left out)."""


class Transcript(msgspec.Struct):
    """A talk read back: its header and its captions, the last version of each (utterance, lang),
    corrections applied."""

    header: TranscriptHeader
    captions: list[CaptionRecord]
    corrections: list[CorrectionRecord] = []
    """Every correction, in order (who, when, before, after)."""
    audience: list[AudienceRecord] = []
    """The talk's samples of who listened and what it was billed, in order."""
    questions: list[QuestionRecord] = []
    """The audience's questions the moderator accepted, in order."""

    def languages(self) -> list[str]:
        return sorted({c.lang for c in self.captions})


class TranscriptError(TranslatorError):
    """A talk or a language that the transcripts do not have (the message lists those that exist)."""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(
    TranscriptHeader
    | CaptionRecord
    | LanguageRecord
    | GlossaryRecord
    | CorrectionRecord
    | AudienceRecord
    | QuestionRecord
)


def transcripts_directory(config: TranscriptsConfig) -> Path:
    """The configured directory, or ``$XDG_DATA_HOME/live-translator/talks`` (``~/.local/share/...``)."""
    if config.directory:
        return Path(config.directory).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "live-translator" / "talks"


class TranscriptStatus(msgspec.Struct, frozen=True):
    """What the operator sees of the transcript."""

    state: Literal["off", "writing", "failing"]
    detail: str = ""
    """Why writes fail (the operating system's words)."""
    pending: int = 0
    """Captions waiting to be written."""
    dropped: int = 0
    """Captions lost while writes failed (the queue was full)."""


TRANSCRIPT_OFF = TranscriptStatus("off")


class TranscriptWriter:
    """Appends one talk's captions; the file is created with the first caption, when the talk's
    start is known (``header`` is asked for then).

    A write that fails (a full disk, a lost mount) does not stop the talk or the transcript: the
    captions wait in a bounded queue and are written once a retry, after a growing back-off,
    succeeds. A line cut short by the failure is ended, so the lines after it read back whole.
    """

    def __init__(self, directory: Path, header: Callable[[], TranscriptHeader]) -> None:
        self.directory = directory
        self._header = header
        self._path: Path | None = None
        self._header_written = False
        self._file: IO[bytes] | None = None
        self._queue: deque[bytes] = deque()
        self._retry_at = 0.0
        self._backoff_s = RETRY_FIRST_S
        self.failure = ""
        """Why the last write failed; empty while the transcript is being written."""
        self.dropped = 0
        """Captions lost because the queue was full while writes failed."""

    @property
    def talk(self) -> str | None:
        """The id of the talk being written, once its first line is."""
        return None if self._path is None else self._path.stem

    @staticmethod
    def talk_id(started_at_ms: int) -> str:
        return time.strftime("%Y%m%d-%H%M%S", time.localtime(started_at_ms / 1000))

    def status(self) -> TranscriptStatus:
        """Writing, or failing and why, with the captions waiting and lost."""
        state: Literal["failing", "writing"] = "failing" if self.failure else "writing"
        return TranscriptStatus(state, self.failure, len(self._queue), self.dropped)

    def append(
        self,
        record: CaptionRecord
        | LanguageRecord
        | GlossaryRecord
        | CorrectionRecord
        | AudienceRecord
        | QuestionRecord,
    ) -> None:
        """Queue one caption (or a language added, a glossary applied) and write what waits (at
        once, or once the back-off has passed)."""
        if len(self._queue) >= MAX_PENDING:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(_encoder.encode(record) + b"\n")
        if not self.failure or time.monotonic() >= self._retry_at:
            self._write_pending()

    def _write_pending(self) -> None:
        try:
            file = self._file or self._open()
            while self._queue:
                line = self._queue[0]
                if file.write(line) != len(line):
                    raise OSError(errno.ENOSPC, "a line was cut short")
                self._queue.popleft()
        except OSError as exc:
            self._failed(exc)
            return
        if self.failure:
            log.warning("transcript resumed: %s", self._path)
            self.failure, self._backoff_s = "", RETRY_FIRST_S

    def _open(self) -> IO[bytes]:
        if self._path is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            header = self._header()
            base, suffix = header.id, 1
            while True:
                try:
                    self._file = (self.directory / f"{header.id}.jsonl").open("xb", buffering=0)
                    break
                except FileExistsError:
                    suffix += 1
                    header.id = f"{base}-{suffix}"
            self._path = self.directory / f"{header.id}.jsonl"
            self._queue.appendleft(_encoder.encode(header) + b"\n")
        elif not self._header_written:
            self._file = self._path.open("wb", buffering=0)  # the header line must come first
        else:
            self._file = self._path.open("ab", buffering=0)
            if self._path.stat().st_size and not _ends_a_line(self._path):
                self._file.write(b"\n")
        file = self._file
        if not self._header_written:
            line = self._queue[0]
            if file.write(line) != len(line):
                raise OSError(errno.ENOSPC, "the header was cut short")
            self._queue.popleft()
            self._header_written = True
        return file

    def _failed(self, exc: OSError) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        if not self.failure:
            log.error("transcript failing, retrying: %s", exc)
        else:
            self._backoff_s = min(self._backoff_s * 2, RETRY_MAX_S)
        self.failure = exc.strerror or str(exc)
        self._retry_at = time.monotonic() + self._backoff_s

    def close(self) -> None:
        """Write what waits (one last try), then close the file."""
        if self._queue:
            self._write_pending()
        if self._file is not None:
            self._file.close()
            self._file = None


def _ends_a_line(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def read_transcript(directory: Path, talk_id: str) -> Transcript:
    """A talk from the directory; TranscriptError (listing the talks there) if there is none."""
    path = directory / f"{talk_id}.jsonl"
    if not TALK_ID.match(talk_id) or not path.is_file():
        known = ", ".join(t.id for t in list_transcripts(directory)) or "none yet"
        raise TranscriptError(f"no talk {talk_id!r}; talks: {known}")
    header: TranscriptHeader | None = None
    latest: dict[tuple[int, str], CaptionRecord] = {}
    added: list[LanguageRecord] = []
    corrections: list[CorrectionRecord] = []
    audience: list[AudienceRecord] = []
    questions: list[QuestionRecord] = []
    glossary: Glossary | None = None
    # Line by line: one call over a whole long talk's file would hold the interpreter's lock, and
    # so the event loop, for as long as it ran.
    with path.open("rb") as lines:
        for line in lines:
            try:
                record = _decoder.decode(line)
            except msgspec.DecodeError:
                continue  # a line cut short by a crash: everything before it stands
            if isinstance(record, TranscriptHeader):
                header = record
            elif isinstance(record, LanguageRecord):
                added.append(record)
            elif isinstance(record, GlossaryRecord):
                glossary = record.glossary
            elif isinstance(record, CorrectionRecord):
                corrections.append(record)
            elif isinstance(record, AudienceRecord):
                audience.append(record)
            elif isinstance(record, QuestionRecord):
                questions.append(record)
            else:
                latest[(record.utterance, record.lang)] = record
    if header is None:
        raise TranscriptError(f"{path}: not a transcript (no talk header)")
    if glossary is not None:
        # The glossary last applied: what the talk's later captions were translated with.
        header.glossary = glossary
    for language in added:
        # A language added during the talk is one of its languages, with its own engine.
        if language.lang not in header.targets:
            header.targets.append(language.lang)
        header.engines.setdefault(language.lang, language.engine)
    for correction in corrections:
        # A person's correction stands over the engine's every version of that caption.
        if (found := latest.get((correction.utterance, correction.lang))) is not None:
            latest[(correction.utterance, correction.lang)] = msgspec.structs.replace(
                found, text=correction.text, misses=correction.misses
            )
    captions = sorted(latest.values(), key=lambda c: (c.utterance, c.lang))
    return Transcript(header, captions, corrections, audience, questions)


def list_transcripts(directory: Path, room: str | None = None) -> list[TranscriptHeader]:
    """Every talk in the directory (of ``room``, when given), newest first."""
    talks = []
    for path in directory.glob("*.jsonl"):
        with path.open("rb") as file, contextlib.suppress(msgspec.DecodeError):
            first = _decoder.decode(file.readline())
            if isinstance(first, TranscriptHeader) and room in (None, first.room):
                talks.append(first)
    return sorted(talks, key=lambda t: t.started_at, reverse=True)
