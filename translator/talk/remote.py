"""A room whose talk runs in another process or on another machine, as a listener-only process sees
it: the state the talk's process writes to Redis every second (see ``hub/broker.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Self

import msgspec
from redis.exceptions import RedisError

from translator.config import RoomConfig, Settings
from translator.hub import Hub
from translator.hub.broker import RedisBroker
from translator.languages import FLOOR, Language, get_language
from translator.talk.questions import Allowance, ForwardedQuestion, QuestionError, checked
from translator.talk.room import RoomBase, room_broker
from translator.talk.state import LanguageState, RoomSnapshot

log = logging.getLogger(__name__)

STATE_NOTICE_S = 5.0
"""A listener-only process that has not heard the room's state by then says what it waits for."""
_decode = msgspec.json.Decoder(RoomSnapshot).decode
_encode = msgspec.json.Encoder().encode


class RemoteRoom(RoomBase):
    """The parts of a `Room` that listener endpoints read, kept from the broker's snapshots.

    Entering waits until the room's state has been heard: before, every listener would be told its
    language does not exist (connections wait in the socket's backlog meanwhile).
    """

    def __init__(self, config: RoomConfig, settings: Settings) -> None:
        super().__init__(config, Hub([FLOOR]))
        self.settings = settings
        self.state = "starting"
        self._targets: list[Language] = []
        self._languages: dict[str, LanguageState] = {}
        self._snapshot: RoomSnapshot | None = None
        self.allowance = Allowance()
        """The questions each address asked through this process (the talk's process counts all)."""

    def aloud_languages(self) -> list[str]:
        """None: a spoken question's audio goes where the talk runs (the operator's port)."""
        return []

    async def __aenter__(self) -> Self:
        config = room_broker(self.settings.broker, self.id)
        self.broker = broker = RedisBroker(config, self.hub, on_snapshot=self.update)
        await broker.start()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(broker.heard.wait(), STATE_NOTICE_S)
            if not broker.heard.is_set():
                log.warning(
                    "waiting for room %s's state in Redis: is the process running its talk up?", self.id
                )
                await broker.heard.wait()
        except BaseException:
            await broker.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.broker is not None:
            await self.broker.stop()

    @property
    def targets(self) -> list[Language]:
        return list(self._targets)

    @property
    def talk_started_at(self) -> int | None:
        return self._snapshot.talk_started_at if self._snapshot else None

    @property
    def input_health(self) -> str:
        return self._snapshot.input if self._snapshot else "connecting"

    @property
    def paused(self) -> bool:
        return self._snapshot is not None and self._snapshot.paused

    @property
    def ready(self) -> bool:
        """The talk's process reports a live input and every language ready."""
        return (
            self.state == "running"
            and self.broker is not None
            and self.broker.healthy
            and self.input_health in ("running", "ended")
            and bool(self._languages)
            and all(language.state == "ready" for language in self._languages.values())
        )

    def language_state(self, code: str) -> LanguageState | None:
        return self._languages.get(code)

    async def forward_question(self, client: str, lang: str, text: str) -> None:
        """A listener's question, checked here (the room takes questions, the language, the text,
        this process's count of the listener's) and handed to the talk's process, which asks it
        (QuestionError: refused, or Redis cannot take it now)."""
        text = checked(*self.question_languages(lang), text)
        self.allowance.take(client)
        assert self.broker is not None, "entered"
        try:
            await self.broker.forward_question(_encode(ForwardedQuestion(client, lang, text)))
        except (RedisError, OSError) as exc:
            raise QuestionError(
                f"the question cannot be passed on now ({type(exc).__name__})", 503, 5
            ) from None

    def update(self, data: bytes) -> None:
        """Take the talk's process's latest state; languages it stopped offering close their listeners."""
        snapshot = _decode(data)  # the broker drops and counts what cannot be read
        offered = {language.code for language in snapshot.languages}
        for code in offered:
            self.hub.add_channel(code)
        for code in [code for code in self.hub.channels if code not in offered and code != FLOOR]:
            self.hub.remove_channel(code)
        for code, question in snapshot.questions.items():
            if (channel := self.hub.channels.get(code)) is not None:
                channel.question = question
        self._targets = [get_language(language.code) for language in snapshot.languages]
        self._languages = {
            language.code: LanguageState(
                get_language(language.code), language.state, language.detail, language.lag_s
            )
            for language in snapshot.languages
        }
        self.state, self.detail, self._snapshot = snapshot.state, snapshot.detail, snapshot
