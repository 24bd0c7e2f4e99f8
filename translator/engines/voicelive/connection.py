"""One Voice Live connection of one language: configuration confirmed, audio written, turns translated.

Times on the service's side count from the connection's first audio; ``offset_ms`` maps them onto the
talk's timeline. A connection being replaced is *retired* at a talk position: audio from there on
belongs to its successor, and it only finishes the turns it committed before.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import deque
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
from azure.ai.voicelive.aio import connect
from azure.ai.voicelive.models import RequestSession, ResponseCreateParams, ServerEventType

from translator.audio import FRAME_MS
from translator.audio.levels import LOUD_DBFS, level_dbfs
from translator.config import AzureConfig
from translator.engines.events import (
    AnyEngineEvent,
    EngineFailure,
    Passthrough,
    SourceText,
    SpeechStarted,
    SpeechStopped,
    TokensUsed,
    TranslationAudio,
    TranslationText,
    TurnDone,
)
from translator.engines.retry import Backoff
from translator.engines.voicelive.long_turns import TurnLimiter
from translator.engines.voicelive.turns import (
    MAX_RATE_LIMITED_ATTEMPTS,
    ONE_LANGUAGE,
    FloorLanguages,
    Group,
    TurnBook,
)
from translator.errors import PermanentEngineError
from translator.glossary import Glossary

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0
"""Signing in, the handshake and the configuration's confirmation, together: aiohttp alone would
give a black-holed handshake five minutes, and a token fetch no bound at all."""
CONFIGURE_EVENT = "configure"
UPDATE_EVENT = "update"
DELETE_EVENT = "delete"
COMMIT_EVENT = "commit"
RATE_LIMITED = "rate_limit_exceeded"
RATE_LIMITS_UPDATED = "rate_limits.updated"
"""No typed class in the SDK: it arrives as the base event, read as a mapping."""
QUOTA_WARNING_SHARE = 0.1
ACTIVE_RESPONSE = "conversation_already_has_active_response"
# Frames per input_audio_buffer.append: 100 ms.
FRAMES_PER_APPEND = 5

Frames = Callable[[int], tuple[int, list[bytes]]]
"""Given a talk position, the position of the first frame kept from there on, and the frames."""


class Connection:
    """An open, confirmed connection; `run()` serves it until it drops or is closed."""

    def __init__(
        self,
        code: str,
        conn: Any,
        stack: AsyncExitStack,
        emit: Callable[[AnyEngineEvent], None],
        glossary: Glossary,
        floor: FloorLanguages = ONE_LANGUAGE,
        max_turn_ms: int = 0,
    ) -> None:
        self.code = code
        self.conn = conn
        self._stack = stack
        self._emit = emit
        self.book = TurnBook(floor=floor)
        self.expires_at: float | None = None
        self.opened_at = time.monotonic()
        self.offset_ms: int | None = None
        self.cursor_ms = 0
        """The talk position of the next frame to send."""
        self.last_end_ms = 0
        """Where the last committed turn ended (talk timeline): a successor may start there."""
        self.retired_at: int | None = None
        self.committed = asyncio.Event()
        self.idle = asyncio.Event()
        """Nothing waits for a translation or a transcription: closing now loses nothing."""
        self.wake = asyncio.Event()
        self._frames: Frames = lambda ms: (ms, [])
        self._updates = 0
        self.glossary = glossary
        """The glossary the service last accepted on this connection."""
        self._pending: deque[Glossary] = deque()
        """Glossaries sent in updates not yet answered (the service answers them in order)."""
        self.tokens_left: tuple[int | None, float] = (None, 0.0)
        """The quota's tokens left this minute and (monotonic) when it resets (``rate_limits.updated``)."""
        self._backoff = Backoff()
        self._retry: asyncio.Task[None] | None = None
        self.refused = asyncio.Event()
        """An update was refused: the connection is to be replaced (see `LanguageSession`)."""
        self.refusal = ""
        self.limiter = TurnLimiter(max_turn_ms)
        self._open_item: str | None = None
        """The turn the service's VAD is hearing, by its item id."""

    @classmethod
    async def open(
        cls,
        code: str,
        config: AzureConfig,
        credential: Any,
        session: RequestSession,
        emit: Callable[[AnyEngineEvent], None],
        glossary: Glossary,
        floor: FloorLanguages = ONE_LANGUAGE,
    ) -> Connection:
        """Connect and send the configuration (made with ``glossary``); return once
        ``session.updated`` confirms it, within `CONNECT_TIMEOUT_S` in all.

        Raises PermanentEngineError with the service's message when it refuses the configuration:
        the session would otherwise keep its defaults, a chat assistant answering the speaker.
        """
        stack = AsyncExitStack()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                conn = await stack.enter_async_context(
                    connect(
                        credential=credential,
                        endpoint=config.endpoint or "",
                        model=config.model,
                        **version_options(config),
                    )
                )
                max_turn_ms = round(config.max_turn_seconds * 1000)
                connection = cls(code, conn, stack, emit, glossary, floor, max_turn_ms)
                await conn.session.update(session=session, event_id=CONFIGURE_EVENT)
                while not await connection._confirmed(await conn.recv()):
                    pass
        except BaseException as exc:
            await stack.aclose()
            await close_abandoned(exc)
            raise
        return connection

    async def _confirmed(self, event: Any) -> bool:
        kind = event.type
        if kind in (ServerEventType.SESSION_CREATED, ServerEventType.SESSION_UPDATED):
            expires = event.session.expires_at
            if expires is not None:
                self.expires_at = expires.timestamp() if hasattr(expires, "timestamp") else float(expires)
            return kind == ServerEventType.SESSION_UPDATED
        if kind == ServerEventType.ERROR and event.error.event_id in (None, CONFIGURE_EVENT):
            raise PermanentEngineError(f"Voice Live refused the session configuration: {event.error.message}")
        return False

    async def close(self) -> None:
        await self._stack.aclose()

    async def update(self, session: RequestSession, glossary: Glossary) -> None:
        """Change the session (made with ``glossary``) while it runs; the service answers
        ``session.updated``, or ``error`` (then `refused` is set)."""
        self._updates += 1
        self._pending.append(glossary)
        await self.conn.session.update(session=session, event_id=f"{UPDATE_EVENT}-{self._updates}")

    async def run(self, start_ms: int, frames: Frames) -> None:
        """Write audio from ``start_ms`` on and read events, until the connection drops (raises)."""
        self.cursor_ms = self.last_end_ms = start_ms
        self._frames = frames
        self.wake.set()
        writer = asyncio.create_task(self._write(), name=f"voicelive-{self.code}-writer")
        try:
            while True:
                await self._dispatch(await self.conn.recv())
                (self.idle.set if self.book.settled and not self.book.finished else self.idle.clear)()
        finally:
            tasks = [t for t in (writer, self._retry) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def retire(self, at_ms: int) -> None:
        """Leave the audio from ``at_ms`` on to a successor; finish only the turns committed before."""
        self.retired_at = at_ms
        self.wake.set()

    async def _write(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            if self.retired_at is not None:
                # Speech the VAD heard after the retirement point is the successor's: drop it here.
                await self.conn.input_audio_buffer.clear()
                return
            first, frames = self._frames(self.cursor_ms)
            if not frames:
                continue
            if self.offset_ms is None:
                self.offset_ms = first
            if first > self.cursor_ms:
                log.warning("Voice Live %s: %d ms of audio were not kept", self.code, first - self.cursor_ms)
            self.cursor_ms = first + len(frames) * FRAME_MS
            for i in range(0, len(frames), FRAMES_PER_APPEND):
                chunk = frames[i : i + FRAMES_PER_APPEND]
                await self.conn.input_audio_buffer.append(audio=base64.b64encode(b"".join(chunk)).decode())
                due = False
                for j, frame in enumerate(chunk):
                    due |= self.limiter.heard(first + (i + j) * FRAME_MS, level_dbfs(frame) > LOUD_DBFS)
                if due:
                    await self._end_turn()

    async def _end_turn(self) -> None:
        """End the long turn the service is hearing at the speaker's pause (see `long_turns`)."""
        if self._open_item is None:
            return
        self.book.turn(self._open_item).end_ms = self.limiter.pause_at
        self._open_item = None
        await self.conn.input_audio_buffer.commit(event_id=f"{COMMIT_EVENT}-{self.limiter.pause_at}")

    def _talk_ms(self, service_ms: int) -> int:
        return (self.offset_ms or 0) + service_ms

    async def _dispatch(self, event: Any) -> None:  # noqa: C901 - one flat dispatch on type
        kind, book = event.type, self.book
        if kind == ServerEventType.INPUT_AUDIO_BUFFER_SPEECH_STARTED:
            start = book.turn(event.item_id).start_ms = self._talk_ms(event.audio_start_ms)
            self._open_item = event.item_id
            self.limiter.started(start)
        elif kind == ServerEventType.INPUT_AUDIO_BUFFER_SPEECH_STOPPED:
            turn = book.turn(event.item_id)
            turn.end_ms = self._talk_ms(event.audio_end_ms)
            if self._open_item == event.item_id:
                self._open_item = None
                self.limiter.ended()
        elif kind == ServerEventType.INPUT_AUDIO_BUFFER_COMMITTED:
            await self._committed(event.item_id)
        elif kind == ServerEventType.CONVERSATION_ITEM_CREATED:
            await self._item_created(event.item)
        elif kind == ServerEventType.CONVERSATION_ITEM_INPUT_AUDIO_TRANSCRIPTION_DELTA:
            turn = book.turn(event.item_id)
            turn.transcript += event.delta or ""
            if turn.group is not None:
                self._emit(SourceText(self.code, turn.group.id, turn.group.source_text, final=False))
        elif kind in (
            ServerEventType.CONVERSATION_ITEM_INPUT_AUDIO_TRANSCRIPTION_COMPLETED,
            ServerEventType.CONVERSATION_ITEM_INPUT_AUDIO_TRANSCRIPTION_FAILED,
        ):
            await self._transcribed(event)
        elif kind == ServerEventType.RESPONSE_CREATED:
            metadata = event.response.metadata or {}
            adopted = book.asked is None
            group, grew = book.started(event.response.id, metadata.get("group"))
            if group is not None and (adopted or grew):
                self._announce(group)
            self._pass_through()
        elif kind in (ServerEventType.RESPONSE_AUDIO_TRANSCRIPT_DELTA, ServerEventType.RESPONSE_TEXT_DELTA):
            if (group := book.response(event.response_id)) is not None:
                group.text += event.delta or ""
                self._emit(TranslationText(self.code, group.id, group.text.strip(), final=False))
        elif kind in (ServerEventType.RESPONSE_AUDIO_TRANSCRIPT_DONE, ServerEventType.RESPONSE_TEXT_DONE):
            if (group := book.response(event.response_id)) is not None:
                group.text = getattr(event, "transcript", None) or getattr(event, "text", None) or group.text
        elif kind == ServerEventType.RESPONSE_AUDIO_DELTA:
            if (group := book.response(event.response_id)) is not None:
                group.audio_bytes += len(event.delta)
                self._emit(TranslationAudio(self.code, group.id, event.delta))
        elif kind == ServerEventType.RESPONSE_DONE:
            await self._response_done(event.response)
        elif kind == ServerEventType.SESSION_UPDATED:
            if self._pending:
                self.glossary = self._pending.popleft()
        elif kind == ServerEventType.ERROR:
            await self._error(event.error)
        elif kind == RATE_LIMITS_UPDATED:
            self._rate_limits(event)
        elif kind == ServerEventType.WARNING:
            # Problems that do not stop the session (the docs): worth a line, not a listener's notice.
            log.warning(
                "Voice Live %s: the service warns: %s", self.code, getattr(event.warning, "message", "")
            )

    async def _committed(self, item_id: str) -> None:
        turn = self.book.commit(item_id)
        if self.retired_at is not None and (turn.end_ms is None or turn.end_ms > self.retired_at):
            # The successor heard this speech again from the retirement point: it is translated there.
            # Its item is deleted once it exists (deleting it before is refused).
            turn.discard = True
            self.book.forget(item_id)
            if turn.created:
                await self._delete([item_id])
            else:
                self.book.turns[item_id] = turn
            return
        self.last_end_ms = max(self.last_end_ms, turn.end_ms or self.cursor_ms)
        self.committed.set()
        await self._ask()

    async def _item_created(self, item: Any) -> None:
        content = getattr(item, "content", None) or []
        transcript = next((getattr(part, "transcript", None) for part in content), None)
        turn = self.book.created(item.id, transcript)
        if turn is None:
            return
        if turn.discard:
            self.book.turns.pop(item.id, None)
            await self._delete([item.id])
            return
        await self._ask()

    async def _ask(self) -> None:
        """Ask for the next translation if none is in flight and turns whose items exist wait;
        turns in this connection's own language are passed through, their items deleted first."""
        group = self.book.next_group()
        if group is not None:
            self._announce(group)
        self._pass_through()
        await self._delete(self.book.stale())
        if group is not None:
            await self._create(group)

    async def _create(self, group: Group) -> None:
        params = ResponseCreateParams(cancel_previous=False, metadata={"group": group.id})
        await self.conn.response.create(response=params, event_id=f"create-{group.id}-{group.attempts}")

    def _announce(self, group: Group) -> None:
        """The group's utterance starts: its timing, and whatever of its source text is known."""
        if group.start_ms is not None:
            self._emit(SpeechStarted(self.code, group.id, group.start_ms))
        if group.end_ms is not None:
            self._emit(SpeechStopped(self.code, group.id, group.end_ms))
        if group.source_text:
            self._emit(self._source_text(group))

    def _source_text(self, group: Group) -> SourceText:
        language = group.turns[0].language
        return SourceText(self.code, group.id, group.source_text, final=group.transcribed, lang=language)

    def _pass_through(self) -> None:
        """Turns spoken in this connection's own language: announced whole, never translated."""
        for turn in self.book.passed():
            if turn.start_ms is not None:
                self._emit(SpeechStarted(self.code, turn.item_id, turn.start_ms))
            if turn.end_ms is not None:
                self._emit(SpeechStopped(self.code, turn.item_id, turn.end_ms))
            self._emit(SourceText(self.code, turn.item_id, turn.transcript, final=True, lang=turn.language))
            self._emit(Passthrough(self.code, turn.item_id))

    async def _transcribed(self, event: Any) -> None:
        failed = event.type == ServerEventType.CONVERSATION_ITEM_INPUT_AUDIO_TRANSCRIPTION_FAILED
        if failed:
            log.warning("Voice Live %s: a turn's transcription failed: %s", self.code, event.error)
        locale = None if failed else event.get("language")
        turn = self.book.transcribed(event.item_id, "" if failed else event.transcript or "", locale)
        if turn.group is not None:
            self._emit(self._source_text(turn.group))
        await self._delete(self.book.deletable())
        if self.book.floor.gates:
            # Its language was what this turn waited for.
            await self._ask()

    async def _response_done(self, response: Any) -> None:
        output_ids = [item.id for item in (response.output or []) if getattr(item, "id", None)]
        group = self.book.ended(response.id, output_ids)
        if group is None:
            return
        if (usage := getattr(response, "usage", None)) is not None and usage.get("total_tokens"):
            self._emit(_billed(self.code, usage))
        status = str(getattr(response.status, "value", response.status))
        details = response.status_details or {}
        error = details.get("error") or {}
        if status == "failed" and error.get("code") == RATE_LIMITED:
            if (stale := self.book.retry(group, MAX_RATE_LIMITED_ATTEMPTS)) is not None:
                delay = max(self._quota_resets_in(), self._backoff.delay())
                log.warning("Voice Live %s: over the token quota; asking again in %.1f s", self.code, delay)
                await self._delete(stale)
                self._retry_later(group, delay)
                return
        else:
            self._backoff.reset()
        if status in ("failed", "cancelled") and (stale := self.book.retry(group)) is not None:
            log.warning("Voice Live %s: a translation %s before any output; asking again", self.code, status)
            await self._delete(stale)
            await self._create(group)
            return
        reason = details.get("reason") or error.get("message") or ""
        self.finish(group, status, str(reason))
        await self._delete(self.book.deletable())
        await self._ask()

    def _retry_later(self, group: Group, delay: float) -> None:
        async def retry() -> None:
            await asyncio.sleep(delay)
            await self._create(group)

        self._retry = asyncio.create_task(retry(), name=f"voicelive-{self.code}-retry")

    def _quota_resets_in(self) -> float:
        """Seconds until the token quota resets, as the service last said (0 when it did not)."""
        remaining, reset_at = self.tokens_left
        return max(0.0, reset_at - time.monotonic()) if remaining is not None and remaining <= 0 else 0.0

    def _rate_limits(self, event: Any) -> None:
        """``rate_limits.updated``: what is left of the resource's quota, and when it resets."""
        for limit in event.get("rate_limits") or []:
            if limit.get("name") != "tokens":
                continue
            remaining, total = limit.get("remaining"), limit.get("limit")
            self.tokens_left = (remaining, time.monotonic() + float(limit.get("reset_seconds") or 0))
            if remaining is not None and total and remaining < total * QUOTA_WARNING_SHARE:
                log.warning(
                    "Voice Live %s: %s of the resource's %s tokens a minute are left",
                    self.code,
                    remaining,
                    total,
                )

    def finish(self, group: Group, status: str, reason: str = "") -> None:
        """Close the group's utterance: final caption with what came, end of its audio."""
        if status != "completed":
            message = f"a translation ended {status}" + (f" ({reason})" if reason else "")
            log.warning("Voice Live %s: %s", self.code, message)
            self._emit(EngineFailure(self.code, message, recoverable=True))
        self._emit(TranslationText(self.code, group.id, group.text.strip(), final=True))
        self._emit(TurnDone(self.code, group.id, status))

    async def _error(self, error: Any) -> None:
        if error.code == ACTIVE_RESPONSE:
            # A response this engine did not ask for is running: ask again when it ends.
            self.book.refused()
            return
        event_id = error.event_id or ""
        if event_id.startswith(COMMIT_EVENT):
            # The VAD ended the turn as the engine did (the buffer was empty): nothing was lost.
            log.info("Voice Live %s: %s", self.code, error.message)
            return
        if event_id.startswith(DELETE_EVENT):
            # A delete that raced the service (the item already gone): nothing a listener should see.
            log.info("Voice Live %s: %s", self.code, error.message)
            return
        if event_id.startswith(UPDATE_EVENT):
            # The service was seen refusing every later message of a session after one refusal:
            # this connection is replaced (see `LanguageSession`).
            log.warning("Voice Live %s: the glossary update was refused: %s", self.code, error.message)
            if self._pending:
                self._pending.popleft()
            self.refusal = error.message
            self.refused.set()
            return
        problem = f"{error.type}: {error.message}"
        log.warning("Voice Live %s: %s", self.code, problem)
        self._emit(EngineFailure(self.code, problem, recoverable=True))
        if event_id.startswith("create-") and (group := self.book.refused()) is not None:
            # The request itself was refused: retrying it would be refused again.
            for turn in group.turns:
                self.book.forget(turn.item_id)
            self.finish(group, "failed", error.message)
            await self._delete([t.item_id for t in group.turns])
            await self._ask()

    async def _delete(self, items: list[str]) -> None:
        for item_id in items:
            await self.conn.conversation.item.delete(item_id=item_id, event_id=f"{DELETE_EVENT}-{item_id}")

    def interrupt(self) -> int | None:
        """The connection is gone: close its open utterances; return where a successor must resume
        so that no committed turn is lost (the start of the oldest untranslated one), if any."""
        starts = [t.start_ms for t in self.book.waiting if t.start_ms is not None]
        for group in self.book.open_groups():
            if not (group.text or group.audio_bytes):
                starts += [t.start_ms for t in group.turns if t.start_ms is not None]
            self.finish(group, "interrupted")
        return min(starts) if starts else None


def version_options(config: AzureConfig) -> dict[str, Any]:
    """The API version to ask for, when one is configured (else the SDK's own)."""
    return {"api_version": config.api_version} if config.api_version else {}


async def close_abandoned(exc: BaseException) -> None:
    """Close the aiohttp session of a handshake cut short (cancelled, timed out). The SDK closes it
    only on aiohttp's own errors; otherwise it is left open in the SDK's frame, which the exception's
    traceback still holds, until the garbage collector finds it later (and warns) wherever that is."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        trace = error.__traceback__
        while trace is not None:
            for value in list(trace.tb_frame.f_locals.values()):
                if isinstance(value, aiohttp.ClientSession) and not value.closed:
                    await value.close()
            trace = trace.tb_next
        error = error.__cause__ or error.__context__


def _billed(code: str, usage: Any) -> TokensUsed:
    """A response's ``usage``, by kind where it says (a service may send only the totals)."""
    given = usage.get("input_token_details") or {}
    cached = given.get("cached_tokens_details") or {}
    made = usage.get("output_token_details") or {}
    return TokensUsed(
        code,
        int(usage["total_tokens"]),
        text_in=int(given.get("text_tokens") or 0),
        audio_in=int(given.get("audio_tokens") or 0),
        cached_text_in=int(cached.get("text_tokens") or 0),
        cached_audio_in=int(cached.get("audio_tokens") or 0),
        text_out=int(made.get("text_tokens") or 0),
        audio_out=int(made.get("audio_tokens") or 0),
    )
