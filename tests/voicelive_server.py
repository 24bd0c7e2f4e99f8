"""A Voice Live–compatible server for tests: the real SDK connects to it on 127.0.0.1.

It records every client event, detects speech in the appended audio by its energy, and answers
each utterance with the event sequence the real service sends: speech_started / speech_stopped,
committed, input transcription, response.created, audio transcript deltas, audio deltas,
response.done. The "translation" names the target locale of the session's voice, so tests can
tell the languages apart.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

RATE = 24_000
BLOCK_MS = 20
SPEECH_RMS = 500
SILENCE_TO_END_MS = 500
MIN_SPEECH_MS = 200


def tone(seconds: float, freq: float = 440.0) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * math.pi * freq * t) * 8000).astype("<i2").tobytes()


@dataclass
class Connection:
    """What one client connection sent."""

    headers: dict[str, str]
    query: dict[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def session_updates(self) -> list[dict[str, Any]]:
        return [e["session"] for e in self.events if e["type"] == "session.update"]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


class FakeVoiceLive:
    """Start with `start()`; `endpoint` is what the engine is configured with."""

    def __init__(
        self,
        *,
        transcript: str = "Good morning everyone",
        reject_status: int | None = None,
        session_seconds: int = 1800,
        reply_s: float | tuple[float, ...] = 0.3,
    ) -> None:
        self.transcript = transcript
        self._replies = itertools.cycle(reply_s if isinstance(reply_s, tuple) else (reply_s,))
        """Seconds of translated audio of each turn in turn, sent in one burst as fast as it goes."""
        self.session_seconds = session_seconds
        self.reject_status = reject_status
        self.connections: list[Connection] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.endpoint = ""
        self.sockets: list[web.WebSocketResponse] = []

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/voice-live/realtime", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.endpoint = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def drop_all(self) -> None:
        """Close every open connection, as a network failure or service restart would."""
        for ws in list(self.sockets):
            await ws.close(code=1011, message=b"going away")

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.reject_status is not None:
            return web.Response(status=self.reject_status)
        conn = Connection(dict(request.headers), dict(request.query))
        self.connections.append(conn)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        send_lock = asyncio.Lock()

        async def send(event: dict[str, Any]) -> None:
            async with send_lock:
                if not ws.closed:
                    await ws.send_str(json.dumps(event))

        session: dict[str, Any] = {
            "id": self._id("sess"),
            "expires_at": int(time.time()) + self.session_seconds,
        }
        await send({"type": "session.created", "session": session})
        detector = _Detector()
        turns: list[asyncio.Task[None]] = []
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                event = json.loads(msg.data)
                conn.events.append(event)
                kind = event["type"]
                if kind == "session.update":
                    session = {**session, **event["session"]}
                    await send({"type": "session.updated", "session": session})
                elif kind == "conversation.item.delete":
                    await send({"type": "conversation.item.deleted", "item_id": event["item_id"]})
                elif kind == "input_audio_buffer.append":
                    pcm = base64.b64decode(event["audio"])
                    for change in detector.feed(pcm):
                        if change[0] == "start":
                            item = self._id("item")
                            detector.item = item
                            await send(
                                {
                                    "type": "input_audio_buffer.speech_started",
                                    "audio_start_ms": change[1],
                                    "item_id": item,
                                }
                            )
                        else:
                            item = detector.item
                            await send(
                                {
                                    "type": "input_audio_buffer.speech_stopped",
                                    "audio_end_ms": change[1],
                                    "item_id": item,
                                }
                            )
                            turns.append(asyncio.create_task(self._turn(send, session, item)))
        finally:
            for task in turns:
                task.cancel()
            self.sockets.remove(ws)
        return ws

    async def _turn(self, send: Any, session: dict[str, Any], item: str) -> None:
        locale = session.get("voice", {}).get("locale", "xx-XX")
        words = f"translated into {locale}: {self.transcript}".split()
        response = self._id("resp")
        out_item = self._id("item")
        await send({"type": "input_audio_buffer.committed", "item_id": item, "previous_item_id": None})
        await send(
            {
                "type": "response.created",
                "response": {
                    "id": response,
                    "object": "realtime.response",
                    "status": "in_progress",
                    "output": [],
                },
            }
        )
        await send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item,
                "content_index": 0,
                "transcript": self.transcript,
            }
        )
        audio = tone(next(self._replies))
        for index, word in enumerate(words):
            await asyncio.sleep(0.005)
            await send(
                {
                    "type": "response.audio_transcript.delta",
                    "response_id": response,
                    "item_id": out_item,
                    "output_index": 0,
                    "content_index": 0,
                    "delta": (" " if index else "") + word,
                }
            )
            if index == 0:
                # Speech synthesis is faster than real time: the whole turn's audio at once.
                for start in range(0, len(audio), 4800):
                    await send(
                        {
                            "type": "response.audio.delta",
                            "response_id": response,
                            "item_id": out_item,
                            "output_index": 0,
                            "content_index": 0,
                            "delta": base64.b64encode(audio[start : start + 4800]).decode(),
                        }
                    )
        await send(
            {
                "type": "response.audio.done",
                "response_id": response,
                "item_id": out_item,
                "output_index": 0,
                "content_index": 0,
            }
        )
        await send(
            {
                "type": "response.audio_transcript.done",
                "response_id": response,
                "item_id": out_item,
                "output_index": 0,
                "content_index": 0,
                "transcript": " ".join(words),
            }
        )
        await send(
            {
                "type": "response.done",
                "response": {
                    "id": response,
                    "object": "realtime.response",
                    "status": "completed",
                    "output": [{"id": out_item, "type": "message", "role": "assistant", "content": []}],
                },
            }
        )


class _Detector:
    """Energy VAD over 20 ms blocks: yields ("start", ms) and ("stop", ms) on the connection's timeline."""

    def __init__(self) -> None:
        self.pending = b""
        self.ms = 0
        self.speaking = False
        self.voiced_ms = 0
        self.silent_ms = 0
        self.start_ms = 0
        self.item = ""

    def feed(self, pcm: bytes) -> list[tuple[str, int]]:
        self.pending += pcm
        block = RATE * BLOCK_MS // 1000 * 2
        changes: list[tuple[str, int]] = []
        while len(self.pending) >= block:
            samples = np.frombuffer(self.pending[:block], dtype="<i2").astype(np.float64)
            self.pending = self.pending[block:]
            loud = math.sqrt(float(np.mean(samples**2))) > SPEECH_RMS
            if not self.speaking:
                self.voiced_ms = self.voiced_ms + BLOCK_MS if loud else 0
                if self.voiced_ms >= MIN_SPEECH_MS:
                    self.speaking, self.silent_ms = True, 0
                    self.start_ms = self.ms - self.voiced_ms + BLOCK_MS
                    changes.append(("start", self.start_ms))
            else:
                self.silent_ms = 0 if loud else self.silent_ms + BLOCK_MS
                if self.silent_ms >= SILENCE_TO_END_MS:
                    self.speaking, self.voiced_ms = False, 0
                    changes.append(("stop", self.ms - self.silent_ms + BLOCK_MS))
            self.ms += BLOCK_MS
        return changes
