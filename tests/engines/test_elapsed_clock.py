"""The reading of gpt-realtime-translate's ``elapsed_ms``: used only once it keeps pace with the
audio sent, and never again on the connection once a reading cannot be true."""

from __future__ import annotations

from translator.engines.translate.clock import MAX_LAG_MS, PACE_WINDOW_MS, ElapsedClock

OFFSET = 10_000
"""The connection was opened at this talk position (a replacement, mid-talk)."""


def readings(clock: ElapsedClock, pairs: list[tuple[int, int]]) -> list[tuple[int, bool]]:
    """(elapsed_ms, audio sent) → (talk position, placed by elapsed_ms)."""
    return [clock.position("audio", elapsed, OFFSET + sent) for elapsed, sent in pairs]


def test_a_clock_of_this_connections_input_places_events_once_it_has_kept_pace() -> None:
    clock = ElapsedClock(OFFSET)
    delay = 600
    placed = readings(clock, [(sent - delay, sent) for sent in range(1000, 6000, 200)])
    probation = (PACE_WINDOW_MS - 1) // 200 + 1
    assert all(not aligned for _, aligned in placed[:probation]), "its arrival until it has kept pace"
    assert (
        placed[probation:] == [(OFFSET + sent - delay, True) for sent in range(1000, 6000, 200)][probation:]
    )


def test_repeated_readings_are_kept_and_a_jump_ahead_ends_the_trust() -> None:
    clock = ElapsedClock(OFFSET)
    readings(clock, [(sent - 400, sent) for sent in range(1000, 4000, 200)])
    assert clock.position("audio", 3400, OFFSET + 4000) == (OFFSET + 3400, True)
    assert clock.position("audio", 3400, OFFSET + 4000) == (OFFSET + 3400, True), "a shared value"
    assert clock.position("audio", 3400 + 3000, OFFSET + 4200) == (OFFSET + 4200, False), "a 3 s jump"
    assert clock.position("audio", 3800, OFFSET + 4400) == (OFFSET + 4400, False), "never again"


def test_a_wall_clock_behind_a_replay_is_never_used() -> None:
    clock = ElapsedClock(OFFSET)
    # 8 s of talk replayed in 2 s: a wall clock counts 2 s.
    placed = readings(clock, [(wall, wall * 4) for wall in range(200, 2200, 200)])
    assert not any(aligned for _, aligned in placed)
    assert not clock.trusted


def test_a_reading_too_far_behind_or_going_back_is_not_used() -> None:
    clock = ElapsedClock(OFFSET)
    readings(clock, [(sent - 400, sent) for sent in range(1000, 4000, 200)])
    assert clock.position("text", 100, OFFSET + 4000 + MAX_LAG_MS) == (OFFSET + 4000 + MAX_LAG_MS, False)
    other = ElapsedClock(OFFSET)
    readings(other, [(sent - 400, sent) for sent in range(1000, 4000, 200)])
    assert other.position("audio", 2000, OFFSET + 4000) == (OFFSET + 4000, False), "went back"


def test_silence_sent_only_to_keep_the_session_is_taken_out_of_a_reading() -> None:
    clock = ElapsedClock(OFFSET)
    readings(clock, [(sent, sent) for sent in range(200, 3000, 200)])
    # The input stalled at 3 s; 2 s of silence kept the session; the talk went on from 3 s.
    clock.inserted(3000, 2000)
    assert clock.position("text", 4000, OFFSET + 3600) == (OFFSET + 3000, True), "in it: where it began"
    assert clock.position("audio", 5600, OFFSET + 3600) == (OFFSET + 3600, True), "after it: the talk's"
