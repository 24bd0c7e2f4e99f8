"""The hub: encoded once, bounded audio, captions kept, stalled listeners evicted from the publisher side."""

from __future__ import annotations

from translator.hub import AUDIO_BACKLOG, CLOSE_TOO_SLOW, HISTORY, TEXT_BACKLOG, Hub
from translator.messages import Caption


def caption(n: int, final: bool = True, text: str = "hola") -> Caption:
    return Caption(n, "es", final, text, "hello", 0, 100)


async def test_the_same_encoded_object_goes_to_every_listener() -> None:
    hub = Hub(["es", "fr"])
    a, b, other = hub.subscribe("es"), hub.subscribe("es"), hub.subscribe("fr")
    hub.publish("es", caption(1))
    first, second = await a.next(), await b.next()
    assert first is second and '"text":"hola"' in first
    assert other._text == type(other._text)()


async def test_audio_is_bounded_and_drops_oldest_but_captions_are_kept() -> None:
    hub = Hub(["es"])
    listener = hub.subscribe("es")
    for n in range(AUDIO_BACKLOG + 10):
        hub.publish_audio("es", n.to_bytes(2, "little"))
        hub.publish("es", caption(n))
    assert listener.dropped_audio == 10
    texts = [await listener.next() for _ in range(AUDIO_BACKLOG + 10)]
    assert all(isinstance(t, str) for t in texts)
    assert await listener.next() == (10).to_bytes(2, "little")


async def test_captions_only_listeners_get_no_audio() -> None:
    hub = Hub(["es"])
    listener = hub.subscribe("es", audio=False)
    hub.publish_audio("es", b"pcm")
    assert len(listener._audio) == 0


async def test_a_stalled_listener_is_evicted_with_a_code_and_the_others_carry_on() -> None:
    hub = Hub(["es"])
    stalled, healthy = hub.subscribe("es"), hub.subscribe("es")
    cancelled = []
    stalled.on_evict(lambda: cancelled.append(True))
    for n in range(TEXT_BACKLOG + 1):
        hub.publish("es", caption(n))
        assert await healthy.next()
    assert stalled.closed == (CLOSE_TOO_SLOW, "listener too slow: fell behind on captions")
    assert cancelled == [True]
    assert await stalled.next() is None
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
