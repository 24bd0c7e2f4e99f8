"""One target language's interpreter: its connections supervised, faults told apart, and sessions
replaced make-before-break.

A connection that drops is replaced after a back-off, and the audio since its last committed turn
(or since the oldest turn it left untranslated) is replayed to the new one. Before a session ages
out, its successor is connected and confirmed first; the old one is then retired at the end of its
last committed turn, so every turn is translated by exactly one of the two and no audio is lost.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any, Protocol

from translator.audio import FRAME_MS
from translator.config import AzureConfig
from translator.engines.events import AnyEngineEvent, EngineFailure, SessionState, SessionStateName
from translator.engines.retry import Backoff, Fault
from translator.engines.voicelive.configure import glossary_update, session_config
from translator.engines.voicelive.connection import Connection
from translator.engines.voicelive.faults import describe
from translator.engines.voicelive.models import capabilities
from translator.engines.voicelive.turns import FloorLanguages
from translator.errors import PermanentEngineError
from translator.glossary import Glossary
from translator.languages import Language
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

FIRST = asyncio.FIRST_COMPLETED

# Audio kept for a replacement connection: 10 s of 20 ms frames.
REPLAY_FRAMES = 500
# A successor takes over only while the audio to replay stays a second short of what is kept.
REPLAY_MARGIN_FRAMES = 50
# A new session replaces the old one this long before the old one expires.
ROLLOVER_LEAD_S = 120.0
# A retired connection gets this long to finish the translations it started.
RETIRE_GRACE_S = 30.0
STOP_TIMEOUT_S = 5.0


class SessionHost(Protocol):
    """What a language's session reads of the engine that runs it (the engine's, shared by all)."""

    spoken: list[Language]
    config: AzureConfig
    credential: Any
    glossary: Glossary
    audio_ms: int

    def emit(self, event: AnyEngineEvent) -> None: ...


class LanguageSession:
    """The interpreter of one language pair, over one connection at a time (two while replacing)."""

    def __init__(self, engine: SessionHost, target: Language) -> None:
        self.engine = engine
        self.target = target
        self.code = target.code
        self._history: deque[tuple[int, bytes]] = deque(maxlen=REPLAY_FRAMES)
        self._current: Connection | None = None
        self._connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._state: SessionStateName | None = None
        self._detail = ""
        self._label = f"{'/'.join(language.code for language in engine.spoken)}→{self.code}"
        self._fallback: Glossary | None = None
        """The glossary in use because the service refused the engine's (see `_open_replacing`)."""
        self._notice = ""
        """What the operator is told while the language runs, e.g. that a glossary was refused."""
        self.floor = FloorLanguages(
            tuple(language.code for language in engine.spoken),
            self.code,
            capabilities(engine.config.model).reports_language,
        )
        self._language_notice = ""
        """That turns in this language cannot be told apart from the others (said while it runs)."""
        if self.floor.gates and not self.floor.reported:
            self._language_notice = (
                f"{engine.config.model} reports no language per sentence: every sentence is taken as "
                f"{engine.spoken[0].name}"
            )

    def start(self) -> None:
        """Start the supervisor; it reports its progress as `SessionState` events."""
        self._spawn(self._supervise(), f"voicelive-{self.code}")

    async def stop(self) -> None:
        """Stop every task and close every connection."""
        await asyncio.gather(*(cancel_and_wait(t, STOP_TIMEOUT_S) for t in list(self._tasks)))
        await asyncio.gather(*(c.close() for c in list(self._connections)), return_exceptions=True)
        self._set_state("closed")

    def queue_audio(self, frame: bytes, position_ms: int) -> None:
        """Keep the frame (at its talk position) for the connection that writes it."""
        self._history.append((position_ms, frame))
        if self._current is not None:
            self._current.wake.set()

    def frames(self, from_ms: int) -> tuple[int, list[bytes]]:
        """The frames kept from ``from_ms`` on, and the talk position of the first of them."""
        if not self._history:
            return from_ms, []
        oldest = self._history[0][0]
        index = max(0, from_ms - oldest) // FRAME_MS
        if index >= len(self._history):
            return from_ms, []
        return self._history[index][0], [f for _, f in itertools.islice(self._history, index, None)]

    @property
    def _ready_detail(self) -> str:
        """What the operator is told while the language runs."""
        return "; ".join(notice for notice in (self._language_notice, self._notice) if notice)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _set_state(self, state: SessionStateName, detail: str = "") -> None:
        if state != self._state or detail or self._detail:
            self._state, self._detail = state, detail
            self.engine.emit(SessionState(self.code, state, detail))

    async def _supervise(self) -> None:
        self._set_state("connecting")
        resume = self.engine.audio_ms
        connection: Connection | None = None
        while True:
            if connection is None:
                connection = await self._connect()
                if connection is None:
                    return
            connection, resume = await self._serve(connection, resume)

    async def _open(self, glossary: Glossary | None = None) -> Connection:
        """A confirmed connection configured with ``glossary`` (default: the engine's)."""
        glossary = glossary or self.engine.glossary
        connection = await Connection.open(
            self.code,
            self.engine.config,
            self.engine.credential,
            session_config(self.engine.spoken, self.target, self.engine.config, glossary),
            self.engine.emit,
            glossary,
            self.floor,
        )
        self._connections.add(connection)
        if self.engine.glossary is not glossary and glossary is not self._fallback:
            # Changed while this connection was being configured.
            await self._update(connection)
        return connection

    async def _open_replacing(self, refused: Connection) -> Connection:
        """The successor of a connection whose update was refused: with the new glossary, or, when
        the service refuses that too, with the last glossary it accepted (and the operator is told)."""
        try:
            connection = await self._open()
        except PermanentEngineError as exc:
            self._fallback = refused.glossary
            connection = await self._open(refused.glossary)
            self._notice = f"the glossary update was refused ({exc}); the previous glossary is in use"
            log.warning("Voice Live %s: %s", self._label, self._notice)
            return connection
        self._fallback, self._notice = None, ""
        return connection

    async def reconfigure(self) -> None:
        """Hand the engine's glossary to every open connection; it applies from the next response on."""
        await asyncio.gather(*(self._update(c) for c in list(self._connections)))
        if self._state == "ready":
            self._set_state("ready", self._ready_detail)  # a notice about an earlier glossary no longer holds

    async def _update(self, connection: Connection) -> None:
        engine = self.engine
        update = glossary_update(engine.spoken, self.target, engine.config, engine.glossary)
        self._fallback, self._notice = None, ""
        try:
            await connection.update(update, engine.glossary)
        except Exception as exc:
            # A connection that is going away: its successor is configured with the new glossary.
            log.info("Voice Live %s: glossary not sent to a closing connection (%s)", self._label, exc)

    async def _close(self, connection: Connection) -> None:
        self._connections.discard(connection)
        await connection.close()

    async def _connect(self) -> Connection | None:
        """A confirmed connection, retried with back-off; None when retrying cannot help."""
        backoff = Backoff()
        while True:
            try:
                return await self._open()
            except Exception as exc:
                fault = describe(exc)
                if not fault.retry:
                    self._fail(fault)
                    return None
                delay = backoff.delay()
                self._report(fault, exc, delay)
                retrying: SessionStateName = "connecting" if self._state == "connecting" else "reconnecting"
                self._set_state(retrying, fault.message)
                await asyncio.sleep(delay)

    async def _serve(self, connection: Connection, resume: int) -> tuple[Connection | None, int]:
        """Run ``connection`` until it drops or is replaced; return its successor (if one is open
        already) and the talk position the successor starts from."""
        run = asyncio.create_task(connection.run(resume, self.frames), name=f"voicelive-{self.code}-run")
        self._current = connection
        self._set_state("ready", self._ready_detail)
        refused = asyncio.create_task(connection.refused.wait(), name=f"voicelive-{self.code}-refused")
        try:
            successor = None
            await asyncio.wait({run, refused}, timeout=self._lifetime(connection), return_when=FIRST)
            if not run.done():
                why = "its update was refused" if connection.refused.is_set() else "it expires"
                log.info("Voice Live %s: replacing the session before %s", self._label, why)
                successor = await self._replacement(run, connection)
                at = await self._retirement_point(connection, run) if successor is not None else None
                if successor is not None and at is not None:
                    connection.retire(at)
                    self._current = successor
                    self._spawn(self._drain(connection, run), f"voicelive-{self.code}-drain")
                    return successor, at
            await asyncio.wait({run})
        except BaseException:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
            raise
        finally:
            refused.cancel()
        self._current = None
        untranslated = connection.interrupt()
        resume = min(untranslated, connection.last_end_ms) if untranslated else connection.last_end_ms
        await self._close(connection)
        exc = run.exception()
        fault = describe(exc) if exc is not None else Fault("connection closed", retry=True)
        self._report(fault, exc, 0.0)
        if successor is None:
            self._set_state("reconnecting", fault.message)
        return successor, resume

    def _lifetime(self, connection: Connection) -> float:
        """Seconds until the connection is due for replacement: ahead of the ``expires_at`` the
        service announced, else at ``max_session_minutes`` of age."""
        if connection.expires_at is not None:
            return max(0.0, connection.expires_at - time.time() - ROLLOVER_LEAD_S)
        limit = self.engine.config.max_session_minutes * 60
        return max(0.0, limit - (time.monotonic() - connection.opened_at))

    async def _replacement(self, run: asyncio.Task[None], current: Connection) -> Connection | None:
        """A confirmed successor, tried with back-off while the current connection still serves."""
        backoff = Backoff()
        while not run.done():
            try:
                if current.refused.is_set():
                    return await self._open_replacing(current)
                return await self._open()
            except Exception as exc:
                delay = backoff.delay()
                self._report(describe(exc), exc, delay)
                await asyncio.wait({run}, timeout=delay)
        return None

    async def _retirement_point(self, connection: Connection, run: asyncio.Task[None]) -> int | None:
        """Where the successor takes over: the end of the last committed turn, once the audio since
        then fits in what is kept for replay. None if the connection drops first."""
        while not run.done():
            if (
                self.engine.audio_ms - connection.last_end_ms
                < (REPLAY_FRAMES - REPLAY_MARGIN_FRAMES) * FRAME_MS
            ):
                return connection.last_end_ms
            connection.committed.clear()
            committed = asyncio.create_task(connection.committed.wait())
            await asyncio.wait({run, committed}, return_when=asyncio.FIRST_COMPLETED)
            committed.cancel()
        return None

    async def _drain(self, connection: Connection, run: asyncio.Task[None]) -> None:
        """Let a retired connection finish its translations, then close it."""
        idle = asyncio.create_task(connection.idle.wait())
        try:
            await asyncio.wait({run, idle}, timeout=RETIRE_GRACE_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            idle.cancel()
            run.cancel()
            await asyncio.gather(run, idle, return_exceptions=True)
            connection.interrupt()
            await self._close(connection)

    def _report(self, fault: Fault, exc: BaseException | None, retry_in: float) -> None:
        when = f"; retrying in {retry_in:.1f} s" if retry_in else ""
        if fault.message.startswith("unexpected"):
            log.error("Voice Live %s: %s%s", self._label, fault.message, when, exc_info=exc)
        else:
            log.warning("Voice Live %s: %s%s", self._label, fault.message, when)
        self.engine.emit(EngineFailure(self.code, fault.message, recoverable=True))

    def _fail(self, fault: Fault) -> None:
        log.error("Voice Live %s: %s", self._label, fault.message)
        self.engine.emit(EngineFailure(self.code, fault.message, recoverable=False))
        self._set_state("failed", fault.message)
