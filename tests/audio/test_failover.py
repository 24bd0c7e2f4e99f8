"""A room's two inputs behind a failover, each on its own clock: the primary goes dead mid-sentence
(or fails outright) and the backup carries the talk from where the primary went quiet; the
primary comes back and takes over at a pause. What the engines get is checked tone by tone:
every sentence once, whole, in order.

Every clock here is the event loop's, so the loop's time is fast-forwarded (``looptime``): the
inputs keep their pace and their lag behind each other exactly, and a busy machine cannot make
one late (real time once heard a sentence twice, on a saturated machine)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import looptime
import numpy as np
import pytest

from tests.helpers import until
from translator.audio.failover import FailoverSource
from translator.audio.format import FRAME_BYTES, FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE
from translator.audio.source import AudioSource
from translator.errors import SourceError


def in_loop_time(main: Coroutine[Any, Any, None]) -> None:
    """``main`` in a loop of its own whose time is fast-forwarded (not the plugin's: on Python 3.11
    it leaves an event loop unclosed for every test that is not async)."""
    loop = looptime.new_event_loop(start=0)
    try:
        loop.run_until_complete(main)
    finally:
        loop.close()


TONE_S, PAUSE_S, LEAD_S = 1.0, 1.0, 0.5
TONES = [300 + 50 * k for k in range(10)]


def talk() -> np.ndarray:
    """Ten one-second tones (300, 350, … Hz) with pauses: ten sentences, each told by its pitch,
    over a microphone's noise floor (-66 dBFS: a live input is never digitally silent)."""
    parts = [np.zeros(int(LEAD_S * SAMPLE_RATE))]
    for hz in TONES:
        seconds = np.arange(int(TONE_S * SAMPLE_RATE)) / SAMPLE_RATE
        parts += [np.sin(2 * np.pi * hz * seconds) * 0.3, np.zeros(int(PAUSE_S * SAMPLE_RATE))]
    voice = np.concatenate(parts)
    return voice + np.random.default_rng(5).normal(0, 0.0005, len(voice))


class Scripted(AudioSource):
    """A device hearing ``samples`` as they are spoken, from its first opening on: silence between
    ``dead`` seconds (a cable pulled, then plugged back), or a failure at ``fails_at`` seconds (once:
    reopened, it hears the talk where it has got to)."""

    def __init__(
        self, samples: np.ndarray, dead: tuple[float, float] | None = None, fails_at: float | None = None
    ) -> None:
        self.pcm = (samples * 32767).astype("<i2")
        self.fails_at = fails_at
        self.description = "scripted"
        self.began: float | None = None
        if dead is not None:
            self.pcm[int(dead[0] * SAMPLE_RATE) : int(dead[1] * SAMPLE_RATE)] = 0

    async def frames(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        if self.began is None:  # the loop's time starts at 0 here
            self.began = loop.time()
        pcm = self.pcm.tobytes()
        index = int((loop.time() - self.began) * 1000 / FRAME_MS)
        while index < len(pcm) // FRAME_BYTES:
            delay = self.began + index * FRAME_MS / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.fails_at is not None and index * FRAME_MS / 1000 >= self.fails_at:
                self.fails_at = None
                raise SourceError("the device was unplugged")
            yield pcm[index * FRAME_BYTES : (index + 1) * FRAME_BYTES]
            index += 1


def sentences(pcm: bytes, wait_s: float) -> list[tuple[int, float]]:
    """Each sentence in ``pcm``: its pitch (to 50 Hz) and its length in seconds (the parts of one
    sentence split by a failover's wait, at most ``wait_s``, counted together)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    frames = samples[: len(samples) // FRAME_SAMPLES * FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
    loud = np.sqrt((frames**2).mean(axis=1)) > 1000
    found, start = [], None
    for index, on in enumerate([*loud, False]):
        if on and start is None:
            start = index
        elif not on and start is not None:
            stretch = frames[start:index].reshape(-1)
            hz = np.argmax(np.abs(np.fft.rfft(stretch))) * SAMPLE_RATE / len(stretch)
            found.append((int(round(hz / 50) * 50), start, index))
            start = None
    merged: list[tuple[int, int, int]] = []
    for hz, first, last in found:
        if merged and merged[-1][0] == hz and first - merged[-1][2] <= wait_s * 1000 / FRAME_MS:
            merged[-1] = (hz, merged[-1][1], merged[-1][2] + last - first)
        else:
            merged.append((hz, first, last))
    return [(hz, (last - first) * FRAME_MS / 1000) for hz, first, last in merged]


async def play(source: FailoverSource, seconds: float) -> bytes:
    out = []
    async with source:
        async for frame in source.frames():
            out.append(frame)
            if len(out) * FRAME_MS / 1000 >= seconds:
                break
    return b"".join(out)


@pytest.mark.parametrize("late_s", [0.0, 0.3])
@pytest.mark.parametrize("how", ["goes dead", "fails"])
def test_the_backup_carries_the_talk_from_where_the_primary_went_quiet(how: str, late_s: float) -> None:
    in_loop_time(backup_carries_the_talk(how, late_s))


async def backup_carries_the_talk(how: str, late_s: float) -> None:
    voice = talk()
    # The primary goes quiet 0.4 s into the third sentence (at 4.9 s); a failed one comes back
    # once reopened, a dead one when the cable is plugged back in at 9 s. A dead input gives
    # nothing at all: after half a second the backup goes on with the sentence from 4.9 s.
    primary = Scripted(voice, dead=(4.9, 9.0)) if how == "goes dead" else Scripted(voice, fails_at=4.9)
    # The hall microphone: the same talk, quieter, and ``late_s`` behind (its own path: a network,
    # or a jitter buffer that grew after a stall, as a busy machine's once did by 0.3 s).
    lead = np.random.default_rng(6).normal(0, 0.0005, int(late_s * SAMPLE_RATE))
    backup = Scripted(np.concatenate([lead, voice * 0.5]))
    source = FailoverSource(primary, backup, failover_s=1.0, failback_s=2.0)
    # Played to just before both inputs end (the last tone is over by then): which of them ends
    # first would switch the output once more.
    heard = sentences(await play(source, len(voice) / SAMPLE_RATE - 0.3), wait_s=0.6)
    assert [hz for hz, _ in heard] == TONES, "every sentence once, in order"
    assert all(abs(length - TONE_S) <= 0.1 for _, length in heard), heard
    report = source.failover
    assert report.active == "primary" and report.behind_s == 0
    assert report.switches == 2, "the primary takes back once it is live again"


def test_the_operator_holds_an_input_whatever_it_carries() -> None:
    in_loop_time(operator_holds_an_input())


async def operator_holds_an_input() -> None:
    voice = talk()
    source = FailoverSource(Scripted(voice), Scripted(voice * 0.5, dead=(0, 99)), failover_s=1.0)
    async with source:
        frames = source.frames()
        await frames.__anext__()
        source.hold("backup")
        await until(lambda: source.failover.active == "backup")
        for _ in range(100):
            await frames.__anext__()
        assert source.failover.active == "backup", "held: the primary's sound does not take back"
        source.hold("auto")
        await frames.aclose()
    assert source.failover.mode == "auto"
