"""The jitter buffer that puts a network input on the talk's clock, run on simulated clocks: hours of
a sender's audio in seconds, with the sender's bursts and its clock's drift."""

from __future__ import annotations

import random

import numpy as np
import pytest

from translator.audio.format import FRAME_SAMPLES
from translator.audio.jitter import MAX_S, MAX_TARGET_S, TARGET_S, JitterBuffer


def simulate(
    ppm: float, hours: float, burst_frames: int = 5, seed: int = 7
) -> tuple[JitterBuffer, list[float]]:
    """A sender ``ppm`` fast (negative: slow) for ``hours``, its audio arriving in bursts of up to
    ``burst_frames`` frames, and the talk's clock taking a frame every 20 ms; the buffer and its fill
    after each frame."""
    chance = random.Random(seed)
    buffer = JitterBuffer()
    voice = (np.sin(np.arange(FRAME_SAMPLES * 2) / 7) * 8000).astype("<i2")
    owed = 0.0
    pending: list[bytes] = []
    fills = []
    for _ in range(int(hours * 3600 * 50)):
        owed += FRAME_SAMPLES * (1 + ppm * 1e-6)
        count = int(owed)
        owed -= count
        pending.append(voice[:count].tobytes())
        if len(pending) >= burst_frames or chance.random() < 0.2:
            for chunk in pending:
                buffer.push(chunk)
            pending.clear()
        buffer.take()
        fills.append(buffer.buffered_s)
    return buffer, fills


@pytest.mark.parametrize("ppm", [200, -200])
def test_a_drifting_sender_over_an_hour_keeps_the_buffer_near_its_target(ppm: float) -> None:
    # Uncorrected, 200 ppm is 0.72 s in an hour: the buffer would overflow its bound (fast) or
    # run dry again and again (slow).
    buffer, fills = simulate(ppm, hours=1)
    settled = fills[50 * 60 :]
    assert buffer.gaps == 0 and buffer.dropped_samples == 0, "nothing dropped, no silence inserted"
    # Each second's low point is held at the target; a burst (up to 100 ms) sits above it.
    assert max(settled) < TARGET_S + 0.15 and min(settled) > TARGET_S - 0.06, (min(settled), max(settled))
    assert abs(buffer.correction * 1e6 - ppm) < 100, "the correction follows the sender's clock"


def test_a_gap_becomes_one_stretch_of_silence_and_a_burst_beyond_the_bound_loses_its_oldest_audio() -> None:
    buffer = JitterBuffer()
    frame = (np.full(FRAME_SAMPLES, 1000)).astype("<i2").tobytes()
    for _ in range(10):
        buffer.push(frame)
    played = [buffer.take() for _ in range(20)]
    assert sum(any(f) for f in played) >= 9 and buffer.gaps == 1, "a gap: one underrun, then silence"
    for _ in range(200):  # four seconds at once
        buffer.push(frame)
    buffer.take()
    assert buffer.buffered_s <= MAX_S + 0.001
    assert buffer.dropped_samples >= (4 - MAX_S - 0.1) * 24_000


def test_a_taker_that_stalled_catches_up_on_what_waited_without_losing_it() -> None:
    buffer = JitterBuffer()
    frame = (np.full(FRAME_SAMPLES, 1000)).astype("<i2").tobytes()
    for _ in range(10):
        buffer.push(frame)
    buffer.take()
    for _ in range(100):  # two seconds of steady audio while the taker's loop was held up
        buffer.push(frame)
    played = [buffer.take(owed) for owed in range(99, -1, -1)]
    assert buffer.dropped_samples == 0 and all(any(f) for f in played)


def test_a_network_that_stalls_raises_the_margin_until_its_stalls_are_absorbed_then_lowers_it() -> None:
    """A sender in real time whose network holds its audio back 300 ms every ten seconds for five
    minutes, then delivers steadily for five more."""
    buffer = JitterBuffer()
    chunk = (np.full(FRAME_SAMPLES, 1000)).astype("<i2").tobytes()
    held: list[bytes] = []
    gaps_by_minute = []
    for frame in range(10 * 60 * 50):
        held.append(chunk)
        stalled = frame < 5 * 60 * 50 and frame % 500 >= 485  # 300 ms of every 10 s
        if not stalled:
            for waiting in held:
                buffer.push(waiting)
            held.clear()
        buffer.take()
        if frame % 3000 == 2999:
            gaps_by_minute.append(buffer.gaps)
    assert buffer.gaps <= 2, "the margin grows after the first stalls it could not bridge"
    assert gaps_by_minute[0] == buffer.gaps, "and none after the first minute"
    assert buffer.dropped_samples == 0
    assert buffer.target_s <= MAX_TARGET_S and buffer.target_s == TARGET_S, "calm again: back to the start"
