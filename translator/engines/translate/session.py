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
import functools
import logging
import time
from typing import Protocol

from openai import AsyncOpenAI

from translator.audio import FRAME_MS
from translator.config import TranslateConfig
from translator.engines.events import AnyEngineEvent
from translator.engines.retry import Fault
from translator.engines.supervision import SupervisedSession
from translator.engines.translate.connection import Link
from translator.engines.translate.faults import SERVICE, describe
from translator.engines.translate.segmenter import Segmenter
from translator.glossary import Glossary
from translator.languages import Language

log = logging.getLogger(__name__)

ROLLOVER_LEAD_S = 120.0
"""A session is replaced this long before it expires (a quarter of what is left, if less)."""
SWITCH_WAIT_S = 10.0
"""How long a replacement waits for a pause on the floor before it takes over anyway."""
RETIRE_GRACE_S = 30.0
"""How long a retired connection gets to flush its last translation (the service's output goes on
draining long after ``session.close``: most of one live run's came after it)."""
INPUT_STOPPED_S = 1.0
"""No input for this long: the talk's recording ended; what waits on more input is finished."""
AUDIO_ONLY_AFTER = 2
"""Utterances in a row with audio and no translated text before listeners are told why."""


class SessionHost(Protocol):
    """What a language's session reads of the engine that runs it (shared by all its languages)."""

    config: TranslateConfig
    client: AsyncOpenAI
    glossary: Glossary
    audio_ms: int

    def emit(self, event: AnyEngineEvent) -> None: ...


class TranslateSession(SupervisedSession[Link]):
    """The interpreter of one language, over one connection at a time (two while replacing)."""

    service = SERVICE

    def __init__(self, engine: SessionHost, target: Language, passthrough: bool) -> None:
        super().__init__(engine.emit, target, target.code, functools.partial(describe, config=engine.config))
        self.engine = engine
        self.segmenter = Segmenter(self.code, engine.emit, passthrough)
        self._heard_at = time.monotonic()
        """When the last input frame came."""
        self._said: set[str] = set()
        """The codes of the service's in-session errors already reported."""

    def start(self) -> None:
        """Start the supervisor; it reports its progress as `SessionState` events."""
        self._spawn(self._supervise(self.engine.audio_ms), f"translate-{self.code}")
        self._spawn(self._watch(), f"translate-{self.code}-watch")

    def queue_audio(self, frame: bytes, position_ms: int, level_dbfs: float) -> None:
        """Keep the frame (at its talk position) for the connection that writes it."""
        self.keep(frame, position_ms)
        self._heard_at = time.monotonic()
        self.segmenter.heard(position_ms, level_dbfs)
        for link in self._connections:
            link.wake.set()

    async def _watch(self) -> None:
        """The segmenter's clock is the input: when a recording ends, time stops for it, so the last
        utterance is finished here instead. And what the session tells listeners is kept true."""
        notice = self._notice
        while True:
            await asyncio.sleep(INPUT_STOPPED_S / 2)
            now = time.monotonic()
            # The input stopped, and the service's output too (it drains on the silence appended).
            heard = max([self._heard_at, *(link.output_at for link in self._connections)])
            if now - heard >= INPUT_STOPPED_S and not self.segmenter.idle:
                self.segmenter.settle()
            if self._notice != notice and self._state == "ready":
                notice = self._notice
                self._set_state("ready", notice)

    def glossary_changed(self) -> None:
        """Say again what the glossary means here (it cannot be applied)."""
        if self._state == "ready":
            self._set_state("ready", self._notice)

    @property
    def _notice(self) -> str:
        notices = []
        if self.segmenter.audio_only >= AUDIO_ONLY_AFTER:
            notices.append(
                f"{SERVICE} sends no translated transcript on this session: {self.target.name} is "
                "heard but not captioned (the speaker's own captions go on)"
            )
        if entries := self.engine.glossary.for_language(self.code):
            notices.append(
                f"{SERVICE} takes no glossary: {len(entries)} name(s) and term(s) for "
                f"{self.target.name} are not enforced (choose Voice Live for this language to apply them)"
            )
        return "; ".join(notices)

    async def _open(self) -> Link:
        link = await Link.open(self.engine.client, self.code, self.engine.config)
        self._connections.add(link)
        return link

    async def _serve(self, link: Link, start: int) -> tuple[Link | None, int]:
        """Run ``link`` from talk position ``start`` until it drops or is replaced; return its
        successor (if one took over) and where the next connection starts."""
        oldest = self._history[0][0] if self._history else start
        link.offset = max(start, oldest)
        run = asyncio.create_task(
            link.run(self.frames, self.segmenter, self._service_error), name=f"translate-{self.code}-run"
        )
        self._set_state("ready", self._notice)
        try:
            await asyncio.wait({run}, timeout=self._lifetime(link))
            if not run.done():
                log.info("%s %s: replacing the session before it expires", SERVICE, self.code)
                successor = await self._replacement(run, self._open)
                if successor is not None:
                    switch = await self._switch_point(run)
                    if switch is not None:
                        link.until = switch
                        link.wake.set()
                        successor.gate.clear()
                        self._spawn(self._retire(link, run, successor), f"translate-{self.code}-retire")
                        return successor, switch
                    self._connections.discard(successor)
                    await successor.close()
            await asyncio.wait({run})
        except BaseException:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
            raise
        resume = self.segmenter.interrupt()
        self._connections.discard(link)
        await link.close()
        exc = run.exception()
        fault = (
            describe(exc, self.engine.config) if exc is not None else Fault("connection closed", retry=True)
        )
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
            self._connections.discard(link)
            await link.close()
            successor.gate.set()

    def _service_error(self, code: str, message: str) -> None:
        """An error the service reported in the session, which goes on: said once per kind (a
        transcription deployment that is missing fails every sentence)."""
        if code in self._said:
            return
        self._said.add(code)
        if code == "DeploymentNotFound":
            model = self.engine.config.transcription_model
            message = (
                f"no source captions: the transcription deployment {model!r} was not found (the "
                'interpretation goes on); deploy it, or set translate.transcription_model ("" for none)'
            )
        else:
            message = f"{code}: {message}"
        self._report(Fault(message, retry=True), None, 0.0)
