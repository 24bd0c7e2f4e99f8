"""Replay a talk at real-time pace through the real service, with one real listener per language.

The listeners connect over WebSocket to the running server, exactly as the audience's pages do,
and note when each caption and audio frame arrives (wall clock, Unix ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import websockets

from translator.audio.wav import WavSource
from translator.config import DEFAULT_ROOM, Settings
from translator.messages import AUDIO_HEADER, FLAG_END, PACKET_SAMPLES, opus_packets
from translator.server.app import running
from translator.talk.room import Room

QUIET_S = 3.0
"""After the talk ends, the replay stops once no listener has received anything for this long."""
MAX_WAIT_S = 30.0


@dataclass
class Heard:
    """What one language's listener received, with arrival times in Unix ms."""

    lang: str
    codec: str
    finals: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    """Utterance id → (arrival, the last final caption)."""
    first_audio: dict[int, int] = field(default_factory=dict)
    received: dict[int, int] = field(default_factory=dict)
    """Utterance id → samples of translated audio received."""
    lengths: dict[int, int] = field(default_factory=dict)
    """Utterance id → its whole translated audio in samples (from its end frame)."""
    skipped: int = 0
    last_arrival: float = field(default_factory=time.monotonic)
    engine: str = ""
    """The engine that interpreted into it."""
    tokens: int | None = None
    """Tokens its translations were billed over the talk (engines that bill by token)."""
    shown: dict[int, str] = field(default_factory=dict)
    """Utterance id → the text of its caption as last shown."""
    revised: int = 0
    """Captions changed after they were shown, other than by adding to them (flicker)."""
    audio: dict[int, bytearray] = field(default_factory=dict)
    """Utterance id → its translated audio as received (PCM listeners only), for reading it back."""

    def take(self, message: str | bytes) -> dict[str, Any] | None:
        """Record one message; return a final caption when one arrives."""
        now = int(time.time() * 1000)
        self.last_arrival = time.monotonic()
        if isinstance(message, bytes):
            _, codec, flags, utterance, position = AUDIO_HEADER.unpack_from(message)
            payload = message[AUDIO_HEADER.size :]
            if flags & FLAG_END:
                self.lengths[utterance] = position
            elif payload:
                self.first_audio.setdefault(utterance, now)
                if codec == 0:
                    self.audio.setdefault(utterance, bytearray()).extend(payload)
                self.received[utterance] = self.received.get(utterance, 0) + (
                    len(opus_packets(payload)) * PACKET_SAMPLES if codec == 1 else len(payload) // 2
                )
            return None
        data = msgspec.json.decode(message)
        if data["type"] == "skipped":
            self.skipped += 1
            return None
        if data["type"] != "caption":
            return None
        before, text = self.shown.get(data["id"], ""), data["text"]
        self.revised += bool(before) and not text.startswith(before)
        self.shown[data["id"]] = text
        if data["final"]:
            self.finals[data["id"]] = (now, data)
            return data
        return None


async def _listen(url: str, heard: Heard, on_final: Callable[[Heard, dict[str, Any]], None]) -> None:
    async with websockets.connect(url, compression=None, max_size=None) as ws:
        async for message in ws:
            caption = heard.take(message)
            if caption is not None:
                on_final(heard, caption)


async def replay(
    settings: Settings, talk: str, codec: str, on_final: Callable[[Heard, dict[str, Any]], None]
) -> tuple[int, dict[str, Heard]]:
    """Play ``talk`` once through the service; return when it started (Unix ms) and what each
    language's listener heard."""
    settings.server.host, settings.server.port = "127.0.0.1", 0
    source = WavSource(talk)
    async with running(settings, {DEFAULT_ROOM: source}) as rooms:
        room = rooms.rooms[DEFAULT_ROOM]
        assert isinstance(room, Room) and room.pipeline is not None
        played = room.pipeline.input
        heard = {lang: Heard(lang, codec) for lang in settings.targets}
        base = f"ws://127.0.0.1:{settings.server.port}/ws/listen"
        listeners = [
            asyncio.create_task(_listen(f"{base}/{lang}?codec={codec}", h, on_final), name=f"eval-{lang}")
            for lang, h in heard.items()
        ]
        try:
            ended: float | None = None
            while True:
                await asyncio.sleep(0.1)
                now = time.monotonic()
                if ended is None:
                    ended = now if played.state in ("ended", "failed") else None
                elif now - ended > MAX_WAIT_S or all(now - h.last_arrival > QUIET_S for h in heard.values()):
                    break
        finally:
            for task in listeners:
                task.cancel()
            for task in listeners:
                with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                    await task
        for lang, h in heard.items():
            h.engine = room.pipeline.engine.engine_of(lang)
            state = room.pipeline.languages.get(lang)
            h.tokens = state.tokens.total if state is not None and state.tokens is not None else None
        if played.state == "failed" or played.talk_started_at is None:
            raise OSError(f"the talk could not be played: {played.detail}")
    return played.talk_started_at, heard
