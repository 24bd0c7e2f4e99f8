"""A gpt-realtime-translate–compatible server for tests: the real OpenAI SDK connects to it on 127.0.0.1.

It follows the documented protocol (../shared/docs/voicelive.md, "Azure's dedicated interpreter
model"; the SDK's event types): ``GET /openai/v1/realtime/translations?model=<deployment>`` with the
``api-key`` header or a bearer token; ``session.created`` (with ``expires_at``) first;
``session.update`` answered by ``session.updated``, or by ``error`` for a language the model does not
speak; ``session.input_audio_buffer.append`` consumed in 200 ms frames; ``session.close`` flushes
and ends with ``session.closed``.

The "model": each 200 ms input frame is speech or not by its energy; speech frames less than
`SENTENCE_GAP_FRAMES` apart make one sentence, named by the tone that dominates its first frame
(``tone 650``). Output runs `delay_ms` behind the input on the model's clock (``elapsed_ms``, 200 ms
steps): a sentence's audio is its tone, frame for frame (the voice follows the speaker), with its
translated text in two deltas, ``[es] tone`` just before its first audio and `` 650.`` just after its
last. Between sentences it streams silence (``continuous``), or nothing. A sentence already in the
output language (``language_of``) is left untranslated: no audio, no text. The input transcript
(when configured) comes as the speech is heard: the sentence's name on its first frame, "." when
it ends.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from harness.service_server import ServiceServer
from harness.voicelive_server import tone_name

RATE = 24_000
FRAME_MS = 200
FRAME_SAMPLES = RATE * FRAME_MS // 1000
SPEECH_RMS = 500
SENTENCE_GAP_FRAMES = 3
"""Quiet frames (600 ms) that end a sentence."""
LANGUAGES = frozenset(("es", "pt", "fr", "ja", "ru", "zh", "de", "ko", "hi", "id", "vi", "it", "en"))


def frequency(name: str) -> int:
    """The frequency a sentence's name (``tone 650``) stands for."""
    return int(name.split()[-1])


def tone(seconds: float, freq: float, amplitude: int = 8000) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * math.pi * freq * t) * amplitude).astype("<i2").tobytes()


@dataclass
class Sentence:
    name: str
    lang: str
    first: int
    """Its first input frame."""
    last: int
    """Its last speech frame so far."""
    ended: bool = False
    closed: bool = False
    """Its last translated text is out."""


@dataclass
class Connection:
    """What one client connection sent."""

    headers: dict[str, str]
    query: dict[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    @property
    def audio_ms(self) -> int:
        """How much audio it appended."""
        return (
            sum(len(base64.b64decode(e["audio"])) for e in self.of_type("session.input_audio_buffer.append"))
            // 48
        )


class FakeTranslate(ServiceServer):
    """Start with `start()`; `endpoint` is what the engine is configured with."""

    route = "/openai/v1/realtime/translations"

    def __init__(
        self,
        *,
        api_key: str = "translate-key",
        token: str | None = None,
        deployment: str = "gpt-realtime-translate",
        delay_ms: int = 600,
        continuous: bool = True,
        elapsed: bool = True,
        language_of: Callable[[str], str] | None = None,
        handshake_statuses: Iterable[int] = (),
        session_seconds: int = 3600,
        refuse_languages: Iterable[str] = (),
        retry_after_s: int | None = None,
        quota_used_up: bool = False,
        update_errors: Iterable[tuple[str, str]] = (),
        transcription_deployments: Iterable[str] = ("gpt-realtime-whisper",),
        api_path: str = "/openai/v1",
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.token = token
        """A bearer token it accepts besides the key (a token credential's)."""
        self.deployment = deployment
        self.delay_frames = delay_ms // FRAME_MS
        self.continuous = continuous
        """Stream silence between sentences (else send no audio then)."""
        self.elapsed = elapsed
        """Send ``elapsed_ms`` with the output (it is optional in the protocol)."""
        self.language_of = language_of or (lambda name: "en")
        """The language a sentence is spoken in, from its name."""
        self.handshake_statuses = list(handshake_statuses)
        """Answered to the next handshakes, one each, before connections are accepted."""
        self.session_seconds = session_seconds
        """A session's ``expires_at``, from its creation: an hour, as the live logs show."""
        self.refuse_languages = set(refuse_languages)
        """Output languages refused with ``error``, as an unsupported one is."""
        self.retry_after_s = retry_after_s
        """Sent as ``Retry-After`` with each of those answers."""
        self.quota_used_up = quota_used_up
        """A 429 among them says ``insufficient_quota`` (billing), not a rate limit."""
        self.update_errors = list(update_errors)
        """(type, code) of an ``error`` answered to the next ``session.update``s, one each (an
        overloaded service: ``("server_error", "server_is_overloaded")``)."""
        self.route = f"{api_path}/realtime/translations"
        """Where the service answers (a region may serve another path): elsewhere, 404."""
        self.transcription_deployments = set(transcription_deployments)
        """The transcription models deployed: another name is taken by ``session.update``, and then
        each sentence's transcription fails (``DeploymentNotFound``), as a recorded Azure session
        shows."""
        self.handshakes: list[float] = []
        """When each handshake came (the loop's clock)."""
        self.connections: list[Connection] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        headers = dict(request.headers)
        self.handshakes.append(asyncio.get_running_loop().time())
        if self.handshake_statuses:
            status = self.handshake_statuses.pop(0)
            waits = {"Retry-After": str(self.retry_after_s)} if self.retry_after_s is not None else {}
            if status == 429 and self.quota_used_up:
                body = {
                    "error": {"code": "insufficient_quota", "message": "You exceeded your current quota."}
                }
                return web.json_response(body, status=status, headers=waits)
            return web.Response(status=status, headers=waits)
        accepted = {f"Bearer {self.api_key}"} | ({f"Bearer {self.token}"} if self.token else set())
        if (
            request.headers.get("api-key") != self.api_key
            and request.headers.get("Authorization") not in accepted
        ):
            return web.json_response({"error": {"code": "401", "message": "Access denied"}}, status=401)
        if request.query.get("model") != self.deployment:
            return web.json_response({"error": {"code": "DeploymentNotFound"}}, status=404)
        conn = Connection(headers, dict(request.query))
        self.connections.append(conn)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        try:
            await _Session(self, ws, conn).run()
        finally:
            self.sockets.remove(ws)
        return ws


class _Session:
    def __init__(self, server: FakeTranslate, ws: web.WebSocketResponse, conn: Connection) -> None:
        self.server = server
        self.ws = ws
        self.conn = conn
        self.language: str | None = None
        self.transcribe = False
        self.transcription_missing = False
        self.buffer = np.zeros(0, dtype=np.int16)
        self.frames = 0
        self.labels: list[Sentence | None] = []
        """Each input frame's sentence (None: quiet)."""
        self.sentences: list[Sentence] = []
        self.output = 0
        """The next input frame to output."""

    async def send(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", self.server.next_id("event"))
        if not self.ws.closed:
            await self.ws.send_str(json.dumps(event))

    async def run(self) -> None:
        await self.send(
            {
                "type": "session.created",
                "session": {
                    "id": self.server.next_id("sess"),
                    "type": "translation",
                    "model": self.server.deployment,
                    "expires_at": int(time.time()) + self.server.session_seconds,
                    "audio": {"output": {"language": None}},
                },
            }
        )
        async for message in self.ws:
            if message.type != WSMsgType.TEXT:
                continue
            event = json.loads(message.data)
            self.conn.events.append(event)
            kind = event.get("type")
            if kind == "session.update":
                await self.update(event)
            elif kind == "session.input_audio_buffer.append":
                await self.append(event)
            elif kind == "session.close":
                await self.flush()
                await self.send({"type": "session.closed"})
                await self.ws.close()
                return

    async def update(self, event: dict[str, Any]) -> None:
        audio = event.get("session", {}).get("audio", {})
        language = audio.get("output", {}).get("language")
        if self.server.update_errors:
            kind, code = self.server.update_errors.pop(0)
            await self.send(
                {"type": "error", "error": {"type": kind, "code": code, "message": "Try again later."}}
            )
            return
        if language not in LANGUAGES or language in self.server.refuse_languages:
            await self.send(
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "code": "invalid_value",
                        "message": f"Unsupported output language: {language}",
                        "param": "session.audio.output.language",
                    },
                }
            )
            return
        self.language = language
        self.transcribe = bool(audio.get("input", {}).get("transcription"))
        model = audio.get("input", {}).get("transcription", {}).get("model")
        self.transcription_missing = self.transcribe and model not in self.server.transcription_deployments
        session = {"id": "sess", "type": "translation", "model": self.server.deployment, "audio": audio}
        session["expires_at"] = int(time.time()) + self.server.session_seconds
        await self.send({"type": "session.updated", "session": session})

    async def append(self, event: dict[str, Any]) -> None:
        pcm = np.frombuffer(base64.b64decode(event["audio"]), dtype="<i2")
        self.buffer = np.concatenate([self.buffer, pcm])
        while len(self.buffer) >= FRAME_SAMPLES:
            frame, self.buffer = self.buffer[:FRAME_SAMPLES], self.buffer[FRAME_SAMPLES:]
            await self.hear(frame)

    async def hear(self, frame: np.ndarray) -> None:
        """One 200 ms frame in; what the model says a delay later out."""
        index = self.frames
        self.frames += 1
        elapsed = self.frames * FRAME_MS
        rms = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))
        current = self.sentences[-1] if self.sentences and not self.sentences[-1].ended else None
        if rms > SPEECH_RMS:
            if current is None:
                name = tone_name(frame.astype(np.float64))
                current = Sentence(name, self.server.language_of(name), index, index)
                self.sentences.append(current)
                if self.transcription_missing:
                    await self.send(
                        {
                            "type": "error",
                            "error": {
                                "type": "invalid_request_error",
                                "code": "DeploymentNotFound",
                                "message": "The API deployment for this resource does not exist.",
                            },
                        }
                    )
                elif self.transcribe:
                    lead = " " if len(self.sentences) > 1 else ""
                    await self.send(
                        {"type": "session.input_transcript.delta", "delta": lead + name, **self.at(elapsed)}
                    )
            current.last = index
            self.labels.append(current)
        else:
            self.labels.append(None)
            if current is not None and index - current.last >= SENTENCE_GAP_FRAMES:
                current.ended = True
                if self.transcribe and not self.transcription_missing:
                    await self.send(
                        {"type": "session.input_transcript.delta", "delta": ".", **self.at(elapsed)}
                    )
        while self.output <= index - self.server.delay_frames:
            await self.speak(self.output, elapsed)
            self.output += 1

    async def speak(self, index: int, elapsed: int) -> None:
        """The output of input frame ``index``, at model time ``elapsed``."""
        sentence = self.labels[index]
        translated = sentence is not None and sentence.lang != self.language
        if translated and sentence is not None and index == sentence.first:
            lead = " " if any(s.closed for s in self.sentences) else ""
            await self.text(f"{lead}[{self.language}] tone", elapsed)
        if translated and sentence is not None:
            await self.audio(tone(FRAME_MS / 1000, frequency(sentence.name)), elapsed)
        elif self.server.continuous:
            await self.audio(bytes(FRAME_SAMPLES * 2), elapsed)
        for done in self.sentences:
            if done.ended and not done.closed and done.last < index:
                done.closed = True
                if done.lang != self.language:
                    await self.text(f" {frequency(done.name)}.", elapsed)

    async def flush(self) -> None:
        """``session.close``: the rest of the input is heard through to its end, then said."""
        for _ in range(self.server.delay_frames + SENTENCE_GAP_FRAMES + 1):
            await self.hear(np.zeros(FRAME_SAMPLES, dtype=np.int16))

    def at(self, elapsed: int) -> dict[str, int]:
        return {"elapsed_ms": elapsed} if self.server.elapsed else {}

    async def source(self, delta: str, elapsed: int) -> None:
        await self.send({"type": "session.input_transcript.delta", "delta": delta, **self.at(elapsed)})

    async def text(self, delta: str, elapsed: int) -> None:
        await self.send({"type": "session.output_transcript.delta", "delta": delta, **self.at(elapsed)})

    async def audio(self, pcm: bytes, elapsed: int) -> None:
        event = {
            "type": "session.output_audio.delta",
            "delta": base64.b64encode(pcm).decode(),
            **self.at(elapsed),
        }
        await self.send({**event, "format": "pcm16", "sample_rate": RATE, "channels": 1})
