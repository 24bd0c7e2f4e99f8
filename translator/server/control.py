"""The operator's controls (token required): mute and pause, the glossary, the target languages, the
test tone, and starting and stopping a room. Each under ``/api/rooms/{room}/``; the room-less paths
control a server's only room."""

from __future__ import annotations

import logging
from typing import Any, Literal

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.exceptions import ClientException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_409_CONFLICT

from translator.errors import (
    LastLanguageError,
    RoomStoppedError,
    SourceError,
    TranslatorError,
    UnknownCaptionError,
    UnknownLanguageError,
)
from translator.glossary import Glossary, text_problem
from translator.glossary_file import MEDIA_TYPES, Format, GlossaryFileError, read_table, write_table
from translator.glossary_tbx import TBX_MEDIA_TYPES, read_tbx
from translator.languages import get_language
from translator.messages import Caption
from translator.printable import printable
from translator.server.operator import matches, presented, require_editor, require_operator
from translator.server.rooms import Rooms, conflict, local_room
from translator.talk.state import LanguageReport, RoomSummary
from translator.transcripts.store import CorrectionRecord

log = logging.getLogger(__name__)

GLOSSARY_WARNING = "X-Glossary-Warning"
MAX_CAPTION_CHARS = 1000
"""The longest caption a person may write (a 15 s sentence is about 300 characters)."""


class InputControl(msgspec.Struct, forbid_unknown_fields=True):
    """What the console may change about the input; a field left out stays as it is."""

    muted: bool | None = None
    """The speaker's microphone cut (a cough, an aside): silence, listeners are not told."""
    paused: bool | None = None
    """A break in the talk: silence, and every listener is told the talk is paused."""
    source: Literal["auto", "primary", "backup"] | None = None
    """With a backup input (``audio.backup``): hold one input, or let the room switch by itself."""


class NewLanguage(msgspec.Struct, forbid_unknown_fields=True):
    code: str


class InputState(msgspec.Struct, frozen=True, omit_defaults=True):
    """The input's controls as they now stand."""

    muted: bool
    paused: bool
    source: str | None = None
    """``auto``, ``primary`` or ``backup``; None without a backup input."""


def _paths(path: str) -> list[str]:
    """A control's room-less path (a one-room server's) and its room's."""
    return [f"/api{path}", f"/api/rooms/{{room:str}}{path}"]


@post(_paths("/input"), status_code=200, guards=[require_operator])
async def control_input(state: State, data: InputControl, room: str | None = None) -> InputState:
    """Mute or pause the input; every session stays open."""
    found = local_room(state.rooms, room)
    try:
        muted, paused, source = found.set_input(data.muted, data.paused, data.source)
    except (RoomStoppedError, SourceError) as exc:
        raise conflict(exc) from None
    return InputState(muted, paused, source)


@get(_paths("/glossary"), sync_to_thread=False, guards=[require_operator])
def glossary(state: State, room: str | None = None, format: str = "json") -> Response[Any]:  # noqa: A002
    """The glossary in use: JSON, or (``format=csv``, ``tsv``) a spreadsheet with a column per
    language offered (`glossary_file`)."""
    found = local_room(state.rooms, room)
    if format == "json":
        return Response(found.glossary)
    if format not in MEDIA_TYPES:
        raise ValidationException(f"format: json, csv or tsv (not {printable(format)!r})")
    kind: Format = format
    table = write_table(found.glossary, [target.code for target in found.targets], kind)
    return Response(
        table,
        media_type=f"{MEDIA_TYPES[kind]}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="glossary-{found.id}.{kind}"'},
    )


@put(_paths("/glossary"), guards=[require_operator])
async def set_glossary(
    state: State, request: Request[Any, Any, Any], room: str | None = None
) -> Response[Glossary]:
    """Replace the glossary, from JSON, a spreadsheet (``Content-Type: text/csv`` or
    ``text/tab-separated-values``) or a termbase's TBX (``application/x-tbx``): a file is refused
    whole, with where, at its first problem. It applies from the next utterance on, in every
    language. What it would cost, when that is worth a warning, comes in the
    ``X-Glossary-Warning`` header."""
    found = local_room(state.rooms, room)
    offered = [target.code for target in found.targets]
    body = await request.body()
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    try:
        if media in (MEDIA_TYPES["csv"], MEDIA_TYPES["tsv"]):
            data = read_table(body.decode(), offered, "csv" if media == MEDIA_TYPES["csv"] else "tsv")
        elif media in TBX_MEDIA_TYPES:
            data = read_tbx(body, offered, found.source.code)
        else:
            data = msgspec.json.decode(body, type=Glossary)
    except UnicodeDecodeError:
        raise ValidationException("the file is not UTF-8 text (save it as CSV UTF-8)") from None
    except (GlossaryFileError, msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValidationException(f"the glossary was not applied: {exc}") from None
    if bad := data.problem(offered):
        raise ValidationException(f"{bad[0]}: {bad[1]}")
    warning = await found.set_glossary(data)
    log.info(
        "room %s: glossary changed by the operator: %d names kept, %d terms",
        found.id,
        len(data.keep),
        sum(map(len, data.terms.values())),
    )
    if warning:
        log.warning("room %s: glossary: %s", found.id, warning)
        return Response(data, headers={GLOSSARY_WARNING: warning})
    return Response(data)


class CaptionCorrection(msgspec.Struct, forbid_unknown_fields=True):
    """A person's text for a final caption."""

    text: str


@post(_paths("/languages/{lang:str}/captions/{caption:int}"), status_code=200, guards=[require_editor])
async def correct_caption(
    state: State,
    request: Request[Any, Any, Any],
    data: CaptionCorrection,
    lang: str,
    caption: int,
    room: str | None = None,
) -> Caption:
    """Correct one of the language's recent final captions (the operator, or that language's
    editor): every listener, overlay, screen and reader gets it, marked corrected, and the
    transcript and its exports keep it. Returns the caption as sent."""
    rooms: Rooms = state.rooms
    found = local_room(rooms, room)
    text = data.text.strip()
    if problem := text_problem(text, MAX_CAPTION_CHARS):
        raise ValidationException(f"text: {problem}")
    operator = matches(presented(request.headers), rooms.operator_token)
    who = "operator" if operator else f"editor ({lang})"
    try:
        corrected = found.correct(lang, caption, text, who)
    except (UnknownLanguageError, UnknownCaptionError) as exc:
        raise NotFoundException(str(exc)) from None
    log.info("room %s: caption %d of %s corrected by the %s", found.id, caption, printable(lang), who)
    return corrected


@get(_paths("/corrections"), sync_to_thread=False, guards=[require_operator])
def corrections(state: State, room: str | None = None) -> list[CorrectionRecord]:
    """Every caption corrected since the service started: who, when, before and after."""
    return local_room(state.rooms, room).corrections


@post(_paths("/languages"), status_code=201, guards=[require_operator])
async def add_language(state: State, data: NewLanguage, room: str | None = None) -> list[LanguageReport]:
    """Offer another language from the next utterance on; returns every language offered."""
    found = local_room(state.rooms, room)
    try:
        await found.add_language(get_language(data.code))
    except RoomStoppedError as exc:
        raise conflict(exc) from None
    except TranslatorError as exc:
        raise ValidationException(f"cannot offer {printable(data.code)!r}: {exc}") from None
    return found.language_reports(operator=True)


@delete(_paths("/languages/{code:str}"), status_code=200, guards=[require_operator])
async def remove_language(state: State, code: str, room: str | None = None) -> list[LanguageReport]:
    """Stop offering a language: its listeners are told and disconnected."""
    found = local_room(state.rooms, room)
    try:
        await found.remove_language(code)
    except UnknownLanguageError as exc:
        raise NotFoundException(
            f"{printable(code)!r} is not offered; offered: {', '.join(exc.available)}"
        ) from None
    except (LastLanguageError, RoomStoppedError) as exc:
        raise conflict(exc) from None
    return found.language_reports(operator=True)


@post(_paths("/languages/{code:str}/tone"), status_code=202, guards=[require_operator])
async def test_tone(state: State, code: str, room: str | None = None) -> dict[str, str]:
    """A one-second test tone to the language's listeners, captioned "♪ Test tone"."""
    found = local_room(state.rooms, room)
    offered = [t.code for t in found.targets]
    if code not in offered:
        raise NotFoundException(f"'{printable(code)}' is not offered; offered: {', '.join(offered)}")
    try:
        found.send_tone(code)
    except RoomStoppedError as exc:
        raise conflict(exc) from None
    log.info("room %s: test tone sent to %s by the operator", found.id, code)
    return {"sent": code}


@post("/api/rooms/{room:str}/start", status_code=200, guards=[require_operator])
async def start_room(state: State, room: str) -> RoomSummary:
    """Start the room's talk (its input and engine); 409 with why when it cannot start."""
    rooms: Rooms = state.rooms
    found = local_room(rooms, room)
    try:
        await found.start()
    except TranslatorError as exc:
        raise ClientException(
            f"the room {found.name!r} cannot start: {exc}", status_code=HTTP_409_CONFLICT
        ) from None
    return rooms.summary(found)


@post("/api/rooms/{room:str}/stop", status_code=200, guards=[require_operator])
async def stop_room(state: State, room: str) -> RoomSummary:
    """Stop the room's talk; its listeners stay connected and are told. The other rooms carry on."""
    rooms: Rooms = state.rooms
    found = local_room(rooms, room)
    await found.stop()
    return rooms.summary(found)


handlers = [
    control_input,
    glossary,
    set_glossary,
    correct_caption,
    corrections,
    add_language,
    remove_language,
    test_tone,
    start_room,
    stop_room,
]
