"""Several engines behind one: a room whose languages are served by different engines (some on the
dedicated interpreter model, others on Voice Live).

Each part is a whole engine over its own languages. They hear the same frames and report into one
event queue; a language added during the talk goes to the engine the room's settings choose for it
(started then if none serves a language yet).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from translator.engines.base import Engine
from translator.errors import PermanentEngineError
from translator.glossary import Glossary
from translator.languages import Language


class MixedEngine(Engine):
    """Engines that serve a room's languages between them."""

    def __init__(
        self,
        parts: list[Engine],
        create: Callable[[str, list[str]], Engine],
        choose: Callable[[str], str],
        order: list[str],
    ) -> None:
        """``parts`` each serve some of the languages; ``create`` builds the named engine over given
        languages, ``choose`` names the engine of a language; ``order`` is the room's languages as
        it offers them (the first one's session also captions the Original channel)."""
        first = parts[0]
        targets = sorted((t for part in parts for t in part.targets), key=lambda t: order.index(t.code))
        super().__init__(first.source, targets, first.glossary, first.spoken)
        self._parts = {part.name: part for part in parts}
        self._create = create
        """Builds the named engine over the given languages (not started)."""
        self._choose = choose
        """The name of the engine a language is served by."""
        for part in parts:
            part.share_events(self)
        self.name = " + ".join(self._parts)

    def engine_of(self, code: str) -> str:
        """The name of the engine that serves ``code``."""
        return self._choose(code)

    def check_target(self, target: Language) -> None:
        part = self._parts.get(self._choose(target.code))
        if part is not None:
            part.check_target(target)

    def check_spoken(self, language: Language) -> None:
        for part in self._parts.values():
            part.check_spoken(language)

    async def _spoken_changed(self) -> None:
        await asyncio.gather(*(part.hear(self.spoken) for part in self._parts.values()))

    async def translate_text(self, text: str, source: Language, target: Language) -> str | None:
        """By the part that serves ``target`` where it translates text, else by another that does."""
        chosen = self._parts.get(self._choose(target.code))
        for part in sorted(self._parts.values(), key=lambda part: part is not chosen):
            if (translated := await part.translate_text(text, source, target)) is not None:
                return translated
        return None

    def servable(self) -> list[Language]:
        seen: dict[str, Language] = {}
        for part in self._parts.values():
            seen.update((language.code, language) for language in part.servable())
        return list(seen.values())

    def glossary_cost(self, glossary: Glossary) -> str:
        return "; ".join(cost for part in self._parts.values() if (cost := part.glossary_cost(glossary)))

    async def start(self) -> None:
        """Start every part; if one cannot run at all, stop those started and say why."""
        started: list[Engine] = []
        try:
            for part in self._parts.values():
                await part.start()
                started.append(part)
        except BaseException:
            await asyncio.gather(*(part.stop() for part in started), return_exceptions=True)
            raise

    async def stop(self) -> None:
        await asyncio.gather(*(part.stop() for part in self._parts.values()))

    async def _start_target(self, target: Language) -> None:
        name = self._choose(target.code)
        part = self._parts.get(name)
        if part is None:
            part = self._create(name, [target.code])
            part.share_events(self)
            part.audio_ms = self.audio_ms
            try:
                await part.start()
            except PermanentEngineError:
                await part.stop()
                raise
            self._parts[name] = part
            self.name = " + ".join(self._parts)
            return
        await part.add_target(target)

    async def restart_target(self, code: str) -> None:
        for part in self._parts.values():
            if any(t.code == code for t in part.targets):
                await part.restart_target(code)

    async def _stop_target(self, code: str) -> None:
        for part in self._parts.values():
            if any(t.code == code for t in part.targets):
                await part.remove_target(code)

    async def _glossary_changed(self) -> None:
        await asyncio.gather(*(part.set_glossary(self.glossary) for part in self._parts.values()))

    async def _send(self, frame: bytes) -> None:
        for part in self._parts.values():
            await part.send_audio(frame)
