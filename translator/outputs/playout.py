"""A room's programme: every channel played out on one clock, in real time, as a radio station does.

Each channel (the Original and every language) is one listener of the room's hub, played out on
the wall clock: 20 ms of its audio (or silence between utterances) every 20 ms, all channels on the
same tick, so that the HTTP streams, the HLS renditions and the recordings made from it run the
same length and line up with each other. Being listeners that play in real time, the channels obey
the delivery rules as a page does: when an interpretation runs more than 2 s behind, whole
utterances not yet started are skipped (catching up keeps that rare).

Each channel also keeps its *cues*: where each utterance's audio played, on the programme's clock,
and what its caption says, so that subtitles fall during their audio. The Original's audio and its
captions come from different places (the floor's level, the engine's recognition): its cues are
placed by the caption's own times on the talk's timeline, or from when the caption arrives if
that is later (speech is recognised once it is over).

What is played goes to the `Sink`s (`outputs/hls.py`, `outputs/recording.py`, the HTTP streams),
on the event loop: a sink hands anything slow to its own thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from translator.audio import FRAME_BYTES, FRAME_MS
from translator.hub import CLOSE_TOO_SLOW, Hub, Listener, Outgoing
from translator.hub.chunks import AudioChunk
from translator.hub.delivery import Channel
from translator.languages import FLOOR
from translator.messages import (
    Caption,
    ListenerMessage,
)
from translator.talk.state import OutputStatus
from translator.tasks import cancel_and_wait

if TYPE_CHECKING:
    from translator.talk.room import RoomBase

log = logging.getLogger(__name__)

AHEAD_S: Final = 0.3
"""Audio taken from the hub ahead of playback: the rest waits in the hub, under its delivery rules."""
KEEP_CUES_S: Final = 120.0
"""Cues kept after they end: longer than any output looks back (an HLS window, a segment)."""
SILENCE: Final = bytes(FRAME_BYTES)
STOP_TIMEOUT_S: Final = 2.0


class PlayOutFramer:
    """What a programme's channel takes from the hub: the captions and the PCM chunks themselves."""

    def text(self, message: ListenerMessage, json: str) -> Outgoing:
        return Outgoing("", b"", message if isinstance(message, Caption) else None)

    def audio(self, chunk: AudioChunk) -> Outgoing:
        return Outgoing("", b"", chunk)


PLAY_OUT = PlayOutFramer()


@dataclass
class Cue:
    """Where one utterance is heard on the programme's clock (frames), and its caption's text."""

    start: int
    end: int
    """The frame after its last (grows while it plays)."""
    text: str = ""
    caption: int = 0
    """The id of its caption (a correction finds it by this)."""


class Sink(Protocol):
    """Takes every tick of the programme: cheap, on the event loop."""

    def played(self, frame: int, frames: dict[str, bytes]) -> None:
        """``frames``: each channel's 20 ms (PCM16, 24 kHz) at programme frame ``frame``."""
        ...


class Output(Protocol):
    """Something a room's programme is written to (HLS, recordings), for as long as the server runs."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    def status(self) -> OutputStatus:
        """What the operator sees of it."""
        ...


class Track:
    """One channel of the programme: its audio from the hub, its frames, its cues."""

    def __init__(self, programme: Programme, lang: str) -> None:
        self.programme = programme
        self.lang = lang
        self._pcm: deque[tuple[bytes, int]] = deque()
        """Frames taken from the hub and the utterance each belongs to, at most `AHEAD_S` of them."""
        self._room = asyncio.Event()
        self.cues: dict[int, Cue] = {}
        """By caption id; for the Original, placed by the caption's times."""
        self._texts: dict[int, str] = {}
        """Captions whose audio has not begun yet."""
        self._listener: Listener | None = None
        self._task: asyncio.Task[None] | None = None
        self.channel: Channel | None = None
        """The hub's channel it follows (a language removed and offered again is another)."""
        self.ended = False
        """The hub closed the channel to it (the language is no longer offered, the service stops):
        it plays no more, and what is made of it ends (an HTTP stream's clients are let go)."""

    def start(self, hub: Hub) -> None:
        self.channel = hub.channels[self.lang]
        self._task = asyncio.create_task(self._follow(hub), name=f"programme-{self.lang}")

    async def stop(self, hub: Hub) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task, STOP_TIMEOUT_S)
        if self._listener is not None:
            hub.unsubscribe(self._listener)

    def next_frame(self, frame: int) -> bytes:
        """The frame to play at programme frame ``frame`` (silence when nothing waits)."""
        self._room.set()
        if not self._pcm:
            return SILENCE
        pcm, utterance = self._pcm.popleft()
        if self.lang != FLOOR:
            cue = self.cues.get(utterance)
            if cue is None:
                cue = self.cues[utterance] = Cue(frame, frame + 1, self._texts.pop(utterance, ""), utterance)
            # An utterance whose audio ran short for a moment (the engine's next burst late) goes
            # on under the same cue: its subtitle stays up across the gap, with its text.
            cue.end = frame + 1
        return pcm

    def forget(self, before: int) -> None:
        """Let go of cues that ended before programme frame ``before``."""
        for key in [key for key, cue in self.cues.items() if cue.end < before]:
            del self.cues[key]
        if len(self._texts) > 100:
            for key in sorted(self._texts)[:-100]:
                del self._texts[key]

    def _caption(self, caption: Caption) -> None:
        if self.lang == FLOOR:
            start = self.programme.talk_frame(caption.start_ms) if caption.start_ms is not None else None
            if start is None:
                return
            end = self.programme.talk_frame(caption.end_ms) if caption.end_ms is not None else None
            length = max(1, (end or start) - start)
            # Recognised once the speech is over: shown from now on, for as long as it was spoken,
            # as live captions are (the subtitle segments of its speech have gone out already).
            if (cue := self.cues.get(caption.id)) is None:
                start = max(start, self.programme.frame)
                self.cues[caption.id] = Cue(start, start + length, caption.text, caption.id)
            else:
                cue.text = caption.text
            return
        if (cue := self.cues.get(caption.id)) is not None:
            cue.text = caption.text
        else:
            self._texts[caption.id] = caption.text

    async def _follow(self, hub: Hub) -> None:
        """Listen to the channel for as long as the hub lets it: one that evicts the programme as too
        slow (an event loop stalled for seconds) is heard again, from what comes next."""
        while True:
            self._listener = hub.subscribe(self.lang, PLAY_OUT, audio=True, codec="pcm", audience=False)
            await self._take(self._listener)
            closed = self._listener.closed
            hub.unsubscribe(self._listener)
            if closed is None or closed[0] != CLOSE_TOO_SLOW:
                self.ended = True
                return
            log.warning("programme %s: fell behind the hub and listens again (%s)", self.lang, closed[1])

    async def _take(self, listener: Listener) -> None:
        """The channel's audio into the play-out buffer, never more than `AHEAD_S` ahead of it."""
        pending = b""
        ahead = int(AHEAD_S * 1000 / FRAME_MS)
        while (message := await listener.next()) is not None:
            item = message.typed
            if isinstance(item, Caption):
                self._caption(item)
                continue
            if not isinstance(item, AudioChunk):
                continue
            utterance = item.utterance
            if item.end:
                # The utterance's last partial frame, padded with silence: utterances never run together.
                if pending:
                    self._pcm.append((pending.ljust(FRAME_BYTES, b"\0"), utterance))
                    pending = b""
                continue
            pending += b"".join(item.packets)
            while len(pending) >= FRAME_BYTES:
                self._pcm.append((pending[:FRAME_BYTES], utterance))
                pending = pending[FRAME_BYTES:]
            while len(self._pcm) >= ahead:
                self._room.clear()
                await self._room.wait()


class Programme:
    """One room's channels played out together; `add_sink` to take what is played.

    Runs from `start` to `stop`, across the room's talks (silence while none runs); channels
    follow the hub's (a language added or removed during a talk).
    """

    def __init__(self, room: RoomBase) -> None:
        self.room = room
        self.tracks: dict[str, Track] = {}
        self.sinks: list[Sink] = []
        self.frame = 0
        """The next frame to play: the programme's clock."""
        self.started_at = 0.0
        """Unix seconds at programme frame 0."""
        self._origin = 0.0
        """The monotonic clock at frame 0: what the ticks keep to (the wall clock may be set)."""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start playing (from frame 0, now)."""
        self.started_at, self._origin = time.time(), time.monotonic()
        self._sync_tracks()
        self._task = asyncio.create_task(self._play(), name=f"programme-{self.room.id}")

    async def stop(self) -> None:
        """Stop playing and leave the hub."""
        if self._task is not None:
            await cancel_and_wait(self._task, STOP_TIMEOUT_S)
        await asyncio.gather(*(track.stop(self.room.hub) for track in self.tracks.values()))
        self.tracks.clear()

    def add_sink(self, sink: Sink) -> None:
        self.sinks.append(sink)

    def remove_sink(self, sink: Sink) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)

    def frame_at(self, unix_s: float) -> int:
        """The programme frame played at wall-clock time ``unix_s``."""
        return round((unix_s - self.started_at) * 1000 / FRAME_MS)

    def talk_frame(self, talk_ms: int) -> int | None:
        """The programme frame of ``talk_ms`` on the running talk's timeline; None before a talk."""
        started = self.room.talk_started_at
        if started is None:
            return None
        return self.frame_at((started + talk_ms) / 1000)

    def cues(self, lang: str, first: int, stop: int) -> list[Cue]:
        """``lang``'s cues that overlap frames ``[first, stop)``, clipped to them, in order."""
        track = self.tracks.get(lang)
        if track is None:
            return []
        return [
            Cue(max(cue.start, first), min(cue.end, stop), cue.text, cue.caption)
            for cue in sorted(track.cues.values(), key=lambda cue: cue.start)
            if cue.text and cue.start < stop and cue.end > first
        ]

    def _sync_tracks(self) -> None:
        """Follow the hub's channels: a language added or removed during a talk."""
        channels = self.room.hub.channels
        for lang in [lang for lang, track in self.tracks.items() if channels.get(lang) is not track.channel]:
            track = self.tracks.pop(lang)
            task = asyncio.create_task(track.stop(self.room.hub), name=f"programme-{lang}-stop")
            task.add_done_callback(_log_failure)
        for lang in [lang for lang in channels if lang not in self.tracks]:  # in the room's order
            self.tracks[lang] = track = Track(self, lang)
            track.start(self.room.hub)

    async def _play(self) -> None:
        """Every 20 ms of the wall clock, each channel's next 20 ms to every sink."""
        period = FRAME_MS / 1000
        keep = int(KEEP_CUES_S * 1000 / FRAME_MS)
        while True:
            due = self._origin + self.frame * period
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if self.frame % 50 == 0:
                self._sync_tracks()
                for track in self.tracks.values():
                    track.forget(self.frame - keep)
            frames = {
                lang: track.next_frame(self.frame) for lang, track in self.tracks.items() if not track.ended
            }
            for sink in list(self.sinks):
                try:
                    sink.played(self.frame, frames)
                except Exception:
                    # One output failing (a full disk, a bug) must not silence the others.
                    log.exception("programme %s: an output failed and was removed", self.room.id)
                    self.remove_sink(sink)
            self.frame += 1


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("programme: a channel did not stop cleanly", exc_info=error)
