"""RTMP ingest on ``server.rtmp_port``: an encoder pushes to ``rtmp://host:1935/live/{room}`` with the
room's publishing key as its stream key (``rtmp://host:1935/live`` on a one-room server); OBS,
hardware encoders and Zoom's custom live streaming all speak it. The sound is the room's talk; the
picture is kept only for a language pushed as a stream (`video.VideoFeed`).

Listened on only where the talks run, and only while some room takes publishers. A wrong key, an
unknown room, a busy room or a stream we cannot decode is refused with the reason (an encoder shows
it); a publisher that drops is waited for, as on the speaker page.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from translator.audio.flv_audio import FlvAudioDecoder, UnsupportedAudio
from translator.audio.format import SAMPLE_RATE
from translator.audio.published import Publication, PublisherBusy, RoomStopped
from translator.audio.rtmp import ProtocolError, PublisherGone, RtmpSession
from translator.errors import AddressError, UnknownRoomError
from translator.printable import printable
from translator.server.limits import address_key
from translator.server.operator import matches
from translator.server.publish import TOO_MANY_GUESSES
from translator.server.rooms import Rooms
from translator.talk.room import Room
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

APP = "live"
MAX_CONNECTIONS = 16
"""RTMP connections at once: a room takes one publisher, a few more are refused with a reason."""
MAX_BYTES_PER_S = 4_000_000
"""32 Mb/s: an encoder's whole programme (video too) with room to spare; beyond it, a flood."""
BURST_BYTES = 8_000_000
STARTING_BURST_S = 10.0
"""How far ahead of real time an encoder may get: some send what they buffered while connecting at
once (the jitter buffer keeps the newest second of it); a file pushed as fast as it reads is a flood."""
STOP_S = 5.0


class RtmpIngest:
    """The RTMP server that rooms' publishers push to."""

    def __init__(self, rooms: Rooms) -> None:
        self._rooms = rooms
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on ``server.rtmp_port`` (0: a free port, written back into the settings)."""
        server = self._rooms.settings.server
        assert server.rtmp_port is not None
        try:
            self._server = await asyncio.start_server(self._connected, server.host, server.rtmp_port)
        except OSError as exc:
            busy = "the port is in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise AddressError(
                f"cannot listen for RTMP on {server.host}:{server.rtmp_port}: {busy}; "
                "choose another with server.rtmp_port"
            ) from None
        server.rtmp_port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and end every session, waiting for each at most `STOP_S`."""
        if self._server is not None:
            self._server.close()
        for task in list(self._sessions):
            await cancel_and_wait(task, STOP_S)

    def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._sessions) >= MAX_CONNECTIONS:
            writer.transport.abort()
            return
        task = asyncio.create_task(self._guarded(RtmpSession(reader, writer), writer), name="rtmp-publisher")
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _guarded(self, session: RtmpSession, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(session, writer)
        except Exception:
            log.exception("an RTMP session failed")
            writer.transport.abort()

    async def _serve(self, session: RtmpSession, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = address_key(peer[0] if isinstance(peer, tuple) else "")
        try:
            await session.handshake()
            request = await session.publish_request()
            room = self._room(request.app)
            if self._rooms.wrong_keys.blocked(address):
                raise _Refused(TOO_MANY_GUESSES)
            if not matches(request.name.partition("?")[0], room.publish_key):
                self._rooms.wrong_keys.wrong(address)
                raise _Refused("wrong publishing key (the stream key)")
            assert room.published is not None
            who = f"RTMP ({printable(request.encoder, limit=40)})"
            try:
                publication = room.published.publish(who, SAMPLE_RATE, "rtmp")
            except (PublisherBusy, RoomStopped) as exc:
                raise _Refused(str(exc)) from None
            await session.accept()
        except _Refused as refused:
            log.info("an RTMP publisher from %s was refused: %s", address, refused)
            await session.refuse(str(refused))
            return
        except (ProtocolError, PublisherGone, TimeoutError, ConnectionError) as exc:
            log.info("an RTMP publisher from %s was not taken: %s", address, printable(str(exc), limit=120))
            await session.close()
            return
        log.info("room %s: %s started publishing", room.id, who)
        try:
            why, lost, sent_away = await self._receive(session, publication)
        except asyncio.CancelledError:
            publication.end()  # the service stops
            raise
        publication.end(lost=lost, refused=why if sent_away else None)
        log.info("room %s: %s stopped publishing (%s)", room.id, who, why)
        if publication.revoked.is_set():
            await session.refuse(publication.revoked_because)
        else:
            await session.close()

    def _room(self, app: str) -> Room:
        """The room an application path names (``live/{room}``, or ``live`` for the only room)."""
        head, _, room_id = app.partition("/")
        if head != APP:
            raise _Refused(f"publish to rtmp://…/{APP}/{{room}} (not {printable(app, limit=40)!r})")
        try:
            room = self._rooms.find(room_id or None)
        except UnknownRoomError as exc:
            raise _Refused(str(exc)) from None
        if not isinstance(room, Room) or room.published is None:
            raise _Refused(f"room {room.id} takes no published input")
        return room

    async def _receive(self, session: RtmpSession, publication: Publication) -> tuple[str, bool, bool]:
        """Push the publisher's sound to the room until it stops, drops, floods or is sent away: why,
        whether it dropped (and may come back) and whether it was refused for what it sent."""
        decoder = FlvAudioDecoder()
        started = time.monotonic()
        received_s = 0.0
        try:
            async for media in session.media():
                if publication.revoked.is_set():
                    return publication.revoked_because, False, False
                if media.video:
                    publication.picture(media.timestamp_ms, media.body)
                    continue
                pcm = decoder.decode(media.body)
                elapsed = time.monotonic() - started
                received_s += len(pcm) / 2 / SAMPLE_RATE
                if received_s > elapsed + STARTING_BURST_S:
                    raise ProtocolError("sending faster than real time")
                if session.received > BURST_BYTES + MAX_BYTES_PER_S * elapsed:
                    raise ProtocolError(f"sending more than {MAX_BYTES_PER_S * 8 // 1_000_000} Mb/s")
                publication.push(pcm)
        except (ProtocolError, UnsupportedAudio) as exc:
            await session.refuse(str(exc))
            return str(exc), False, True
        except (PublisherGone, TimeoutError, ConnectionError) as exc:
            return str(exc) or "it went quiet", not session.ended, False
        return "it stopped", False, False


class _Refused(Exception):
    """A publish we do not take, and why (the publisher is told)."""


@asynccontextmanager
async def listening(rooms: Rooms) -> AsyncIterator[None]:
    """The RTMP server, while some room takes publishers and ``server.rtmp_port`` is set."""
    wanted = rooms.settings.server.rtmp_port is not None and any(
        isinstance(room, Room) and room.published is not None for room in rooms.rooms.values()
    )
    if not wanted:
        yield
        return
    ingest = RtmpIngest(rooms)
    await ingest.start()
    try:
        yield
    finally:
        await ingest.close()
