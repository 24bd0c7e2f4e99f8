"""A gpt-realtime-translate–compatible server for tests: the real OpenAI SDK connects to it on 127.0.0.1.

It follows the documented protocol (../shared/docs/voicelive.md, "Azure's dedicated interpreter
model"; the SDK's event types): ``GET /openai/v1/realtime/translations?model=<deployment>`` with the
``api-key`` header or a bearer token; ``session.created`` (with ``expires_at``) first;
``session.update`` answered by ``session.updated``, or by ``error`` for a language the model does not
speak; ``session.input_audio_buffer.append`` consumed in 200 ms frames; ``session.close`` flushes
and ends with ``session.closed``.

The "model": each 200 ms input frame is speech or not by its energy; speech frames less than
`SENTENCE_GAP_FRAMES` apart make one sentence, named by the tone that dominates its first frame
(``tone 650``). Output runs `delay_ms` behind the input: a sentence's audio is its tone, frame for
frame (the voice follows the speaker), with its translated text in two deltas, ``[es] tone`` and
`` 650.``. Between sentences it streams exact-zero frames (``continuous``), or nothing. A sentence
already in the output language (``language_of``) is left untranslated: no audio, no text. The input
transcript (when configured) comes as the speech is heard: the sentence's name on its first frame,
"." when it ends.

What the real service is known to do, and the setting that imitates each (the sources are in
../shared/docs/voicelive.md, "gpt-realtime-translate": the OpenAI SDK's docstrings, and the live logs
LingoFlow and Sokuji published):

- ``elapsed_ms`` is "alignment metadata" in 200 ms steps whose zero and meaning are not documented;
  one client read it as +200 ms per delta, another saw multi-second jumps and reads it as a server
  wall clock. `clock` gives each reading: ``sent`` (the input heard when the event is sent),
  ``frame`` (the input frame the output belongs to), ``wall`` (ms since the session was created),
  ``jumps`` (``sent``, 3 s further ahead after every `jump_every_ms` of input), ``none`` (not sent);
- one delta per engine frame carrying 400 ms of audio (`delta_frames` 2: both frames share one
  ``elapsed_ms``), arriving in bursts above real time (`burst_frames`: output held and sent all at
  once every so many input frames);
- exact-zero heartbeat frames before, between and after speech (``continuous``);
- the translated transcript usually leads its audio (`text` ``leads``: each delta when its speech is
  heard, a delay before its audio), or follows it (``trails``), and some sessions send none
  (``none``);
- after ``session.close`` the output drains for a while before ``session.closed`` (`drain_pace`:
  seconds per flushed frame);
- a session given no audio is closed ("keepalive ping timeout": `idle_timeout_s`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from aiohttp import WSMsgType, web

from harness.replay import client_events, recorded_connections, replay_connection
from harness.service_server import ServiceServer
from harness.voicelive_server import tone_name

RATE = 24_000
FRAME_MS = 200
FRAME_SAMPLES = RATE * FRAME_MS // 1000
SPEECH_RMS = 500
SENTENCE_GAP_FRAMES = 3
"""Quiet frames (600 ms) that end a sentence."""
JUMP_MS = 3000
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
        clock: Literal["sent", "frame", "wall", "jumps", "none"] = "sent",
        delta_frames: int = 1,
        burst_frames: int = 0,
        text: Literal["trails", "leads", "none"] = "trails",
        drain_pace: float = 0.0,
        idle_timeout_s: float | None = None,
        jump_every_ms: int = 8000,
        language_of: Callable[[str], str] | None = None,
        handshake_statuses: Iterable[int] = (),
        session_seconds: int = 3600,
        refuse_languages: Iterable[str] = (),
        retry_after_s: int | None = None,
        quota_used_up: bool = False,
        update_errors: Iterable[tuple[str, str]] = (),
        transcription_deployments: Iterable[str] = ("gpt-realtime-whisper",),
        api_path: str = "/openai/v1",
        replay: Path | None = None,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.token = token
        """A bearer token it accepts besides the key (a token credential's)."""
        self.deployment = deployment
        self.delay_frames = delay_ms // FRAME_MS
        self.continuous = continuous
        """Stream silence between sentences (else send no audio then)."""
        self.clock = clock
        """What ``elapsed_ms`` counts (see the module's docstring)."""
        self.delta_frames = delta_frames
        """Output frames per audio delta."""
        self.burst_frames = burst_frames
        """Output is held and sent in one burst every so many input frames (0: as it is made)."""
        self.text = text
        """When the translated transcript comes: after its audio starts, ahead of it, or never."""
        self.drain_pace = drain_pace
        """Seconds each frame flushed after ``session.close`` takes."""
        self.idle_timeout_s = idle_timeout_s
        self.jump_every_ms = jump_every_ms
        """``jumps``: how much input between two jumps."""
        """A session that is sent no audio for this long is closed."""
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
        self.replays = recorded_connections(replay) if replay is not None else []
        """Recorded connections (``translator check --probe``) answered in turn, instead of a session."""
        self.handshakes: list[float] = []
        """When each handshake came (the loop's clock)."""
        self.connections: list[Connection] = []
        self.appended = asyncio.Condition()
        """Notified at every append."""

    async def audio_beyond(self, ms: int) -> None:
        """Until the latest connection has been sent more than ``ms`` of audio."""
        async with self.appended:
            await self.appended.wait_for(lambda: self.connections[-1].audio_ms > ms)

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
            if self.replays:
                await replay_connection(ws, client_events(ws, conn.events.append), self.replays.pop(0))
            else:
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
        self.created = asyncio.get_running_loop().time()
        self.appending = asyncio.Event()
        self.pcm = bytearray()
        """Output audio not yet sent as a delta."""
        self.pcm_frame = 0
        """The input frame of the first output frame in ``pcm``."""
        self.held: list[dict[str, Any]] = []
        """Output events held for the next burst."""

    async def send(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", self.server.next_id("event"))
        if not self.ws.closed:
            await self.ws.send_str(json.dumps(event))

    async def put(self, event: dict[str, Any]) -> None:
        """Translated audio or text: sent now, or held for the next burst."""
        if self.server.burst_frames:
            self.held.append(event)
        else:
            await self.send(event)

    async def release(self) -> None:
        held, self.held = self.held, []
        for event in held:
            await self.send(event)

    async def run(self) -> None:
        watchdog = asyncio.create_task(self.close_when_idle(), name="translate-server-idle")
        try:
            await self.converse()
        finally:
            watchdog.cancel()

    async def close_when_idle(self) -> None:
        timeout = self.server.idle_timeout_s
        if timeout is None:
            return
        try:
            while True:
                async with asyncio.timeout(timeout):
                    await self.appending.wait()
                self.appending.clear()
        except TimeoutError:
            await self.ws.close(code=1011, message=b"keepalive ping timeout")

    async def converse(self) -> None:
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
                self.appending.set()
                await self.append(event)
                async with self.server.appended:
                    self.server.appended.notify_all()
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
                    await self.source(lead + name, index)
                if self.server.text == "leads" and current.lang != self.language:
                    await self.text(self.opening(), index)
            current.last = index
            self.labels.append(current)
        else:
            self.labels.append(None)
            if current is not None and index - current.last >= SENTENCE_GAP_FRAMES:
                current.ended = True
                if self.transcribe and not self.transcription_missing:
                    await self.source(".", index)
                if self.server.text == "leads" and current.lang != self.language:
                    await self.text(f" {frequency(current.name)}.", current.last)
        while self.output <= index - self.server.delay_frames:
            await self.speak(self.output)
            self.output += 1
        if self.server.burst_frames and self.frames % self.server.burst_frames == 0:
            await self.release()

    def opening(self) -> str:
        lead = " " if any(s.lang != self.language for s in self.sentences[:-1]) else ""
        return f"{lead}[{self.language}] tone"

    async def speak(self, index: int) -> None:
        """The output of input frame ``index``."""
        sentence = self.labels[index]
        translated = sentence is not None and sentence.lang != self.language
        trails = self.server.text == "trails"
        if trails and translated and sentence is not None and index == sentence.first:
            lead = " " if any(s.closed for s in self.sentences) else ""
            await self.text(f"{lead}[{self.language}] tone", index)
        if translated and sentence is not None:
            await self.audio(tone(FRAME_MS / 1000, frequency(sentence.name)), index)
        elif self.server.continuous:
            await self.audio(bytes(FRAME_SAMPLES * 2), index)
        for done in self.sentences:
            if done.ended and not done.closed and done.last < index:
                done.closed = True
                if trails and done.lang != self.language:
                    await self.text(f" {frequency(done.name)}.", index)

    async def flush(self) -> None:
        """``session.close``: the rest of the input is heard through to its end, then said (at
        `drain_pace`); what is held goes out."""
        for _ in range(self.server.delay_frames + SENTENCE_GAP_FRAMES + 1):
            await self.hear(np.zeros(FRAME_SAMPLES, dtype=np.int16))
            if self.server.drain_pace:
                await self.release()
                await asyncio.sleep(self.server.drain_pace)
        if self.pcm:
            await self.audio(b"", self.pcm_frame, last=True)
        await self.release()

    def at(self, index: int) -> dict[str, int]:
        """``elapsed_ms`` of output that belongs to input frame ``index``, sent now."""
        heard = self.frames * FRAME_MS
        clock = self.server.clock
        if clock == "none":
            return {}
        if clock == "frame":
            return {"elapsed_ms": (index + 1) * FRAME_MS}
        if clock == "wall":
            wall = (asyncio.get_running_loop().time() - self.created) * 1000
            return {"elapsed_ms": int(wall // FRAME_MS) * FRAME_MS}
        if clock == "jumps":
            return {"elapsed_ms": heard + JUMP_MS * (heard // self.server.jump_every_ms)}
        return {"elapsed_ms": heard}

    async def source(self, delta: str, index: int) -> None:
        await self.send({"type": "session.input_transcript.delta", "delta": delta, **self.at(index)})

    async def text(self, delta: str, index: int) -> None:
        if self.server.text != "none":
            await self.put({"type": "session.output_transcript.delta", "delta": delta, **self.at(index)})

    async def audio(self, pcm: bytes, index: int, last: bool = False) -> None:
        """One output frame; sent as a delta once `delta_frames` of them are together."""
        if not self.pcm:
            self.pcm_frame = index
        self.pcm += pcm
        if not last and len(self.pcm) < self.server.delta_frames * FRAME_SAMPLES * 2:
            return
        event = {
            "type": "session.output_audio.delta",
            "delta": base64.b64encode(bytes(self.pcm)).decode(),
            **self.at(self.pcm_frame),
        }
        self.pcm.clear()
        await self.put({**event, "format": "pcm16", "sample_rate": RATE, "channels": 1})
