"""Audio from a sender whose clock is not ours, played out on the talk's clock.

A network input (a speaker page, an encoder) delivers audio late and in bursts: a live sender
cannot send sound before it is made, but its network can hold it back and then deliver it all at
once. The engines want one 20 ms frame every 20 ms of our clock. The buffer between the two keeps a
margin (the *target*) of audio before each arrival:

- the margin is what the buffer holds at its lowest each second (just before the next arrival);
- a sender whose clock runs fast or slow (±200 ppm is 1.4 s over two hours) is resampled by the
  difference between that low point and the target, so the buffer neither grows nor empties;
- a network whose stalls outlast the margin makes the buffer run dry: that stretch becomes silence
  (counted), play resumes as soon as a little audio is back, and the target grows to the stall's
  length (up to `MAX_TARGET_S`), rebuilt by playing slightly slower; after a minute without
  running dry it falls by what that minute never needed (the fill's lowest point), so the delay
  follows the network;
- a burst beyond `MAX_S` loses its oldest audio (counted): the delay stays bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import numpy as np
import soxr

from translator.audio.format import FRAME_BYTES, FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE, from_pcm16, to_pcm16
from translator.audio.source import AudioSource, NetworkBuffer

TARGET_S = 0.12
"""The margin kept against the network's jitter at first: part of every network input's delay."""
MAX_TARGET_S = 0.6
"""The most the margin grows to on a network that stalls again and again."""
MAX_S = 1.0
"""The most a burst may bring ahead of the clock; beyond it the oldest audio is dropped."""
HOLD_S = 8.0
"""The most kept while nobody takes (the room is stopped, or its loop stalled): a memory bound."""
GAIN = 0.1
"""The correction (a fraction of the rate) per second of margin above or below the target: 200 ppm
of drift settles 2 ms off the target."""
MAX_CORRECTION = 0.005
"""A sender more than 0.5 % off is not a clock drifting but a wrong rate: corrected that far only."""
REBUILD_BEYOND_S = 0.04
"""A margin this far from the target (after running dry, after a burst) is rebuilt faster..."""
MAX_REBUILD = 0.02
"""...by playing up to 2 % slower or faster (a third of a semitone): 100 ms in five seconds."""
RESUME_FRAMES = 3
"""After running dry, play on once this much has come (not at the first frame: no stutter)."""
WINDOW_FRAMES = 50
"""The fill's low point is taken over a second: long enough to hold one arrival and the wait for
the next, short enough to follow a drift."""
SMOOTHING = 0.3
"""The weight of one second's low point in the margin the correction follows (a few seconds: one
late arrival is not a drift)."""
CALM_FRAMES = 60 * 50
"""How long the buffer must not run dry before the target is lowered (not below `TARGET_S`)."""
HEADROOM_FRAMES = 2
"""What the target keeps beyond the longest stall seen."""


class JitterBuffer:
    """Pushed audio of any chunk size in, one frame per ``take()`` out (the caller keeps the clock)."""

    def __init__(self, target_s: float = TARGET_S, max_s: float = MAX_S) -> None:
        self.base = self.target = int(target_s * SAMPLE_RATE)
        self.limit = int(max_s * SAMPLE_RATE)
        self.hold = int(HOLD_S * SAMPLE_RATE)
        self._samples = np.zeros(0, dtype=np.float32)
        self.rate = SAMPLE_RATE
        self._resampler = soxr.ResampleStream(SAMPLE_RATE, SAMPLE_RATE, 1, dtype="float32", vr=True)
        self._margin = float(self.target)
        self._low = self._lowest = self.hold
        self._taken = 0
        self._calm_since = 0
        self._dry_since: int | None = None
        """The take at which the buffer last ran dry, until audio comes back."""
        self._last_push = 0
        """The take after which audio last came."""
        self._dry_after = 0
        """How many takes after the last audio the buffer ran dry (the stall's first part)."""
        self._started = False
        """Whether this sender's audio has begun to play (the target was gathered once)."""
        self.playing = False
        """Whether audio is being played out (false until the target is first reached, and again
        after the buffer ran dry, until a little has come back)."""
        self.correction = 0.0
        """The rate correction applied now: positive when the sender runs fast."""
        self.gaps = 0
        """Times the buffer ran dry while its sender was sending (each a stretch of silence)."""
        self.sending = True
        """False once the sender has ended: running dry then is the end, not a gap."""
        self.dropped_samples = 0
        """Audio dropped because a burst went beyond the bound."""

    @property
    def buffered_s(self) -> float:
        """The audio waiting to be played: what the buffer adds to the input's delay now."""
        return len(self._samples) / SAMPLE_RATE

    @property
    def target_s(self) -> float:
        """The margin the buffer keeps now."""
        return self.target / SAMPLE_RATE

    def begin(self, rate: int) -> None:
        """A new sender, whose audio comes at ``rate`` Hz: what the last one sent still plays out."""
        self.rate = rate
        self._resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", vr=True)
        self._margin = float(self.target)
        self.correction = 0.0
        self.sending = True
        self._started = self.playing

    def end(self) -> None:
        """The sender has ended: what it sent plays out, the resampler's held-back tail with it."""
        if self.sending:
            tail = self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            self._samples = np.concatenate((self._samples, tail))
            # A flushed stream takes nothing more; a sender that goes on regardless starts a new one.
            self._resampler = soxr.ResampleStream(self.rate, SAMPLE_RATE, 1, dtype="float32", vr=True)
        self.sending = False

    def push(self, pcm: bytes) -> None:
        """Add mono PCM16 from the sender (at the rate it began with), resampled to ours by the
        current correction."""
        samples = from_pcm16(pcm[: len(pcm) // 2 * 2])
        self._resampler.set_io_ratio(self.rate * (1 + self.correction), SAMPLE_RATE)
        self._samples = np.concatenate((self._samples, self._resampler.resample_chunk(samples)))
        self._drop_beyond(self.hold)
        self._last_push = self._taken

    @property
    def dry(self) -> bool:
        """Playing, and not a frame left: the next take is a gap unless audio comes first."""
        return self.playing and len(self._samples) < FRAME_SAMPLES

    def take(self, owed: int = 0) -> bytes:
        """The next frame: the sender's audio, or silence while priming or dry. ``owed`` is how many
        more frames the clock is due now: a taker that stalled catches up without the audio that
        waited meanwhile counting as a burst."""
        self._drop_beyond(self.limit + owed * FRAME_SAMPLES)
        self._taken += 1
        if self._dry_since is not None and len(self._samples) >= FRAME_SAMPLES:
            # The stall is over: the next one like it must find its length, and a little more, held.
            stall = (self._taken - self._dry_since + self._dry_after + HEADROOM_FRAMES) * FRAME_SAMPLES
            self.target = min(max(self.target, stall), int(MAX_TARGET_S * SAMPLE_RATE))
            self._dry_since = None
        # At the start the whole target is gathered first; after running dry, a little: each
        # moment waited is silence in the middle of speech, and the margin is rebuilt by playing
        # slower instead (`_follow`).
        needed = RESUME_FRAMES * FRAME_SAMPLES if self._started else self.target
        if not self.playing and len(self._samples) >= needed:
            self.playing = self._started = True
        if not self.playing:
            return bytes(FRAME_BYTES)
        if len(self._samples) < FRAME_SAMPLES:
            self.playing = False
            if self.sending:
                self.gaps += 1
                self._dry_since = self._calm_since = self._taken
                self._dry_after = self._taken - self._last_push
                self._lowest = self.hold
            return bytes(FRAME_BYTES)
        self._follow(len(self._samples) - FRAME_SAMPLES)
        frame, self._samples = self._samples[:FRAME_SAMPLES], self._samples[FRAME_SAMPLES:]
        return to_pcm16(frame)

    def _drop_beyond(self, bound: int) -> None:
        if len(self._samples) > bound:
            excess = len(self._samples) - bound
            self.dropped_samples += excess
            self._samples = self._samples[excess:]

    def _follow(self, left: int) -> None:
        self._low = min(self._low, left)
        self._lowest = min(self._lowest, left)
        if self._taken % WINDOW_FRAMES:
            return
        self._margin += SMOOTHING * (self._low - self._margin)
        self._low = self.hold
        error_s = (self._margin - self.target) / SAMPLE_RATE
        bound = MAX_CORRECTION if abs(error_s) < REBUILD_BEYOND_S else MAX_REBUILD
        self.correction = max(-bound, min(bound, GAIN * error_s))
        if self._taken - self._calm_since >= CALM_FRAMES:
            spare = self._lowest - HEADROOM_FRAMES * FRAME_SAMPLES
            self.target = max(self.base, self.target - max(0, spare))
            self._calm_since, self._lowest = self._taken, self.hold


async def on_the_talks_clock(
    take: Callable[[int], bytes], starved: Callable[[], bool], over: Callable[[], bool]
) -> AsyncIterator[bytes]:
    """``take(owed)``'s frames, one every 20 ms on an absolute schedule, until ``over()``; ``owed``
    is how many more frames are due at once (after a hold-up), ``starved()`` whether the next take
    would find nothing to play."""
    loop = asyncio.get_running_loop()
    interval = FRAME_MS / 1000
    start = loop.time()
    sent = 0
    while not over():
        delay = start + sent * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -interval and starved():
            # Behind by more than a frame with nothing to play: this process was held up (a busy
            # machine), and the sender's audio of that time is still on its way in through the
            # loop. The clock slips by the hold-up rather than playing silence the sender never sent.
            start -= delay
            await asyncio.sleep(interval / 2)
            continue
        sent += 1
        owed = max(0, int((loop.time() - start) / interval) + 1 - sent)
        yield take(owed)


class BufferedSource(AudioSource):
    """An input whose audio comes from elsewhere (a publisher, a stream) into a jitter buffer, and
    leaves it on the talk's clock until the source closes."""

    def __init__(self) -> None:
        self.buffer = JitterBuffer()
        self._closed = asyncio.Event()

    @property
    def delay_s(self) -> float:
        """What waits in the jitter buffer."""
        return self.buffer.buffered_s

    @property
    def network(self) -> NetworkBuffer:
        """The jitter buffer's fill and what it had to drop or fill in."""
        buffer = self.buffer
        return NetworkBuffer(
            round(buffer.buffered_s, 3), buffer.gaps, round(buffer.dropped_samples / SAMPLE_RATE, 3)
        )

    def frames(self) -> AsyncIterator[bytes]:
        """The talk's clock: a frame every 20 ms (silence while nothing comes), until closed."""
        buffer = self.buffer
        return on_the_talks_clock(buffer.take, lambda: buffer.dry, self._closed.is_set)
