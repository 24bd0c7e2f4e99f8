"""A talk's transcript on disk: one JSON Lines file per talk, appended and flushed caption by caption.

The first line describes the talk; each later line is a final caption (or a later change to one,
such as a source text that arrived after the translation: the last line of an utterance wins).
Flushed after every line, so a crash of the process loses at most the utterance in flight.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import msgspec

from translator.config import TranscriptsConfig
from translator.errors import TranslatorError

TALK_ID = re.compile(r"^\d{8}-\d{6}(-\d+)?$")


class TalkHeader(msgspec.Struct, tag="talk", tag_field="kind"):
    """What the talk was."""

    id: str
    started_at: int
    """Unix ms of the talk's first audio: caption times count from here."""
    event_name: str
    source: str
    targets: list[str]
    input: str


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


class Talk(msgspec.Struct):
    """A talk read back: its header and its captions, the last version of each (utterance, lang)."""

    header: TalkHeader
    captions: list[CaptionRecord]

    def languages(self) -> list[str]:
        return sorted({c.lang for c in self.captions})


class TranscriptError(TranslatorError):
    """A talk or a language that the transcripts do not have (the message lists those that exist)."""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(TalkHeader | CaptionRecord)


def transcripts_directory(config: TranscriptsConfig) -> Path:
    """The configured directory, or ``$XDG_DATA_HOME/live-translator/talks`` (``~/.local/share/...``)."""
    if config.directory:
        return Path(config.directory).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "live-translator" / "talks"


class TranscriptWriter:
    """Appends one talk's captions; the file is created with the first caption, when the talk's
    start is known (``header`` is asked for then)."""

    def __init__(self, directory: Path, header: Callable[[], TalkHeader]) -> None:
        self.directory = directory
        self._header = header
        self._file: IO[bytes] | None = None

    @staticmethod
    def talk_id(started_at_ms: int) -> str:
        return time.strftime("%Y%m%d-%H%M%S", time.localtime(started_at_ms / 1000))

    def append(self, record: CaptionRecord) -> None:
        """Write one caption and flush it to the operating system."""
        if self._file is None:
            self._file = self._create()
        self._file.write(_encoder.encode(record) + b"\n")
        self._file.flush()

    def _create(self) -> IO[bytes]:
        self.directory.mkdir(parents=True, exist_ok=True)
        header = self._header()
        base, suffix = header.id, 1
        while True:
            try:
                file = (self.directory / f"{header.id}.jsonl").open("xb")
                break
            except FileExistsError:
                suffix += 1
                header.id = f"{base}-{suffix}"
        file.write(_encoder.encode(header) + b"\n")
        return file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_talk(directory: Path, talk_id: str) -> Talk:
    """A talk from the directory; TranscriptError (listing the talks there) if there is none."""
    path = directory / f"{talk_id}.jsonl"
    if not TALK_ID.match(talk_id) or not path.is_file():
        known = ", ".join(t.id for t in list_talks(directory)) or "none yet"
        raise TranscriptError(f"no talk {talk_id!r}; talks: {known}")
    header: TalkHeader | None = None
    latest: dict[tuple[int, str], CaptionRecord] = {}
    for line in path.read_bytes().splitlines():
        try:
            record = _decoder.decode(line)
        except msgspec.DecodeError:
            continue  # a line cut short by a crash: everything before it stands
        if isinstance(record, TalkHeader):
            header = record
        else:
            latest[(record.utterance, record.lang)] = record
    if header is None:
        raise TranscriptError(f"{path}: not a transcript (no talk header)")
    return Talk(header, sorted(latest.values(), key=lambda c: (c.utterance, c.lang)))


def list_talks(directory: Path) -> list[TalkHeader]:
    """Every talk in the directory, newest first."""
    talks = []
    for path in directory.glob("*.jsonl"):
        with path.open("rb") as file, contextlib.suppress(msgspec.DecodeError):
            first = _decoder.decode(file.readline())
            if isinstance(first, TalkHeader):
                talks.append(first)
    return sorted(talks, key=lambda t: t.started_at, reverse=True)
