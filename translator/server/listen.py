"""``WS /ws/listen/{room}/{lang}`` (``/ws/listen/{lang}`` on a one-room server): one listener's
connection checked, subscribed to its room's hub and handed over (``listener_connection.py``), and
the WebSocket framer."""

from __future__ import annotations

from typing import cast

from litestar import WebSocket, websocket
from litestar.datastructures import State

from translator.errors import UnknownRoomError
from translator.hub import AudioChunk, Hub, Outgoing
from translator.messages import (
    FLAG_END,
    Codec,
    ListenerMessage,
    audio_frame,
    opus_payload,
    websocket_frame,
)
from translator.server import origins
from translator.server.hand_over import HAND_OVER, HandOver
from translator.server.limits import CLOSE_TRY_AGAIN_LATER, address_key
from translator.server.listener_connection import CLOSE_POLICY, close_reason
from translator.server.rooms import Rooms

CLOSE_UNKNOWN_LANGUAGE = 4404
CLOSE_BAD_REQUEST = 4400
CLOSE_GOING_AWAY = 1001
CODECS: tuple[Codec, ...] = ("pcm", "opus")
ROLES = ("audience", "console", "overlay", "screen")
"""Who listens: only the audience is counted (the operator's console, caption overlays and room
screens are not)."""


class WebSocketFramer:
    """Protocol 2 (see ``messages.py``): JSON text frames, and one binary frame per audio chunk
    (the 12-byte header, then PCM16 or length-prefixed Opus packets)."""

    def text(self, message: ListenerMessage, json: str) -> Outgoing:
        return Outgoing(json, websocket_frame(json))

    def audio(self, chunk: AudioChunk) -> Outgoing:
        if chunk.end:
            data = audio_frame(chunk.codec, chunk.utterance, chunk.position, b"", FLAG_END)
        elif chunk.codec == "opus":
            data = audio_frame("opus", chunk.utterance, chunk.position, opus_payload(chunk.packets))
        else:
            data = audio_frame("pcm", chunk.utterance, chunk.position, chunk.packets[0])
        return Outgoing(data, websocket_frame(data))


WEBSOCKET = WebSocketFramer()
"""One framer for every WebSocket listener: each message's frame is built once for all of them."""


@websocket(["/ws/listen/{lang:str}", "/ws/listen/{room:str}/{lang:str}"])
async def listen(socket: WebSocket, lang: str, state: State, room: str | None = None) -> None:
    """Send the hello, then captions (text) and audio (binary) of ``lang`` until either side leaves."""
    rooms: Rooms = state.rooms
    await socket.accept()
    try:
        found = rooms.find(room)
    except UnknownRoomError as exc:
        reason = (
            str(exc) if room is not None else f"this server has several rooms: {', '.join(exc.available)}"
        )
        await socket.close(CLOSE_UNKNOWN_LANGUAGE, close_reason(reason))
        return
    hub = found.hub
    codec = socket.query_params.get("codec", "pcm")
    role = socket.query_params.get("role", "audience")
    audio = socket.query_params.get("audio", "1") != "0"
    address = address_key(socket.client.host if socket.client else "")
    pcm = audio and codec == "pcm"
    if (refusal := _refusal(socket, rooms, hub, lang, codec, role, address if pcm else "")) is not None:
        await socket.close(refusal[0], close_reason(refusal[1]))
        return
    chosen = cast(Codec, codec)  # one of CODECS: `_refusal` said so
    hello = found.hello(lang, audio, chosen)
    # Subscribing, queueing the hello and handing the connection over happen with no await between:
    # nothing published is missed.
    listener = hub.subscribe(
        lang, WEBSOCKET, audio=audio, codec=chosen, first=hello, audience=role == "audience"
    )
    rooms.pcm_listeners[address] += pcm

    def gone() -> None:
        hub.unsubscribe(listener)
        rooms.pcm_listeners[address] -= pcm
        if rooms.pcm_listeners[address] <= 0:
            del rooms.pcm_listeners[address]

    extensions: dict[str, object] = socket.scope.get("extensions") or {}  # type: ignore[assignment]
    cast(HandOver, extensions[HAND_OVER])(listener, gone)


def _refusal(
    socket: WebSocket, rooms: Rooms, hub: Hub, lang: str, codec: str, role: str, pcm_from: str
) -> tuple[int, str] | None:
    """Why this listener is not taken, as (close code, reason); None when it is. ``pcm_from``: the
    address of a listener that wants uncompressed audio, else empty."""
    if lang not in hub.channels:
        return CLOSE_UNKNOWN_LANGUAGE, f"unknown language {lang!r}; available: {', '.join(hub.channels)}"
    if codec not in CODECS:
        return CLOSE_BAD_REQUEST, f"unsupported codec {codec!r}; available: {', '.join(CODECS)}"
    if why := origins.refusal(socket.headers, rooms):
        return CLOSE_POLICY, why
    if role not in ROLES:
        return CLOSE_BAD_REQUEST, f"unknown role {role!r}; roles: {', '.join(ROLES)}"
    if pcm_from and rooms.pcm_listeners[pcm_from] >= rooms.settings.server.max_pcm_listeners_per_address:
        return (
            CLOSE_TRY_AGAIN_LATER,
            "too many uncompressed (PCM) listeners from your address; ask for codec=opus",
        )
    return None
