"""A WebRTC publisher (WHIP, RFC 9725: OBS 30+ and any WebRTC encoder): its SDP offer in, our
answer out, then the offer's audio, Opus decoded by aiortc in its own thread, into the room's
publication until the peer goes, the publication is revoked, or the session is ended.

Video in the offer is answered ``inactive``: the talk needs only the sound, and no frame is decoded.
"""

from __future__ import annotations

import asyncio
import logging

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, AudioResampler

from translator.audio.opus import OPUS_RATE
from translator.audio.published import Publication
from translator.config import IceServer
from translator.errors import TranslatorError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0
QUIET_S = 3.0
"""An encoder sends sound all the time (silence too): none for this long, and it has dropped (a
peer that vanished is otherwise noticed only when ICE gives up, about 30 s later)."""
"""A peer that has not connected by then is given up: an offer alone must not hold the room."""


class BadOffer(TranslatorError):
    """An offer we cannot answer: not SDP, no audio, no codec in common."""


class WebRtcPublisher:
    """One WHIP session: answer its offer, then ``run()`` until it ends."""

    def __init__(self, publication: Publication, ice_servers: list[IceServer]) -> None:
        self.publication = publication
        servers = [RTCIceServer(s.urls, s.username, s.credential) for s in ice_servers]
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self._track: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
        self._connected = asyncio.Event()
        self._gone = asyncio.Event()
        self.ended_by_publisher = False
        """Set when the publisher ended the session itself (DELETE)."""
        self._downmix = AudioResampler(format="s16", layout="mono", rate=OPUS_RATE)
        self._pc.on("track", self._on_track)
        self._pc.on("connectionstatechange", self._on_state)

    async def answer(self, offer: str) -> str:
        """Our SDP answer to ``offer`` (every candidate gathered: WHIP sends no trickle)."""
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        except (ValueError, KeyError, IndexError) as exc:
            raise BadOffer(f"the offer is not SDP this service can read ({exc})") from exc
        audio = [t for t in self._pc.getTransceivers() if t.kind == "audio"]
        if not audio:
            raise BadOffer("the offer carries no audio")
        for transceiver in self._pc.getTransceivers():
            transceiver.direction = "recvonly" if transceiver is audio[0] else "inactive"
        try:
            await self._pc.setLocalDescription(await self._pc.createAnswer())
        except ValueError as exc:
            raise BadOffer(f"no codec in common: send Opus audio ({exc})") from exc
        return self._pc.localDescription.sdp

    async def close(self) -> None:
        """Give up a session that never ran (its offer was refused)."""
        self.publication.end()
        await self._pc.close()

    @property
    def over(self) -> bool:
        """Whether the session has ended (its peer connection may still be closing)."""
        return self._gone.is_set()

    def end(self) -> None:
        """The publisher ends the session (WHIP's DELETE)."""
        self.ended_by_publisher = True
        self._gone.set()

    async def run(self) -> None:
        """Pump the audio into the publication until the session ends; the peer connection is
        closed and the publication ended however it ends."""
        lost = False
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                track = await self._track
                await self._connected.wait()
            pump = asyncio.create_task(self._pump(track), name="whip-pump")
            waits = [
                pump,
                asyncio.create_task(self._gone.wait(), name="whip-gone"),
                asyncio.create_task(self.publication.revoked.wait(), name="whip-revoked"),
            ]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waits:
                    task.cancel()
                await asyncio.gather(*waits, return_exceptions=True)
            lost = not self.ended_by_publisher and not self.publication.revoked.is_set()
        except TimeoutError:
            log.warning("%s never connected; given up", self.publication.who)
        finally:
            self._gone.set()
            self.publication.end(lost=lost)
            await self._pc.close()

    async def _pump(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                try:
                    async with asyncio.timeout(QUIET_S):
                        frame = await track.recv()
                except TimeoutError:
                    return
                if not isinstance(frame, AudioFrame):
                    continue
                for mono in self._downmix.resample(frame):
                    self.publication.push(bytes(mono.planes[0])[: mono.samples * 2])
        except MediaStreamError:
            return

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and not self._track.done():
            self._track.set_result(track)

    async def _on_state(self) -> None:
        state = self._pc.connectionState
        if state == "connected":
            self._connected.set()
        elif state in ("failed", "closed"):
            self._gone.set()
