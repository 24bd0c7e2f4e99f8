"""One target language's interpreter: its connections supervised, faults told apart, and sessions
replaced make-before-break.

A connection that drops is replaced after a back-off, and the audio since its last committed turn
(or since the oldest turn it left untranslated) is replayed to the new one. Before a session ages
out, its successor is connected and confirmed first; the old one is then retired at the end of its
last committed turn, so every turn is translated by exactly one of the two and no audio is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from translator.audio import FRAME_MS
from translator.config import AzureConfig
from translator.engines.events import AnyEngineEvent
from translator.engines.retry import Fault
from translator.engines.supervision import REPLAY_FRAMES, SupervisedSession
from translator.engines.voicelive.configure import glossary_update, session_config
from translator.engines.voicelive.connection import Connection
from translator.engines.voicelive.faults import describe
from translator.engines.voicelive.models import capabilities
from translator.engines.voicelive.turns import FloorLanguages
from translator.errors import PermanentEngineError
from translator.glossary import Glossary
from translator.languages import Language

log = logging.getLogger(__name__)

FIRST = asyncio.FIRST_COMPLETED

# A successor takes over only while the audio to replay stays a second short of what is kept.
REPLAY_MARGIN_FRAMES = 50
# A new session replaces the old one this long before the old one expires.
ROLLOVER_LEAD_S = 120.0
# A retired connection gets this long to finish the translations it started.
RETIRE_GRACE_S = 30.0


class SessionHost(Protocol):
    """What a language's session reads of the engine that runs it (the engine's, shared by all)."""

    spoken: list[Language]
    config: AzureConfig
    credential: Any
    glossary: Glossary
    audio_ms: int

    def emit(self, event: AnyEngineEvent) -> None: ...


class LanguageSession(SupervisedSession[Connection]):
    """The interpreter of one language pair, over one connection at a time (two while replacing)."""

    service = "Voice Live"

    def __init__(self, engine: SessionHost, target: Language) -> None:
        label = f"{'/'.join(language.code for language in engine.spoken)}→{target.code}"
        super().__init__(engine.emit, target, label, describe)
        self.engine = engine
        self._current: Connection | None = None
        self._fallback: Glossary | None = None
        """The glossary in use because the service refused the engine's (see `_open_replacing`)."""
        self._notice = ""
        """What the operator is told while the language runs, e.g. that a glossary was refused."""
        self.floor = self._floor()
        self._language_notice = self._notice_of_languages()
        """That turns in this language cannot be told apart from the others (said while it runs)."""

    def _floor(self) -> FloorLanguages:
        spoken = tuple(language.code for language in self.engine.spoken)
        return FloorLanguages(spoken, self.code, capabilities(self.engine.config.model).reports_language)

    def _notice_of_languages(self) -> str:
        if self.floor.gates and not self.floor.reported:
            return (
                f"{self.engine.config.model} reports no language per sentence: every sentence is taken "
                f"as {self.engine.spoken[0].name}"
            )
        return ""

    async def respoken(self) -> None:
        """Hear the engine's spoken languages from the next turn on: the instructions and the
        transcription's languages are updated as a glossary is, and every open connection's book
        tells the turns apart by them (a turn already heard keeps the language it was given)."""
        self.floor = self._floor()
        self._language_notice = self._notice_of_languages()
        for connection in self._connections:
            connection.book.floor = self.floor
        await self.reconfigure()

    def start(self) -> None:
        """Start the supervisor; it reports its progress as `SessionState` events."""
        self._spawn(self._supervise(self.engine.audio_ms), f"voicelive-{self.code}")

    def queue_audio(self, frame: bytes, position_ms: int) -> None:
        """Keep the frame (at its talk position) for the connection that writes it."""
        self.keep(frame, position_ms)
        if self._current is not None:
            self._current.wake.set()

    @property
    def _ready_detail(self) -> str:
        """What the operator is told while the language runs."""
        return "; ".join(notice for notice in (self._language_notice, self._notice) if notice)

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
            log.warning("Voice Live %s: %s", self.label, self._notice)
            return connection
        self._fallback, self._notice = None, ""
        return connection

    async def reconfigure(self) -> None:
        """Hand the engine's glossary and spoken languages to every open connection; they apply from
        the next response on."""
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
            log.info("Voice Live %s: glossary not sent to a closing connection (%s)", self.label, exc)

    async def _close(self, connection: Connection) -> None:
        self._connections.discard(connection)
        await connection.close()

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
                log.info("Voice Live %s: replacing the session before %s", self.label, why)
                successor = await self._replacement(run, self._successor_of(connection))
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

    def _successor_of(self, current: Connection) -> Callable[[], Coroutine[Any, Any, Connection]]:
        """How the connection that replaces ``current`` is opened."""
        if current.refused.is_set():
            return lambda: self._open_replacing(current)
        return self._open

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
