"""One floor, one engine, N languages: audio in, captions and audio chunks out to the hub.

Every channel is the talk in its language: for each utterance, its interpretation, or, when it was
spoken in the channel's own language, the speaker's own voice and words (passthrough, from the
`Floor`). The Original channel carries the floor itself with the source captions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import numpy as np

from translator import fidelity
from translator.audio import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, AudioSource
from translator.audio.levels import SILENCE_DBFS, level_dbfs
from translator.audio.opus import OpusEncoder
from translator.audio.stretch import Stretcher
from translator.engines.base import Engine
from translator.engines.events import (
    AnyEngineEvent,
    EngineFailure,
    Passthrough,
    SessionState,
    SourceText,
    SpeechStarted,
    SpeechStopped,
    TokensUsed,
    TranslationAudio,
    TranslationText,
    TurnDone,
)
from translator.errors import LastLanguageError, PermanentEngineError, TranslatorError, UnknownLanguageError
from translator.hub import AudioChunk, Hub
from translator.languages import FLOOR, Language, get_language
from translator.messages import MAX_PACKETS, PACKET_SAMPLES, PAUSED, Caption, ErrorMessage, Status
from translator.talk.catchup import CatchUp
from translator.talk.floor import HANGOVER_MS, PREROLL_MS, Floor
from translator.talk.spoken import SpokenQuestion
from translator.talk.stalls import StallWatch
from translator.talk.state import InputReport, LanguageState
from translator.talk.turn_light import TurnLight, TurnState
from translator.talk.usage import TokensPerMinute
from translator.tasks import cancel_and_wait
from translator.transcripts.store import TRANSCRIPT_OFF, CaptionRecord, TranscriptStatus, TranscriptWriter

log = logging.getLogger(__name__)

UtteranceEvent = (
    SpeechStarted | SpeechStopped | SourceText | TranslationText | TranslationAudio | TurnDone | Passthrough
)
"""The events about one utterance of one language."""

# Silence sent after the input ends, so that the engine's VAD closes the last utterance.
TAIL_SILENCE_MS = 1500
# A running input that gives no frame for this long is stalled (a device that stopped delivering).
STALLED_S = 2.0
INPUT_RESTART_S = 1.0
# The operator's test tone: a second of A at a quarter of full scale.
TONE_HZ = 440.0
TONE_S = 1.0
TONE_AMPLITUDE = 8192
TONE_CAPTION = "♪ Test tone"
# Quieter than this is no sound: a muted or unplugged microphone, an empty room.
SOUND_DBFS = -55.0
# The console warns when the input has carried no sound for this long.
SILENT_ALERT_S = 30.0
# A language whose captions come this long after the speech is not keeping up: not ready.
MAX_LAG_S = 10.0
# How often languages are looked at for a stall (`talk.stalls`), and how long a restart may take.
STALL_CHECK_S = 1.0
HELD_EVENTS = 64
"""Events handled together at most, their audio delivered at the end (`_consume`): a sentence's
worth of synthesis at least, and never a busy engine's audio held back for long."""
QUESTION_LANGUAGE_S = 30.0
"""A language heard on the floor for a question stops being heard once every channel has answered
the question, or this long after it ended (a floor that never falls quiet)."""
VOICED_MARGIN_MS = 500
"""How far before a question's first frame an interpreter may say its speech began: a VAD's prefix
padding (420 ms on Voice Live) is counted in the speech."""
RESTART_TIMEOUT_S = 30.0
RESTART_STOP_S = 2.0
# A stall this soon after the last restart is one the restart did not cure: the operator sees red.
STALLED_AGAIN_S = 120.0
# Utterances whose caption state is kept; older ones are finished long ago.
KEEP_UTTERANCES = 64
# Input frames whose sending time is kept for measuring lag: a minute.
SENT_TIMES_KEPT = 3000


@dataclass
class _Utterance:
    id: int
    start_ms: int | None = None
    end_ms: int | None = None
    source_text: str = ""
    source_lang: str = ""
    source_final: bool = False
    text: str = ""
    final: bool = False
    passthrough: bool = False
    """Spoken in this channel's language: its audio is the floor's (`Floor.add`), its text the source."""
    audio_samples: int = 0
    opus_samples: int = 0
    encoder: OpusEncoder | None = None
    """This utterance's own Opus stream (a page decodes each utterance with a decoder of its own)."""
    stretcher: Stretcher | None = None
    """Its audio at the tempo chosen when it began (faster while its language catches up)."""
    misses: list[str] | None = None
    """What its translation lost (`fidelity`), once both texts are final; None until then."""
    continues: int | None = None
    """The utterance it goes on from (the engine closed that one at a pause the speaker resumed)."""


def listener_status(lang: str, paused: bool, language: LanguageState | None) -> Status:
    """What a listener of ``lang`` is told about it: paused, or its session's state (the floor
    needs none: it is ready while the talk runs)."""
    if paused:
        return Status(lang, PAUSED, "the talk is paused")
    if lang == FLOOR:
        return Status(lang, "ready")
    if language is None:
        return Status(lang, "connecting")
    if language.stall:
        return Status(lang, "reconnecting", "restarting the interpreter")
    return Status(lang, language.state, language.detail)


@dataclass
class InputState:
    """What the service shows about its input."""

    source: AudioSource
    state: str = "starting"
    detail: str = ""
    talk_started_at: int | None = None
    frames: int = 0
    restarts: int = 0
    muted: bool = False
    """The operator muted the input (a cough, an aside): the engine hears silence, sessions stay open,
    time runs on; listeners are not told."""
    paused: bool = False
    """The operator paused the talk (a break): as muted, and every listener is told it is paused."""
    level_dbfs: float = SILENCE_DBFS
    """The last frame's RMS level, so that an operator sees the microphone is alive."""
    last_frame_at: float | None = None
    """Monotonic time of the last frame read."""
    sounded_at: float | None = None
    """Monotonic time the input last carried sound (above `SOUND_DBFS`), or was opened."""

    @property
    def silent_s(self) -> float:
        """How long the input has carried no sound: a dead microphone reads as running otherwise."""
        return 0.0 if self.sounded_at is None else time.monotonic() - self.sounded_at

    @property
    def silent(self) -> bool:
        """No sound for `SILENT_ALERT_S`: worth the operator's attention."""
        return self.silent_s >= SILENT_ALERT_S

    @property
    def health(self) -> str:
        """``state``, or ``stalled`` when a running input has given no frame for a while."""
        if (
            self.state == "running"
            and self.last_frame_at is not None
            and time.monotonic() - self.last_frame_at > STALLED_S
        ):
            return "stalled"
        return self.state

    def report(self) -> InputReport:
        """What the operator sees of it."""
        return InputReport(
            description=self.source.description,
            state=self.health,
            detail=self.detail or self.source.detail,
            restarts=self.restarts,
            muted=self.muted,
            paused=self.paused,
            level_dbfs=round(self.level_dbfs, 1),
            silent_s=round(self.silent_s, 1),
            silent=self.silent,
            talk_started_at=self.talk_started_at,
            seconds=self.frames * FRAME_MS / 1000,
            delay_s=round(self.source.delay_s, 3),
            network=self.source.network,
            failover=self.source.failover,
        )


@dataclass
class Pipeline:
    """Wires an opened source into a started engine, and the engine's events into the hub."""

    source: AudioSource
    engine: Engine
    hub: Hub
    languages: dict[str, LanguageState] = field(init=False)
    """Each language's interpreter: its state, lags and costs."""
    on_lag: Callable[[str, float], None] | None = None
    """Told each final caption's lag (the metrics' histogram)."""
    transcript: TranscriptWriter | None = None
    """Where final captions are kept (None: not kept)."""
    max_tempo: float = 1.0
    """How much faster a language's interpretation may play while catching up (1: never)."""
    floor_taps: list[Callable[[bytes], None]] = field(default_factory=list)
    """Told every frame the engine hears, on the talk's timeline (the Original's recording)."""
    input: InputState = field(init=False)
    question: SpokenQuestion | None = None
    """A listener's question spoken from their phone, heard in place of the input while it lasts."""
    _ids: OrderedDict[tuple[str, str], _Utterance] = field(default_factory=OrderedDict)
    _numbers: OrderedDict[str, int] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self._counter = 0
        self._tones_sent = 0
        self._tones: set[int] = set()
        """Utterances that are test tones: not kept in the transcript."""
        # Languages change one at a time: an addition still connecting is not removed under it.
        self._changing = asyncio.Lock()
        self._sent_at: deque[float] = deque(maxlen=SENT_TIMES_KEPT)
        """Monotonic time each recent input frame went to the engine, the newest last."""
        self.input = InputState(self.source)
        self.stalls = StallWatch()
        self._restarts: dict[str, asyncio.Task[None]] = {}
        self._awaiting_ready: dict[str, asyncio.Event] = {}
        """Languages restarted after a stall, told when their session is ready again."""
        self.languages = {t.code: self._language_state(t) for t in self.engine.targets}
        self.hub.add_channel(FLOOR)
        self.turns = TurnLight()
        self.floor = Floor(self._audio_out)
        self._talk_spoken = list(self.engine.spoken)
        """The languages the talk is in: what the floor is heard in outside questions."""
        self._foreign: tuple[int, float] | None = None
        """A question asked aloud in another language, over: how often the floor must have fallen
        quiet (its own end), and when it ended; its language is heard until every channel answered it."""
        self._foreign_live = False
        """A question asked aloud in another language holds the floor."""
        self._original = self._talk_spoken[0].code if len(self._talk_spoken) == 1 else None
        """On a floor of one language: the target that interprets a question asked aloud in
        another language into it, for the Original channel (never a channel of its own)."""
        self._voice: LanguageState | None = None
        """That interpreter, while it runs."""
        self._voiced: tuple[int, int | None] | None = None
        """Where (ms, on the talk's timeline) the Original channel last heard it instead of the
        floor: the floor's own captions of that stretch are its to give."""

    def _audio_out(self, chunk: AudioChunk) -> None:
        """Audio for a channel's listeners; the turn light hears when each channel will be done."""
        if chunk.lang != FLOOR:
            self.turns.audio(chunk, time.monotonic())
        if chunk.lang == self._original:
            chunk = msgspec.structs.replace(chunk, lang=FLOOR)
        self.hub.publish_audio(chunk)

    def _interpreter(self, code: str) -> LanguageState | None:
        """The interpreter into ``code``: a channel's, or the Original channel's while it has one."""
        if (language := self.languages.get(code)) is not None:
            return language
        return self._voice if code == self._original else None

    def _tell(self, code: str) -> None:
        """A channel's listeners hear its status (the Original channel's interpreter has none of its own)."""
        if code in self.languages:
            self.hub.publish(code, self.status(code))

    def turn(self) -> TurnState:
        """Whether the floor is clear for the next speaker, or still being interpreted."""
        return self.turns.state(time.monotonic())

    def _language_state(self, language: Language) -> LanguageState:
        self.stalls.watch(language.code, time.monotonic())
        return LanguageState(language, catch_up=CatchUp(self.max_tempo))

    @property
    def ready(self) -> bool:
        """Every language's session is up and keeping up, and the input is not failing or stalled."""
        return (
            self.input.health in ("running", "ended")
            and all(language.state == "ready" and not language.stall for language in self.languages.values())
            and all(
                language.lag_s is None or language.lag_s <= MAX_LAG_S for language in self.languages.values()
            )
        )

    async def add_language(self, language: Language) -> None:
        """Interpret into ``language`` from the next utterance on; listeners can join it at once.

        Raises PermanentEngineError (nothing changed) when the engine cannot serve it.
        """
        code = language.code
        async with self._changing:
            if code in self.languages:
                raise PermanentEngineError(f"{language.name} is already offered")
            self.hub.add_channel(code)
            self.languages[code] = self._language_state(language)
            try:
                await self.engine.add_target(language)
            except TranslatorError:
                self._forget(code)
                raise
        log.info("language %s added by the operator", code)

    async def remove_language(self, code: str) -> None:
        """Stop interpreting into ``code``; its listeners are closed (4404, "… is no longer offered").

        Raises UnknownLanguageError when it is not offered, LastLanguageError for the last one.
        """
        async with self._changing:
            if code not in self.languages:
                raise UnknownLanguageError(code, list(self.languages))
            if len(self.languages) == 1:
                raise LastLanguageError("the last language cannot be removed")
            self._forget(code)
            await self.engine.remove_target(code)
        log.info("language %s removed by the operator", code)

    def _forget(self, code: str) -> None:
        # Events the engine queued for it before it stopped are dropped from now on (see `handle`).
        self.languages.pop(code, None)
        self.stalls.forget(code)
        self.turns.forget(code)
        self.hub.remove_channel(code)

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the talk: the engine hears silence and every listener is told."""
        self.input.paused = paused
        for lang in [FLOOR, *self.languages]:
            self.hub.publish(lang, self.status(lang))
        log.info("talk %s by the operator", "paused" if paused else "resumed")

    def send_tone(self, lang: str) -> None:
        """A test tone to ``lang``'s listeners, captioned as one, as an utterance of its own: the
        operator checks the sound chain (speakers, headphones, a venue's assistive system). It is
        neither kept in the transcript nor measured as lag."""
        self._tones_sent += 1
        engine_id = f"test-tone-{self._tones_sent}"
        utterance = self._utterance(lang, engine_id)
        self._tones.add(utterance.id)
        samples = np.arange(SAMPLE_RATE * TONE_S) / SAMPLE_RATE
        tone = (np.sin(2 * np.pi * TONE_HZ * samples) * TONE_AMPLITUDE).astype("<i2").tobytes()
        for event in (
            TranslationText(lang, engine_id, TONE_CAPTION, final=False),
            TranslationAudio(lang, engine_id, tone),
            TranslationText(lang, engine_id, TONE_CAPTION, final=True),
            TurnDone(lang, engine_id, "completed"),
        ):
            self.handle(event)

    def transcript_status(self) -> TranscriptStatus:
        """The transcript's state: off, writing, or failing (retried meanwhile)."""
        return TRANSCRIPT_OFF if self.transcript is None else self.transcript.status()

    def status(self, lang: str) -> Status:
        """What a listener of ``lang`` is told about it now."""
        return listener_status(lang, self.input.paused, self.languages.get(lang))

    async def run(self) -> None:
        """Run until cancelled: the input (until it ends) and the engine's events."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._consume(), name="pipeline-events")
                group.create_task(self._pump(), name="pipeline-audio")
                group.create_task(self._watch_stalls(), name="pipeline-stalls")
        finally:
            for task in list(self._restarts.values()):
                await cancel_and_wait(task, RESTART_STOP_S)
            # Listeners of an utterance still open hear its end, whatever stopped the talk.
            self.floor.close()

    async def _pump(self) -> None:
        """Feed the input to the engine; an unexpected failure restarts the input, once a second at most."""
        while True:
            try:
                await self._pump_once()
                return
            except TranslatorError as exc:
                self.input.state, self.input.detail = "failed", str(exc)
                log.error("input failed: %s", exc)
                return
            except Exception as exc:
                self.input.restarts += 1
                self.input.state = "restarting"
                self.input.detail = f"restarting after an unexpected error ({exc.__class__.__name__})"
                # The traceback once; a failure that repeats is counted in /api/status.
                log.error(
                    "input failed; restarting it (%d so far)",
                    self.input.restarts,
                    exc_info=self.input.restarts == 1,
                )
            await asyncio.sleep(INPUT_RESTART_S)
            try:
                await self.source.close()
                await self.source.open()
            except TranslatorError as exc:
                self.input.state, self.input.detail = "failed", str(exc)
                log.error("input could not be reopened: %s", exc)
                return

    async def _pump_once(self) -> None:
        self.input.state, self.input.detail = "running", ""
        self.input.last_frame_at = self.input.sounded_at = time.monotonic()
        async for frame in self.source.frames():
            if self.input.talk_started_at is None:
                self.input.talk_started_at = int(time.time() * 1000)
            self.input.level_dbfs = level_dbfs(frame)
            if self.input.level_dbfs > SOUND_DBFS:
                self.input.sounded_at = time.monotonic()
            asked = self._question_frame()
            if self.input.muted or self.input.paused:
                await self._send(bytes(FRAME_BYTES), SILENCE_DBFS)
            elif asked is not None:
                await self._send(asked, level_dbfs(asked))
            else:
                await self._send(frame, self.input.level_dbfs)
            self.input.frames += 1
            self.input.last_frame_at = time.monotonic()
        self.input.state = "ended"
        silence = bytes(FRAME_BYTES)
        for _ in range(TAIL_SILENCE_MS // FRAME_MS):
            await self._send(silence, SILENCE_DBFS)
            await asyncio.sleep(FRAME_MS / 1000)
        self.floor.close()

    async def give_floor(self, asked: SpokenQuestion) -> None:
        """``asked`` holds the floor from the next frame. Its language is heard on the floor from
        now on if the talk is not in it, until every channel has answered the question; on a floor
        of one language, the Original channel hears it interpreted meanwhile.

        Raises PermanentEngineError when the engine cannot hear it (nothing changes then).
        """
        language, heard = get_language(asked.lang), list(self.engine.spoken)
        if language not in heard:
            await self.engine.hear([*heard, language])
            log.info("%s is heard on the floor for a question", language.name)
        if language not in self._talk_spoken and self._original is not None and self._voice is None:
            try:
                await self._interpret_the_original()
            except TranslatorError:
                await self.engine.hear(heard)
                raise
        self._foreign_live = language not in self._talk_spoken
        if self._foreign_live:
            self._foreign = None  # a language heard for the question before is heard until this one's end
        self.question = asked
        asked.grant()

    def _question_frame(self) -> bytes | None:
        """The frame of the audience's spoken question holding the floor, if one does: the room's
        own input is read all the same, and is back on the next frame once the question is over."""
        if self.question is None:
            return None
        frame = self.question.take()
        if frame is None:
            self.question = None
            if self._foreign_live:
                # Its speech is answered once the floor has fallen quiet after it, and nothing is owed.
                self._foreign = self.turns.quiets + self.floor.speaking, time.monotonic()
                self._foreign_live = False
        return frame

    async def _interpret_the_original(self) -> None:
        """A floor of one language: its Original channel hears a question in another interpreted
        into it (and the floor's own language passed through), by an interpreter into it that runs
        while the question's language is heard. Raises PermanentEngineError (nothing changed)."""
        language = self._talk_spoken[0]
        # Its events may come while its session starts.
        self._voice = self._language_state(language)
        try:
            await self.engine.add_target(language)
        except TranslatorError:
            self._voice = None
            self.stalls.forget(language.code)
            raise
        self.floor.interpret(True)
        self._voiced = (self.floor.frames * FRAME_MS, None)
        log.info("the Original channel hears questions interpreted into %s", language.name)

    async def _hear_the_original_again(self) -> None:
        """The Original channel hears the floor itself again; its interpreter stops."""
        if self._voice is None or self._voiced is None:
            return
        code, self._voice = self._voice.language.code, None
        self.floor.interpret(False)
        self._voiced = (self._voiced[0], self.floor.frames * FRAME_MS)
        self.stalls.forget(code)
        self.turns.forget(code)
        await self.engine.remove_target(code)

    def _voiced_over(self, utterance: _Utterance) -> bool:
        """The utterance's speech falls where the Original channel heard its interpreter."""
        if self._voiced is None:
            return False
        if utterance.start_ms is None:
            return self._voice is not None
        since, until = self._voiced
        start = utterance.start_ms + VOICED_MARGIN_MS
        return start >= since and (until is None or utterance.start_ms < until)

    async def _hear_the_talk_again(self, now: float) -> None:
        """After a question in another language, hear the talk's own once it has been answered."""
        if self._foreign is None:
            return
        quiets, ended_at = self._foreign
        answered = self.turns.quiets >= quiets and not self.turns.owing(now)
        if answered or now - ended_at > QUESTION_LANGUAGE_S:
            self._foreign = None
            try:
                await self._hear_the_original_again()
                await self.engine.hear(self._talk_spoken)
            except TranslatorError as exc:
                log.warning("the floor's own languages could not be set again: %s", exc)
                return
            log.info(
                "the floor is heard in %s again", ", ".join(language.name for language in self._talk_spoken)
            )

    async def _send(self, frame: bytes, level: float) -> None:
        # The floor hears what the engine hears, first: a passthrough the engine reports on this
        # frame finds it encoded.
        speaking = self.floor.speaking
        self.floor.feed(frame, level)
        if self.floor.speaking != speaking:
            # Where the floor's speech began (its preroll), or its last loud frame before the pause.
            back = PREROLL_MS if self.floor.speaking else HANGOVER_MS
            at_ms = self.floor.frames * FRAME_MS - back
            interpreting = [*self.languages, *([self._voice.language.code] if self._voice else [])]
            self.turns.floor(self.floor.speaking, at_ms, interpreting, time.monotonic())
        for tap in self.floor_taps:
            tap(frame)
        await self.engine.send_audio(frame)
        now = time.monotonic()
        self._sent_at.append(now)
        if level > SOUND_DBFS:
            self.stalls.sound(now, FRAME_MS / 1000)

    def _since_sent(self, position_ms: int) -> float | None:
        """Seconds since the input at ``position_ms`` on the talk's timeline went to the engine (None
        when that is no longer kept). Lag counts from there, whatever pace the input runs at."""
        back = (self.engine.audio_ms - position_ms) // FRAME_MS
        if not 0 <= back < len(self._sent_at):
            return None
        return time.monotonic() - self._sent_at[-1 - back]

    async def _consume(self) -> None:
        async for event in self.engine.events():
            # What the engine has ready is handled at once, and its audio goes out together: a
            # sentence synthesised in one go reaches a listener in few writes (`Hub.holding`).
            with self.hub.holding():
                self._handle_safely(event)
                for _ in range(HELD_EVENTS - 1):
                    if (ready := self.engine.ready_event()) is None:
                        break
                    self._handle_safely(ready)

    def _handle_safely(self, event: AnyEngineEvent) -> None:
        try:
            self.handle(event)
        except Exception:
            # One malformed event must not end the talk for every language.
            log.exception("could not handle %s", type(event).__name__)

    def handle(self, event: AnyEngineEvent) -> None:
        """Turn one engine event into listener messages."""
        lang = event.target
        language = self._interpreter(lang)
        if language is None:
            return  # a language removed during the talk
        if isinstance(event, SessionState):
            language.reconnects += event.state == "reconnecting" and language.state != "reconnecting"
            if event.state == "ready" and language.state != "ready":
                # A session (re)started: what the last one had in flight is not owed by this one.
                self.stalls.watch(lang, time.monotonic())
            if event.state == "ready" and (restarted := self._awaiting_ready.pop(lang, None)) is not None:
                restarted.set()
            language.state, language.detail = event.state, event.detail
            if not self.input.paused:
                self._tell(lang)
            return
        if isinstance(event, EngineFailure):
            language.failures += 1
            if not event.recoverable and lang in self.languages:
                self.hub.publish(lang, ErrorMessage(event.message))
            return
        if isinstance(event, TokensUsed):
            language.tokens = language.tokens or TokensPerMinute()
            language.tokens.add(event.tokens)
            language.billed = event if language.billed is None else language.billed.plus(event)
            return
        utterance = self._utterance(lang, event.utterance)
        if utterance.id not in self._tones:
            self._watched(language, event)
        if isinstance(event, Passthrough):
            self._pass_through(language, utterance)
            return
        if isinstance(event, TranslationAudio):
            if not utterance.audio_samples and (lag := self._lag(utterance)) is not None:
                language.lags.audio.add(lag)
            # Stretched once per language, before it is encoded, for every listener alike.
            utterance.stretcher = utterance.stretcher or Stretcher(language.catch_up.begin())
            pcm = utterance.stretcher.feed(event.pcm)
            language.catch_up.played(len(pcm) / 2 / SAMPLE_RATE)
            self._publish_pcm(lang, utterance, pcm)
            # Each language's audio is encoded once, whoever listens.
            utterance.encoder = utterance.encoder or OpusEncoder()
            self._publish_opus(lang, utterance, utterance.encoder.feed(pcm))
            return
        if isinstance(event, TurnDone):
            if utterance.encoder is not None:
                self._publish_opus(lang, utterance, utterance.encoder.flush())
                utterance.encoder = None
            if utterance.audio_samples:
                self._audio_out(AudioChunk.ending(lang, utterance.id, utterance.audio_samples, "pcm"))
                self._audio_out(AudioChunk.ending(lang, utterance.id, utterance.opus_samples, "opus"))
            return
        if isinstance(event, SpeechStarted):
            utterance.start_ms = event.start_ms
            if event.continues:
                utterance.continues = self._numbers.get(event.continues)
            return
        if isinstance(event, SpeechStopped):
            utterance.end_ms = event.end_ms
            if not (utterance.text or utterance.source_text):
                return
        elif isinstance(event, SourceText):
            utterance.source_text = event.text
            utterance.source_lang = self.turns.spoken = event.lang or self.engine.source.code
            utterance.source_final = event.final
            if utterance.passthrough:
                utterance.text = event.text
        elif isinstance(event, TranslationText):
            utterance.text = event.text
            if event.final and not utterance.final:
                self._measure_lag(language, utterance)
            utterance.final = utterance.final or event.final
        else:
            return
        self._check_fidelity(language, utterance)
        self._publish_caption(lang, utterance)
        if (
            lang == next(iter(self.languages))
            and not isinstance(event, TranslationText)
            and not self._voiced_over(utterance)
        ):
            # The Original channel's captions: what the speaker said, as the first language's
            # session heard it (the offline engine recognises once for all; Voice Live per session).
            self._publish_caption(FLOOR, utterance)

    def _watched(self, language: LanguageState, event: UtteranceEvent) -> None:
        """What the event tells the stall watch: speech that owes a final, a final, or output."""
        lang, utterance, now = event.target, event.utterance, time.monotonic()
        final = isinstance(event, TranslationText) and event.final
        if isinstance(event, SpeechStarted):
            self.turns.heard(lang, event.start_ms)
        elif isinstance(event, TurnDone | Passthrough):
            self.turns.answered(lang, self._utterance(lang, utterance).end_ms)
        if isinstance(event, SpeechStopped):
            self.stalls.stopped(lang, utterance, now)
        elif final or isinstance(event, Passthrough | TurnDone):
            self.stalls.finished(lang, utterance, now)
            if language.stall and not language.repairing:
                log.warning("%s interprets again after its stall", lang)
                language.stall = ""
                self._tell(lang)
        else:
            self.stalls.said(lang, now)

    async def _watch_stalls(self) -> None:
        """Look for stalls once a second; each found restarts its language's interpreter."""
        while True:
            await asyncio.sleep(STALL_CHECK_S)
            for code, why in self.stalls.check(time.monotonic()):
                if (language := self._interpreter(code)) is not None and code not in self._restarts:
                    self._stalled(language, why)
            await self._hear_the_talk_again(time.monotonic())

    def _stalled(self, language: LanguageState, why: str) -> None:
        code, now = language.language.code, time.monotonic()
        again = language.repaired_at is not None and now - language.repaired_at < STALLED_AGAIN_S
        language.stalls += 1
        language.stall = f"stalled again soon after a restart: {why}" if again else f"stalled: {why}"
        language.last_stall = language.stall
        language.repairing = True
        log.error("%s %s; restarting its interpreter", code, language.stall)
        self._tell(code)
        task = asyncio.create_task(self._restart(language, again), name=f"pipeline-restart-{code}")
        self._restarts[code] = task
        task.add_done_callback(lambda _: self._restarts.pop(code, None))

    async def _restart(self, language: LanguageState, again: bool) -> None:
        """Restart the language's interpreter. A first stall is over once it runs again; one that
        came back soon after a restart stays shown until the language's next final."""
        code = language.language.code
        ready = self._awaiting_ready[code] = asyncio.Event()
        try:
            async with asyncio.timeout(RESTART_TIMEOUT_S):
                await self.engine.restart_target(code)
                await ready.wait()
        except Exception as exc:
            why = str(exc) or f"not ready within {RESTART_TIMEOUT_S:.0f} s"
            log.error("%s could not be restarted after its stall: %s", code, why)
            language.stall = f"{language.stall}; the restart failed ({why})"
            return
        finally:
            language.repairing = False
            self._awaiting_ready.pop(code, None)
        language.repaired_at = time.monotonic()
        self.stalls.watch(code, language.repaired_at)
        if not again:
            language.stall = ""
        self._tell(code)

    def _check_fidelity(self, language: LanguageState, utterance: _Utterance) -> None:
        """Once the translation and its source are both final: did the numbers, the names kept and
        the glossary's terms come through? Counted for the language, shown under the caption."""
        if (
            utterance.misses is not None
            or not (utterance.final and utterance.source_final)
            or utterance.passthrough
            or utterance.id in self._tones
        ):
            return
        source_lang = utterance.source_lang or self.engine.source.code
        checked = fidelity.check(
            utterance.source_text, utterance.text, source_lang, language.language.code, self.engine.glossary
        )
        language.fidelity.add(checked)
        utterance.misses = [miss.words() for miss in checked.misses]

    def _publish_caption(self, lang: str, utterance: _Utterance) -> None:
        caption = self.caption(lang, utterance)
        if caption.final and lang != FLOOR:
            self._keep(caption)
        if lang == self._original:
            # The Original channel's interpretation of a question: kept under its language,
            # shown as the Original's.
            lang, caption = FLOOR, msgspec.structs.replace(caption, lang=FLOOR)
        self.hub.publish(lang, caption)

    def _pass_through(self, language: LanguageState, utterance: _Utterance) -> None:
        """The utterance was spoken in this channel's language: its listeners hear the floor's own
        audio of it (encoded already) and read what was said. No model call, no synthesis."""
        if utterance.passthrough:
            return
        utterance.passthrough = True
        utterance.text = utterance.source_text
        lang = language.language.code
        if utterance.start_ms is not None and utterance.end_ms is not None:
            if (lag := self._lag(utterance)) is not None:
                language.lags.audio.add(lag)
            self.floor.add(lang, utterance.id, utterance.start_ms, utterance.end_ms)
            # The speaker's own voice plays as it was: it counts for the listener, it is not sped up.
            language.catch_up.begin()
            language.catch_up.played((utterance.end_ms - utterance.start_ms) / 1000)
        if not utterance.final:
            self._measure_lag(language, utterance)
        utterance.final = True
        self._publish_caption(lang, utterance)

    def _keep(self, caption: Caption) -> None:
        if self.transcript is None or caption.id in self._tones:
            return
        record = CaptionRecord(
            caption.id,
            caption.lang,
            caption.source_text,
            caption.text,
            caption.start_ms,
            caption.end_ms,
            int(time.time() * 1000),
            caption.source_lang,
            caption.misses,
            caption.continues,
        )
        # A write that fails is retried by the writer: the captions go on meanwhile.
        self.transcript.append(record)

    def _lag(self, utterance: _Utterance) -> float | None:
        """Seconds from the end of the utterance's speech until now."""
        if utterance.end_ms is None or (seconds := self._since_sent(utterance.end_ms)) is None:
            return None
        return round(seconds, 2)

    def _measure_lag(self, language: LanguageState, utterance: _Utterance) -> None:
        """The final caption's lag behind the end of its speech."""
        if (lag := self._lag(utterance)) is None:
            return
        language.lag_s = lag
        language.lags.caption.add(lag)
        if self.on_lag is not None:
            self.on_lag(language.language.code, lag)

    def _publish_pcm(self, lang: str, utterance: _Utterance, pcm: bytes) -> None:
        self._audio_out(AudioChunk.pcm(lang, utterance.id, utterance.audio_samples, pcm))
        utterance.audio_samples += len(pcm) // 2

    def _publish_opus(self, lang: str, utterance: _Utterance, packets: list[bytes]) -> None:
        """The packets just encoded, in chunks of up to ``MAX_PACKETS`` (none held back to fill one)."""
        for start in range(0, len(packets), MAX_PACKETS):
            batch = packets[start : start + MAX_PACKETS]
            self._audio_out(AudioChunk.opus(lang, utterance.id, utterance.opus_samples, batch))
            utterance.opus_samples += len(batch) * PACKET_SAMPLES

    @staticmethod
    def caption(lang: str, u: _Utterance) -> Caption:
        """The utterance's caption on ``lang``'s channel (on the floor's: what was said)."""
        if lang == FLOOR:
            return Caption(
                u.id,
                lang,
                u.source_final,
                u.source_text,
                u.source_text,
                u.start_ms,
                u.end_ms,
                u.source_lang,
                True,
                u.continues,
            )
        return Caption(
            u.id,
            lang,
            u.final,
            u.text,
            u.source_text,
            u.start_ms,
            u.end_ms,
            u.source_lang,
            u.passthrough,
            u.continues,
            u.misses or [],
        )

    def _utterance(self, lang: str, engine_id: str) -> _Utterance:
        key = (lang, engine_id)
        utterance = self._ids.get(key)
        if utterance is None:
            # Engines that share one recognition across languages share its id: keep one number.
            number = self._numbers.get(engine_id)
            if number is None:
                number = self._numbers[engine_id] = self._counter = self._counter + 1
            utterance = self._ids[key] = _Utterance(number)
            for table in (self._ids, self._numbers):
                while len(table) > KEEP_UTTERANCES * len(self.languages):
                    table.popitem(last=False)
        return utterance
