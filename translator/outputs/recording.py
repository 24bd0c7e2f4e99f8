"""Each talk's channels written to disk as they play: ``{talk}.original.ogg`` and ``{talk}.{lang}.ogg``
beside the talk's transcript.

Each file is an audio track on the talk's timeline: it starts at the talk's first audio (silence
first, for a language added later), so that it lines up with any recording of the room made from
the talk's start; between utterances it holds silence. It is the programme's channel, so it is
what a listener heard live, catching up included.

Ogg/Opus at 24 kb/s (about 11 MB an hour per channel; silence takes far less), written an Ogg
page (500 ms) at a time straight to the file with no buffer of ours: a process killed at any
moment leaves files that play to within a second of where it was. A write that fails (a full disk) stops
the recording, not the talk; the operator sees why.

Each interpretation's file says in its metadata (Vorbis comments) that it is machine
interpretation: ``DIGITAL_SOURCE_TYPE`` carries IPTC's term for AI-generated media, as the EU AI
Act's Article 50 asks of synthetic audio.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from translator.audio import FRAME_BYTES
from translator.audio.containers import RECORDING, StreamEncoder
from translator.languages import FLOOR, get_language
from translator.outputs.playout import Programme
from translator.outputs.thread import OutputThread
from translator.talk.pipeline import Pipeline
from translator.talk.room import Room
from translator.talk.state import OutputStatus
from translator.transcripts.store import TranscriptWriter

log = logging.getLogger(__name__)

BATCH: Final = 5
"""Frames handed to the thread at once (100 ms)."""
AI_GENERATED: Final = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CAPTURED: Final = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
SILENCE: Final = bytes(FRAME_BYTES)


def recording_path(directory: Path, talk_id: str, lang: str) -> Path:
    """Where a talk's channel is recorded (``lang``: a language code, or ``original``)."""
    return directory / f"{talk_id}.{lang}.ogg"


class Recorder:
    """Records each talk of a room (a `Sink` of its programme): files open when a talk starts and
    close when it ends. The interpretations are the programme's channels, as listeners heard them;
    the Original is every frame the engine heard, from the talk itself (not the Original channel,
    which is cut to speech and plays a little late), so that it is a true recording of the floor."""

    def __init__(self, programme: Programme, room: Room, directory: Path, event_name: str) -> None:
        self.programme = programme
        self.room = room
        self.directory = directory
        self.event_name = event_name
        self._thread = OutputThread(f"recording-{room.id}")
        self._thread.on_error = self._abandon
        self._talk: int | None = None
        """The talk being recorded (its start, unix ms)."""
        self._origin = 0
        """The programme frame of the talk's start."""
        self._pipeline: Pipeline | None = None
        self._batches = {"programme": _Batch(), FLOOR: _Batch()}
        self._files: dict[str, _File] = {}
        """Only touched in the thread."""
        self._header = _Header("", {})
        self._described: set[str] = set()
        """The channels whose comments the thread has (a language added later gets its own)."""
        self.written = 0
        """Bytes written, over every file (read from the loop: a count, always whole)."""

    def start(self) -> None:
        self.programme.add_sink(self)

    async def stop(self) -> None:
        """Finish the files and stop the thread."""
        self.programme.remove_sink(self)
        self._end_talk()
        await self._thread.stop()

    def status(self) -> OutputStatus:
        """What the operator sees: recording, stopped (why), or off between talks."""
        if self._thread.error is not None:
            return OutputStatus("recording", "stopped", self._thread.error, str(self.directory), self.written)
        if self._talk is None:
            return OutputStatus("recording", "off", "", str(self.directory), self.written)
        return OutputStatus("recording", "writing", "", str(self.directory), self.written)

    def played(self, frame: int, frames: dict[str, bytes]) -> None:
        pipeline = self.room.pipeline if self.room.state == "running" else None
        talk = pipeline.input.talk_started_at if pipeline is not None else None
        if talk != self._talk:
            self._end_talk()
            if pipeline is not None and talk is not None:
                self._begin_talk(pipeline, talk, frame)
        if self._talk is not None:
            interpreted = {lang: pcm for lang, pcm in frames.items() if lang != FLOOR}
            for lang in interpreted.keys() - self._described:
                # A language added during the talk: its file says what it is, as the others do.
                self._described.add(lang)
                self._thread.submit(self._describe, lang, self._comments(lang))
            self._add("programme", frame - self._origin, interpreted)

    def _heard(self, pcm: bytes) -> None:
        """A frame of the floor, as the engine heard it."""
        if self._pipeline is not None:
            self._add(FLOOR, self._pipeline.floor.frames - 1, {FLOOR: pcm})

    def _begin_talk(self, pipeline: Pipeline, talk: int, frame: int) -> None:
        self._talk, self._pipeline = talk, pipeline
        origin = self.programme.talk_frame(0)
        # Before the programme began, for the talk a server starts with: its files start with that.
        self._origin = frame if origin is None else origin
        pipeline.floor_taps.append(self._heard)
        metadata = {lang: self._comments(lang) for lang in self.room.hub.channels}
        self._described = set(metadata)
        self._thread.submit(self._open, _Header(TranscriptWriter.talk_id(talk), metadata))

    def _end_talk(self) -> None:
        if self._talk is None:
            return
        if self._pipeline is not None and self._heard in self._pipeline.floor_taps:
            self._pipeline.floor_taps.remove(self._heard)
        for batch in self._batches.values():
            if batch.frames:
                self._thread.submit(self._write, batch.start, batch.take())
        self._thread.submit(self._close)
        self._talk = self._pipeline = None

    def _add(self, kind: str, position: int, frames: dict[str, bytes]) -> None:
        batch = self._batches[kind]
        if not batch.frames:
            batch.start = position
        batch.frames.append(frames)
        if len(batch.frames) == BATCH:
            self._thread.submit(self._write, batch.start, batch.take())

    def _comments(self, lang: str) -> dict[str, str]:
        """A channel's Vorbis comments, read on the loop (its engine may change with the room's
        languages)."""
        room = self.room
        if lang == FLOOR:
            return {
                "TITLE": f"{self.event_name}: {room.channel_name(lang)}",
                "LANGUAGE": room.source.code,
                "DIGITAL_SOURCE_TYPE": CAPTURED,
            }
        return {
            "TITLE": f"{self.event_name}: {get_language(lang).name}, AI interpretation",
            "LANGUAGE": lang,
            "COMMENT": f"Machine interpretation: speech generated by AI ({room.engine_of(lang)} engine).",
            "DIGITAL_SOURCE_TYPE": AI_GENERATED,
        }

    # In the thread.

    def _open(self, header: _Header) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._header = header

    def _describe(self, lang: str, comments: dict[str, str]) -> None:
        self._header.metadata[lang] = comments

    def _write(self, position: int, batch: list[dict[str, bytes]]) -> None:
        for lang in batch[-1]:
            file = self._files.get(lang)
            if file is None:
                path = recording_path(self.directory, self._header.talk_id, lang)
                comments = self._header.metadata[lang]
                file = self._files[lang] = _File(path, comments, position)
            self.written += file.write(b"".join(frames.get(lang, SILENCE) for frames in batch))

    def _close(self) -> None:
        # Every file ends with the talk: the Original's input ends before the last interpretation.
        longest = max((file.frames for file in self._files.values()), default=0)
        for file in self._files.values():
            self.written += file.write(SILENCE * (longest - file.frames))
            self.written += file.close()
        self._files.clear()

    def _abandon(self, why: str) -> None:
        """A write failed: the files keep what they have (each plays to its last whole page)."""
        for file in self._files.values():
            file.abandon()
        self._files.clear()


@dataclass
class _Batch:
    """Frames gathered for the thread, from ``start`` on."""

    start: int = 0
    frames: list[dict[str, bytes]] = field(default_factory=list)

    def take(self) -> list[dict[str, bytes]]:
        frames, self.frames = self.frames, []
        return frames


@dataclass(frozen=True)
class _Header:
    """What a talk's files are called and say, taken on the loop when the talk starts."""

    talk_id: str
    metadata: dict[str, dict[str, str]]


class _File:
    """One channel's Ogg/Opus file, each page written as it is completed."""

    def __init__(self, path: Path, comments: dict[str, str], silent_frames: int) -> None:
        self._encoder = StreamEncoder(RECORDING, comments)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.path = path
        self.frames = 0
        """Frames written: where the file is on the talk's timeline."""
        self._write_all(self._encoder.header)
        # A channel that joins the talk late starts with the silence it missed: every file has
        # the talk's timeline.
        self.write(SILENCE * silent_frames)

    def write(self, pcm: bytes) -> int:
        """Encode 20 ms frames; the bytes written."""
        written = 0
        self.frames += len(pcm) // FRAME_BYTES
        for start in range(0, len(pcm), FRAME_BYTES):
            written += self._write_all(self._encoder.feed(pcm[start : start + FRAME_BYTES]))
        return written

    def close(self) -> int:
        try:
            return self._write_all(self._encoder.close())
        finally:
            os.close(self._fd)

    def abandon(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def _write_all(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        return len(data)
