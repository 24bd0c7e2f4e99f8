"""What a language's session on a remote service is, whatever the service: the audio kept for a
replacement connection, the tasks it owns, its state as the operator sees it, and connections
opened with back-off, a failure told apart into "retry" and "give up" in plain words.

Voice Live and gpt-realtime-translate each subclass it with their own connection, how one is
opened, and how their faults read (`describe`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Generic, Protocol, TypeVar

from translator.audio import FRAME_MS
from translator.engines.events import AnyEngineEvent, EngineFailure, SessionState, SessionStateName
from translator.engines.retry import Backoff, Fault
from translator.languages import Language
from translator.tasks import cancel_and_wait

REPLAY_FRAMES = 500
"""Audio kept for a replacement connection: 10 s of 20 ms frames."""
STOP_TIMEOUT_S = 5.0


class Closable(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


class SupervisedSession(ABC, Generic[C]):
    """One target language over one connection of type ``C`` at a time (two while replacing)."""

    service = "the service"
    """Its name in logs: ``Voice Live``."""

    def __init__(
        self,
        emit: Callable[[AnyEngineEvent], None],
        target: Language,
        label: str,
        describe: Callable[[BaseException], Fault],
    ) -> None:
        self.emit = emit
        self.target = target
        self.code = target.code
        self.label = label
        """The language in logs: ``en→es``."""
        self._describe = describe
        self._history: deque[tuple[int, bytes]] = deque(maxlen=REPLAY_FRAMES)
        self._connections: set[C] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._state: SessionStateName | None = None
        self._detail = ""
        self._log = logging.getLogger(type(self).__module__)
        """Under the engine's own name, so that an operator can follow one engine's faults."""

    @abstractmethod
    async def _open(self) -> C:
        """A confirmed connection (kept in ``_connections``); raises what failed."""

    @abstractmethod
    async def _serve(self, connection: C, start: int) -> tuple[C | None, int]:
        """Run ``connection`` from talk position ``start`` until it drops or is replaced; return its
        successor (if one took over already) and where the next connection starts."""

    async def _supervise(self, start: int) -> None:
        """Connect, serve, and connect again, from talk position ``start`` on, until stopped or until
        a failure that no retry can help."""
        self._set_state("connecting")
        connection: C | None = None
        while True:
            if connection is None:
                connection = await self._connect()
                if connection is None:
                    return
            connection, start = await self._serve(connection, start)

    async def stop(self) -> None:
        """Stop every task and close every connection."""
        await asyncio.gather(*(cancel_and_wait(t, STOP_TIMEOUT_S) for t in list(self._tasks)))
        await asyncio.gather(*(c.close() for c in list(self._connections)), return_exceptions=True)
        self._set_state("closed")

    def keep(self, frame: bytes, position_ms: int) -> None:
        """Keep the frame, at its talk position, for whichever connection writes it."""
        self._history.append((position_ms, frame))

    def frames(self, from_ms: int) -> tuple[int, list[bytes]]:
        """The frames kept from ``from_ms`` on, and the talk position of the first of them."""
        if not self._history:
            return from_ms, []
        oldest = self._history[0][0]
        index = max(0, from_ms - oldest) // FRAME_MS
        if index >= len(self._history):
            return from_ms, []
        return self._history[index][0], [f for _, f in itertools.islice(self._history, index, None)]

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _set_state(self, state: SessionStateName, detail: str = "") -> None:
        if state != self._state or detail != self._detail:
            self._state, self._detail = state, detail
            self.emit(SessionState(self.code, state, detail))

    async def _connect(self) -> C | None:
        """A confirmed connection, retried with back-off; None when retrying cannot help."""
        backoff = Backoff()
        while True:
            try:
                return await self._open()
            except Exception as exc:
                fault = self._describe(exc)
                if not fault.retry:
                    self._fail(fault)
                    return None
                delay = max(backoff.delay(), fault.retry_after_s)
                self._report(fault, exc, delay)
                retrying: SessionStateName = "connecting" if self._state == "connecting" else "reconnecting"
                self._set_state(retrying, fault.message)
                await asyncio.sleep(delay)

    async def _replacement(
        self, run: asyncio.Task[None], open_one: Callable[[], Coroutine[Any, Any, C]]
    ) -> C | None:
        """A confirmed successor from ``open_one``, tried with back-off while the connection that
        ``run`` serves still does; None if it drops first."""
        backoff = Backoff()
        while not run.done():
            try:
                return await open_one()
            except Exception as exc:
                fault = self._describe(exc)
                delay = max(backoff.delay(), fault.retry_after_s)
                self._report(fault, exc, delay)
                await asyncio.wait({run}, timeout=delay)
        return None

    def _report(self, fault: Fault, exc: BaseException | None, retry_in: float) -> None:
        when = f"; retrying in {retry_in:.1f} s" if retry_in else ""
        if fault.message.startswith("unexpected"):
            self._log.error("%s %s: %s%s", self.service, self.label, fault.message, when, exc_info=exc)
        else:
            self._log.warning("%s %s: %s%s", self.service, self.label, fault.message, when)
        self.emit(EngineFailure(self.code, fault.message, recoverable=True))

    def _fail(self, fault: Fault) -> None:
        self._log.error("%s %s: %s", self.service, self.label, fault.message)
        self.emit(EngineFailure(self.code, fault.message, recoverable=False))
        self._set_state("failed", fault.message)
