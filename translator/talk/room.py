"""A room: one floor's input, engine, pipeline, hub channels, transcript and controls.

A server runs one or more rooms side by side; each can be started and stopped on its own, and a
room that fails (its input gone, its engine refused) fails alone. The hub outlives the room's talks:
a room stopped and started again keeps its listeners, who are told it stopped and hear it resume.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

import msgspec
from redis.exceptions import RedisError

from translator import fidelity
from translator.audio import SAMPLE_RATE, AudioSource, open_source
from translator.audio.failover import FailoverSource, Mode
from translator.audio.inputs import uses_publisher
from translator.audio.levels import SILENCE_DBFS
from translator.audio.published import PublishedSource
from translator.config import BrokerConfig, RoomConfig, Settings
from translator.engines.base import Engine
from translator.engines.table import create_engine, describe, engine_for, model_for
from translator.errors import (
    ConfigError,
    PermanentEngineError,
    RoomStoppedError,
    SourceError,
    UnknownCaptionError,
    UnknownLanguageError,
)
from translator.glossary import Glossary
from translator.hub import Hub
from translator.hub.broker import RedisBroker
from translator.languages import FLOOR, Language, get_language
from translator.messages import AUDIO_HEADER, PROTOCOL_VERSION, Caption, Codec, Hello, Status
from translator.talk.pipeline import Pipeline, listener_status
from translator.talk.questions import (
    AskedQuestion,
    ForwardedQuestion,
    QuestionBook,
    QuestionError,
    QuestionTranslator,
    in_channels,
)
from translator.talk.readers import RecentReaders
from translator.talk.spoken import DECLINED, ENDED_BY_MODERATOR, SpokenQuestion
from translator.talk.state import (
    InputReport,
    LanguageName,
    LanguageReport,
    LanguageSnapshot,
    LanguageState,
    RoomSnapshot,
    RoomStateName,
)
from translator.talk.turn_light import TurnState
from translator.tasks import cancel_and_wait
from translator.transcripts.store import (
    TRANSCRIPT_OFF,
    AudienceRecord,
    CorrectionRecord,
    GlossaryRecord,
    LanguageRecord,
    QuestionRecord,
    TranscriptHeader,
    TranscriptStatus,
    TranscriptWriter,
    transcripts_directory,
)

log = logging.getLogger(__name__)

AUDIENCE_SAMPLE_S = 10.0
"""How often the talk's audience and usage are written down for its report."""

STOPPED_BY_OPERATOR = "stopped by the operator"


class RoomBase(ABC):
    """What listeners and public pages read of a room, wherever its talk runs."""

    def __init__(self, config: RoomConfig, hub: Hub) -> None:
        self.config = config
        self.id = config.id
        self.name = config.name or config.id
        self.hub = hub
        self.source = get_language(config.source)
        self.spoken = [get_language(code) for code in config.spoken_languages()]
        """The languages that may be spoken on the floor, the default first."""
        self.state: RoomStateName = "stopped"
        self.detail = ""
        self.broker: RedisBroker | None = None
        """The room's link to Redis when processes share it."""
        self.hls_readers = RecentReaders()
        """The HLS players reading each channel from this process (`server/hls.py` sees them)."""

    @property
    @abstractmethod
    def targets(self) -> list[Language]:
        """The languages offered now."""

    @property
    @abstractmethod
    def talk_started_at(self) -> int | None:
        """Unix ms when the talk's input began (its timeline's zero); None before."""

    @property
    @abstractmethod
    def input_health(self) -> str:
        """The input's state (running, stalled, ended, …), or the room's when it is not running."""

    @property
    @abstractmethod
    def paused(self) -> bool:
        """The operator paused the talk (listeners are told)."""

    @abstractmethod
    def language_state(self, code: str) -> LanguageState | None:
        """A language's interpreter as last known; None when it is not offered."""

    @property
    @abstractmethod
    def ready(self) -> bool:
        """Running, its input live, and every language's session up and keeping up."""

    def status(self, lang: str) -> Status:
        """What a listener of ``lang`` is told about it now."""
        if self.state != "running":
            return Status(lang, self.state, self.detail)
        return listener_status(lang, self.paused, self.language_state(lang))

    def listeners(self, lang: str) -> int:
        """The audience of ``lang``: in every process when processes share the room (a second old)."""
        if self.broker is not None and self.broker.totals:
            return self.broker.totals.get(lang, 0)
        return self.hub.listener_count(lang)

    def hello(self, lang: str, audio: bool, codec: Codec) -> Hello:
        """The first message of a listener of ``lang`` on any transport: its state, recent captions
        and the audience question last put to the room."""
        status = self.status(lang)
        return Hello(
            protocol=PROTOCOL_VERSION,
            lang=lang,
            name=self.channel_name(lang),
            state=status.state,
            detail=status.detail,
            audio=audio,
            codec=codec,
            sample_rate=SAMPLE_RATE,
            channels=1,
            audio_header_bytes=AUDIO_HEADER.size,
            talk_started_at=self.talk_started_at,
            captions=list(self.hub.channels[lang].history),
            question=self.hub.channels[lang].question,
        )

    def question_languages(self, lang: str) -> tuple[str, list[str]]:
        """A question's language (``original``: the floor's), and the languages the room takes
        questions in: the floor's and its channels' (QuestionError: it takes none)."""
        if not self.config.questions:
            raise QuestionError("this room takes no questions", 403)
        offered = list(dict.fromkeys([self.source.code, *(target.code for target in self.targets)]))
        return (self.source.code if lang == FLOOR else lang), offered

    def turn(self) -> TurnState | None:
        """For a panel taking turns (``consecutive``): whether the next speaker may begin; None
        otherwise, or where no talk runs here."""
        return None

    @abstractmethod
    def aloud_languages(self) -> list[str]:
        """The languages a listener may ask a question aloud in (none where the talk does not run)."""

    def channel_name(self, lang: str) -> str:
        """What listeners of ``lang`` see it called: the language's own name, or the Original's
        ("Original · English"; with several spoken languages, each in its own words)."""
        if lang == FLOOR:
            return "Original · " + " / ".join(language.native for language in self.spoken)
        return get_language(lang).native

    def engine_of(self, code: str) -> str:
        """The engine that interprets into ``code`` (as the settings choose it)."""
        return engine_for(self.config, code).name

    def floor_report(self) -> LanguageReport:
        """The Original channel as ``/api/languages`` lists it."""
        state = self.status(FLOOR).state
        return LanguageReport(FLOOR, "Original", self.channel_name(FLOOR), state, None, self.listeners(FLOOR))

    def language_reports(self, operator: bool = False) -> list[LanguageReport]:
        """Every language offered with its state and audience; ``operator`` adds why a language is
        not ready, its rolling lags and its cost."""
        reports = []
        for language in self.targets:
            known = self.language_state(language.code) or LanguageState(language)
            shown, detail = known.shown
            state = shown if self.state == "running" else self.state
            report = LanguageReport(
                language.code,
                language.name,
                language.native,
                state,
                known.lag_s,
                self.listeners(language.code),
            )
            if operator:
                report = msgspec.structs.replace(
                    report,
                    detail=detail,
                    lags=known.lags.summary(),
                    tokens_per_minute=known.tokens.rate() if known.tokens is not None else None,
                    engine=self.engine_of(language.code),
                    models=model_for(self.config, language.code).partition(": ")[2],
                    fidelity=known.fidelity,
                    behind_s=round(known.catch_up.behind_s(), 1),
                    tempo=known.catch_up.tempo,
                    stalls=known.stalls,
                    last_stall=known.last_stall,
                )
            reports.append(report)
        return reports


class Room(RoomBase):
    """A room whose talk runs in this process.

    Use as an async context manager: entering joins the broker (when processes share the room),
    leaving stops the talk and leaves the broker. `start()` runs a talk (raising `TranslatorError`,
    the room left ``failed`` with why, when it cannot), `stop()` ends it.
    """

    def __init__(self, config: RoomConfig, settings: Settings, source: AudioSource | None = None) -> None:
        super().__init__(config, Hub([FLOOR, *config.channels()]))
        self.settings = settings
        self.published = PublishedSource() if source is None and uses_publisher(config.audio) else None
        """The input a publisher brings (``audio.input = "publish"``, or its backup's), kept across
        the talk's restarts."""
        self._source = source
        """A source the caller opened (tests, ``translator eval``); else the config's input, opened
        at each start."""
        self.publish_key = config.audio.publish_key or secrets.token_urlsafe(18)
        """What a publisher presents (compared in constant time, never logged)."""
        self._targets = [get_language(code) for code in config.channels()]
        self._glossary = config.glossary
        self.corrections: list[CorrectionRecord] = []
        """Every caption corrected since the service started (who, when, before, after)."""
        self.pipeline: Pipeline | None = None
        """The running talk; the last one once stopped (its state stays readable)."""
        self._run: AsyncExitStack | None = None
        self._changing = asyncio.Lock()
        self.on_lag: Callable[[str, float], None] | None = None
        """Told each final caption's lag (the metrics' histogram)."""
        self._question_translator = QuestionTranslator(self._running_engine)
        self.questions = QuestionBook(self.source.code, self._question_translator)
        self._forwarded: set[asyncio.Task[None]] = set()
        """Questions listener-only processes took, being translated for the moderator."""
        self._spoken: dict[int, SpokenQuestion] = {}
        """Questions asked aloud whose askers are connected: waiting, or holding the floor."""
        self._giving_floor = asyncio.Lock()
        """The floor is given to one question at a time: the engine may first be told its language."""

    async def __aenter__(self) -> Self:
        if self.settings.broker.url is not None:
            config = room_broker(self.settings.broker, self.id)
            self.broker = self.hub.broker = RedisBroker(
                config, self.hub, snapshot=self.snapshot, on_question=self._forwarded_question
            )
            await self.broker.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop("the service is shutting down")
        await asyncio.gather(*(cancel_and_wait(task) for task in self._forwarded))
        await self._question_translator.close()
        if self.broker is not None:
            await self.broker.stop()

    @property
    def engine_name(self) -> str:
        """The engine this room runs (or would run)."""
        if self.pipeline is not None:
            return self.pipeline.engine.name
        return describe(self.config)

    @property
    def targets(self) -> list[Language]:
        # While the talk runs, its pipeline's: a language leaves the list the moment its listeners
        # are told it is gone (they ask at once what is still offered), before its session closes.
        if self.pipeline is not None and self.state == "running":
            return [language.language for language in self.pipeline.languages.values()]
        return list(self._targets)

    @property
    def glossary(self) -> Glossary:
        """The glossary in use (kept when the room stops)."""
        return self._glossary

    @property
    def talk_started_at(self) -> int | None:
        return self.pipeline.input.talk_started_at if self.pipeline is not None else None

    @property
    def input_health(self) -> str:
        if self.state != "running" or self.pipeline is None:
            return self.state
        return self.pipeline.input.health

    @property
    def paused(self) -> bool:
        return self.pipeline is not None and self.pipeline.input.paused

    @property
    def ready(self) -> bool:
        broker_up = self.broker is None or self.broker.healthy
        return self.state == "running" and broker_up and self.pipeline is not None and self.pipeline.ready

    def language_state(self, code: str) -> LanguageState | None:
        if self.pipeline is None:
            return None
        return self.pipeline.languages.get(code)

    async def start(self, source: AudioSource | None = None) -> None:
        """Open the input and the engine and run the talk (a new transcript); TranslatorError (or
        another error: the room is then ``failed``, with why) when it cannot. ``source``: this run
        plays it instead of the room's input (a rehearsal's recording). Starting a running room
        does nothing."""
        async with self._changing:
            if self.state == "running":
                return
            self.state, self.detail = "starting", ""
            self._announce()
            try:
                self._run = await self._open(source)
            except Exception as exc:
                # Whatever stops it, the room is failed with why, and the caller decides for the rest.
                self.state, self.detail = "failed", str(exc) or type(exc).__name__
                self._announce()
                raise
            self.state = "running"
            self._announce()
        log.info("room %s started", self.id)

    async def stop(self, why: str = STOPPED_BY_OPERATOR) -> None:
        """Stop the talk: its input, engine and transcript are closed; listeners stay and are told."""
        async with self._changing:
            if self._run is None:
                return
            self.state = "stopping"
            for spoken in self._spoken.values():
                spoken.end(f"the talk stopped ({why})")
            try:
                await self._run.aclose()
            finally:
                self._run = None
                self.state, self.detail = "stopped", why
                self._announce()
        log.info("room %s stopped: %s", self.id, why)

    def _announce(self) -> None:
        for code in [FLOOR, *(language.code for language in self.targets)]:
            self.hub.publish(code, self.status(code))

    async def _open(self, played: AudioSource | None) -> AsyncExitStack:
        # The languages offered now (the operator may have changed them), spoken ones included.
        config = msgspec.structs.replace(
            self.config, targets=[t.code for t in self._targets], glossary=self._glossary
        )
        engine = create_engine(config)
        check_targets(engine, "" if not self.settings.rooms else f"rooms[{self._index()}].")
        stack = AsyncExitStack()
        try:
            source = await stack.enter_async_context(
                played or self._source or open_source(config.audio, self.published)
            )
            engine = await stack.enter_async_context(engine)
            pipeline = Pipeline(
                source, engine, self.hub, on_lag=self._lag_measured, max_tempo=self.config.max_tempo
            )
            if self.settings.transcripts.enabled:
                directory = transcripts_directory(self.settings.transcripts)
                pipeline.transcript = TranscriptWriter(directory, lambda: self._transcript_header(pipeline))
                stack.callback(pipeline.transcript.close)
            task = asyncio.create_task(pipeline.run(), name=f"room-{self.id}")
            stack.push_async_callback(cancel_and_wait, task)
            if pipeline.transcript is not None:
                sampling = asyncio.create_task(self._sample(pipeline), name=f"room-{self.id}-audience")
                stack.push_async_callback(cancel_and_wait, sampling)
        except BaseException:
            await stack.aclose()
            raise
        self.pipeline = pipeline
        return stack

    async def _sample(self, pipeline: Pipeline) -> None:
        """Every `AUDIENCE_SAMPLE_S` of the talk, who listens to each channel and what each language
        was billed, into the transcript: the talk's report (`transcripts/report.py`)."""
        while True:
            await asyncio.sleep(AUDIENCE_SAMPLE_S)
            if pipeline.transcript is None or pipeline.input.talk_started_at is None:
                continue  # nothing to report before the talk's first sound
            listeners = {code: self.listeners(code) for code in self.hub.channels}
            billed = {code: lang.billed for code, lang in pipeline.languages.items() if lang.billed}
            hls = {code: count for code in self.hub.channels if (count := self.hls_readers.count(code))}
            pipeline.transcript.append(AudienceRecord(int(time.time() * 1000), listeners, billed, hls))

    def _lag_measured(self, lang: str, seconds: float) -> None:
        if self.on_lag is not None:
            self.on_lag(lang, seconds)

    def _index(self) -> int:
        return next(i for i, room in enumerate(self.settings.rooms) if room.id == self.id)

    def _transcript_header(self, pipeline: Pipeline) -> TranscriptHeader:
        """The transcript's first line, once the talk has started."""
        started = pipeline.input.talk_started_at or int(time.time() * 1000)
        return TranscriptHeader(
            TranscriptWriter.talk_id(started),
            started,
            self.settings.server.event_name,
            self.source.code,
            [target.code for target in pipeline.engine.targets],
            pipeline.source.description,
            self.id,
            [language.code for language in self.spoken],
            {target.code: model_for(self.config, target.code) for target in pipeline.engine.targets},
            self._glossary,
        )

    def _running(self) -> Pipeline:
        """The running talk's pipeline; RoomStoppedError when there is none."""
        if self.state != "running" or self.pipeline is None:
            raise RoomStoppedError(f"the room {self.name!r} is {self.state}; start it first")
        return self.pipeline

    # The operator's controls.

    def set_input(
        self, muted: bool | None = None, paused: bool | None = None, source: Mode | None = None
    ) -> tuple[bool, bool, str | None]:
        """Mute the input (silence; listeners are not told), pause the talk (silence, and every
        listener is told), or hold one of two inputs (``source``); a value left None stays as it
        is. Returns (muted, paused, the inputs' mode or None without a backup)."""
        pipeline = self._running()
        inputs = pipeline.source if isinstance(pipeline.source, FailoverSource) else None
        if source is not None:
            if inputs is None:
                raise SourceError(f"room {self.id} has one input: set audio.backup for a second")
            if source != inputs.mode:
                inputs.hold(source)
                log.info("room %s: input %s by the operator", self.id, source)
        if muted is not None and muted != pipeline.input.muted:
            pipeline.input.muted = muted
            log.info("room %s: input %s by the operator", self.id, "muted" if muted else "unmuted")
        if paused is not None and paused != pipeline.input.paused:
            pipeline.set_paused(paused)
        return pipeline.input.muted, pipeline.input.paused, inputs.mode if inputs else None

    async def set_glossary(self, glossary: Glossary) -> str:
        """Use ``glossary`` from the next utterance on (and after a restart); returns what it would
        cost, when that is worth a warning."""
        if self.pipeline is not None and self.state == "running":
            await self.pipeline.engine.set_glossary(glossary)
            warning = self.pipeline.engine.glossary_cost(glossary)
        else:
            warning = ""
        self._glossary = glossary
        if self.pipeline is not None and self.pipeline.transcript is not None:
            self.pipeline.transcript.append(GlossaryRecord(glossary, int(time.time() * 1000)))
        return warning

    async def add_language(self, language: Language) -> None:
        """Offer ``language`` from the next utterance on (PermanentEngineError: nothing changed)."""
        if [language] == self.spoken:
            raise PermanentEngineError(f"{language.name} is the speaker's language (the Original channel)")
        pipeline = self._running()
        await pipeline.add_language(language)
        self._targets.append(language)
        if pipeline.transcript is not None:
            engine = model_for(self.config, language.code)
            pipeline.transcript.append(LanguageRecord(language.code, engine, int(time.time() * 1000)))

    def correct(self, lang: str, caption_id: int, text: str, who: str) -> Caption:
        """Replace the text of one of ``lang``'s recent final captions with a person's correction:
        every listener gets it (marked corrected), and the transcript keeps it with who made it and
        what it replaced. UnknownLanguageError, UnknownCaptionError (listing what may be corrected)."""
        channel = self.hub.channels.get(lang)
        if channel is None or lang == FLOOR:
            raise UnknownLanguageError(lang, [code for code in self.hub.channels if code != FLOOR])
        held = [caption for caption in channel.history if caption.final]
        old = next((caption for caption in held if caption.id == caption_id), None)
        if old is None:
            ids = ", ".join(str(caption.id) for caption in held) or "none yet"
            raise UnknownCaptionError(
                f"caption {caption_id} of {lang} is not among the last final ones ({ids})"
            )
        checked = fidelity.check(
            old.source_text, text, old.source_lang or self.source.code, lang, self._glossary
        )
        new = msgspec.structs.replace(
            old, text=text, corrected=True, misses=[miss.words() for miss in checked.misses]
        )
        self.hub.publish(lang, new)
        record = CorrectionRecord(lang, caption_id, text, old.text, who, int(time.time() * 1000), new.misses)
        self.corrections.append(record)
        if self.pipeline is not None and self.pipeline.transcript is not None:
            self.pipeline.transcript.append(record)
        return new

    async def ask(self, client: str, lang: str, text: str) -> AskedQuestion:
        """A listener's question for the moderator (QuestionError when refused: the room takes no
        questions, a language it does not offer, the text, the listener's allowance)."""
        code, offered = self.question_languages(lang)
        return await self.questions.ask(client, code, offered, text)

    def _forwarded_question(self, data: bytes) -> None:
        """A question a listener-only process took: asked here as if it had come here."""
        try:
            question = msgspec.json.decode(data, type=ForwardedQuestion)
        except msgspec.DecodeError as exc:
            log.warning("room %s: a forwarded question cannot be read (%s); dropped", self.id, exc)
            return
        task = asyncio.create_task(self._ask_forwarded(question), name=f"question-{self.id}")
        self._forwarded.add(task)
        task.add_done_callback(self._forwarded.discard)

    async def _ask_forwarded(self, question: ForwardedQuestion) -> None:
        try:
            await self.ask(question.client, question.lang, question.text)
        except QuestionError as exc:
            log.info("room %s: a question from a listener process refused: %s", self.id, exc)

    def _running_engine(self) -> Engine | None:
        """The engine of the talk running here (None when none runs: a stopped one's is closed)."""
        return self.pipeline.engine if self.pipeline is not None and self.state == "running" else None

    def aloud_languages(self) -> list[str]:
        """The languages a listener may ask a question aloud in, where the talk runs here and the
        room takes questions: those spoken on the floor, and the room's others that its engine can
        hear (and, on a floor of one language, interpret into it for the Original channel)."""
        if not self.config.questions:
            return []
        _, offered = self.question_languages(FLOOR)
        return [code for code in offered if self._hearable(code) is None]

    def _hearable(self, code: str) -> str | None:
        """Why a question cannot be asked aloud in ``code`` here, or None when it can."""
        if any(language.code == code for language in self.spoken):
            return None
        if self.pipeline is None or self.state != "running":
            return "the talk is not running"
        try:
            self.pipeline.engine.check_spoken(get_language(code))
            if len(self.spoken) == 1:
                # The Original channel hears it interpreted into the floor's language.
                self.pipeline.engine.check_target(self.spoken[0])
        except PermanentEngineError as exc:
            return f"{get_language(code).name} cannot be heard on this floor ({exc})"
        return None

    def ask_aloud(self, client: str, lang: str, rate: int) -> SpokenQuestion:
        """A listener asks to speak, in ``lang`` (``original``: the floor's default), from a phone
        sending mono PCM16 at ``rate``: QuestionError when the room takes no questions, ``lang`` is
        none of the room's or its engine cannot hear it, the talk is not running, or the listener
        has asked their share. The question waits for the moderator (`accept_question`); a language
        the talk is not in is heard on the floor while it is asked (`Pipeline.give_floor`)."""
        code, offered = self.question_languages(lang)
        if self.state != "running":
            raise QuestionError("the talk is not running: ask once it has begun", 503, 30)
        aloud = self.aloud_languages()
        if code not in aloud:
            why = self._hearable(code) if code in offered else None
            raise QuestionError(
                f"lang: {why or 'questions are asked aloud here in ' + ', '.join(aloud)}; type yours"
            )
        question = self.questions.add_spoken(client, code)
        asked = self._spoken[question.id] = SpokenQuestion(question.id, code, rate)
        return asked

    def turn(self) -> TurnState | None:
        if not self.config.consecutive or self.state != "running" or self.pipeline is None:
            return None
        return self.pipeline.turn()

    def spoken_question_over(self, asked: SpokenQuestion) -> None:
        """The asker's connection is done with ``asked``: heard (accepted), or withdrawn unheard."""
        self._spoken.pop(asked.id, None)
        question = self.questions.get(asked.id)
        if question.state == "speaking":
            question.state = "accepted"
        elif question.state == "pending":
            question.state = "withdrawn"

    def end_question(self, question_id: int) -> AskedQuestion:
        """The moderator ends a spoken question: the room's input is back on the next frame."""
        question = self.questions.get(question_id)
        asked = self._spoken.get(question_id)
        if question.state != "speaking" or asked is None:
            raise QuestionError(f"question {question_id} is {question.state}, not being asked aloud", 409)
        asked.end(ENDED_BY_MODERATOR)
        return question

    def reject_question(self, question_id: int) -> AskedQuestion:
        """The moderator turns a pending question down; an asker waiting to speak is told."""
        question = self.questions.reject(question_id)
        if (asked := self._spoken.get(question_id)) is not None:
            asked.end(DECLINED)
        return question

    async def accept_question(self, question_id: int, floor_text: str | None) -> AskedQuestion:
        """Send a pending typed question to every channel, in its language, or give the floor to a
        spoken one's asker; the transcript keeps it."""
        if self.questions.get(question_id).spoken:
            async with self._giving_floor:
                return await self._give_floor(question_id)
        question = self.questions.accept(question_id, floor_text)
        sent = await in_channels(
            self._question_translator, question, self.source.code, list(self.hub.channels)
        )
        for channel, message in sent.items():
            self.hub.publish(channel, message)
        if self.broker is not None:
            try:
                await self.broker.write_state()
            except (RedisError, OSError) as exc:
                log.warning(
                    "room %s: the question waits for Redis to reach other processes: %s", self.id, exc
                )
        if self.pipeline is not None and self.pipeline.transcript is not None:
            translations = {message.lang: message.text for message in sent.values()}
            record = QuestionRecord(
                question.id,
                question.lang,
                question.text,
                int(time.time() * 1000),
                translations,
                len(question.merged),
            )
            self.pipeline.transcript.append(record)
        return question

    async def _give_floor(self, question_id: int) -> AskedQuestion:
        pipeline = self.pipeline
        if self.state != "running" or pipeline is None:
            raise QuestionError(f"the talk is {self.state}: start it first", 409)
        asked = self._spoken.get(question_id)
        if asked is None:
            raise QuestionError(f"question {question_id}'s asker has gone", 409)
        if pipeline.question is not None:
            raise QuestionError(f"question {pipeline.question.id} holds the floor: end it first", 409)
        try:
            await pipeline.give_floor(asked)
        except PermanentEngineError as exc:
            raise QuestionError(
                f"{get_language(asked.lang).name} cannot be heard on this floor: {exc}", 409
            ) from None
        question = self.questions.speak(question_id)
        log.info("room %s: question %d is asked aloud (%s)", self.id, question_id, asked.lang)
        if pipeline.transcript is not None:
            at = int(time.time() * 1000)
            pipeline.transcript.append(QuestionRecord(question.id, question.lang, "", at, {}, spoken=True))
        return question

    async def remove_language(self, code: str) -> None:
        """Stop offering ``code``; its listeners are closed (UnknownLanguageError, LastLanguageError)."""
        await self._running().remove_language(code)
        self._targets = [t for t in self._targets if t.code != code]

    def send_tone(self, lang: str) -> None:
        """A one-second test tone to ``lang``'s listeners, captioned as one."""
        self._running().send_tone(lang)

    def addable(self) -> list[LanguageName]:
        """Languages the engine could add."""
        if self.pipeline is None or self.state != "running":
            return []
        offered = {t.code for t in self.targets}
        return [LanguageName.of(lang) for lang in self.pipeline.engine.servable() if lang.code not in offered]

    def input_report(self) -> InputReport:
        """The input as the operator sees it."""
        if self.pipeline is not None and self.state == "running":
            return self.pipeline.input.report()
        description = self._source.description if self._source else self.config.audio.input
        return InputReport(
            description, self.state, self.detail, 0, False, False, SILENCE_DBFS, 0.0, False, None, 0.0
        )

    def transcript_status(self) -> TranscriptStatus:
        """The running talk's transcript: off, writing, or failing (retried meanwhile)."""
        if self.pipeline is None or self.state != "running":
            return TRANSCRIPT_OFF
        return self.pipeline.transcript_status()

    def snapshot(self) -> RoomSnapshot:
        """What processes serving this room's listeners elsewhere need to know (see ``broker.py``)."""
        languages = []
        for language in self.targets:
            known = self.language_state(language.code) or LanguageState(language)
            languages.append(LanguageSnapshot(language.code, *known.shown, known.lag_s))
        channels = self.hub.channels.items()
        questions = {code: channel.question for code, channel in channels if channel.question is not None}
        state = (self.state, self.detail, languages, self.talk_started_at, self.paused, self.input_health)
        return RoomSnapshot(*state, questions)


def check_targets(engine: Engine, prefix: str) -> None:
    """ConfigError naming the first target language (``targets[1]``) that the engine cannot serve:
    said before the input is opened or a model loaded."""
    for index, target in enumerate(engine.targets):
        try:
            engine.check_target(target)
        except PermanentEngineError as exc:
            raise ConfigError(f"{prefix}targets[{index}]", str(exc)) from None


def room_broker(config: BrokerConfig, room: str) -> BrokerConfig:
    """The room's own Redis keys and channels: under the broker's prefix, then the room's id."""
    return msgspec.structs.replace(config, channel=f"{config.channel}:{room}")
