"""Operator endpoints for the talks: the list, each language as SRT, WebVTT or text, and the
take-home bundle (``outputs/bundle.py``)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import msgspec
from litestar import Response, get
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.response import File

from translator.outputs.bundle import bundle
from translator.server.operator import require_operator
from translator.server.rooms import Rooms, room_or_404
from translator.transcripts.export import FORMATS, MEDIA_TYPES, Format, export
from translator.transcripts.store import (
    TranscriptError,
    list_transcripts,
    read_transcript,
    transcripts_directory,
)


class TranscriptSummary(msgspec.Struct, frozen=True):
    """One talk kept, with the URL of each language's export in each format."""

    id: str
    room: str
    started_at: int
    event_name: str
    exports: dict[str, dict[str, str]]
    """Per language code, per format (srt, vtt, txt), the export's URL."""
    bundle: str
    """The take-home bundle's URL: everything of the talk in one ZIP."""


@get(
    ["/api/transcripts", "/api/rooms/{room:str}/transcripts"], sync_to_thread=True, guards=[require_operator]
)
def transcripts(state: State, room: str | None = None) -> list[TranscriptSummary]:
    """Every talk kept (of the room, when named), newest first."""
    rooms: Rooms = state.rooms
    if room is not None:
        room_or_404(rooms, room)
    directory = transcripts_directory(rooms.settings.transcripts)
    result = []
    for header in list_transcripts(directory, room):
        # The languages offered at the start, and those added during the talk that have captions.
        languages = sorted(set(header.targets) | set(read_transcript(directory, header.id).languages()))
        exports: dict[str, dict[str, str]] = {
            lang: {fmt: f"/api/transcripts/{header.id}/{lang}?format={fmt}" for fmt in FORMATS}
            for lang in languages
        }
        result.append(
            TranscriptSummary(
                header.id,
                header.room,
                header.started_at,
                header.event_name,
                exports,
                f"/api/bundles/{header.id}",
            )
        )
    return result


@get("/api/transcripts/{talk_id:str}/{lang:str}", sync_to_thread=True, guards=[require_operator])
def transcript_export(state: State, talk_id: str, lang: str, format: str = "srt") -> Response[str]:  # noqa: A002
    """One language of one talk, as a download."""
    rooms: Rooms = state.rooms
    if format not in FORMATS:
        raise NotFoundException(f"unknown format {format!r}; formats: {', '.join(FORMATS)}")
    fmt: Format = format
    try:
        text = export(read_transcript(transcripts_directory(rooms.settings.transcripts), talk_id), lang, fmt)
    except TranscriptError as exc:
        raise NotFoundException(str(exc)) from None
    return Response(
        text,
        media_type=f"{MEDIA_TYPES[fmt]}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{talk_id}-{lang}.{fmt}"'},
    )


@get("/api/bundles/{talk_id:str}", guards=[require_operator])
async def talk_bundle(state: State, talk_id: str) -> File:
    """The talk's take-home bundle as a download: its audio, subtitles, transcripts and manifest."""
    rooms: Rooms = state.rooms
    directory = transcripts_directory(rooms.settings.transcripts)
    try:
        path = await asyncio.to_thread(_build_bundle, directory, talk_id)
    except TranscriptError as exc:
        raise NotFoundException(str(exc)) from None
    return File(
        path,
        filename=f"{talk_id}.zip",
        media_type="application/zip",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


def _build_bundle(directory: Path, talk_id: str) -> Path:
    """The bundle in a temporary file (an hour's audio is tens of megabytes: not held in memory)."""
    handle, name = tempfile.mkstemp(prefix=f"bundle-{talk_id}-", suffix=".zip")
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as file:
            bundle(directory, talk_id, file)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
