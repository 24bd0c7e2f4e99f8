"""Consecutive turns for a panel (``consecutive = true``): the light the console and the speaker page
read says speaking while the floor speaks, interpreting until every channel's listeners have heard
the interpretation, then clear. Measured against what real WebSocket listeners received: the light
turns clear no earlier than the English channel's interpretation has played.

The floor is English and Spanish on the Voice Live test server (the real SDK); a Spanish turn is
interpreted into English (1 s of audio after the service's lag) and passed through in Spanish."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets

from harness.live import LiveServer
from harness.voicelive_server import RATE, tone
from tests.helpers import QUESTION_HZ, published_room, spanish, speaking, until
from translator.messages import AUDIO_HEADER, FLAG_END


@pytest.fixture
async def server() -> AsyncIterator[LiveServer]:
    async with published_room({"spoken": ["en", "es"], "consecutive": True}, language_of=spanish) as running:
        yield running


class Heard:
    """When one listener got each utterance's first audio, and each utterance's length."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.length_s: dict[int, float] = {}

    async def listen(self, ws: websockets.ClientConnection) -> None:
        async for message in ws:
            if isinstance(message, bytes):
                _, _, flags, utterance, position = AUDIO_HEADER.unpack_from(message)
                if flags & FLAG_END:
                    self.length_s[utterance] = position / RATE
                else:
                    self.first.setdefault(utterance, time.monotonic())

    def played_by(self) -> float:
        """When the listener has played everything it got, each utterance after the one before."""
        until = 0.0
        for utterance in sorted(self.length_s):
            until = max(until, self.first[utterance]) + self.length_s[utterance]
        return until


async def test_the_light_waits_for_the_interpretation_to_play_then_clears(server: LiveServer) -> None:
    lights: list[tuple[float, dict]] = []

    async def watch(client: httpx.AsyncClient) -> None:
        while True:
            turn = (await client.get("/api/languages")).json()["turn"]
            lights.append((time.monotonic(), turn))
            await asyncio.sleep(0.05)

    heard = {lang: Heard() for lang in ("en", "es")}
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=server.url))
        tasks = []
        for lang, listener in heard.items():
            ws = await stack.enter_async_context(
                websockets.connect(f"{server.ws}/ws/listen/{lang}?codec=opus")
            )
            await ws.recv()  # the hello
            tasks.append(asyncio.create_task(listener.listen(ws)))
        tasks.append(asyncio.create_task(watch(client)))
        speaker = await stack.enter_async_context(speaking(server))
        await until(lambda: lights and lights[-1][1]["light"] == "clear")
        speaker.say(tone(1.5, QUESTION_HZ))
        await until(lambda: any(turn["light"] == "interpreting" for _, turn in lights))
        await until(lambda: all(h.length_s for h in heard.values()) and lights[-1][1]["light"] == "clear")
        for task in tasks:
            task.cancel()

    sequence = [turn["light"] for _, turn in lights]
    changes = [light for i, light in enumerate(sequence) if i == 0 or sequence[i - 1] != light]
    assert changes == ["clear", "speaking", "interpreting", "clear"], changes
    interpreting = [turn for _, turn in lights if turn["light"] == "interpreting"]
    assert all(turn["spoken"] == "es" for turn in interpreting[-5:]), interpreting[-5:]
    assert any("en" in turn["languages"] for turn in interpreting), "English is interpreted from Spanish"
    began = next(at for at, turn in lights if turn["light"] == "interpreting")
    cleared_at = next(at for at, turn in lights if turn["light"] == "clear" and at > began)
    # Not clear before every listener has heard its channel's answer (a 50 ms poll, a little
    # network), nor long after.
    played = max(h.played_by() for h in heard.values())
    assert played - 0.15 <= cleared_at <= played + 2.0, cleared_at - played
    # While the interpretation played, the light said about how long was left.
    waits = [
        turn["wait_s"] for _, turn in lights if turn["light"] == "interpreting" and turn["wait_s"] is not None
    ]
    longest = max(h.length_s[max(h.length_s)] for h in heard.values())
    assert waits and max(waits) <= longest + 0.5, (waits, longest)
