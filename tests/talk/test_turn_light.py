"""The turn light's bookkeeping, driven as the pipeline drives it: an interpreter's own VAD may end a
turn on a shorter silence than the floor's hangover (Voice Live's 500 ms against 600), so an answer
can come before the floor falls quiet (seen on a busy machine: the light then waited 15 s for an
answer already given, and let English, answered at once, go unseen)."""

from __future__ import annotations

from translator.hub import AudioChunk
from translator.talk.turn_light import ANSWER_WITHIN_S, TurnLight


def spoken(light: TurnLight, since_ms: int, until_ms: int, now: float) -> None:
    light.floor(True, since_ms, ["en", "es"], now)
    light.heard("es", since_ms + 100)
    light.heard("en", since_ms + 100)


def test_an_answer_given_before_the_floor_falls_quiet_is_counted() -> None:
    light = TurnLight()
    spoken(light, 6080, 9340, now=0.0)
    light.answered("es", 9340)  # passed through before the floor's hangover ran out
    light.floor(False, 9340, ["en", "es"], 3.6)
    assert light.state(3.7).languages == ["en"]
    light.answered("en", 9340)
    light.audio(AudioChunk.pcm("en", 1, 0, b"\0\0" * 24_000 * 2), now=3.8)
    state = light.state(3.9)
    assert (state.light, state.languages, state.wait_s) == ("interpreting", ["en"], 1.9)
    assert light.state(5.9).light == "clear"


def test_an_answer_to_part_of_the_speech_still_owes_the_rest() -> None:
    light = TurnLight()
    spoken(light, 6080, 9340, now=0.0)
    light.answered("es", 7000)  # the service took a short pause for the end of a turn
    light.floor(False, 9340, ["en", "es"], 3.6)
    assert light.state(3.7).languages == ["en", "es"]
    assert light.state(3.6 + ANSWER_WITHIN_S - 0.1).languages == ["en", "es"]
    light.answered("es", 9340)
    light.answered("en", 9340)
    assert light.state(3.7).light == "clear"


def test_an_answer_before_the_next_speaker_does_not_answer_them() -> None:
    light = TurnLight()
    spoken(light, 6080, 9340, now=0.0)
    light.answered("es", 9340)
    light.floor(False, 9340, ["en", "es"], 3.6)
    light.answered("en", 9340)
    spoken(light, 12_000, 14_000, now=6.0)
    light.floor(False, 14_000, ["en", "es"], 8.0)
    assert light.state(8.1).languages == ["en", "es"]
