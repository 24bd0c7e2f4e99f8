"""The stall watch on its own: speech in, nothing out, by either rule; each stall told once."""

from __future__ import annotations

from translator.talk.stalls import StallWatch


def watch() -> StallWatch:
    stalls = StallWatch(owed_s=10, unheard_s=25, heard_s=3)
    stalls.watch("es", 0.0)
    stalls.watch("fr", 0.0)
    return stalls


def speak(stalls: StallWatch, start: float, seconds: float) -> None:
    for step in range(int(seconds * 50)):
        stalls.sound(start + step * 0.02, 0.02)


def test_an_utterance_without_its_final_is_a_stall_once_owed_long_enough() -> None:
    stalls = watch()
    stalls.stopped("es", "u1", 2.0)
    stalls.stopped("fr", "u1", 2.0)
    stalls.finished("fr", "u1", 3.0)
    assert stalls.check(11.9) == []
    assert stalls.check(12.0) == [("es", "no caption 10 s after the speech ended")]
    assert stalls.stalled("es") and not stalls.stalled("fr")
    assert stalls.check(30.0) == [], "told once"


def test_a_later_final_clears_a_stall_and_what_was_owed_before_it() -> None:
    stalls = watch()
    stalls.stopped("es", "u1", 0.0)
    assert [code for code, _ in stalls.check(10.0)] == ["es"]
    stalls.stopped("es", "u2", 10.5)
    stalls.finished("es", "u2", 11.0)
    assert not stalls.stalled("es")
    assert stalls.check(30.0) == [], "u1 will not come: the interpreter has moved past it"


def test_a_restart_forgets_what_was_owed() -> None:
    stalls = watch()
    stalls.stopped("es", "u1", 0.0)
    stalls.watch("es", 5.0)
    assert stalls.check(40.0) == []


def test_speech_that_the_interpreter_never_reports_is_a_stall() -> None:
    stalls = watch()
    speak(stalls, 1.0, 4.0)
    stalls.said("fr", 5.0)  # French reports the speech; Spanish says nothing
    speak(stalls, 20.0, 10.0)
    assert stalls.check(26.0) == [("es", "nothing from the interpreter for 25 s of speech")]
    assert stalls.check(44.9) == []
    assert stalls.check(45.0) == [("fr", "nothing from the interpreter for 25 s of speech")]


def test_a_long_turn_or_a_cough_is_no_stall() -> None:
    stalls = watch()
    speak(stalls, 0.0, 2.0)  # under `heard_s`: a cough, a door
    assert stalls.check(60.0) == []
    for second in range(60):
        speak(stalls, float(second), 1.0)
        if second % 20 == 0:
            stalls.said("es", float(second))
            stalls.said("fr", float(second))
    assert stalls.check(60.0) == [], "a speaker whose interpreter reports every 20 s is heard"
