"""Questions asked aloud from the audience page: ``WS /ws/ask[/{room}]`` (see `talk/spoken.py`).

The phone's first message is ``{"type": "ask", "lang": "es", "sample_rate": 48000, "format":
"opus"}`` (no token: limited per address as typed questions are). The server answers ``{"type":
"waiting", "id": 7}`` and the question waits in the moderator's list. Once the moderator gives the
floor: ``{"type": "speak", "seconds": 60}``, then binary audio messages as the speaker page sends
them, and ``{"type": "done"}`` when the listener has finished (what was sent still plays). Once
over, the server sends ``{"type": "over", "why": "heard"}`` (or ``time``, ``ended``, ``declined``,
``stopped``) and closes with 1000 and the same in words; a refusal closes with a code and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.datastructures import State
from litestar.exceptions import WebSocketDisconnect

from translator.server.audio_intake import AudioFormat, AudioRefused, Intake, first_message, sender_room
from translator.server.limits import address_key
from translator.server.listen import CLOSE_BAD_REQUEST
from translator.server.listener_connection import CLOSE_POLICY, close_reason
from translator.talk.questions import QuestionError
from translator.talk.spoken import SpokenQuestion

log = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
CLOSE_TRY_AGAIN_LATER = 1013
CLOSES = {400: CLOSE_BAD_REQUEST, 403: 4403, 429: 4429, 503: CLOSE_TRY_AGAIN_LATER}
"""A refused question's HTTP status (`QuestionError`) as a close code."""
LISTENERS_ONLY = "questions are asked aloud where the talk runs, not in a listener process"


class AskHello(AudioFormat, forbid_unknown_fields=True, kw_only=True):
    """A listener's request to ask aloud."""

    type: str
    lang: str
    """The language the listener will speak (``original``: the floor's)."""


class Waiting(msgspec.Struct):
    id: int
    type: str = "waiting"


class Speak(msgspec.Struct):
    seconds: int
    """How long the listener may speak."""
    type: str = "speak"


class Over(msgspec.Struct):
    why: str
    """heard, time, ended, declined or stopped (`talk.spoken.ENDINGS`); the close reason says it in words."""
    type: str = "over"


class Done(msgspec.Struct):
    type: str


@websocket(["/ws/ask", "/ws/ask/{room:str}"])
async def ask_aloud(socket: WebSocket, state: State, room: str | None = None) -> None:
    """One listener's spoken question, from the request to the end of its turn."""
    found = await sender_room(socket, state.rooms, room, (CLOSE_TRY_AGAIN_LATER, LISTENERS_ONLY))
    if found is None:
        return
    hello = await first_message(socket, AskHello, "ask", '{"type": "ask", "lang": …}')
    if hello is None:
        return
    client = address_key(socket.client.host if socket.client else "")
    try:
        asked = found.ask_aloud(client, hello.lang, hello.sample_rate)
    except QuestionError as exc:
        await socket.close(CLOSES.get(exc.status, CLOSE_BAD_REQUEST), close_reason(str(exc)))
        return
    try:
        await socket.send_text(msgspec.json.encode(Waiting(asked.id)).decode())
        code, reason = await _turn(socket, asked, hello)
    except WebSocketDisconnect:
        code, reason = 0, ""
    finally:
        asked.finish()
        found.spoken_question_over(asked)
    log.info("room %s: question %d is over (%s)", found.id, asked.id, asked.why or reason or "gone")
    if code:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await socket.close(code, close_reason(reason))


async def _turn(socket: WebSocket, asked: SpokenQuestion, audio: AudioFormat) -> tuple[int, str]:
    """The listener's messages until the question is over (1000 and why) or the listener breaks the
    rules (a close code and why); (0, "") when the listener left."""
    intake: Intake | None = None
    receiving: asyncio.Future[Any] | None = None
    try:
        while not asked.over.is_set():
            if receiving is None:
                receiving = asyncio.ensure_future(socket.receive())
            waits: list[asyncio.Future[Any]] = [receiving, asyncio.ensure_future(asked.over.wait())]
            if intake is None:
                waits.append(asyncio.ensure_future(asked.granted.wait()))
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits[1:]:
                waiting.cancel()
            if intake is None and asked.live:
                intake = Intake(audio)
                await socket.send_text(msgspec.json.encode(Speak(int(asked.limit_s))).decode())
            if not receiving.done():
                continue
            message, receiving = receiving.result(), None
            if message["type"] == "websocket.disconnect":
                return 0, ""
            text = message.get("text")
            if isinstance(text, str):
                if _is_done(text):
                    asked.finish()
                    continue
                return CLOSE_BAD_REQUEST, 'after the first message, only {"type": "done"} is sent as text'
            if intake is None:
                return CLOSE_POLICY, "audio is sent once the moderator has given the floor"
            asked.push(intake.pcm(message.get("bytes")))
    except AudioRefused as exc:
        return exc.code, exc.reason
    finally:
        if receiving is not None:
            receiving.cancel()
    await socket.send_text(msgspec.json.encode(Over(asked.ending)).decode())
    return CLOSE_NORMAL, asked.why


def _is_done(text: str) -> bool:
    try:
        return msgspec.json.decode(text, type=Done).type == "done"
    except msgspec.DecodeError:
        return False
