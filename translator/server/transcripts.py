"""Operator endpoints for the talks' transcripts: the list, and each language as SRT, WebVTT or text."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException

from translator.server.operator import require_operator
from translator.server.services import Services
from translator.transcripts.export import FORMATS, MEDIA_TYPES, Format, export
from translator.transcripts.store import (
    TranscriptError,
    list_transcripts,
    read_transcript,
    transcripts_directory,
)


@get("/api/transcripts", sync_to_thread=True, guards=[require_operator])
def transcripts(state: State) -> list[dict[str, Any]]:
    """Every talk kept, newest first, with the URL of each export."""
    services: Services = state.services
    result = []
    directory = transcripts_directory(services.settings.transcripts)
    for header in list_transcripts(directory):
        # The languages offered at the start, and those added during the talk that have captions.
        languages = sorted(set(header.targets) | set(read_transcript(directory, header.id).languages()))
        exports = {
            lang: {fmt: f"/api/transcripts/{header.id}/{lang}?format={fmt}" for fmt in FORMATS}
            for lang in languages
        }
        result.append(
            {
                "id": header.id,
                "started_at": header.started_at,
                "event_name": header.event_name,
                "exports": exports,
            }
        )
    return result


@get("/api/transcripts/{talk_id:str}/{lang:str}", sync_to_thread=True, guards=[require_operator])
def transcript_export(state: State, talk_id: str, lang: str, format: str = "srt") -> Response[str]:  # noqa: A002
    """One language of one talk, as a download."""
    services: Services = state.services
    if format not in FORMATS:
        raise NotFoundException(f"unknown format {format!r}; formats: {', '.join(FORMATS)}")
    fmt: Format = format  # type: ignore[assignment]
    try:
        text = export(
            read_transcript(transcripts_directory(services.settings.transcripts), talk_id), lang, fmt
        )
    except TranscriptError as exc:
        raise NotFoundException(str(exc)) from None
    return Response(
        text,
        media_type=f"{MEDIA_TYPES[fmt]}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{talk_id}-{lang}.{fmt}"'},
    )
