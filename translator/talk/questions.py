"""Questions the audience types, in their own language, for the moderator: each is shown in the
floor's language beside what was typed; an accepted one goes to every channel in its language.

Translation is the room's engine where its model translates text (Voice Live), else the offline
engine's text translators (`engines/local/translation.py`) where a pair exists; otherwise the
question stays as written, its language named. A listener is limited by
address (a phone on the venue's network, or an IPv6 /64), the text is bounded and checked as a
caption a person writes, and the queue keeps a bounded number of questions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

import msgspec

from translator.engines.base import Engine
from translator.engines.local.mt import ApertiumPipe
from translator.engines.local.translation import TextTranslator, targets_from, translator_for
from translator.errors import TranslatorError
from translator.glossary import text_problem
from translator.languages import FLOOR, get_language
from translator.messages import Question

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 500
PER_LISTENER = 3
"""Questions one address may ask within `PER_LISTENER_S`."""
PER_LISTENER_S = 60.0
MAX_ADDRESSES = 10_000
"""Addresses counted before those idle for a minute are forgotten."""
MAX_KEPT = 500
"""Questions kept for the moderator; past this the oldest already handled go first."""
MAX_PENDING = 200
"""Questions waiting at once; past this new ones are refused until the moderator catches up."""
TRANSLATE_TIMEOUT_S = 30.0
"""A first translation starts Apertium's pipelines (a few seconds on a busy machine)."""

State = Literal["pending", "speaking", "accepted", "rejected", "merged", "withdrawn"]


class QuestionError(TranslatorError):
    """A question refused, with why (the HTTP layer maps ``status``)."""

    def __init__(self, message: str, status: int = 400, retry_after_s: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class ForwardedQuestion(msgspec.Struct, frozen=True):
    """A question asked in a listener-only process, on its way to the process that runs the talk."""

    client: str
    lang: str
    text: str


class AskedQuestion(msgspec.Struct):
    """One question as the moderator sees it."""

    id: int
    lang: str
    """The language it was typed in."""
    text: str
    """As typed."""
    floor_text: str
    """In the floor's language: translated, the moderator's edit, or as typed where no translator
    has the pair (then ``translated`` is False)."""
    translated: bool
    asked_at: int
    """Unix ms."""
    state: State = "pending"
    merged_into: int | None = None
    """For a merged question: the one it was merged into."""
    merged: list[int] = []
    """For a question others were merged into: theirs."""
    spoken: bool = False
    """Asked aloud: accepting it gives the listener the floor (``speaking``) until it ends; its
    words are the captions of that stretch."""


class QuestionTranslator:
    """Text of one language into another for questions: by the room's engine where it translates
    text, else offline, sharing its Apertium pipelines between pairs; closed with the room."""

    def __init__(self, engine: Callable[[], Engine | None] = lambda: None) -> None:
        self._engine = engine
        """The room's engine while its talk runs."""
        self._pipes: dict[str, ApertiumPipe] = {}
        self._translators: dict[tuple[str, str], TextTranslator] = {}

    async def translate(self, text: str, source: str, target: str) -> str | None:
        """``text`` in ``target``; None where nothing translates the pair or translating failed."""
        if source == target:
            return text
        if (engine := self._engine()) is not None:
            try:
                translated = await engine.translate_text(text, get_language(source), get_language(target))
            except TranslatorError as exc:
                log.warning("a question was not translated into %s by the room's engine: %s", target, exc)
            else:
                if translated:
                    return translated
        return await self._offline(text, source, target)

    async def _offline(self, text: str, source: str, target: str) -> str | None:
        if target not in targets_from(source):
            return None
        translator = self._translators.get((source, target))
        if translator is None:
            translator = self._translators[source, target] = translator_for(source, target, self._pipes)
        try:
            async with asyncio.timeout(TRANSLATE_TIMEOUT_S):
                return await translator.translate(text) or None
        except (TranslatorError, TimeoutError):
            await translator.restart()
            return None

    async def close(self) -> None:
        """Stop every pipeline and thread it started."""
        translators, self._translators = list(self._translators.values()), {}
        pipes, self._pipes = list(self._pipes.values()), {}
        await asyncio.gather(*(t.close() for t in translators), *(p.stop() for p in pipes))


def checked(lang: str, offered: list[str], text: str) -> str:
    """``text`` normalised, once it is a question ``offered`` may take (QuestionError: why not)."""
    if lang not in offered:
        raise QuestionError(f"lang: no language {lang!r} here; languages: {', '.join(offered)}")
    text = " ".join(text.split())
    if problem := text_problem(text, MAX_QUESTION_CHARS):
        raise QuestionError(f"text: {problem}")
    return text


class Allowance:
    """How many questions each address asked within the last `PER_LISTENER_S`."""

    def __init__(self) -> None:
        self._asked: dict[str, deque[float]] = {}

    def take(self, client: str) -> None:
        """Count one question of ``client``'s, or refuse it (429) when it has asked its share."""
        now = time.monotonic()
        recent = self._asked.setdefault(client, deque())
        while recent and now - recent[0] >= PER_LISTENER_S:
            recent.popleft()
        if len(recent) >= PER_LISTENER:
            wait = int(PER_LISTENER_S - (now - recent[0])) + 1
            raise QuestionError(
                f"at most {PER_LISTENER} questions a minute: ask again in {wait} s", 429, retry_after_s=wait
            )
        recent.append(now)
        if len(self._asked) > MAX_ADDRESSES:
            # Addresses that asked nothing within the window: kept, they would grow without bound.
            self._asked = {
                key: times for key, times in self._asked.items() if times and now - times[-1] < PER_LISTENER_S
            }


class QuestionBook:
    """The room's questions: asked, then accepted, rejected or merged by the moderator."""

    def __init__(self, floor: str, translator: QuestionTranslator) -> None:
        self.floor = floor
        self.translator = translator
        self.allowance = Allowance()
        self._questions: dict[int, AskedQuestion] = {}
        self._next = 1

    def questions(self) -> list[AskedQuestion]:
        """Every question kept, oldest first."""
        return list(self._questions.values())

    def get(self, question_id: int) -> AskedQuestion:
        found = self._questions.get(question_id)
        if found is None:
            ids = ", ".join(str(q.id) for q in self._questions.values() if q.state == "pending") or "none"
            raise QuestionError(f"no question {question_id}; pending: {ids}", status=404)
        return found

    def admit(self, client: str, lang: str, offered: list[str], text: str) -> str:
        """The question's text, normalised, once it may be asked (QuestionError: why not). Counts
        against ``client``'s allowance."""
        text = checked(lang, offered, text)
        self._admit_one(client)
        return text

    def _admit_one(self, client: str) -> None:
        if sum(q.state == "pending" for q in self._questions.values()) >= MAX_PENDING:
            raise QuestionError("too many questions wait for the moderator: ask again later", 503, 30)
        self.allowance.take(client)

    async def ask(self, client: str, lang: str, offered: list[str], text: str) -> AskedQuestion:
        """Take a listener's question (QuestionError when refused), translated into the floor's
        language for the moderator."""
        text = self.admit(client, lang, offered, text)
        floor_text = await self.translator.translate(text, lang, self.floor)
        question = AskedQuestion(
            self._next, lang, text, floor_text or text, floor_text is not None, int(time.time() * 1000)
        )
        self._next += 1
        self._questions[question.id] = question
        self._trim()
        return question

    def add_spoken(self, client: str, lang: str) -> AskedQuestion:
        """A listener's request to ask aloud in ``lang`` (QuestionError when refused: too many wait,
        the listener's allowance)."""
        self._admit_one(client)
        question = AskedQuestion(self._next, lang, "", "", False, int(time.time() * 1000), spoken=True)
        self._next += 1
        self._questions[question.id] = question
        self._trim()
        return question

    def reject(self, question_id: int) -> AskedQuestion:
        question = self._pending(question_id)
        question.state = "rejected"
        return question

    def merge(self, question_id: int, into: int) -> AskedQuestion:
        """Fold a question into another one (the same question asked twice): it is answered with it."""
        question, target = self._pending(question_id), self.get(into)
        if question.spoken or target.spoken:
            raise QuestionError("a spoken question is not merged: accept or reject it", 409)
        if target.id == question.id or target.state not in ("pending", "accepted"):
            raise QuestionError(f"into: question {into} is {target.state}; merge into a pending one", 409)
        question.state, question.merged_into = "merged", target.id
        target.merged.append(question.id)
        return question

    def accept(self, question_id: int, floor_text: str | None) -> AskedQuestion:
        """Mark it accepted, with the moderator's wording in the floor's language if given."""
        question = self._pending(question_id)
        if floor_text is not None:
            floor_text = " ".join(floor_text.split())
            if problem := text_problem(floor_text, MAX_QUESTION_CHARS):
                raise QuestionError(f"text: {problem}")
            question.floor_text, question.translated = floor_text, True
        question.state = "accepted"
        return question

    def speak(self, question_id: int) -> AskedQuestion:
        """Mark a spoken question as holding the floor."""
        question = self._pending(question_id)
        question.state = "speaking"
        return question

    def _pending(self, question_id: int) -> AskedQuestion:
        question = self.get(question_id)
        if question.state != "pending":
            raise QuestionError(f"question {question_id} is already {question.state}", 409)
        return question

    def _trim(self) -> None:
        if len(self._questions) <= MAX_KEPT:
            return
        handled = [q.id for q in self._questions.values() if q.state != "pending"]
        for question_id in handled[: len(self._questions) - MAX_KEPT]:
            del self._questions[question_id]


async def in_channels(
    translator: QuestionTranslator, question: AskedQuestion, floor: str, channels: list[str]
) -> dict[str, Question]:
    """The accepted ``question`` for each channel, in the channel's language: the moderator's
    wording for the floor's, as typed for its own language, translated from the floor's wording
    elsewhere; where no translator has the pair, untranslated (its ``lang`` says which it is)."""

    # From the floor's wording (the moderator may have edited it), unless nothing translated it.
    origin = (question.floor_text, floor) if question.translated else (question.text, question.lang)

    async def for_channel(channel: str) -> Question:
        lang = floor if channel == FLOOR else channel
        if lang == floor and question.translated:
            text = question.floor_text
        elif lang == question.lang:
            text = question.text
        else:
            text = await translator.translate(origin[0], origin[1], lang) or ""
            if not text:
                text, lang = origin
        return Question(question.id, text, lang, question.text, question.lang)

    sent = await asyncio.gather(*(for_channel(channel) for channel in channels))
    return dict(zip(channels, sent, strict=True))
