"""A Voice Live–compatible server for tests: the real SDK connects to it on 127.0.0.1.

It detects speech in the appended audio by its energy, commits turns to a conversation, and answers
with the event sequences the real service sends. A response "translates" every turn of the
conversation that has no answer yet: ``translated into <voice locale>: <transcripts>``; with nothing
to translate, or with the default (unconfirmed) instructions, it chats like the assistant the
service is by default. Transcripts come from ``transcribe(audio)``, so the same audio gets the same
text on any connection (see `tone_name`). A typed message (``conversation.item.create``) joins the
conversation as a turn does; a session of text alone answers in ``response.text.*``, into the
locale its instructions name.

``strict=True`` (the default) follows the service's documented rules at their harshest
(../shared/docs/voicelive.md, "Rules of the real service"): one active response per conversation; a
turn the VAD commits while a response is active gets no response of its own; ``response.create``
cancels the active response unless ``cancel_previous`` is false, and then it is refused with
``conversation_already_has_active_response``; transcriptions arrive late (after ``response.done``)
or fail; a session update that does not fit the model is refused with ``error`` and the session
keeps its defaults, and then refuses every later message (as a native model was seen to after a
refused end-of-utterance model); ``session.created`` has no ``expires_at``. ``strict=False`` is the
lenient service: responses run side by side, transcriptions come first, every update is accepted.

Whatever ``strict`` is, each model behaves as recorded traffic shows (``CASCADED``): on a cascaded
model the user's item joins the conversation only after speech recognition (``cascade_s`` after the
commit), announced by ``...transcription.completed`` (with ``language``) and then
``conversation.item.created`` carrying the transcript; a response asked for before that sees no
turn of it. On native audio models ``conversation.item.created`` follows the commit at once.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

from harness.replay import Recorded, client_events, recorded_connections, replay_connection
from harness.service_server import ServiceServer

RATE = 24_000
BLOCK_MS = 20
SPEECH_RMS = 500
SILENCE_TO_END_MS = 500
"""The VAD's ``silence_duration_ms`` when the session sets none (the documented default)."""
MIN_SPEECH_MS = 200
PAUSE_BLOCKS = 10
"""Quiet blocks (200 ms) between two sentences of a turn (`tone_names`)."""
DEFAULT_INSTRUCTIONS = "You are a helpful assistant."
CASCADED = frozenset(
    (
        *("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"),
        *("gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5-chat", "gpt-5.1", "gpt-5.2", "gpt-5.4"),
        *("gpt-5.6-terra", "gpt-5.6-luna"),
    )
)
"""Azure STT → LLM → Azure TTS (the Voice Live docs); the rest are native audio models."""
NO_PHRASE_LIST = ("gpt-realtime", "gpt-4o-mini-realtime", "phi4-mm-realtime")
TAKE_END_OF_UTTERANCE = CASCADED
"""The models that take the semantic end-of-utterance model (recorded: native ones refuse it)."""
CHAT_ANSWER = "Sure! How can I help you today?"


def follow_glossary(text: str, instructions: str) -> str:
    """``text`` with each ``- term → translation`` line of the instructions applied, as a model that
    follows its glossary would."""
    for term, translation in re.findall(r"^- (.+?) → (.+)$", instructions, flags=re.MULTILINE):
        text = re.sub(re.escape(term), translation, text, flags=re.IGNORECASE)
    return text


def text_only(session: dict[str, Any]) -> bool:
    """A session that answers in text alone (a typed question's translation)."""
    return session.get("modalities") == ["text"]


def voice_locale(session: dict[str, Any]) -> str | None:
    """The accent a session's voice speaks with: its forced ``locale`` or first preferred locale;
    for a session of text alone, the first locale its instructions name ("into Spanish (es-ES)")."""
    if text_only(session):
        named = re.search(r"\(([a-z]{2}-[A-Z]{2})\)", session.get("instructions") or "")
        return named.group(1) if named else None
    voice = session.get("voice") or {}
    return voice.get("locale") or next(iter(voice.get("prefer_locales") or ()), None)


def tone(seconds: float, freq: float = 440.0) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * math.pi * freq * t) * 8000).astype("<i2").tobytes()


def tone_name(audio: np.ndarray) -> str:
    """ "Transcribe" a turn of pure tones as the frequency that dominates it: ``tone 650``."""
    spectrum = np.abs(np.fft.rfft(audio))
    freq = float(np.fft.rfftfreq(len(audio), 1 / RATE)[int(np.argmax(spectrum))])
    return f"tone {round(freq / 50) * 50}"


def tone_names(audio: np.ndarray) -> str:
    """ "Transcribe" a turn of several tones, each after a pause: ``tone 300 tone 350``."""
    block = RATE * BLOCK_MS // 1000
    loud = [
        math.sqrt(float(np.mean(audio[i : i + block] ** 2))) > SPEECH_RMS
        for i in range(0, len(audio) - block + 1, block)
    ]
    names: list[str] = []
    start: int | None = None
    quiet = 0
    for index, is_loud in enumerate([*loud, *[False] * (PAUSE_BLOCKS + 1)]):
        if is_loud:
            start, quiet = index if start is None else start, 0
        elif start is not None and (quiet := quiet + 1) > PAUSE_BLOCKS:
            name = tone_name(audio[start * block : (index - quiet + 1) * block])
            if not names or names[-1] != name:  # one sentence, broken by a gap, is still one
                names.append(name)
            start = None
    return " ".join(names)


@dataclass
class Connection:
    """What one client connection sent."""

    headers: dict[str, str]
    query: dict[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    """When each event arrived (monotonic), in the order of ``events``."""

    @property
    def session_updates(self) -> list[dict[str, Any]]:
        return [e["session"] for e in self.events if e["type"] == "session.update"]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


class FakeVoiceLive(ServiceServer):
    """Start with `start()`; `endpoint` is what the engine is configured with."""

    route = "/voice-live/realtime"

    def __init__(
        self,
        *,
        strict: bool = True,
        transcript: str = "Good morning everyone",
        transcribe: Callable[[np.ndarray], str] | None = None,
        reject_status: int | None = None,
        handshake_statuses: Iterable[int] = (),
        session_seconds: int | None = None,
        reply_s: float | tuple[float, ...] = 0.3,
        response_s: float = 0.1,
        transcription_delay_s: float | None = None,
        failed_transcriptions: Iterable[int] = (),
        outcomes: tuple[str, ...] = ("completed",),
        refuse_locales: Iterable[str] = (),
        cascade_s: float = 0.2,
        refuse_instructions: str | None = None,
        rate_limited: Iterable[int] = (),
        replay: Path | None = None,
        language_of: Callable[[str], str] | None = None,
        mistranslate: Callable[[str], str] | None = None,
        reply_ratio: float | None = None,
        hang_after_turns: int | None = None,
    ) -> None:
        super().__init__()
        self.hang_after_turns = hang_after_turns
        """The session in which the server's turns reach this many hangs after that turn's
        ``speech_stopped``: its socket stays open and it reads on, but it sends nothing more (a
        service that hangs). Sessions opened later work."""
        self.strict = strict
        self.transcribe = transcribe or (lambda audio: transcript)
        self.language_of = language_of or (lambda text: "en-US")
        """The locale azure-speech reports for a turn, from its transcript (``language`` on
        ``...transcription.completed``, as recorded traffic has it)."""
        self.mistranslate = mistranslate or (lambda text: text)
        """What the model makes of a translation it was about to give: a number changed, a name
        translated, a required term forgotten (models do)."""
        self._replies = itertools.cycle(reply_s if isinstance(reply_s, tuple) else (reply_s,))
        self.reply_ratio = reply_ratio
        """Each translation this many times as long as the speech it answers (instead of ``reply_s``):
        translated speech runs longer than its source (Spanish and French 15–25 %)."""
        """Seconds of translated audio of each response in turn, sent in one burst."""
        self.response_s = response_s
        """How long generating a response's text takes (the audio comes in a burst after its first word)."""
        self.transcription_delay_s = (
            (0.6 if strict else 0.0) if transcription_delay_s is None else (transcription_delay_s)
        )
        self.failed_transcriptions = set(failed_transcriptions)
        """Turns (counted from 1 across the server) whose transcription fails."""
        self._outcomes = itertools.cycle(outcomes)
        self.refuse_locales = set(refuse_locales)
        """Session updates for these voice locales are refused, whatever they ask."""
        self.replays: list[Recorded] = recorded_connections(replay) if replay is not None else []
        """Recorded connections (``translator check --probe``) answered in turn, instead of a session."""
        self.rate_limited = set(rate_limited)
        """Responses (counted from 1 across the server) refused for the token quota."""
        self.responses = 0
        self.refuse_instructions = refuse_instructions
        """Session updates whose instructions hold this text are refused (a content filter, say)."""
        self.cascade_s = cascade_s
        """On a cascaded model, how long recognition takes before the user's item exists."""
        self.session_seconds = session_seconds if session_seconds is not None or strict else 1800
        self.reject_status = reject_status
        self.handshake_statuses = list(handshake_statuses)
        """Answered to the next handshakes, one each, before connections are accepted."""
        self.connections: list[Connection] = []
        self.answers: list[str] = []
        """The text of every response, in the order they started."""
        self.refusals: list[dict[str, Any]] = []
        """Every ``error`` event sent."""
        self.turns = 0
        self.turn_seconds: list[float] = []
        """Each committed turn's length (its audio, the pause that ended it included)."""
        self.client_commits = 0
        """Turns the client ended itself (``input_audio_buffer.commit``)."""
        self.sessions: list[_Session] = []
        self.early_deletes: list[str] = []
        """User items deleted before their transcription was sent."""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.handshake_statuses:
            return web.Response(status=self.handshake_statuses.pop(0))
        if self.reject_status is not None:
            return web.Response(status=self.reject_status)
        conn = Connection(dict(request.headers), dict(request.query))
        self.connections.append(conn)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if self.replays:
            await replay_connection(ws, client_events(ws, _kept_in(conn)), self.replays.pop(0))
            return ws
        self.sockets.append(ws)
        session = _Session(self, ws, request.query.get("model", ""))
        self.sessions.append(session)
        await session.send({"type": "session.created", "session": session.config})
        try:
            async for event in client_events(ws, _kept_in(conn)):
                await session.receive(event)
        finally:
            await session.close()
            self.sockets.remove(ws)
        return ws


def _kept_in(conn: Connection) -> Callable[[dict[str, Any]], None]:
    """Keeps each client event in ``conn``, with when it came."""

    def keep(event: dict[str, Any]) -> None:
        conn.events.append(event)
        conn.received_at.append(time.monotonic())

    return keep


class _Session:
    """One connection's session: its configuration, conversation, VAD and responses."""

    def __init__(self, server: FakeVoiceLive, ws: web.WebSocketResponse, model: str) -> None:
        self.server = server
        self.ws = ws
        self.model = model
        self.config: dict[str, Any] = {
            "id": server.next_id("sess"),
            "instructions": DEFAULT_INSTRUCTIONS,
            "turn_detection": {"type": "server_vad", "create_response": True},
        }
        if server.session_seconds is not None:
            self.config["expires_at"] = int(time.time()) + server.session_seconds
        self.conversation: list[dict[str, Any]] = []
        self.active: dict[str, asyncio.Task[None]] = {}
        self.speech_s: dict[str, float] = {}
        self.unbilled_s = 0.0
        """Audio committed since the last response was billed."""
        self.billed = False
        """Each user item's speech, in seconds."""
        self.tasks: set[asyncio.Task[None]] = set()
        self.detector = _Detector()
        self._lock = asyncio.Lock()
        self.transcribing: set[str] = set()
        self.cascaded = model in CASCADED
        self.poisoned = False
        """Strict: an update was refused, and every later message is too."""
        self.opened_at = time.monotonic()
        self.closed_at: float | None = None
        self.hung = False

    async def send(self, event: dict[str, Any]) -> None:
        if self.hung:
            return
        if event["type"] == "error":
            self.server.refusals.append(event)
        async with self._lock:
            if not self.ws.closed:
                await self.ws.send_str(json.dumps(event))

    def spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def close(self) -> None:
        self.closed_at = time.monotonic()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def error(self, code: str, message: str, event: dict[str, Any]) -> None:
        await self.send(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": code,
                    "message": message,
                    "event_id": event.get("event_id"),
                },
            }
        )

    async def receive(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if self.poisoned:
            await self.error("session_failed", "the session refused an earlier update", event)
            return
        if kind == "session.update":
            await self.update(event)
        elif kind == "conversation.item.delete":
            item_id = event["item_id"]
            if not any(item["id"] == item_id for item in self.conversation):
                await self.error("item_not_found", f"no item {item_id}", event)
                return
            if item_id in self.transcribing:
                self.server.early_deletes.append(item_id)
            self.conversation = [item for item in self.conversation if item["id"] != item_id]
            await self.send({"type": "conversation.item.deleted", "item_id": item_id})
        elif kind == "input_audio_buffer.append":
            for change, ms, audio in self.detector.feed(base64.b64decode(event["audio"])):
                if change == "start":
                    self.detector.item = self.server.next_id("item")
                    await self.send(
                        {
                            "type": "input_audio_buffer.speech_started",
                            "audio_start_ms": ms,
                            "item_id": self.detector.item,
                        }
                    )
                else:
                    await self.commit(self.detector.item, ms, audio)
        elif kind == "input_audio_buffer.commit":
            # Allowed under server VAD ("the client does not need to send this event"); an empty
            # buffer is an error. The client's commit ends the turn the VAD is hearing.
            taken = self.detector.take()
            if taken is None:
                await self.send(
                    {
                        "type": "error",
                        "error": {
                            "type": "invalid_request_error",
                            "code": "input_audio_buffer_commit_empty",
                            "message": "Error committing input audio buffer: buffer too small.",
                            "event_id": event.get("event_id"),
                        },
                    }
                )
                return
            self.server.client_commits += 1
            item_id = self.detector.item if self.detector.item else self.server.next_id("item")
            self.detector.item = ""
            await self.commit(item_id, self.detector.ms, *taken, by_client=True)
        elif kind == "input_audio_buffer.clear":
            self.detector.reset()
            await self.send({"type": "input_audio_buffer.cleared"})
        elif kind == "response.create":
            await self.create(event)
        elif kind == "conversation.item.create":
            await self.add_message(event)

    async def add_message(self, event: dict[str, Any]) -> None:
        """A user's typed message joins the conversation (a response then answers it)."""
        item = event["item"]
        text = " ".join(
            part.get("text", "") for part in item.get("content", []) if part["type"] == "input_text"
        )
        if item.get("role") != "user" or not text:
            await self.error("invalid_value", "a message item needs the user's input_text", event)
            return
        item_id = item.get("id") or self.server.next_id("item")
        self.conversation.append({"id": item_id, "role": "user", "transcript": text})
        created = {"id": item_id, "type": "message", "role": "user", "content": item["content"]}
        await self.send({"type": "conversation.item.created", "previous_item_id": None, "item": created})

    async def update(self, event: dict[str, Any]) -> None:
        requested = event["session"]
        problem = self.server.strict and self._refusal(requested)
        if problem:
            await self.error("invalid_value", problem, event)
            # The first configuration refused leaves the defaults; a later one ends the session's use.
            self.poisoned = self.config["instructions"] != DEFAULT_INSTRUCTIONS
            return
        self.config = {**self.config, **requested}
        silence = (self.config.get("turn_detection") or {}).get("silence_duration_ms")
        self.detector.silence_ms = silence or SILENCE_TO_END_MS
        await self.send({"type": "session.updated", "session": self.config})

    def _refusal(self, requested: dict[str, Any]) -> str:
        refused_text = self.server.refuse_instructions
        if refused_text and refused_text in (requested.get("instructions") or ""):
            return "The instructions were rejected by the content filter."
        locale = voice_locale(requested)
        if locale in self.server.refuse_locales:
            return f"Voice '{requested['voice'].get('name')}' is not available for locale '{locale}'."
        transcription = (requested.get("input_audio_transcription") or {}).get("model")
        if transcription not in (None, "azure-speech", "mai-transcribe") and not self.model.startswith(
            "gpt-realtime"
        ):
            return f"Input transcription model '{transcription}' is not supported with model '{self.model}'."
        if (requested.get("turn_detection") or {}).get("end_of_utterance_detection") and (
            self.model not in TAKE_END_OF_UTTERANCE
        ):
            return f"end_of_utterance_detection is not supported with model '{self.model}'."
        if (requested.get("input_audio_transcription") or {}).get("phrase_list") and self.model.startswith(
            NO_PHRASE_LIST
        ):
            return f"phrase_list is not supported with model '{self.model}'."
        if (requested.get("input_audio_transcription") or {}).get("prompt") and transcription in (
            None,
            "azure-speech",
            "mai-transcribe",
        ):
            return f"prompt is not supported with transcription model '{transcription}'."
        temperature = requested.get("temperature")
        if temperature is not None and not 0.6 <= temperature <= 1.2:
            return "temperature must be between 0.6 and 1.2"
        tokens = requested.get("max_response_output_tokens")
        if tokens not in (None, "inf") and not 1 <= tokens <= 4096:
            return "max_response_output_tokens must be between 1 and 4096"
        return ""

    async def commit(
        self,
        item_id: str,
        end_ms: int,
        audio: np.ndarray,
        silent_ms: int | None = None,
        by_client: bool = False,
    ) -> None:
        if not by_client:
            await self.send(
                {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end_ms, "item_id": item_id}
            )
        self.server.turns += 1
        self.server.turn_seconds.append(len(audio) / RATE)
        self.unbilled_s += len(audio) / RATE
        self.hung = self.hung or self.server.turns == self.server.hang_after_turns
        # The turn's audio ends with the silence that ended it.
        silence = self.detector.silence_ms if silent_ms is None else silent_ms
        self.speech_s[item_id] = len(audio) / RATE - silence / 1000
        text = self.server.transcribe(audio)
        await self.send(
            {"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": None}
        )
        if self.cascaded:
            self.spawn(self.recognise(item_id, text, self.server.turns))
            return
        await self.add_item(item_id, None)
        self.conversation[-1]["transcript"] = text
        self.transcribing.add(item_id)
        transcription = self.spawn(self.transcription(item_id, text, self.server.turns))
        if not self.server.strict:
            await transcription
        await self.respond_on_commit()

    async def recognise(self, item_id: str, text: str, turn: int) -> None:
        """A cascaded model: Azure STT first; the item exists, with its transcript, only after."""
        await asyncio.sleep(self.server.cascade_s)
        failed = turn in self.server.failed_transcriptions
        await self.transcription_result(item_id, "" if failed else text, failed)
        await self.add_item(item_id, "" if failed else text)
        await self.respond_on_commit()

    async def add_item(self, item_id: str, transcript: str | None) -> None:
        self.conversation.append({"id": item_id, "role": "user", "transcript": transcript or ""})
        content = [{"type": "input_audio", "transcript": transcript}]
        item = {"id": item_id, "object": "realtime.item", "type": "message", "status": "completed"}
        await self.send(
            {
                "type": "conversation.item.created",
                "previous_item_id": None,
                "item": {**item, "role": "user", "content": content},
            }
        )

    async def respond_on_commit(self) -> None:
        if self.config["turn_detection"].get("create_response", True) and not (
            self.server.strict and self.active
        ):
            await self.start_response(None)

    async def transcription(self, item_id: str, text: str, turn: int) -> None:
        await asyncio.sleep(self.server.transcription_delay_s)
        self.transcribing.discard(item_id)
        await self.transcription_result(item_id, text, turn in self.server.failed_transcriptions)

    async def transcription_result(self, item_id: str, text: str, failed: bool) -> None:
        if failed:
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.failed",
                    "item_id": item_id,
                    "content_index": 0,
                    "error": {"type": "transcription_error", "message": "audio could not be transcribed"},
                }
            )
            return
        await self.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": text,
                "language": self._heard_in(text),
            }
        )

    def _heard_in(self, text: str) -> str:
        """The locale the speech was in, as azure-speech tells it: only ever one of the session's
        candidate locales (speech in another is heard as the first candidate)."""
        locale = self.server.language_of(text)
        transcription = self.config.get("input_audio_transcription") or {}
        if transcription.get("model") != "azure-speech" or not transcription.get("language"):
            return locale
        candidates = transcription["language"].split(",")
        return locale if locale in candidates else candidates[0]

    async def create(self, event: dict[str, Any]) -> None:
        params = event.get("response") or {}
        if self.server.strict and self.active:
            if params.get("cancel_previous") is False:
                await self.error(
                    "conversation_already_has_active_response",
                    "Conversation already has an active response in progress.",
                    event,
                )
                return
            for response_id, task in list(self.active.items()):
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await self.done(
                    response_id, "cancelled", [], {"type": "cancelled", "reason": "client_cancelled"}
                )
        await self.start_response(params.get("metadata"))

    async def start_response(self, metadata: dict[str, str] | None) -> None:
        response_id = self.server.next_id("resp")
        last_answer = max(
            (i for i, item in enumerate(self.conversation) if item["role"] == "assistant"), default=-1
        )
        turns = [item for item in self.conversation[last_answer + 1 :] if item["role"] == "user"]
        unanswered = [item["transcript"] for item in turns]
        ratio = self.server.reply_ratio
        reply_s = ratio * sum(self.speech_s.get(item["id"], 0.0) for item in turns) if ratio else None
        out_item = self.server.next_id("item")
        self.conversation.append({"id": out_item, "role": "assistant", "transcript": ""})
        # A voice without an accent set (azure-realtime's own) speaks the language it is told to.
        locale = voice_locale(self.config) or ("instructed" if "voice" in self.config else None)
        if unanswered and locale and self.config["instructions"] != DEFAULT_INSTRUCTIONS:
            text = self.server.mistranslate(
                follow_glossary(
                    f"translated into {locale}: {' '.join(unanswered)}", self.config["instructions"]
                )
            )
        else:
            text = CHAT_ANSWER
        self.server.answers.append(text)
        # response.created goes out before any later event is handled: what it answers is fixed now.
        await self.send(
            {
                "type": "response.created",
                "response": {
                    "id": response_id,
                    "object": "realtime.response",
                    "status": "in_progress",
                    "output": [],
                    "metadata": metadata,
                },
            }
        )
        self.active[response_id] = self.spawn(self.respond(response_id, out_item, text, reply_s))

    async def respond(self, response_id: str, out_item: str, text: str, reply_s: float | None) -> None:
        outcome = next(self.server._outcomes)
        output = [{"id": out_item, "type": "message", "role": "assistant", "content": []}]
        self.server.responses += 1
        if self.server.responses in self.server.rate_limited:
            limits = [{"name": "tokens", "limit": 100_000, "remaining": 0, "reset_seconds": 0.5}]
            await self.send({"type": "rate_limits.updated", "rate_limits": limits})
            error = {
                "type": "rate_limit_error",
                "code": "rate_limit_exceeded",
                "message": "Rate limit reached",
            }
            self.active.pop(response_id, None)
            await self.done(response_id, "failed", output, {"type": "failed", "error": error})
            return
        if outcome in ("failed", "cancelled"):
            await asyncio.sleep(self.server.response_s)
            details = (
                {"type": outcome, "reason": "server_error"}
                if outcome == "cancelled"
                else {
                    "type": "failed",
                    "error": {"type": "server_error", "message": "the model failed"},
                }
            )
            self.active.pop(response_id, None)
            await self.done(response_id, outcome, output, details)
            return
        item = {"response_id": response_id, "item_id": out_item, "output_index": 0, "content_index": 0}
        if text_only(self.config):
            await asyncio.sleep(self.server.response_s)
            await self.send({"type": "response.text.delta", **item, "delta": text})
            await self.send({"type": "response.text.done", **item, "text": text})
            self.active.pop(response_id, None)
            await self.done(response_id, "completed", output, None, (len(text.split()), 0.0))
            return
        words = text.split()
        audio = tone(reply_s or next(self.server._replies))
        if outcome == "incomplete":
            words, audio = words[: len(words) // 2], audio[: len(audio) // 4 * 2]
        for index, word in enumerate(words):
            await asyncio.sleep(self.server.response_s / len(words))
            await self.send(
                {"type": "response.audio_transcript.delta", **item, "delta": (" " if index else "") + word}
            )
            if index == 0:
                # Speech synthesis is faster than real time: the whole response's audio at once.
                for start in range(0, len(audio), 4800):
                    chunk = base64.b64encode(audio[start : start + 4800]).decode()
                    await self.send({"type": "response.audio.delta", **item, "delta": chunk})
        await self.send({"type": "response.audio.done", **item})
        await self.send({"type": "response.audio_transcript.done", **item, "transcript": " ".join(words)})
        self.active.pop(response_id, None)
        ended = {"type": "incomplete", "reason": "max_output_tokens"} if outcome == "incomplete" else None
        await self.done(response_id, outcome, output, ended, (len(words), len(audio) / 2 / RATE))

    async def done(
        self,
        response_id: str,
        status: str,
        output: list[dict[str, Any]],
        details: dict[str, Any] | None,
        made: tuple[int, float] = (0, 0.0),
    ) -> None:
        """End a response, billed by kind at the rates Microsoft publishes (audio in ~10 tokens a
        second, out ~20; the instructions about 4 characters a token); ``made`` is the answer's words
        and seconds of audio."""
        instructions = len(self.config["instructions"]) // 4
        audio_in, (words, spoken_s) = round(self.unbilled_s * 10), made
        audio_out, text_out = round(spoken_s * 20), round(words * 1.3)
        # The service caches a prompt of 1,024 tokens or more once it has been sent.
        cached = instructions if self.billed and instructions >= 1024 else 0
        self.unbilled_s, self.billed = 0.0, True
        await self.send(
            {
                "type": "response.done",
                "response": {
                    "id": response_id,
                    "object": "realtime.response",
                    "status": status,
                    "status_details": details,
                    "output": output,
                    # Billed: the instructions on every response (about 4 characters a token), the
                    # turns' audio and the answer.
                    "usage": {
                        "total_tokens": instructions + audio_in + text_out + audio_out,
                        "input_tokens": instructions + audio_in,
                        "output_tokens": text_out + audio_out,
                        "input_token_details": {
                            "cached_tokens": cached,
                            "text_tokens": instructions,
                            "audio_tokens": audio_in,
                            "cached_tokens_details": {"text_tokens": cached, "audio_tokens": 0},
                        },
                        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
                    },
                },
            }
        )


class _Detector:
    """Energy VAD over 20 ms blocks: yields ("start", ms, _) and ("stop", ms, the turn's audio)."""

    def __init__(self) -> None:
        self.item = ""
        self.ms = 0
        self.silence_ms = SILENCE_TO_END_MS
        self.reset()

    def take(self) -> tuple[np.ndarray, int] | None:
        """The audio of the turn being heard, committed by the client, and the silence it ends with
        (None: nothing heard)."""
        audio, silent_ms = (self.audio, self.silent_ms) if self.speaking else ([], 0)
        self.reset()
        return (np.concatenate(audio), silent_ms) if audio else None

    def reset(self) -> None:
        """Forget the audio not yet committed (``input_audio_buffer.clear``)."""
        self.pending = b""
        self.speaking = False
        self.voiced_ms = 0
        self.silent_ms = 0
        self.audio: list[np.ndarray] = []

    def feed(self, pcm: bytes) -> list[tuple[str, int, np.ndarray]]:
        self.pending += pcm
        block = RATE * BLOCK_MS // 1000 * 2
        changes: list[tuple[str, int, np.ndarray]] = []
        while len(self.pending) >= block:
            samples = np.frombuffer(self.pending[:block], dtype="<i2").astype(np.float64)
            self.pending = self.pending[block:]
            loud = math.sqrt(float(np.mean(samples**2))) > SPEECH_RMS
            if not self.speaking:
                self.audio = [*self.audio, samples][-(MIN_SPEECH_MS // BLOCK_MS) :] if loud else []
                self.voiced_ms = self.voiced_ms + BLOCK_MS if loud else 0
                if self.voiced_ms >= MIN_SPEECH_MS:
                    self.speaking, self.silent_ms = True, 0
                    changes.append(("start", self.ms - self.voiced_ms + BLOCK_MS, samples))
            else:
                self.audio.append(samples)
                self.silent_ms = 0 if loud else self.silent_ms + BLOCK_MS
                if self.silent_ms >= self.silence_ms:
                    self.speaking, self.voiced_ms = False, 0
                    changes.append(("stop", self.ms - self.silent_ms + BLOCK_MS, np.concatenate(self.audio)))
                    self.audio = []
            self.ms += BLOCK_MS
        return changes
