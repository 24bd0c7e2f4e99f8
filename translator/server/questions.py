"""The audience's typed questions: asked from the audience page (no token, limited per address),
moderated in the console (the operator token). See `talk/questions.py`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.exceptions import ClientException

from translator.server.limits import address_key
from translator.server.operator import require_operator
from translator.server.origins import same_site
from translator.server.rooms import local_room, room_or_404
from translator.talk.questions import AskedQuestion, QuestionError
from translator.talk.room import Room


class Ask(msgspec.Struct, forbid_unknown_fields=True):
    lang: str
    """The listener's language (``original``: the floor's)."""
    text: str


class Asked(msgspec.Struct, frozen=True):
    id: int | None
    """None: taken by a listener process, and passed on to the one that runs the talk."""
    state: str


class Acceptance(msgspec.Struct, forbid_unknown_fields=True):
    text: str | None = None
    """The moderator's wording in the floor's language; none: the translation as shown."""


class Merge(msgspec.Struct, forbid_unknown_fields=True):
    into: int


def _paths(path: str) -> list[str]:
    return [f"/api{path}", f"/api/rooms/{{room:str}}{path}"]


def _refused(exc: QuestionError) -> ClientException:
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
    return ClientException(str(exc), status_code=exc.status, headers=headers)


@post(_paths("/questions"), status_code=202, guards=[same_site])
async def ask(state: State, request: Request[Any, Any, Any], room: str | None = None) -> Asked:
    """A listener's question, for the moderator: 202 once queued; 400 naming the field, 403 when
    the room takes none, 429 (with ``Retry-After``) past the listener's allowance."""
    try:
        # Decoded here, not by the framework: its refusal names no field ("Validation failed").
        data = msgspec.json.decode(await request.body(), type=Ask)
    except msgspec.DecodeError as exc:
        raise ClientException(str(exc)) from None
    found = room_or_404(state.rooms, room)
    client = address_key(request.client.host if request.client else "")
    try:
        if not isinstance(found, Room):
            await found.forward_question(client, data.lang, data.text)
            return Asked(None, "forwarded")
        question = await found.ask(client, data.lang, data.text)
    except QuestionError as exc:
        raise _refused(exc) from None
    return Asked(question.id, question.state)


@get(_paths("/questions"), sync_to_thread=False, guards=[require_operator])
def questions(state: State, room: str | None = None) -> list[AskedQuestion]:
    """Every question kept, oldest first, for the moderator."""
    return local_room(state.rooms, room).questions.questions()


@post(_paths("/questions/{question_id:int}/accept"), status_code=200, guards=[require_operator])
async def accept(
    state: State, question_id: int, data: Acceptance | None = None, room: str | None = None
) -> AskedQuestion:
    """Send a typed question to every channel, in its language (the moderator's wording if given),
    or give the floor to a listener waiting to ask aloud."""
    try:
        return await local_room(state.rooms, room).accept_question(question_id, data.text if data else None)
    except QuestionError as exc:
        raise _refused(exc) from None


@post(_paths("/questions/{question_id:int}/reject"), status_code=200, guards=[require_operator])
async def reject(state: State, question_id: int, room: str | None = None) -> AskedQuestion:
    """Turn a pending question down (a listener waiting to ask aloud is told)."""
    try:
        return local_room(state.rooms, room).reject_question(question_id)
    except QuestionError as exc:
        raise _refused(exc) from None


@post(_paths("/questions/{question_id:int}/end"), status_code=200, guards=[require_operator])
async def end(state: State, question_id: int, room: str | None = None) -> AskedQuestion:
    """End a question being asked aloud: the room's input is back on the next frame."""
    try:
        return local_room(state.rooms, room).end_question(question_id)
    except QuestionError as exc:
        raise _refused(exc) from None


@post(_paths("/questions/{question_id:int}/merge"), status_code=200, guards=[require_operator])
async def merge(state: State, question_id: int, data: Merge, room: str | None = None) -> AskedQuestion:
    """The same question asked twice: this one is answered with ``into``."""
    try:
        return local_room(state.rooms, room).questions.merge(question_id, data.into)
    except QuestionError as exc:
        raise _refused(exc) from None


moderation = [questions, accept, reject, end, merge]
