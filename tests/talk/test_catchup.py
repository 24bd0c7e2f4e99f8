"""Catching up on its own: the listener followed, the tempo chosen per utterance, and the stretch
that applies it (length shortened, pitch kept)."""

from __future__ import annotations

import numpy as np
import pytest

from translator.audio.stretch import Stretcher
from translator.talk.catchup import FULL_S, START_S, STOP_S, CatchUp


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_listener_falling_behind_gets_faster_utterances_and_normal_ones_once_caught_up() -> None:
    clock = Clock()
    catch_up = CatchUp(1.3, clock)
    tempos, late = [], []
    # Speech in cycles of 3.6 s whose interpretation lasts 4.2 s as spoken.
    for _ in range(12):
        tempo = catch_up.begin()
        tempos.append(tempo)
        late.append(catch_up.lateness_s)
        catch_up.played(4.2 / tempo)
        clock.now += 3.6
    assert tempos[0] == 1.0 and tempos[1] == 1.0, "a little late is left alone"
    assert max(tempos) <= 1.3 and tempos[-1] > 1.1
    assert max(late) < FULL_S, "caught up before it would need the most tempo"
    # The speaker pauses: the listener catches up, and utterances play as spoken again.
    clock.now += 10
    assert catch_up.begin() == 1.0 and catch_up.lateness_s == 0.0
    assert catch_up.behind_s() == 0.0


def test_without_catching_up_the_same_listener_drifts() -> None:
    clock = Clock()
    catch_up = CatchUp(1.0, clock)
    for _ in range(12):
        assert catch_up.begin() == 1.0
        catch_up.played(4.2)
        clock.now += 3.6
    assert catch_up.lateness_s == pytest.approx(0.6 * 11)


def test_the_tempo_grows_with_the_lateness_between_its_bounds() -> None:
    clock = Clock()
    catch_up = CatchUp(1.3, clock)
    catch_up.begin()
    catch_up.played(START_S - 0.01)
    assert catch_up.begin() == 1.0, "under the start, as spoken"
    catch_up.played(10.0)
    assert catch_up.begin() == 1.3, "far behind, the most allowed"
    clock.now += 10.0 + START_S - 0.01 - (STOP_S + 0.1)
    assert 1.0 < catch_up.begin() < 1.3, "still catching up between the bounds"


def test_stretched_speech_is_shorter_by_the_tempo_and_keeps_its_pitch() -> None:
    rate = 24_000
    t = np.arange(rate * 2) / rate
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()
    stretcher = Stretcher(1.25)
    out = b"".join(stretcher.feed(pcm[i : i + 4801]) for i in range(0, len(pcm), 4801))
    samples = np.frombuffer(out, dtype="<i2").astype(np.float64)
    assert len(samples) / rate == pytest.approx(2.0 / 1.25, abs=0.01)
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))] == pytest.approx(440, abs=3)
    assert Stretcher(1.0).feed(pcm) is pcm, "as spoken: not touched"
