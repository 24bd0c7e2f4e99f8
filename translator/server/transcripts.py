"""Operator endpoints for the talks: the list, each language as SRT, WebVTT or text, the report,
the summaries (``transcripts/summary.py``) and the take-home bundle (``outputs/bundle.py``)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec
from litestar import Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.exceptions import (
    ClientException,
    HTTPException,
    InternalServerException,
    NotFoundException,
    ServiceUnavailableException,
)
from litestar.response import File
from litestar.status_codes import HTTP_409_CONFLICT, HTTP_502_BAD_GATEWAY

from translator import processes
from translator.config import PricesConfig
from translator.languages import FLOOR
from translator.outputs.bundle import bundle
from translator.printable import printable
from translator.server.operator import require_operator
from translator.server.rooms import Room, Rooms, room_or_404
from translator.transcripts import summary
from translator.transcripts.export import EXIT_UNKNOWN, FORMATS, MEDIA_TYPES
from translator.transcripts.report import TalkReport, report_csv, talk_report
from translator.transcripts.store import (
    TALK_ID,
    TranscriptError,
    list_transcripts,
    read_transcript,
    transcripts_directory,
)

log = logging.getLogger(__name__)

EXPORT_TIMEOUT_S = 120.0


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
    running: bool = False
    """The talk is still being given (its exports so far)."""
    rehearsal: bool = False
    """The talk was a rehearsal (its checklist is in the bundle)."""
    summaries: str = ""
    """Its summaries' URL, once they are made (``POST`` to it makes them)."""


@get(
    ["/api/transcripts", "/api/rooms/{room:str}/transcripts"], sync_to_thread=True, guards=[require_operator]
)
def transcripts(state: State, room: str | None = None) -> list[TranscriptSummary]:
    """Every talk kept (of the room, when named), newest first."""
    rooms: Rooms = state.rooms
    if room is not None:
        room_or_404(rooms, room)
    directory = transcripts_directory(rooms.settings.transcripts)
    running = {
        writer.talk
        for each in rooms.rooms.values()
        if isinstance(each, Room) and each.pipeline is not None and (writer := each.pipeline.transcript)
    }
    result = []
    for header in list_transcripts(directory, room):
        # What was said, the languages offered at the start, and those added during the talk that
        # have captions.
        added = set(read_transcript(directory, header.id).languages()) - set(header.targets)
        languages = [FLOOR, *header.targets, *sorted(added)]
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
                header.id in running,
                (directory / f"{header.id}.rehearsal.json").is_file(),
                f"/api/summaries/{header.id}" if summary.path_of(directory, header.id).is_file() else "",
            )
        )
    return result


@get(["/api/report", "/api/rooms/{room:str}/report"], guards=[require_operator])
async def report(
    state: State,
    room: str | None = None,
    talk: str | None = None,
    format: str = "json",  # noqa: A002
) -> Response[Any]:
    """The report of a talk of the room (``talk``: its id; the newest by default) as JSON, or
    (``format=csv``) a spreadsheet: who listened to each channel, and per language what it cost."""
    rooms: Rooms = state.rooms
    found = room_or_404(rooms, room)
    if format not in ("json", "csv"):
        raise NotFoundException(f"format: json or csv (not {printable(format)!r})")
    directory = transcripts_directory(rooms.settings.transcripts)
    try:
        made = await asyncio.to_thread(_report, directory, found.id, talk, rooms.settings.prices)
    except TranscriptError as exc:
        raise NotFoundException(str(exc)) from None
    if format == "json":
        return Response(made)
    return Response(
        report_csv(made),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{made.talk}-report.csv"'},
    )


def _report(directory: Path, room: str, talk: str | None, prices: PricesConfig) -> TalkReport:
    """The report of ``talk``, or of the room's newest talk (TranscriptError: none)."""
    if talk is None:
        talks = list_transcripts(directory, room)
        if not talks:
            raise TranscriptError(f"room {room} has no talk yet")
        talk = talks[0].id
    return talk_report(read_transcript(directory, talk), prices)


@get("/api/transcripts/{talk_id:str}/{lang:str}", guards=[require_operator])
async def transcript_export(state: State, talk_id: str, lang: str, format: str = "srt") -> Response[bytes]:  # noqa: A002
    """One language of one talk, as a download (made in a child process: `export.main`)."""
    rooms: Rooms = state.rooms
    if format not in FORMATS:
        raise NotFoundException(f"unknown format {format!r}; formats: {', '.join(FORMATS)}")
    directory = str(transcripts_directory(rooms.settings.transcripts))
    try:
        made = await processes.run(
            [sys.executable, "-m", "translator.transcripts.export", directory, talk_id, lang, format],
            EXPORT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise ServiceUnavailableException(f"the export took over {EXPORT_TIMEOUT_S:.0f} s") from None
    if made.returncode == EXIT_UNKNOWN:
        raise NotFoundException(made.stderr.decode().strip())
    if made.returncode != 0:
        why = made.stderr.decode(errors="replace")[-2000:]
        log.error("export of %s (%s, %s) failed: %s", printable(talk_id), printable(lang), format, why)
        raise InternalServerException("the export failed")
    return Response(
        made.stdout,
        media_type=f"{MEDIA_TYPES[format]}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{talk_id}-{lang}.{format}"'},
    )


@post("/api/summaries/{talk_id:str}", status_code=200, guards=[require_operator])
async def make_summaries(state: State, talk_id: str) -> summary.Summaries:
    """Summarise the talk in each of its languages with the chat deployment (``[summaries]``), and
    keep them; 409 saying what is missing when summaries are not configured, 502 when the
    deployment fails."""
    rooms: Rooms = state.rooms
    if problem := summary.needs(rooms.settings):
        raise ClientException(problem, status_code=HTTP_409_CONFLICT)
    directory = transcripts_directory(rooms.settings.transcripts)
    try:
        transcript = await asyncio.to_thread(read_transcript, directory, talk_id)
    except TranscriptError as exc:
        raise NotFoundException(str(exc)) from None
    try:
        made = await summary.summarize(rooms.settings, transcript)
    except summary.SummaryError as exc:
        log.warning("talk %s: no summaries: %s", printable(talk_id), exc)
        raise HTTPException(str(exc), status_code=HTTP_502_BAD_GATEWAY) from None
    path = summary.path_of(directory, talk_id)
    await asyncio.to_thread(path.write_bytes, msgspec.json.format(msgspec.json.encode(made)))
    return made


@get("/api/summaries/{talk_id:str}", sync_to_thread=True, guards=[require_operator])
def summaries(state: State, talk_id: str) -> summary.Summaries:
    """The talk's summaries, once made (404 before: ``POST`` makes them)."""
    rooms: Rooms = state.rooms
    directory = transcripts_directory(rooms.settings.transcripts)
    found = summary.read_summaries(directory, talk_id) if TALK_ID.match(talk_id) else None
    if found is None:
        raise NotFoundException(f"talk {talk_id} has no summaries yet: POST here to make them")
    return found


@get("/api/bundles/{talk_id:str}", guards=[require_operator])
async def talk_bundle(state: State, talk_id: str) -> File:
    """The talk's take-home bundle as a download: its audio, subtitles, transcripts and manifest."""
    rooms: Rooms = state.rooms
    directory = transcripts_directory(rooms.settings.transcripts)
    try:
        path = await asyncio.to_thread(_build_bundle, directory, talk_id, rooms.settings.prices)
    except TranscriptError as exc:
        raise NotFoundException(str(exc)) from None
    return File(
        path,
        filename=f"{talk_id}.zip",
        media_type="application/zip",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


def _build_bundle(directory: Path, talk_id: str, prices: PricesConfig) -> Path:
    """The bundle in a temporary file (an hour's audio is tens of megabytes: not held in memory)."""
    handle, name = tempfile.mkstemp(prefix=f"bundle-{talk_id}-", suffix=".zip")
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as file:
            bundle(directory, talk_id, file, prices)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
