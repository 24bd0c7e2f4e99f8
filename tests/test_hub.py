"""The hub: encoded once, bursts kept whole, slow listeners shed whole utterances, stalled ones evicted."""

from __future__ import annotations

import json
import time

from translator.hub import CLOSE_TOO_SLOW, HISTORY, LATE_MARGIN_S, STALL_S, TEXT_BACKLOG, AudioFrame, Hub
from translator.messages import Caption


def caption(n: int, final: bool = True, text: str = "hola") -> Caption:
    return Caption(n, "es", final, text, "hello", 0, 100)


def frame(utterance: int, index: int, seconds: float = 0.1) -> AudioFrame:
    return AudioFrame(f"{utterance}:{index}".encode(), utterance, seconds)


async def test_the_same_encoded_object_goes_to_every_listener() -> None:
    hub = Hub(["es", "fr"])
    a, b, other = hub.subscribe("es"), hub.subscribe("es"), hub.subscribe("fr")
    hub.publish("es", caption(1))
    first, second = await a.next(), await b.next()
    assert first is second and '"text":"hola"' in first
    assert other._text == type(other._text)()


async def test_a_burst_of_a_long_sentence_is_kept_whole() -> None:
    # 20 s of translated speech produced in an instant: a burst, not a listener falling behind.
    hub = Hub(["es"])
    listener = hub.subscribe("es")
    sent = [frame(1, i) for i in range(200)] + [frame(2, i) for i in range(50)]
    hub.publish("es", caption(1))
    for f in sent:
        hub.publish_audio("es", f)
    received = [await listener.next() for _ in range(len(sent) + 1)]
    assert received[1:] == [f.data for f in sent]
    assert listener.skipped_utterances == 0 and listener.closed is None


async def test_a_slow_listener_loses_whole_utterances_with_a_notice_never_half_of_one() -> None:
    listener = Hub(["es"]).subscribe("es")
    now = time.monotonic()
    for i in range(30):  # 3 s of utterance 1
        listener.push_audio(frame(1, i), now)
    assert await listener.next() == b"1:0"  # utterance 1 has started playing
    for i in range(30):  # utterance 2 arrives while utterance 1 is still queued
        listener.push_audio(frame(2, i), now + 1)
    # Nothing taken since: utterance 1's last frames are now later than playback needs them.
    late = now + 3 + LATE_MARGIN_S + 0.1
    listener.push_audio(frame(2, 30), late)
    listener.push_audio(frame(2, 31), late)  # more of a skipped utterance: dropped too
    # While the utterance it is hearing is late, a listener skips the utterances after it.
    listener.push_audio(frame(3, 0), late)
    out = [await listener.next() for _ in range(31)]
    assert [json.loads(t) for t in out[:2]] == [{"type": "skipped", "id": 2}, {"type": "skipped", "id": 3}]
    assert out[2:] == [f"1:{i}".encode() for i in range(1, 30)]
    # Caught up: the next utterance is heard whole.
    for i in range(10):
        listener.push_audio(frame(4, i), late + 1)
    assert [await listener.next() for _ in range(10)] == [f"4:{i}".encode() for i in range(10)]
    assert listener.skipped_utterances == 2 and listener.closed is None


async def test_a_listener_that_stops_reading_is_evicted_and_the_others_carry_on() -> None:
    hub = Hub(["es"])
    stalled, healthy = hub.subscribe("es"), hub.subscribe("es")
    cancelled = []
    stalled.on_evict(lambda: cancelled.append(True))
    now = time.monotonic()
    stalled.push_audio(frame(1, 0), now)
    stalled.push_audio(frame(1, 1), now + STALL_S / 2)
    assert stalled.closed is None
    stalled.push_audio(frame(2, 0), now + STALL_S + 1)
    assert stalled.closed == (CLOSE_TOO_SLOW, "listener too slow: stopped reading")
    assert cancelled == [True]
    assert await stalled.next() is None
    hub.publish_audio("es", frame(3, 0))
    assert await healthy.next() == b"3:0" and healthy.closed is None


async def test_captions_only_listeners_get_no_audio() -> None:
    hub = Hub(["es"])
    listener = hub.subscribe("es", audio=False)
    hub.publish_audio("es", frame(1, 0))
    assert len(listener._audio) == 0


async def test_a_listener_behind_on_captions_is_evicted_with_a_code() -> None:
    hub = Hub(["es"])
    stalled, healthy = hub.subscribe("es"), hub.subscribe("es")
    for n in range(TEXT_BACKLOG + 1):
        hub.publish("es", caption(n))
        assert await healthy.next()
    assert stalled.closed == (CLOSE_TOO_SLOW, "listener too slow: fell behind on captions")
    assert healthy.closed is None


def test_history_keeps_the_latest_version_of_recent_finals() -> None:
    hub = Hub(["es"])
    for n in range(HISTORY + 3):
        hub.publish("es", caption(n))
    hub.publish("es", caption(HISTORY + 2, text="corrected"))
    hub.publish("es", caption(99, final=False))
    history = list(hub.channels["es"].history)
    assert [c.id for c in history] == list(range(3, HISTORY + 3))
    assert history[-1].text == "corrected"
