"""The engine contract: the floor's spoken languages, several targets; audio in, normalized events out."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

from translator.audio import FRAME_MS
from translator.engines.events import AnyEngineEvent
from translator.errors import PermanentEngineError
from translator.glossary import Glossary
from translator.languages import Language


class Engine(ABC):
    """Translates the floor into every target language.

    Use as an async context manager: entering starts the sessions (raising PermanentEngineError
    when the engine cannot run at all), leaving stops every task it started. Feed it 20 ms frames
    of 24 kHz PCM16 with `send_audio`; read `events()`. A failing target language must never stop
    the others: it reports `SessionState` and `EngineFailure` events instead. Target languages may
    be added and removed, and the glossary changed, while it runs.
    """

    name: str = "engine"
    bills_tokens = False
    """It reports what each translation was billed (`TokensUsed`)."""

    def __init__(
        self,
        source: Language,
        targets: list[Language],
        glossary: Glossary | None = None,
        spoken: list[Language] | None = None,
    ) -> None:
        self.source = source
        """The floor's default language: what an utterance is taken to be when nothing says otherwise."""
        self.spoken = spoken or [source]
        """The languages that may be spoken on the floor, ``source`` first. An utterance spoken in a
        target language is not translated into it: the engine reports `Passthrough` for that target
        (never relying on a model to keep quiet)."""
        self.targets = list(targets)
        self.glossary = glossary or Glossary()
        """Applied from the next utterance on; replace it with `set_glossary`."""
        self.audio_ms = 0
        """How much input audio has been sent: the position on the talk's timeline."""
        self._events: asyncio.Queue[AnyEngineEvent] = asyncio.Queue()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def check(self) -> None:
        """Raise PermanentEngineError naming the first target this engine cannot serve: cheap, so
        that start-up says so before the input is opened or a model loaded."""
        for target in self.targets:
            self.check_target(target)

    @abstractmethod
    def check_target(self, target: Language) -> None:
        """PermanentEngineError unless this engine can interpret the source into ``target``."""

    @abstractmethod
    async def start(self) -> None:
        """Load models or open sessions."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop every task and release every resource; bounded in time."""

    async def add_target(self, target: Language) -> None:
        """Start interpreting into ``target`` from the next utterance on.

        Raises PermanentEngineError when this engine cannot serve the language (nothing changes then).
        """
        if any(t.code == target.code for t in self.targets):
            raise PermanentEngineError(f"{target.name} is already a target language")
        await self._start_target(target)
        self.targets.append(target)

    async def remove_target(self, code: str) -> None:
        """Stop interpreting into ``code`` and release what it held."""
        self.targets = [t for t in self.targets if t.code != code]
        await self._stop_target(code)

    async def restart_target(self, code: str) -> None:
        """Replace ``code``'s session (or the stages that serve it) after a stall: what it had in
        flight is lost; it reports ``ready`` again once the replacement runs."""
        target = next(t for t in self.targets if t.code == code)
        await self._stop_target(code)
        await self._start_target(target)

    async def set_glossary(self, glossary: Glossary) -> None:
        """Use ``glossary`` from the next utterance on, without interrupting the audio."""
        self.glossary = glossary
        await self._glossary_changed()

    def glossary_cost(self, glossary: Glossary) -> str:
        """What ``glossary`` would cost to run, in words, when that is worth a warning (else "")."""
        return ""

    @abstractmethod
    async def _glossary_changed(self) -> None:
        """Hand the new ``self.glossary`` to whatever applies it."""

    @abstractmethod
    def check_spoken(self, language: Language) -> None:
        """PermanentEngineError unless this engine can hear ``language`` on the floor and interpret
        it into every target: cheap, asked before a listener is given the floor in it."""

    async def hear(self, spoken: list[Language]) -> None:
        """Hear ``spoken`` on the floor from the next utterance on, the default first: the talk's
        languages and a question asked aloud in another, then the talk's own again.

        Raises PermanentEngineError naming a language it cannot hear (nothing changes then).
        """
        for language in spoken:
            if language not in self.spoken:
                self.check_spoken(language)
        self.spoken = list(spoken)
        await self._spoken_changed()

    @abstractmethod
    async def _spoken_changed(self) -> None:
        """Hand the new ``self.spoken`` to whatever tells the floor's languages apart."""

    async def translate_text(self, text: str, source: Language, target: Language) -> str | None:
        """``text`` (a question the audience typed) from ``source`` into ``target``, by this engine's
        model; None where it translates speech only. Raises TranslatorError when it failed."""
        return None

    @abstractmethod
    def servable(self) -> list[Language]:
        """Every language this engine could interpret into from ``source`` (offered or not)."""

    @abstractmethod
    async def _start_target(self, target: Language) -> None:
        """Start ``target``'s session while the others run; raise PermanentEngineError if impossible."""

    @abstractmethod
    async def _stop_target(self, code: str) -> None:
        """Stop ``code``'s session; its events stop."""

    async def send_audio(self, frame: bytes) -> None:
        """Hand one frame of the speaker's audio to every target language."""
        await self._send(frame)
        self.audio_ms += FRAME_MS

    @abstractmethod
    async def _send(self, frame: bytes) -> None:
        """Deliver a frame; must not wait on any one slow target."""

    def engine_of(self, code: str) -> str:
        """The name of the engine that serves ``code`` (this one, unless it is several)."""
        return self.name

    def share_events(self, owner: Engine) -> None:
        """Report into ``owner``'s events from now on (an engine that is part of ``owner``)."""
        self._events = owner._events

    def emit(self, event: AnyEngineEvent) -> None:
        """Queue an event for `events()`."""
        self._events.put_nowait(event)

    async def events(self) -> AsyncIterator[AnyEngineEvent]:
        """Every event of every target language, in the order they happened."""
        while True:
            yield await self._events.get()

    def ready_event(self) -> AnyEngineEvent | None:
        """The next event if one is queued already (else None): what `events` would give at once."""
        try:
            return self._events.get_nowait()
        except asyncio.QueueEmpty:
            return None
