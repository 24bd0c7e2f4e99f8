"""Two inputs, one talk: the primary carries it, and a backup (the hall microphone behind the desk's
stream, the desk behind a speaker page) takes over when the primary fails, ends, or falls silent
while the backup still hears the talk.

Both inputs run all the time, each through a jitter buffer onto this source's clock (their own
clocks differ), and each one's recent frames are kept. A switch to the backup starts from just
before the sound the primary missed, so the sentence it was in is not lost (it goes on after the
wait, half a second for an input that gives nothing at all); the delay that adds is played away in
the long pauses that follow. The primary takes back once it has been live again for
``failback_s``, at a pause, at the same moment of the talk, so nothing is heard twice. The engines
see one continuous input. An operator may hold either input (``mode``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Literal

import numpy as np

from translator.audio.format import FRAME_MS
from translator.audio.jitter import JitterBuffer, on_the_talks_clock
from translator.audio.levels import LOUD_DBFS, SILENCE_DBFS, level_dbfs
from translator.audio.source import AudioSource, FailoverReport, NetworkBuffer
from translator.errors import TranslatorError
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

DEAD_S = 0.5
"""An input that gives nothing at all (digital silence: a stalled stream, a publisher gone, a
dead interface) while the backup hears the talk is given up this soon, whatever ``failover_s``."""
EVIDENCE_S = 0.3
"""The backup must have heard this much of the talk after the primary went quiet: a pause that
one input hears end a moment before the other is not a failure."""
KEPT_PAUSE_FRAMES = 25
"""Of a pause in what plays, 0.5 s is always played (a shorter one could join two sentences for an
engine's speech detection); the rest is skipped at half speed while the output runs behind."""
PREROLL_FRAMES = 10
"""A switch back in time starts this much (0.2 s) before the sound the primary missed."""
HISTORY_MARGIN_FRAMES = 50
"""Kept beyond ``failover_s``: the most a switch goes back, and so the most the output runs behind."""
FEED_TARGET_S = 0.04
"""Each input's margin onto the failover's clock: a network input has its own jitter buffer already,
and a device or a file delivers steadily; more is added after any stall (`JitterBuffer`)."""
MAX_SKEW_FRAMES = 30
"""The most the two inputs are lined up by (0.6 s): what a jitter buffer's margin grows to, or a
hall microphone's network path adds, beyond the other input's."""
MIN_OVERLAP_FRAMES = 25
SKEW_EVERY_FRAMES = 10
FLOOR_DBFS = -70.0
ALIGNED = 0.6
"""The correlation of the two inputs' levels that a lining-up must reach to be believed; below it
(a level that never rises or falls), they are taken as in step."""
REOPEN_S = 2.0
"""How often an input that failed is tried again."""
STOP_S = 5.0

Mode = Literal["auto", "primary", "backup"]
Which = Literal["primary", "backup"]


class _Feed:
    """One input, pumped into a jitter buffer until it ends; reopened after a failure."""

    def __init__(self, name: Which, source: AudioSource, keep: int) -> None:
        self.name = name
        self.source = source
        self.buffer = JitterBuffer(target_s=FEED_TARGET_S)
        self.state = "starting"
        self.detail = ""
        self.last_loud = -1
        """The tick of its last frame with sound (-1: none yet)."""
        self.last_signal = -1
        """The tick of its last frame that was not digital silence."""
        self.live_since: int | None = None
        """The tick it began to carry sound again after being down, while it keeps doing so."""
        self.history: deque[tuple[bytes, bool]] = deque(maxlen=keep)
        """Its latest frames on the failover's clock, each with whether it carries sound."""
        self.levels: deque[float] = deque(maxlen=keep)
        """The level of each of those frames (dBFS, floored): what lines the two inputs up."""

    def hear(self, frame: bytes, tick: int, failover_frames: int) -> None:
        """Its frame of ``tick``: kept, and what it says of the input's life."""
        level = level_dbfs(frame)
        self.history.append((frame, level > LOUD_DBFS))
        self.levels.append(max(level, FLOOR_DBFS))
        if level > SILENCE_DBFS:
            self.last_signal = tick
        if level > LOUD_DBFS:
            if self.live_since is None or tick - self.last_loud > failover_frames:
                self.live_since = tick
            self.last_loud = tick

    @property
    def down(self) -> bool:
        return self.state in ("failed", "ended")

    def words(self) -> str:
        return f"{self.source.description}: {self.state}{f' ({self.detail})' if self.detail else ''}"

    async def pump(self) -> None:
        while True:
            try:
                async with self.source:
                    self.state, self.detail = "running", ""
                    async for frame in self.source.frames():
                        self.buffer.push(frame)
                self.state, self.detail = "ended", ""
                self.buffer.end()
                return
            except TranslatorError as exc:
                self.state, self.detail = "failed", str(exc)
            except Exception as exc:
                log.exception("the %s input failed", self.name)
                self.state, self.detail = "failed", exc.__class__.__name__
            self.buffer.end()
            await asyncio.sleep(REOPEN_S)


class FailoverSource(AudioSource):
    """Frames from the primary input, or from the backup while the primary is down."""

    def __init__(
        self, primary: AudioSource, backup: AudioSource, failover_s: float = 3.0, failback_s: float = 10.0
    ) -> None:
        self.failover_frames = int(failover_s * 1000 / FRAME_MS)
        keep = self.failover_frames + HISTORY_MARGIN_FRAMES
        self.primary = _Feed("primary", primary, keep)
        self.backup = _Feed("backup", backup, keep)
        self.failback_frames = int(failback_s * 1000 / FRAME_MS)
        self.dead_frames = min(self.failover_frames, int(DEAD_S * 1000 / FRAME_MS))
        self.evidence_frames = int(EVIDENCE_S * 1000 / FRAME_MS)
        self.description = f"{primary.description}, backed up by {backup.description}"
        self.mode: Mode = "auto"
        """``auto`` switches by itself; ``primary`` or ``backup`` holds that input (the operator)."""
        self.active: Which = "primary"
        self.switches = 0
        self.lag = 0
        """How many frames what plays runs behind the inputs (after a switch that went back to
        where the primary went quiet)."""
        self._tick = 0
        self._pause = 0
        """Silent frames in a row in what plays."""
        self._pumps: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()
        self._skewed: tuple[int, int] | None = None
        """The tick the inputs were last lined up at, and by how much."""

    @property
    def detail(self) -> str:
        if self.active == "backup":
            return f"the backup carries the talk ({self.backup.source.description})"
        return self.primary.source.detail

    @property
    def delay_s(self) -> float:
        """The active input's own delay, its jitter buffer here, and how far behind it plays."""
        feed = self._feed(self.active)
        return feed.source.delay_s + feed.buffer.buffered_s + self.lag * FRAME_MS / 1000

    @property
    def network(self) -> NetworkBuffer | None:
        """The jitter buffer of whichever input comes over the network (a speaker page's)."""
        return self.primary.source.network or self.backup.source.network

    @property
    def failover(self) -> FailoverReport:
        return FailoverReport(
            self.active,
            self.mode,
            self.switches,
            self.primary.words(),
            self.backup.words(),
            self.lag * FRAME_MS / 1000,
        )

    async def open(self) -> None:
        self._closed.clear()
        self._pumps = [
            asyncio.create_task(feed.pump(), name=f"input-{feed.name}")
            for feed in (self.primary, self.backup)
        ]

    async def close(self) -> None:
        self._closed.set()
        for task in self._pumps:
            await cancel_and_wait(task, STOP_S)
        self._pumps = []

    def hold(self, mode: Mode) -> None:
        """The operator's choice: ``auto``, or one input held whatever it carries."""
        self.mode = mode
        if mode != "auto" and mode != self.active:
            self._switch(mode, lag=self.lag, why="by the operator")

    def frames(self) -> AsyncIterator[bytes]:
        """One frame every 20 ms on the talk's clock, until both inputs have ended."""
        return on_the_talks_clock(
            self._next,
            self._starved,
            lambda: self._closed.is_set() or (self.primary.state == "ended" and self.backup.state == "ended"),
        )

    def _starved(self) -> bool:
        """Either running input has nothing to play: after a hold-up the clock waits for both. A
        take while one input's audio is still on its way would make a gap in it alone and leave it
        behind the other (`skew` lines the two up whatever put them apart; this spares it one
        cause)."""
        return any(feed.buffer.dry for feed in (self.primary, self.backup) if not feed.down)

    def _next(self, owed: int) -> bytes:
        self._tick += 1
        for feed in (self.primary, self.backup):
            feed.hear(feed.buffer.take(owed), self._tick, self.failover_frames)
        if self.mode == "auto":
            self._decide()
        history = self._feed(self.active).history
        frame, sounding = history[-1 - self.lag]
        self._pause = 0 if sounding else self._pause + 1
        if self.lag and self._pause > KEPT_PAUSE_FRAMES:
            # A long pause: skip a frame of what is beyond its first part, and the delay of the
            # switch shrinks. The part kept still ends the sentence before it for the engines.
            self.lag -= 1
            frame, _ = history[-1 - self.lag]
        return frame

    def _feed(self, which: Which) -> _Feed:
        return self.primary if which == "primary" else self.backup

    def _decide(self) -> None:
        primary, backup = self.primary, self.backup
        if self.active == "primary":
            quiet = self._tick - primary.last_loud
            dead = self._tick - primary.last_signal >= self.dead_frames
            if primary.down and not backup.down:
                # From the frame after the primary's last, which the backup hears ``skew`` frames
                # later: a backup that runs behind is waited for (silence meanwhile), not repeated.
                gone = self._tick - primary.last_signal
                lag = gone - 1 - self._skew(gone)
                if lag >= 0:
                    lag = min(max(self.lag, lag), len(backup.history) - 1)
                    self._switch("backup", lag=lag, why=f"the primary {primary.state}")
            elif (quiet >= self.failover_frames or dead) and not backup.down:
                # Both in the backup's own frames, later by what it runs behind: the evidence that it
                # hears the talk the primary does not (not merely the end of the same pause, heard
                # later), and where what the primary missed begins.
                late = self._skew(quiet)
                missed = quiet - late
                if backup.last_loud - late - primary.last_loud < self.evidence_frames or missed < 0:
                    return
                # Go back to just before the backup began to hear what the primary missed.
                window = min(missed, len(backup.history) - 1)
                began = max((k for k in range(window + 1) if backup.history[-1 - k][1]), default=0)
                silent = "gives nothing" if dead else f"has been silent {quiet * FRAME_MS / 1000:.0f} s"
                self._switch(
                    "backup",
                    lag=max(self.lag, min(window, began + PREROLL_FRAMES)),
                    why=f"the primary {silent}",
                )
            return
        live_for = 0 if primary.live_since is None or primary.down else self._tick - primary.live_since
        back = live_for >= self.failback_frames and self._tick - primary.last_loud < self.failover_frames
        # At a pause of what is playing, and at the same moment of the talk in the primary: the
        # primary has been live longer than the backup runs behind, so it heard what is still to
        # be played.
        if not back or backup.history[-1 - self.lag][1]:
            return
        lag = self.lag + self._skew(0)
        if lag < 0 and not any(primary.history[-1 - k][1] for k in range(min(1 - lag, len(primary.history)))):
            # The backup runs ahead: the primary has yet to hear this moment, but it is at a pause
            # too, and going back over part of a pause repeats nothing anyone heard.
            lag = 0
        if 0 <= lag < min(live_for, len(primary.history)):
            self._switch("primary", lag=lag, why="the primary is live again")

    def _skew(self, missed: int) -> int:
        """`skew` of the two inputs, worked out at most every `SKEW_EVERY_FRAMES` (it moves slowly,
        and the primary may be quiet for long while the decision is asked every frame)."""
        if self._skewed is None or self._tick - self._skewed[0] >= SKEW_EVERY_FRAMES:
            self._skewed = (self._tick, skew(self.primary, self.backup, missed))
        return self._skewed[1]

    def _switch(self, to: Which, lag: int, why: str) -> None:
        self.active = to
        self.lag = lag
        self.switches += 1
        log.warning("input: the %s carries the talk now (%s)", to, why)


def skew(primary: _Feed, backup: _Feed, missed: int = 0) -> int:
    """How many frames later the backup hears what the primary hears (negative: sooner), from the
    two inputs' levels over their recent frames (the primary's last ``missed`` left out: what it did
    not hear). Their clocks are their own (a device, a network path, a jitter buffer that grew after
    a stall), so "the same moment of the talk" is where their levels rise and fall together; 0 when
    the levels say too little to tell."""
    heard = np.asarray(primary.levels, dtype=np.float64)[: max(0, len(primary.levels) - missed)]
    other = np.asarray(backup.levels, dtype=np.float64)
    best, best_fit = 0, ALIGNED
    for shift in range(-MAX_SKEW_FRAMES, MAX_SKEW_FRAMES + 1):
        # The primary's frame i is the backup's frame i + shift (both end at the same tick).
        start, stop = max(0, -shift), min(len(heard), len(other) - shift)
        if stop - start < MIN_OVERLAP_FRAMES:
            continue
        a, b = heard[start:stop], other[start + shift : stop + shift]
        if a.std() < 1.0 or b.std() < 1.0:
            continue
        fit = float(np.corrcoef(a, b)[0, 1])
        if fit > best_fit + 1e-9:
            best, best_fit = shift, fit
    return best
