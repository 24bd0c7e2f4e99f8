"""WHIP ingest (RFC 9725): ``POST /r/{room}/whip`` (``/whip`` on a one-room server) takes an
encoder's SDP offer with the room's publishing key as its bearer token, answers ``201 Created``
with our SDP and the session's URL, and ``DELETE`` on that URL ends the session. OBS 30+ speaks it
(Settings → Stream → Service: WHIP; Server: that URL; Bearer Token: the key).

No trickle ICE (``PATCH`` is not allowed): the answer carries every candidate.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from litestar import Request, Response, delete, post
from litestar.datastructures import State
from litestar.exceptions import ClientException, HTTPException, NotAuthorizedException, NotFoundException
from litestar.status_codes import (
    HTTP_201_CREATED,
    HTTP_409_CONFLICT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from translator.audio import webrtc
from translator.audio.opus import OPUS_RATE
from translator.audio.published import PublisherBusy, RoomStopped
from translator.printable import printable
from translator.server.limits import address_key
from translator.server.operator import matches
from translator.server.publish import LISTENERS_ONLY, TOO_MANY_GUESSES
from translator.server.rooms import Rooms, room_or_404
from translator.talk.room import Room
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

MAX_OFFER_BYTES = 64 * 1024
"""An encoder's offer is a few kilobytes."""
STOP_S = 5.0


class WhipSessions:
    """The live WHIP sessions, each run by a task of its own; ended when the server stops."""

    def __init__(self) -> None:
        self._sessions: dict[str, tuple[str, webrtc.WebRtcPublisher, asyncio.Task[None]]] = {}

    def start(self, room: str, publisher: webrtc.WebRtcPublisher) -> str:
        """Run ``publisher``'s session; its id (the last part of its URL)."""
        session = secrets.token_urlsafe(12)
        task = asyncio.create_task(self._run(session, publisher), name=f"whip-{room}")
        self._sessions[session] = (room, publisher, task)
        return session

    def find(self, room: str, session: str) -> webrtc.WebRtcPublisher | None:
        """The live session ``session`` of ``room`` (not one that has ended and is still closing)."""
        found = self._sessions.get(session)
        return found[1] if found is not None and found[0] == room and not found[1].over else None

    async def close(self) -> None:
        """End every session and wait for each, at most `STOP_S`."""
        for _, publisher, _ in self._sessions.values():
            publisher.end()
        for _, _, task in list(self._sessions.values()):
            await cancel_and_wait(task, STOP_S)

    async def _run(self, session: str, publisher: webrtc.WebRtcPublisher) -> None:
        try:
            await publisher.run()
        except Exception:
            log.exception("a WHIP session failed")
        finally:
            self._sessions.pop(session, None)


def _room_with_key(request: Request[object, object, State], room: str | None) -> Room:
    """The room named by the path whose publishing key the request presents as its bearer token."""
    rooms: Rooms = request.app.state.rooms
    found = room_or_404(rooms, room)
    if not isinstance(found, Room):
        raise HTTPException(LISTENERS_ONLY, status_code=HTTP_409_CONFLICT)
    if found.published is None:
        raise HTTPException(
            f"room {found.id} takes no published input (audio.input)", status_code=HTTP_409_CONFLICT
        )
    address = address_key(request.client.host if request.client else "")
    if rooms.wrong_keys.blocked(address):
        raise HTTPException(TOO_MANY_GUESSES, status_code=HTTP_429_TOO_MANY_REQUESTS)
    authorization = request.headers.get("authorization", "")
    key = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
    if not matches(key, found.publish_key):
        rooms.wrong_keys.wrong(address)
        raise NotAuthorizedException("wrong publishing key (send it as the bearer token)")
    return found


@post(["/whip", "/r/{room:str}/whip"], status_code=HTTP_201_CREATED, include_in_schema=False)
async def whip(
    request: Request[object, object, State], state: State, room: str | None = None
) -> Response[bytes]:
    """Answer a WHIP offer and start its session."""
    found = _room_with_key(request, room)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/sdp":
        raise HTTPException(
            "a WHIP offer is sent as application/sdp", status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE
        )
    offer = await request.body()
    if len(offer) > MAX_OFFER_BYTES:
        raise HTTPException("an offer is at most 64 KB", status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    assert found.published is not None
    who = f"WHIP ({printable(request.headers.get('user-agent', 'an encoder'), limit=40)})"
    try:
        publication = found.published.publish(who, OPUS_RATE, "opus")
    except PublisherBusy as exc:
        raise HTTPException(str(exc), status_code=HTTP_409_CONFLICT) from None
    except RoomStopped as exc:
        raise HTTPException(
            str(exc), status_code=HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"}
        ) from None
    publisher = webrtc.WebRtcPublisher(publication, state.rooms.settings.server.ice_servers)
    try:
        answer = await publisher.answer(offer.decode("utf-8", "replace"))
    except webrtc.BadOffer as exc:
        await publisher.close()
        raise ClientException(str(exc)) from None
    session = state.whip.start(found.id, publisher)
    log.info("room %s: %s started publishing", found.id, who)
    return Response(
        answer.encode(),
        status_code=HTTP_201_CREATED,
        media_type="application/sdp",
        headers={"Location": f"{request.url.path.rstrip('/')}/{session}"},
    )


@delete(["/whip/{session:str}", "/r/{room:str}/whip/{session:str}"], status_code=200, include_in_schema=False)
async def end_whip(
    request: Request[object, object, State], state: State, session: str, room: str | None = None
) -> None:
    """The encoder ends its session (its stream stopped)."""
    found = _room_with_key(request, room)
    publisher = state.whip.find(found.id, session)
    if publisher is None:
        raise NotFoundException(f"no WHIP session {printable(session, limit=40)} in room {found.id}")
    publisher.end()
