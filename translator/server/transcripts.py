"""Operator endpoints for the talks' transcripts: the list, and each language as SRT, WebVTT or text."""

from __future__ import annotations

import msgspec
from litestar import Response, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException

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
            TranscriptSummary(header.id, header.room, header.started_at, header.event_name, exports)
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
