"""Audio a browser or a program sends over a WebSocket (the speaker page, a listener's spoken
question): mono PCM16 at its sound card's rate, or Opus packets (WebCodecs), never faster than real
time beyond a burst."""

from __future__ import annotations

import asyncio
import time
from typing import Literal, Protocol, TypeVar

import msgspec
from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect

from translator.audio.format import SAMPLE_RATE
from translator.audio.opus import OPUS_RATE, OpusDecoder
from translator.errors import UnknownRoomError
from translator.server import origins
from translator.server.listen import CLOSE_BAD_REQUEST, CLOSE_UNKNOWN_LANGUAGE
from translator.server.listener_connection import CLOSE_POLICY, close_reason
from translator.server.rooms import Rooms
from translator.talk.room import Room

SAMPLE_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
"""The rates a sender may send at: every rate a browser's audio runs at."""
AHEAD_ALLOWANCE_S = 2.0
"""How far ahead of real time a sender may send (a burst after a stall); beyond it, a flood."""
CLOSE_UNSUPPORTED = 1003
HELLO_TIMEOUT_S = 10.0
NOT_AUDIO = "audio is sent as binary messages of mono PCM16 or Opus packets"


class AudioFormat(msgspec.Struct, forbid_unknown_fields=True):
    """What a sender's first message says of the audio to come."""

    sample_rate: int = SAMPLE_RATE
    """The rate of the PCM to come (a page sends at its sound card's): one of `SAMPLE_RATES`."""
    format: Literal["pcm16", "opus"] = "pcm16"
    """``opus``: each binary message is one Opus packet (a page's WebCodecs encoder), 48 kHz."""

    def problem(self) -> str | None:
        """Why this audio cannot be taken, or None."""
        if self.format == "opus" and self.sample_rate != OPUS_RATE:
            return "Opus is sent at sample_rate 48000"
        if self.sample_rate not in SAMPLE_RATES:
            return f"sample_rate must be one of {', '.join(map(str, SAMPLE_RATES))}"
        return None


class AudioRefused(Exception):
    """The sender broke the rules: close with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Intake:
    """One sender's binary messages in, mono PCM16 at its rate out."""

    def __init__(self, audio: AudioFormat) -> None:
        self.rate = audio.sample_rate
        self._opus = OpusDecoder() if audio.format == "opus" else None
        self._started = time.monotonic()
        self._received_s = 0.0

    def pcm(self, data: object) -> bytes:
        """The PCM of one message (AudioRefused: not audio, undecodable, or a flood)."""
        if not isinstance(data, bytes):
            raise AudioRefused(CLOSE_UNSUPPORTED, NOT_AUDIO)
        if self._opus is not None:
            try:
                data = self._opus.decode(data)
            except ValueError as exc:
                raise AudioRefused(CLOSE_UNSUPPORTED, str(exc)) from None
        elif len(data) % 2:
            raise AudioRefused(CLOSE_UNSUPPORTED, "PCM16 comes in whole samples: an odd number of bytes")
        self._received_s += len(data) / 2 / self.rate
        if self._received_s > time.monotonic() - self._started + AHEAD_ALLOWANCE_S:
            raise AudioRefused(CLOSE_POLICY, "sending faster than real time")
        return data


class _Hello(Protocol):
    type: str

    def problem(self) -> str | None: ...


H = TypeVar("H", bound=_Hello)


async def first_message(socket: WebSocket, kind: type[H], name: str, example: str) -> H | None:
    """A sender's first message, of ``kind`` with ``type`` ``name``; None once the socket is closed
    with why it is not (``example``: the message's start, for the reason)."""
    try:
        async with asyncio.timeout(HELLO_TIMEOUT_S):
            message = await socket.receive_data(mode="text")
    except TimeoutError:
        await socket.close(CLOSE_BAD_REQUEST, f"no {name} message within {HELLO_TIMEOUT_S:.0f} s")
        return None
    except WebSocketDisconnect:
        return None
    try:
        hello = msgspec.json.decode(message, type=kind)
    except msgspec.DecodeError as exc:
        await socket.close(CLOSE_BAD_REQUEST, close_reason(f"bad {name} message: {exc}"))
        return None
    if hello.type != name:
        await socket.close(CLOSE_BAD_REQUEST, f"the first message must be {example}")
        return None
    if problem := hello.problem():
        await socket.close(CLOSE_UNSUPPORTED, problem)
        return None
    return hello


async def sender_room(
    socket: WebSocket, rooms: Rooms, room: str | None, elsewhere: tuple[int, str]
) -> Room | None:
    """Accept a sender's socket and find the room it sends to, where its talk runs here; None once
    the socket is closed with why not (another site's page, an unknown room, or ``elsewhere``: the
    close code and reason for a listener-only process)."""
    await socket.accept()
    if refused := origins.refusal(socket.headers, rooms):
        await socket.close(CLOSE_POLICY, close_reason(refused))
        return None
    try:
        found = rooms.find(room)
    except UnknownRoomError as exc:
        await socket.close(CLOSE_UNKNOWN_LANGUAGE, close_reason(str(exc)))
        return None
    if not isinstance(found, Room):
        await socket.close(*elsewhere)
        return None
    return found
