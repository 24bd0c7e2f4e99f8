"""Publishing a room's talk over the network: ``WS /ws/publish/{room}`` takes the speaker's audio,
and the operator reads and changes the room's publishing key (``/api/rooms/{room}/publish``).

The publisher's first message says who it is and presents the key (never in the URL, which lands
in logs and history) and the rate it sends at; the server answers with the format it takes, then
each binary message is mono PCM16 at that rate. One publisher per room at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import secrets
from urllib.parse import quote

import msgspec
import segno
from litestar import Response, WebSocket, get, post, websocket
from litestar.datastructures import State
from litestar.exceptions import ClientException, WebSocketDisconnect
from litestar.status_codes import HTTP_409_CONFLICT

from translator.audio.format import SAMPLE_RATE
from translator.audio.published import Publication, PublisherBusy, RoomStopped
from translator.printable import printable
from translator.server.audio_intake import AudioFormat, AudioRefused, Intake, first_message, sender_room
from translator.server.limits import address_key
from translator.server.listen import close_reason
from translator.server.operator import WrongGuesses, matches, require_operator
from translator.server.rooms import Rooms, local_room
from translator.server.urls import is_loopback, operator_url, publisher_host
from translator.talk.room import Room

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4096
"""The server's WebSocket message bound (``app.WS_MAX_MESSAGE_BYTES``): 85 ms of audio a message."""
CLOSE_WRONG_KEY = 4401
CLOSE_BUSY = 4409
CLOSE_TOO_MANY_GUESSES = 4429
CLOSE_KEY_CHANGED = 4403
CLOSE_TRY_AGAIN_LATER = 1013
KEY_CHANGED = "the publishing key was changed"
LISTENERS_ONLY = "this process serves listeners only: publish on the operator port"
"""With several listener processes, publishers go where the talks run."""
TOO_MANY_GUESSES = "too many wrong keys from your address; try in a minute"


class Hello(AudioFormat, forbid_unknown_fields=True, kw_only=True):
    """A publisher's first message."""

    type: str
    key: str
    who: str = "a publisher"
    """Shown to the operator ("speaker page", an encoder's name): escaped and cut short."""


class Publishing(msgspec.Struct):
    """The server's answer: publishing has begun, in this format (the sender's rate: the server
    resamples)."""

    room: str
    type: str = "publishing"
    format: str = "pcm16"
    sample_rate: int = SAMPLE_RATE
    channels: int = 1
    max_message_bytes: int = MAX_MESSAGE_BYTES


class PublishInfo(msgspec.Struct):
    """What a publisher needs, for the operator to hand out (the key is a secret: this is the
    operator's API)."""

    room: str
    input: str
    key: str
    speaker_page: str
    """The speaker page with the key in its fragment (a browser never sends a fragment): the link
    or QR code for the speaker."""
    speaker_page_can_record: bool
    """Whether a browser can use a microphone on the speaker page at this address: only on https,
    or on the service's own machine (loopback)."""
    websocket: str
    whip: str
    """For OBS (Settings → Stream → WHIP) and WebRTC encoders; the key is the bearer token."""
    rtmp: str | None
    """For OBS, hardware encoders and Zoom's custom live streaming (their Server or Stream URL); the
    key is the stream key. None when the service takes no RTMP (``server.rtmp_port``)."""
    srt: str | None
    """For SRT encoders (OBS, vMix, hardware): the address to call, with the key as its passphrase.
    None when the service takes no SRT (``server.srt_port``, or no ffmpeg)."""
    live: str | None
    """Who publishes now, if anyone."""


@websocket(["/ws/publish", "/ws/publish/{room:str}"])
async def publish(socket: WebSocket, state: State, room: str | None = None) -> None:
    """Take one publisher's audio into its room's input until either side leaves."""
    rooms: Rooms = state.rooms
    found = await sender_room(socket, rooms, room, (CLOSE_BUSY, LISTENERS_ONLY))
    if found is None:
        return
    if found.published is None:
        await socket.close(CLOSE_BUSY, close_reason(f"room {found.config.id} takes no published input"))
        return
    address = address_key(socket.client.host if socket.client else "")
    guesses: WrongGuesses = rooms.wrong_keys
    if guesses.blocked(address):
        await socket.close(CLOSE_TOO_MANY_GUESSES, TOO_MANY_GUESSES)
        return
    hello = await first_message(socket, Hello, "publish", '{"type": "publish", "key": …}')
    if hello is None:
        return
    if not matches(hello.key, found.publish_key):
        guesses.wrong(address)
        await socket.close(CLOSE_WRONG_KEY, "wrong publishing key")
        return
    try:
        publication = found.published.publish(printable(hello.who, limit=60), hello.sample_rate, hello.format)
    except PublisherBusy as exc:
        await socket.close(CLOSE_BUSY, close_reason(str(exc)))
        return
    except RoomStopped as exc:
        await socket.close(CLOSE_TRY_AGAIN_LATER, close_reason(str(exc)))
        return
    log.info("room %s: %s started publishing (%s)", found.config.id, publication.who, hello.format)
    try:
        answer = Publishing(found.config.id, format=hello.format, sample_rate=hello.sample_rate)
        await socket.send_text(msgspec.json.encode(answer).decode())
        code, reason = await _receive(socket, publication, Intake(hello))
    except WebSocketDisconnect:
        code, reason = 0, "gone"
    finally:
        publication.end()
    log.info("room %s: %s stopped publishing (%s)", found.config.id, publication.who, reason)
    if code:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await socket.close(code, close_reason(reason))


async def _receive(socket: WebSocket, publication: Publication, intake: Intake) -> tuple[int, str]:
    """Audio until the publisher leaves (0) or breaks the rules (a close code and reason)."""
    while not publication.revoked.is_set():
        receiving = asyncio.ensure_future(socket.receive())
        revoked = asyncio.ensure_future(publication.revoked.wait())
        await asyncio.wait((receiving, revoked), return_when=asyncio.FIRST_COMPLETED)
        revoked.cancel()
        if not receiving.done():
            receiving.cancel()
            break
        message = receiving.result()
        if message["type"] == "websocket.disconnect":
            # 1000 and 1001: the publisher ended or its page went away; anything else, it dropped.
            publication.end(lost=message.get("code") not in (1000, 1001))
            return 0, "gone"
        try:
            publication.push(intake.pcm(message.get("bytes")))
        except AudioRefused as exc:
            return exc.code, exc.reason
    because = publication.revoked_because
    return (CLOSE_KEY_CHANGED if because == KEY_CHANGED else CLOSE_TRY_AGAIN_LATER), because


@get("/api/rooms/{room:str}/publish", sync_to_thread=False, guards=[require_operator])
def publish_info(state: State, room: str) -> PublishInfo:
    """The room's publishing key and the addresses a publisher uses."""
    found = _published_room(state.rooms, room)
    return _info(state.rooms, found)


@post("/api/rooms/{room:str}/publish/key", status_code=200, guards=[require_operator])
async def change_key(state: State, room: str) -> PublishInfo:
    """A new publishing key; the live publisher, who has the old one, is closed."""
    found = _published_room(state.rooms, room)
    found.publish_key = secrets.token_urlsafe(18)
    if found.published is not None and found.published.publication is not None:
        found.published.publication.revoke(KEY_CHANGED)
    log.info("room %s: the publishing key was changed", found.config.id)
    return _info(state.rooms, found)


@get("/api/rooms/{room:str}/publish/qr.svg", sync_to_thread=False, guards=[require_operator])
def speaker_qr(state: State, room: str) -> Response[bytes]:
    """The speaker page's link, key and all, as a QR code (an SVG image) for the speaker's phone."""
    info = _info(state.rooms, _published_room(state.rooms, room))
    svg = io.BytesIO()
    segno.make(info.speaker_page, error="m").save(svg, kind="svg", border=4, light="#fff", omitsize=True)
    return Response(svg.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


def _published_room(rooms: Rooms, room: str) -> Room:
    found = local_room(rooms, room)
    if found.published is None:
        raise ClientException(
            f"room {found.config.id} takes its audio from {found.config.audio.input!r}, not a publisher "
            '(set audio.input = "publish")',
            status_code=HTTP_409_CONFLICT,
        )
    return found


def rtmp_url(rooms: Rooms, room: Room) -> str | None:
    """The RTMP address an encoder pushes ``room``'s talk to (its stream key is the room's key)."""
    port = rooms.settings.server.rtmp_port
    if port is None or room.published is None:
        return None
    path = "live" if len(rooms.rooms) == 1 else f"live/{room.config.id}"
    return f"rtmp://{publisher_host(rooms.settings)}:{port}/{path}"


def srt_url(rooms: Rooms, room: Room) -> str | None:
    """The address an SRT encoder calls to publish ``room`` (the passphrase is its key), if any."""
    port = rooms.srt_ports.get(room.id)
    if port is None:
        return None
    return f"srt://{publisher_host(rooms.settings)}:{port}?passphrase={quote(room.publish_key, safe='')}"


def _info(rooms: Rooms, room: Room) -> PublishInfo:
    published = room.published
    live = published.publication.who if published is not None and published.publication else None
    base = operator_url(rooms.settings)
    return PublishInfo(
        room=room.config.id,
        input=room.config.audio.input,
        key=room.publish_key,
        speaker_page=f"{rooms.speaker_url(room)}#key={quote(room.publish_key, safe='')}",
        speaker_page_can_record=base.startswith("https:") or is_loopback(base),
        websocket=f"{base.replace('http', 'ws', 1)}ws/publish/{room.config.id}",
        whip=f"{rooms.speaker_url(room).removesuffix('speak')}whip",
        rtmp=rtmp_url(rooms, room),
        srt=srt_url(rooms, room),
        live=live,
    )
