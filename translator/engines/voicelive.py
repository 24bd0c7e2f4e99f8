"""Azure AI Voice Live: one interpreter session per target language, each supervised on its own."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections import deque
from typing import Any

from azure.ai.voicelive.aio import ConnectionClosed, connect
from azure.ai.voicelive.aio import ConnectionError as VoiceLiveConnectionError
from azure.ai.voicelive.models import (
    AudioInputTranscriptionOptions,
    AudioNoiseReduction,
    AzureSemanticDetectionMultilingual,
    AzureSemanticVadMultilingual,
    AzureStandardVoice,
    InputAudioFormat,
    Modality,
    OutputAudioFormat,
    RequestSession,
    ServerEventType,
)
from azure.core.credentials import AzureKeyCredential

from translator.audio import FRAME_MS
from translator.config import AzureConfig
from translator.engines.base import Engine
from translator.engines.events import (
    EngineFailure,
    SessionState,
    SourceText,
    SpeechStarted,
    SpeechStopped,
    TranslationAudio,
    TranslationText,
    TurnDone,
)
from translator.engines.instructions import interpreter_instructions
from translator.errors import PermanentEngineError
from translator.languages import Language
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# Audio kept while a session reconnects, replayed when it is back: 10 s of 20 ms frames.
REPLAY_FRAMES = 500
BACKOFF_MAX_S = 30.0
# A new session replaces the old one this long before it expires (at the first quiet moment).
ROLLOVER_LEAD_S = 120.0
STOP_TIMEOUT_S = 5.0
# Microsoft's docs: the semantic end-of-utterance model does not serve these models.
NO_SEMANTIC_EOU = ("gpt-realtime", "gpt-4o-mini-realtime", "phi4-mm-realtime")
# Native-audio models transcribe input with OpenAI's models; cascaded ones with Azure Speech.
NATIVE_AUDIO = ("gpt-realtime", "gpt-4o-realtime", "gpt-4o-mini-realtime", "phi4-mm-realtime")


def session_config(source: Language, target: Language, config: AzureConfig) -> RequestSession:
    """The Voice Live session for interpreting ``source`` into ``target``."""
    native = config.model.startswith(NATIVE_AUDIO)
    turn_detection = AzureSemanticVadMultilingual(
        threshold=0.5,
        prefix_padding_ms=300,
        silence_duration_ms=500,
        remove_filler_words=True,
        languages=[source.code, target.code],
        create_response=True,
        interrupt_response=False,
    )
    if not config.model.startswith(NO_SEMANTIC_EOU):
        turn_detection.end_of_utterance_detection = AzureSemanticDetectionMultilingual(
            threshold_level="default", timeout_ms=1000
        )
    return RequestSession(
        modalities=[Modality.TEXT, Modality.AUDIO],
        instructions=interpreter_instructions(source, target, config.glossary),
        input_audio_format=InputAudioFormat.PCM16,
        output_audio_format=OutputAudioFormat.PCM16,
        turn_detection=turn_detection,
        input_audio_transcription=AudioInputTranscriptionOptions(
            model="gpt-4o-transcribe" if native else "azure-speech",
            language=source.code if native else source.locale,
        ),
        input_audio_noise_reduction=AudioNoiseReduction(type="azure_deep_noise_suppression"),
        voice=AzureStandardVoice(name=config.voice, locale=target.locale),
        temperature=config.temperature,
    )


class VoiceLiveEngine(Engine):
    """One Voice Live session per target language, reconnected on its own when it drops."""

    name = "voicelive"

    def __init__(self, source: Language, targets: list[Language], config: AzureConfig) -> None:
        super().__init__(source, targets)
        self.config = config
        self._credential: Any = None
        self._sessions: list[_Session] = []

    async def start(self) -> None:
        """Start one supervised session per target; returns at once, sessions report their state."""
        if not self.config.endpoint:
            raise PermanentEngineError("Voice Live needs an endpoint (AZURE_VOICELIVE_ENDPOINT)")
        if self.config.api_key:
            self._credential = AzureKeyCredential(self.config.api_key)
        else:
            from azure.identity.aio import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
        self._sessions = [_Session(self, target) for target in self.targets]
        for session in self._sessions:
            session.start()

    async def stop(self) -> None:
        """Close every session, then the credential."""
        await asyncio.gather(*(s.stop() for s in self._sessions))
        if hasattr(self._credential, "close"):
            await self._credential.close()

    async def _send(self, frame: bytes) -> None:
        for session in self._sessions:
            session.queue_audio(frame)


class _Session:
    """One language pair: a writer and a reader over one connection, and a supervisor that reconnects."""

    def __init__(self, engine: VoiceLiveEngine, target: Language) -> None:
        self.engine = engine
        self.target = target
        self.code = target.code
        self._audio: deque[bytes] = deque(maxlen=REPLAY_FRAMES)
        self._audio_ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Input items committed by the VAD whose responses have not started yet, oldest first.
        self._awaiting_response: deque[str] = deque()
        self._response_utterance: dict[str, str] = {}
        self._source_text: dict[str, str] = {}
        self._translation: dict[str, str] = {}
        self._offset_ms = 0
        self._was_ready = False
        self._speaking = False
        self._responses = 0
        self._idle = asyncio.Event()
        self._expires_at: float | None = None
        self._expiry_known = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"voicelive-{self.code}")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task, STOP_TIMEOUT_S)
        self.engine.emit(SessionState(self.code, "closed"))

    def queue_audio(self, frame: bytes) -> None:
        """Keep the frame for the writer; while disconnected the oldest frames beyond 10 s go."""
        self._audio.append(frame)
        self._audio_ready.set()

    async def _supervise(self) -> None:
        backoff = 1.0
        state: str = "connecting"
        while True:
            self.engine.emit(SessionState(self.code, state))  # type: ignore[arg-type]
            self._was_ready = False
            try:
                if await self._connect_and_run():
                    log.info("Voice Live %s: new session before the old one expires", self.code)
                    continue
                detail = "connection closed"
            except VoiceLiveConnectionError as exc:
                status = getattr(exc.__cause__, "status", None)
                if isinstance(exc, ConnectionClosed):
                    detail = f"connection closed (code {exc.code})"
                elif status in (401, 403):
                    detail = f"Voice Live refused the credentials (HTTP {status})"
                    self.engine.emit(EngineFailure(self.code, detail, recoverable=False))
                    self.engine.emit(SessionState(self.code, "failed", detail))
                    return
                else:
                    detail = f"cannot connect to Voice Live (HTTP {status})" if status else str(exc)
            except (OSError, TimeoutError) as exc:
                detail = f"network error: {exc.__class__.__name__}"
            if self._was_ready:
                backoff = 1.0
            log.warning(
                "Voice Live %s→%s: %s; reconnecting in %.0f s",
                self.engine.source.code,
                self.code,
                detail,
                backoff,
            )
            self.engine.emit(EngineFailure(self.code, detail, recoverable=True))
            state = "reconnecting"
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _connect_and_run(self) -> bool:
        """Run one connection until it fails (raises) or is due for rollover (returns True)."""
        config = self.engine.config
        self._expires_at = None
        self._expiry_known.clear()
        async with connect(
            credential=self.engine._credential,
            endpoint=config.endpoint or "",
            model=config.model,
            **({"api_version": config.api_version} if config.api_version else {}),
        ) as conn:
            await conn.session.update(session=session_config(self.engine.source, self.target, config))
            # Voice Live times audio from the start of its connection; replayed frames came earlier.
            self._offset_ms = self.engine.audio_ms - len(self._audio) * FRAME_MS
            self._awaiting_response.clear()
            self._responses = 0
            self._was_ready = True
            self.engine.emit(SessionState(self.code, "ready"))
            tasks = [
                asyncio.create_task(self._write(conn), name=f"voicelive-{self.code}-writer"),
                reader := asyncio.create_task(self._read(conn), name=f"voicelive-{self.code}-reader"),
                rollover := asyncio.create_task(self._rollover_due(), name=f"voicelive-{self.code}-rollover"),
            ]
            try:
                await asyncio.wait({reader, rollover}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            if reader.done() and not reader.cancelled() and reader.exception() is not None:
                raise reader.exception()  # type: ignore[misc]
            return rollover.done() and not rollover.cancelled()

    async def _rollover_due(self) -> None:
        """Return once the session nears its ``expires_at``, at a moment when nobody is mid-sentence.

        Voice Live sessions end (and a token credential is never refreshed): the session is replaced
        between utterances instead, and the audio of the gap is replayed to the new one.
        """
        await self._expiry_known.wait()
        assert self._expires_at is not None
        await asyncio.sleep(max(0.0, self._expires_at - time.time() - ROLLOVER_LEAD_S))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), ROLLOVER_LEAD_S / 2)

    async def _write(self, conn: Any) -> None:
        while True:
            await self._audio_ready.wait()
            while self._audio:
                frames = [self._audio.popleft() for _ in range(min(len(self._audio), 5))]
                await conn.input_audio_buffer.append(audio=base64.b64encode(b"".join(frames)).decode())
            self._audio_ready.clear()

    async def _read(self, conn: Any) -> None:
        while True:
            event = await conn.recv()
            await self._handle(conn, event)

    async def _handle(self, conn: Any, event: Any) -> None:
        await self._dispatch(conn, event)
        idle = not self._speaking and not self._awaiting_response and self._responses == 0
        (self._idle.set if idle else self._idle.clear)()

    async def _dispatch(self, conn: Any, event: Any) -> None:  # noqa: C901 - one flat dispatch on type
        emit, code, kind = self.engine.emit, self.code, event.type
        if kind in (ServerEventType.SESSION_CREATED, ServerEventType.SESSION_UPDATED):
            expires = event.session.expires_at
            if expires is not None:
                self._expires_at = expires.timestamp() if hasattr(expires, "timestamp") else float(expires)
                self._expiry_known.set()
        elif kind == ServerEventType.INPUT_AUDIO_BUFFER_SPEECH_STARTED:
            self._speaking = True
            emit(SpeechStarted(code, event.item_id, self._offset_ms + event.audio_start_ms))
        elif kind == ServerEventType.INPUT_AUDIO_BUFFER_SPEECH_STOPPED:
            self._speaking = False
            emit(SpeechStopped(code, event.item_id, self._offset_ms + event.audio_end_ms))
        elif kind == ServerEventType.INPUT_AUDIO_BUFFER_COMMITTED:
            self._awaiting_response.append(event.item_id)
        elif kind == ServerEventType.CONVERSATION_ITEM_INPUT_AUDIO_TRANSCRIPTION_DELTA:
            text = self._source_text.get(event.item_id, "") + (event.delta or "")
            self._source_text[event.item_id] = text
            emit(SourceText(code, event.item_id, text, final=False))
        elif kind == ServerEventType.CONVERSATION_ITEM_INPUT_AUDIO_TRANSCRIPTION_COMPLETED:
            self._source_text.pop(event.item_id, None)
            emit(SourceText(code, event.item_id, event.transcript.strip(), final=True))
        elif kind == ServerEventType.RESPONSE_CREATED:
            self._responses += 1
            utterance = self._awaiting_response.popleft() if self._awaiting_response else event.response.id
            self._response_utterance[event.response.id] = utterance
        elif kind in (ServerEventType.RESPONSE_AUDIO_TRANSCRIPT_DELTA, ServerEventType.RESPONSE_TEXT_DELTA):
            utterance = self._utterance(event.response_id)
            text = self._translation.get(utterance, "") + event.delta
            self._translation[utterance] = text
            emit(TranslationText(code, utterance, text, final=False))
        elif kind == ServerEventType.RESPONSE_AUDIO_TRANSCRIPT_DONE:
            utterance = self._utterance(event.response_id)
            self._translation.pop(utterance, None)
            emit(TranslationText(code, utterance, (event.transcript or "").strip(), final=True))
        elif kind == ServerEventType.RESPONSE_AUDIO_DELTA:
            emit(TranslationAudio(code, self._utterance(event.response_id), event.delta))
        elif kind == ServerEventType.RESPONSE_DONE:
            self._responses = max(0, self._responses - 1)
            await self._finish_turn(conn, event.response)
        elif kind == ServerEventType.ERROR:
            message = f"{event.error.type}: {event.error.message}"
            log.warning("Voice Live %s: %s", code, message)
            emit(EngineFailure(code, message, recoverable=True))

    def _utterance(self, response_id: str) -> str:
        return self._response_utterance.get(response_id, response_id)

    async def _finish_turn(self, conn: Any, response: Any) -> None:
        utterance = self._response_utterance.pop(response.id, response.id)
        self._translation.pop(utterance, None)
        status = response.status
        self.engine.emit(TurnDone(self.code, utterance, str(getattr(status, "value", status))))
        # Earlier turns in the context cost tokens and pull the model towards a dialogue: drop them.
        output_ids = [item.id for item in (response.output or []) if getattr(item, "id", None)]
        for item_id in [utterance, *output_ids]:
            if item_id != response.id:
                await conn.conversation.item.delete(item_id=item_id)
