"""SRT ingest: each room that takes publishers listens for an SRT caller on a UDP port of its own
(``server.srt_port`` for the first such room, the next port for the second, in the config's order),
with the room's publishing key as the SRT passphrase. libsrt encrypts with it (AES-128), so a caller
without the key cannot even connect. OBS (``srt://host:9000?passphrase=KEY``), vMix, hardware
encoders and ``ffmpeg -f mpegts srt://…`` call it.

The ffmpeg program listens (`ffmpeg_reader`): one caller at a time (a second one gets no answer),
the key changed or the room stopped ends the call, and a caller that drops is waited for, as on the
speaker page.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

from translator.audio.ffmpeg_reader import FfmpegReader, available
from translator.audio.format import SAMPLE_RATE
from translator.audio.published import Publication, PublisherBusy, RoomStopped
from translator.config import SRT_NEEDS_FFMPEG
from translator.errors import SourceError
from translator.server.rooms import Rooms
from translator.talk.room import Room
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

WHO = "SRT"
KEY_CHECK_S = 1.0
"""How often an idle listener looks whether the key changed (then it listens again with the new one)."""
QUIET_S = 3.0
"""A caller silent this long has dropped (libsrt notices only after 5 s, and then ends the stream as
if the caller had hung up)."""
RETRY_S = (1.0, 2.0, 5.0, 10.0)
"""Waits before listening again after ffmpeg failed at once (a busy port), the last repeated."""
STOP_S = 5.0


class SrtListener:
    """One room's SRT port, listened on until the room's service stops."""

    def __init__(self, room: Room, host: str, port: int) -> None:
        self.room = room
        self.host = host
        self.port = port
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Listen, in a task of the listener's own."""
        self._task = asyncio.create_task(self._run(), name=f"srt-{self.room.id}")

    async def close(self) -> None:
        """Stop listening (ends any call), at most `STOP_S`."""
        if self._task is not None:
            await cancel_and_wait(self._task, STOP_S)

    async def _run(self) -> None:
        failures = 0
        while True:
            key = self.room.publish_key
            url = f"srt://{self.host}:{self.port}?mode=listener&pbkeylen=16&passphrase={quote(key)}"
            try:
                async with FfmpegReader(url) as reader:
                    heard, why = await self._call(reader, key)
            except (SourceError, OSError) as exc:  # OSError: ffmpeg would not start, or not end
                heard, why = False, str(exc) or exc.__class__.__name__
            failures = 0 if heard or why == "" else failures + 1
            if failures:
                wait = RETRY_S[min(failures, len(RETRY_S)) - 1]
                log.warning(
                    "room %s: SRT on port %d: %s; listening again in %.0f s",
                    self.room.id,
                    self.port,
                    why,
                    wait,
                )
                await asyncio.sleep(wait)

    async def _call(self, reader: FfmpegReader, key: str) -> tuple[bool, str]:
        """Take one caller's sound into the room: whether any came, and why the call ended (empty:
        the key changed while nobody called)."""
        publication: Publication | None = None
        published = self.room.published
        assert published is not None
        try:
            while True:
                try:
                    async with asyncio.timeout(KEY_CHECK_S if publication is None else QUIET_S):
                        pcm = await reader.read()
                except TimeoutError:
                    if publication is not None:
                        publication.end(lost=True)
                        return True, "the caller went quiet"
                    if self.room.publish_key != key:
                        return False, ""
                    continue
                if not pcm:
                    why = await reader.why_it_ended()
                    if publication is None:
                        return False, why
                    publication.end()
                    return True, "the caller hung up"
                if publication is None:
                    try:
                        publication = published.publish(WHO, SAMPLE_RATE, "srt")
                    except (PublisherBusy, RoomStopped) as exc:
                        log.info("room %s: an SRT caller was refused: %s", self.room.id, exc)
                        return False, str(exc)
                    log.info("room %s: %s started publishing", self.room.id, WHO)
                if publication.revoked.is_set():
                    return True, publication.revoked_because
                publication.push(pcm)
        finally:
            if publication is not None:
                publication.end()
                log.info("room %s: %s stopped publishing", self.room.id, WHO)


@asynccontextmanager
async def listening(rooms: Rooms) -> AsyncIterator[None]:
    """An SRT listener for each room that takes publishers, while ``server.srt_port`` is set."""
    first = rooms.settings.server.srt_port
    takers = [room for room in rooms.rooms.values() if isinstance(room, Room) and room.published is not None]
    if first is None or not takers:
        yield
        return
    if not available():
        log.warning("no SRT ingest: %s", SRT_NEEDS_FFMPEG)
        yield
        return
    listeners = [SrtListener(room, rooms.settings.server.host, first + at) for at, room in enumerate(takers)]
    for listener in listeners:
        rooms.srt_ports[listener.room.id] = listener.port
        listener.start()
    try:
        yield
    finally:
        for listener in listeners:
            await listener.close()
