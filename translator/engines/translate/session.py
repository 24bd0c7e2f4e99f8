"""One target language on gpt-realtime-translate: its connections supervised, faults told apart,
sessions replaced make-before-break.

A connection that drops ends the open caption (its translation cut short) and is replaced after a
back-off; the new one is sent the audio since the end of the last utterance that finished whole
(up to `REPLAY_FRAMES`), so the sentence under way is translated again rather than lost. Before a
session ages out, its successor is connected and confirmed first; at the next pause on the floor
the old one is sent its last audio and ``session.close`` (the service flushes what it still has),
and the successor takes the talk from there. The successor's output is held until the old one has
closed, so the language's utterances stay in order.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any, Protocol

from openai import AsyncOpenAI

from translator.audio import FRAME_MS
from translator.config import TranslateConfig
from translator.engines.events import AnyEngineEvent, EngineFailure, SessionState, SessionStateName
from translator.engines.retry import Backoff, Fault
from translator.engines.translate.connection import Link
from translator.engines.translate.faults import SERVICE, describe
from translator.engines.translate.segmenter import Segmenter
from translator.glossary import Glossary
from translator.languages import Language
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

REPLAY_FRAMES = 500
"""Audio kept for a replacement connection: 10 s of 20 ms frames."""
ROLLOVER_LEAD_S = 120.0
"""A session is replaced this long before it expires (a quarter of what is left, if less)."""
SWITCH_WAIT_S = 10.0
"""How long a replacement waits for a pause on the floor before it takes over anyway."""
RETIRE_GRACE_S = 10.0
"""How long a retired connection gets to flush its last translation."""
STOP_TIMEOUT_S = 5.0
INPUT_STOPPED_S = 1.0
"""No input for this long: the talk's recording ended; what waits on more input is finished."""


class SessionHost(Protocol):
    """What a language's session reads of the engine that runs it (shared by all its languages)."""

    config: TranslateConfig
    client: AsyncOpenAI
    glossary: Glossary
    audio_ms: int

    def emit(self, event: AnyEngineEvent) -> None: ...


class TranslateSession:
    """The interpreter of one language, over one connection at a time (two while replacing)."""

    def __init__(self, engine: SessionHost, target: Language, passthrough: bool) -> None:
        self.engine = engine
        self.target = target
        self.code = target.code
        self.segmenter = Segmenter(self.code, engine.emit, passthrough)
        self._history: deque[tuple[int, bytes]] = deque(maxlen=REPLAY_FRAMES)
        self._current: Link | None = None
        self._links: set[Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._state: SessionStateName | None = None
        self._detail = ""
        self._heard_at = time.monotonic()
        """When the last input frame came."""

    def start(self) -> None:
        """Start the supervisor; it reports its progress as `SessionState` events."""
        self._spawn(self._supervise(), f"translate-{self.code}")
        self._spawn(self._settle_when_input_stops(), f"translate-{self.code}-settle")

    async def stop(self) -> None:
        """Stop every task and close every connection."""
        await asyncio.gather(*(cancel_and_wait(t, STOP_TIMEOUT_S) for t in list(self._tasks)))
        await asyncio.gather(*(link.close() for link in list(self._links)))
        self._set_state("closed")

    def queue_audio(self, frame: bytes, position_ms: int, level_dbfs: float) -> None:
        """Keep the frame (at its talk position) for the connection that writes it."""
        self._history.append((position_ms, frame))
        self._heard_at = time.monotonic()
        self.segmenter.heard(position_ms, level_dbfs)
        for link in self._links:
            link.wake.set()

    def frames(self, from_ms: int) -> tuple[int, list[bytes]]:
        """The frames kept from ``from_ms`` on, and the talk position of the first of them."""
        if not self._history:
            return from_ms, []
        oldest = self._history[0][0]
        index = max(0, from_ms - oldest) // FRAME_MS
        if index >= len(self._history):
            return from_ms, []
        return self._history[index][0], [f for _, f in itertools.islice(self._history, index, None)]

    async def _settle_when_input_stops(self) -> None:
        """The segmenter's clock is the input: when a recording ends, time stops for it, so the last
        utterance is finished here instead."""
        while True:
            await asyncio.sleep(INPUT_STOPPED_S / 2)
            if time.monotonic() - self._heard_at >= INPUT_STOPPED_S and not self.segmenter.idle:
                self.segmenter.settle()

    def glossary_changed(self) -> None:
        """Say again what the glossary means here (it cannot be applied)."""
        if self._state == "ready":
            self._set_state("ready", self._notice)

    @property
    def _notice(self) -> str:
        entries = self.engine.glossary.for_language(self.code)
        if not entries:
            return ""
        return (
            f"{SERVICE} takes no glossary: {len(entries)} name(s) and term(s) for {self.target.name} "
            "are not enforced (choose Voice Live for this language to apply them)"
        )

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _set_state(self, state: SessionStateName, detail: str = "") -> None:
        if state != self._state or detail != self._detail:
            self._state, self._detail = state, detail
            self.engine.emit(SessionState(self.code, state, detail))

    async def _supervise(self) -> None:
        self._set_state("connecting")
        start = self.engine.audio_ms
        link: Link | None = None
        while True:
            if link is None:
                link = await self._connect()
                if link is None:
                    return
            link, start = await self._serve(link, start)

    async def _open(self) -> Link:
        link = await Link.open(self.engine.client, self.code, self.engine.config)
        self._links.add(link)
        return link

    async def _connect(self) -> Link | None:
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

    async def _serve(self, link: Link, start: int) -> tuple[Link | None, int]:
        """Run ``link`` from talk position ``start`` until it drops or is replaced; return its
        successor (if one took over) and where the next connection starts."""
        oldest = self._history[0][0] if self._history else start
        link.offset = max(start, oldest)
        run = asyncio.create_task(
            link.run(self.frames, self.segmenter, self._service_error), name=f"translate-{self.code}-run"
        )
        self._current = link
        self._set_state("ready", self._notice)
        try:
            await asyncio.wait({run}, timeout=self._lifetime(link))
            if not run.done():
                log.info("%s %s: replacing the session before it expires", SERVICE, self.code)
                successor = await self._replacement(run)
                if successor is not None:
                    switch = await self._switch_point(run)
                    if switch is not None:
                        link.until = switch
                        link.wake.set()
                        successor.gate.clear()
                        self._spawn(self._retire(link, run, successor), f"translate-{self.code}-retire")
                        return successor, switch
                    self._links.discard(successor)
                    await successor.close()
            await asyncio.wait({run})
        except BaseException:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
            raise
        self._current = None
        resume = self.segmenter.interrupt()
        self._links.discard(link)
        await link.close()
        exc = run.exception()
        fault = describe(exc) if exc is not None else Fault("connection closed", retry=True)
        self._report(fault, exc, 0.0)
        self._set_state("reconnecting", fault.message)
        return None, resume

    def _lifetime(self, link: Link) -> float:
        """Seconds until the connection is due for replacement: ahead of the ``expires_at`` the
        service announced, else at ``max_session_minutes`` of age."""
        if link.expires_at is not None:
            left = link.expires_at - time.time()
            return max(0.0, left - min(ROLLOVER_LEAD_S, left / 4))
        limit = self.engine.config.max_session_minutes * 60
        return max(0.0, limit - (time.monotonic() - link.opened_at))

    async def _replacement(self, run: asyncio.Task[None]) -> Link | None:
        """A confirmed successor, tried with back-off while the current connection still serves."""
        backoff = Backoff()
        while not run.done():
            try:
                return await self._open()
            except Exception as exc:
                delay = backoff.delay()
                self._report(describe(exc), exc, delay)
                await asyncio.wait({run}, timeout=delay)
        return None

    async def _switch_point(self, run: asyncio.Task[None]) -> int | None:
        """Where the successor takes over: the input position at the next pause on the floor (or
        after `SWITCH_WAIT_S` of unbroken speech). None if the connection drops first."""
        deadline = time.monotonic() + SWITCH_WAIT_S
        while not run.done():
            if not self.segmenter.speaking or time.monotonic() >= deadline:
                return self.engine.audio_ms
            await asyncio.wait({run}, timeout=FRAME_MS / 1000)
        return None

    async def _retire(self, link: Link, run: asyncio.Task[None], successor: Link) -> None:
        """Let a retired connection flush its last translation, then close it and open the gate to
        its successor's output."""
        try:
            await asyncio.wait({run}, timeout=RETIRE_GRACE_S)
        finally:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
            self._links.discard(link)
            await link.close()
            successor.gate.set()

    def _service_error(self, message: str) -> None:
        log.warning("%s %s: %s", SERVICE, self.code, message)
        self.engine.emit(EngineFailure(self.code, message, recoverable=True))

    def _report(self, fault: Fault, exc: BaseException | None, retry_in: float) -> None:
        when = f"; retrying in {retry_in:.1f} s" if retry_in else ""
        if fault.message.startswith("unexpected"):
            log.error("%s %s: %s%s", SERVICE, self.code, fault.message, when, exc_info=exc)
        else:
            log.warning("%s %s: %s%s", SERVICE, self.code, fault.message, when)
        self.engine.emit(EngineFailure(self.code, fault.message, recoverable=True))

    def _fail(self, fault: Fault) -> None:
        log.error("%s %s: %s", SERVICE, self.code, fault.message)
        self.engine.emit(EngineFailure(self.code, fault.message, recoverable=False))
        self._set_state("failed", fault.message)
