"""The offline engine: each utterance is recognised once, then translated and spoken per language.

Audio path (all on this machine):
  24 kHz frames → 16 kHz → Silero VAD (32 ms steps, on the event loop: ~0.1 ms a step)
  → utterance → faster-whisper (one worker thread; the CPU-heavy step)
  → per target language, its own task: the translator (`translation.py`: Apertium's resident pipe, or a
  packaged neural model) → its voice (`voices.py`) → audio chunks.
Recognition starts speculatively once a pause begins, before the end-of-speech silence has fully
elapsed; if speech resumes first the result is discarded. After ``early_caption_ms`` of silence the
utterance is closed on that recognition, still in the pause: its caption and translation go out as
soon as it is done. If the speaker goes on within the silence, what follows is an utterance of its
own that continues the sentence (`SpeechStarted.continues`), recognised from where the first one
was cut. The cut is made on the input's clock, never on how fast recognition runs: the same input
is cut the same way on any machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from translator.audio import SAMPLE_RATE, Resampler
from translator.config import LocalConfig
from translator.cpu_use import Part, claim
from translator.engines.base import Engine
from translator.engines.events import (
    EngineFailure,
    Passthrough,
    SessionState,
    SourceText,
    SpeechStarted,
    SpeechStopped,
    TranslationAudio,
    TranslationText,
    TurnDone,
)
from translator.engines.local.asr import Heard, Recognizer, words_after
from translator.engines.local.mt import ApertiumPipe, ApertiumTranslator
from translator.engines.local.pool import ModelPool
from translator.engines.local.system import require_program
from translator.engines.local.translation import TextTranslator, targets_from, translator_for
from translator.engines.local.tts import Synthesizer, chunks, has_voice, synthesizer
from translator.engines.local.vad import (
    ASR_RATE,
    CHUNK,
    Ended,
    Paused,
    Resumed,
    Segmenter,
    SegmenterConfig,
    Settled,
    SileroVad,
    Started,
    ms,
)
from translator.engines.local.voices import ESPEAK_VOICES, voice_for
from translator.errors import PermanentEngineError, TransientEngineError, TranslatorError
from translator.glossary import Glossary
from translator.languages import LANGUAGES, Language
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# Seconds of 16 kHz audio kept for recognition: more than the longest utterance plus its pre-roll.
KEEP_S = 40
# Partial source captions only in long utterances: a partial still running when the speaker stops
# delays the final (measured: +90 ms mean with partials from 1.5 s on the benchmark talk).
PARTIAL_AFTER_S = 3.0
PARTIAL_EVERY_S = 2.0
# Whisper hears a word's last sound better with a little of the silence after it (sweeping it on
# espeak-ng speech: 32 ms tail 0/30 right, 100 ms 27/30, 128–320 ms 29–30/30).
TAIL_SAMPLES = ASR_RATE * 160 // 1000
# A sentence said in parts is heard whole for its later parts up to this long (whisper's window is 30 s).
SENTENCE_S = 25
STOP_TIMEOUT_S = 5.0
# Utterances a language may have waiting; translating one takes tens of ms, so more means it is stuck.
MAX_WAITING_UTTERANCES = 16
# Translating and speaking one utterance takes tens of ms: one this slow is hung.
UTTERANCE_TIMEOUT_S = 20.0
# One recognition takes 0.2–2 s, even on a busy machine: one running this long is stuck for good
# (shorter than a stall takes to be found, `talk.stalls.OWED_S`, so that the first restart cures it).
RECOGNITION_STUCK_S = 8.0


class AudioHistory:
    """The recent input at 16 kHz, addressed by absolute sample index, in one preallocated buffer.

    Appending copies only the new samples; the kept part moves to the front once the buffer is full.
    """

    def __init__(self, capacity: int) -> None:
        self._buffer = np.zeros(capacity, dtype=np.float32)
        self._length = 0
        self._first = 0  # absolute index of self._buffer[0]

    def append(self, samples: np.ndarray, keep_from: int) -> None:
        """Add ``samples``; everything before absolute index ``keep_from`` may be forgotten."""
        if self._length + len(samples) > len(self._buffer):
            drop = min(max(0, keep_from - self._first), self._length)
            if self._length - drop + len(samples) > len(self._buffer):
                drop = self._length + len(samples) - len(self._buffer)  # even an utterance's start
            self._buffer[: self._length - drop] = self._buffer[drop : self._length]
            self._length -= drop
            self._first += drop
        self._buffer[self._length : self._length + len(samples)] = samples
        self._length += len(samples)

    def slice(self, start: int, stop: int) -> np.ndarray:
        """A copy of samples [start, stop) (clipped to what is held)."""
        begin = max(0, start - self._first)
        return self._buffer[begin : max(begin, min(stop - self._first, self._length))].copy()


@dataclass
class _Recognition:
    """A recognition of an utterance whose speech ended at ``end``, running or done in the ASR thread."""

    end: int
    future: asyncio.Future[Heard]


@dataclass
class _Utterance:
    start: int
    id: str = ""
    """Given when it is reported (`SpeechStarted`)."""
    speculative: _Recognition | None = None
    partial_at: float = field(default_factory=lambda: time.monotonic() + PARTIAL_AFTER_S - PARTIAL_EVERY_S)
    partial_running: bool = False
    continues: str = ""
    """The utterance closed early in the pause before this one: it goes on from there."""
    context: asyncio.Future[Heard] | None = None
    """The recognition of the part it continues (its sentence so far)."""
    sentence_start: int = -1
    """Where its sentence began: the first part's start (itself, for a first part)."""

    def __post_init__(self) -> None:
        if self.sentence_start < 0:
            self.sentence_start = self.start

    opened: bool = False
    """Reported (`SpeechStarted`): at once, or a continuation only once speech resumes."""
    went_on: asyncio.Future[bool] | None = None
    """For a part closed early: whether the speaker went on (True) or paused for real (False)."""
    before: asyncio.Future[bool] | None = None
    """For a continuation: the part before's `went_on`, which it settles."""
    carries: bool = False
    """It translates its sentence whole: the part before was too short to translate alone."""
    translated: str = ""
    """Of its sentence, what the parts before have translated already (a carrying part translates
    the rest)."""
    next: _Utterance | None = None
    """For a part closed early: the continuation that may carry its translation."""


SENTENCE_END = re.compile(r"[.!?…。？！]\W*$")
SENTENCE_WORDS = 4
"""A part this short is a fragment, whatever whisper's punctuation says ("Grab." "Some." "Pizza.")."""


def is_sentence(text: str) -> bool:
    """Whether ``text`` reads as a whole sentence: ends as one, and has `SENTENCE_WORDS` words or more."""
    return bool(SENTENCE_END.search(text)) and len(text.split()) >= SENTENCE_WORDS


def _settle(future: asyncio.Future[bool] | None, went_on: bool) -> None:
    if future is not None and not future.done():
        future.set_result(went_on)


class RecognizerKey(NamedTuple):
    """What makes two recognizers the same: the model, how it runs, and the kind of recognizer."""

    model: str | None
    language: str
    threads: int
    beam_size: int
    kind: type[Recognizer] = Recognizer


def load_recognizer(key: RecognizerKey) -> Recognizer:
    return key.kind(key.model, language=key.language, threads=key.threads, beam_size=key.beam_size)


RECOGNIZERS: ModelPool[RecognizerKey, Recognizer] = ModelPool(load_recognizer)
VADS: ModelPool[tuple[()], SileroVad] = ModelPool(lambda _: SileroVad())


def _recognition_thread() -> ThreadPoolExecutor:
    """Speech recognition's one thread (its CPU counted as the engine's)."""
    return ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="asr", initializer=claim, initargs=(Part.ENGINE,)
    )


class LocalEngine(Engine):
    """VAD → ASR → MT → TTS on this machine; English source (bundled tiny.en) unless a model is given.

    On a floor of several languages a multilingual whisper model (``local.asr_model``) says which of
    them each utterance was in; the bundled English-only model hears English only (the languages
    say so while they run). An utterance in a target's own language is passed through to it.
    """

    name = "local"

    def __init__(
        self,
        source: Language,
        targets: list[Language],
        config: LocalConfig,
        glossary: Glossary | None = None,
        spoken: list[Language] | None = None,
    ) -> None:
        super().__init__(source, targets, glossary, spoken)
        self.config = config
        self._executor = _recognition_thread()
        self._pipes: dict[str, ApertiumPipe] = {}
        self._translators: dict[tuple[str, str], TextTranslator] = {}
        """By (spoken language, target): the pairs the offline engine has."""
        self._voices: dict[str, Synthesizer] = {}
        self._queues: dict[str, asyncio.Queue[tuple[str, Heard]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._recognizer: Recognizer | None = None
        self._vad: SileroVad | None = None
        self._resampler = Resampler(SAMPLE_RATE, ASR_RATE)
        self._history = AudioHistory(KEEP_S * ASR_RATE)
        self._pending = np.zeros(0, dtype=np.float32)
        self._segmenter = Segmenter(
            SegmenterConfig(
                silence_ms=config.silence_ms,
                min_speech_ms=config.min_speech_ms,
                max_utterance_ms=int(config.max_utterance_s * 1000),
                # A pause as long as the end-of-speech silence never comes first: no early recognition.
                pause_ms=config.early_recognition_ms or config.silence_ms,
                close_ms=config.early_caption_ms,
            )
        )
        self._utterance: _Utterance | None = None
        self._count = 0
        self._hearing_since: float | None = None
        """When the recognition now running in the thread began (None: none runs)."""
        self._waiting: set[asyncio.Future[Heard]] = set()
        """Recognitions handed to the thread and not done."""
        self._replacing = asyncio.Lock()
        self.recognitions = 0
        """Whisper runs, finals and partials (benchmarks read it)."""

    async def start(self) -> None:
        """Check every program and pair, then load the models (a few seconds)."""
        for target in self.targets:
            self.emit(SessionState(target.code, "connecting", "loading models"))
        for target in self.targets:
            self._prepare(target)
        recognizer, self._vad = await asyncio.gather(
            asyncio.to_thread(RECOGNIZERS.take, self._recognizer_key), asyncio.to_thread(VADS.take, ())
        )
        self._recognizer = recognizer
        if self.source.code != "en" and not recognizer.multilingual:
            self._give_back_models()
            raise PermanentEngineError(
                f"the speech model {recognizer.path} is English-only; "
                f"set local.asr_model to a multilingual whisper model for {self.source.name}"
            )
        await asyncio.gather(*(self._launch(target) for target in self.targets))

    @property
    def _notice(self) -> str:
        """What the operator is told while a language runs: that some spoken language is not heard."""
        if len(self.spoken) > 1 and self._recognizer is not None and not self._recognizer.multilingual:
            return (
                "only English is detected: the bundled speech model is English-only "
                "(set local.asr_model to a multilingual whisper model)"
            )
        return ""

    @property
    def _recognizer_key(self) -> RecognizerKey:
        return RecognizerKey(
            self.config.asr_model, self.source.code, self.config.threads, self.config.beam_size
        )

    def _give_back_models(self) -> None:
        """The models go back to their pools for the next engine, unless a recognition still runs
        on the recognizer (a stuck one must not pass on)."""
        if self._vad is not None:
            self._vad.reset()
            VADS.give((), self._vad)
            self._vad = None
        if self._recognizer is not None and self._hearing_since is None:
            RECOGNIZERS.give(self._recognizer_key, self._recognizer)
        self._recognizer = None

    def check_target(self, target: Language) -> None:
        # From the floor's default language; into the default itself, from the next one spoken
        # (none on a floor of one: a question's language is checked as it is heard, `check_spoken`).
        if (source := next((s for s in self.spoken if s != target), None)) is not None:
            translator_for(source.code, target.code, {})
        espeak = require_program("espeak-ng", "espeak-ng")
        voice = voice_for(target.code)
        if voice is None or (voice.kind == "espeak-ng" and not has_voice(espeak, voice.name)):
            raise PermanentEngineError(f"espeak-ng has no voice for {target.name}")

    def check_spoken(self, language: Language) -> None:
        """PermanentEngineError unless the speech model hears ``language`` and a pair takes it into
        every target (and, on a floor of one language, into that one: its Original channel hears a
        question in another interpreted)."""
        recognizer = self._recognizer
        if language.code != "en" and recognizer is not None and not recognizer.multilingual:
            raise PermanentEngineError(
                f"the speech model {recognizer.path} is English-only: {language.name} is not heard "
                "(set local.asr_model to a multilingual whisper model)"
            )
        for target in self.targets if len(self.spoken) > 1 else [*self.targets, self.source]:
            if target != language:
                translator_for(language.code, target.code, {})

    async def _spoken_changed(self) -> None:
        # Pairs from a language no longer spoken are kept until their target goes: an utterance
        # heard in it may still be on its way through them.
        added = [translator for target in self.targets for translator in self._add_translators(target)]
        await asyncio.gather(*(translator.warm() for translator in added))

    def _add_translators(self, target: Language) -> list[TextTranslator]:
        """The pairs from every spoken language into ``target`` that were missing, made now."""
        added = []
        for source in self.spoken:
            pair = source.code, target.code
            if (
                source != target
                and pair not in self._translators
                and target.code in targets_from(source.code)
            ):
                self._translators[pair] = translator_for(source.code, target.code, self._pipes)
                added.append(self._translators[pair])
        return added

    def _prepare(self, target: Language) -> None:
        """Check that ``target`` can be translated and spoken here (PermanentEngineError if not)."""
        self.check_target(target)
        self._add_translators(target)
        voice = voice_for(target.code)
        assert voice is not None, "checked above"
        self._voices[target.code] = synthesizer(voice)

    def _translators_into(self, code: str) -> list[TextTranslator]:
        return [translator for (_, target), translator in self._translators.items() if target == code]

    async def _launch(self, target: Language) -> None:
        """Warm the language's translators and voice (no utterance pays for loading) and start its
        worker."""
        await asyncio.gather(
            *(translator.warm() for translator in self._translators_into(target.code)),
            self._voices[target.code].start(),
        )
        queue: asyncio.Queue[tuple[str, Heard]] = asyncio.Queue(MAX_WAITING_UTTERANCES)
        self._queues[target.code] = queue
        self._workers[target.code] = self._spawn(self._language_worker(target, queue), f"local-{target.code}")
        self.emit(SessionState(target.code, "ready", self._notice))

    def servable(self) -> list[Language]:
        reachable = {code for source in self.spoken for code in targets_from(source.code)}
        return [LANGUAGES[code] for code in sorted(reachable) if code in ESPEAK_VOICES]

    async def _start_target(self, target: Language) -> None:
        self._prepare(target)
        self.emit(SessionState(target.code, "connecting", "loading the translation"))
        try:
            await self._launch(target)
        except TranslatorError:
            await self._stop_target(target.code)
            raise

    async def _stop_target(self, code: str) -> None:
        worker = self._workers.pop(code, None)
        if worker is not None:
            await cancel_and_wait(worker, STOP_TIMEOUT_S)
        self._queues.pop(code, None)
        if (voice := self._voices.pop(code, None)) is not None:
            await voice.stop()
        for pair in [pair for pair in self._translators if pair[1] == code]:
            await self._translators.pop(pair).close()
        in_use = {
            stage.mode
            for translator in self._translators.values()
            if isinstance(translator, ApertiumTranslator)
            for stage in translator.stages
        }
        for mode in [mode for mode in self._pipes if mode not in in_use]:
            await self._pipes.pop(mode).stop()
        self.emit(SessionState(code, "closed"))

    async def _glossary_changed(self) -> None:
        """Nothing to hand over: each utterance's translation reads ``self.glossary`` when it starts."""

    async def stop(self) -> None:
        """Stop the language workers, the translators, the Apertium pipes and the voices; the ASR
        thread finishes its utterance."""
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), STOP_TIMEOUT_S)
        await asyncio.gather(
            *(translator.close() for translator in self._translators.values()),
            *(pipe.stop() for pipe in self._pipes.values()),
            *(voice.stop() for voice in self._voices.values()),
        )
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._give_back_models()
        for target in self.targets:
            self.emit(SessionState(target.code, "closed"))

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _send(self, frame: bytes) -> None:
        assert self._vad is not None, "start() first"
        samples = self._resampler.feed_float(frame)
        keep_from = (
            self._utterance.sentence_start if self._utterance is not None else self._segmenter.position
        )
        self._history.append(samples, keep_from)
        self._pending = np.concatenate([self._pending, samples])
        while len(self._pending) >= CHUNK:
            chunk, self._pending = self._pending[:CHUNK], self._pending[CHUNK:]
            for event in self._segmenter.feed(self._vad(chunk)):
                self._on_segment(event)
        self._maybe_partial()

    def _on_segment(self, event: object) -> None:
        if isinstance(event, Started):
            if self._utterance is not None:
                _settle(self._utterance.before, False)  # never left waiting on a sentence that is gone
            self._utterance = _Utterance(event.start)
            self._open(self._utterance)
        elif isinstance(event, Paused) and self._utterance is not None:
            utterance = self._utterance
            utterance.speculative = self._recognize(utterance, event.end, self._heard_tail)
        elif isinstance(event, Settled) and self._utterance is not None:
            self._close_early(self._utterance, event)
        elif isinstance(event, Resumed) and self._utterance is not None:
            self._utterance.speculative = None
            if not self._utterance.opened:
                self._open(self._utterance)
                _settle(self._utterance.before, True)
        elif isinstance(event, Ended) and self._utterance is not None:
            utterance, self._utterance = self._utterance, None
            if not utterance.opened:
                _settle(utterance.before, False)
                return  # closed early, and the speaker did not go on
            speculative = utterance.speculative
            recognition = (
                speculative
                if speculative and speculative.end == event.end and not event.forced
                else self._recognize(utterance, event.end, 0 if event.forced else self._heard_tail)
            )
            for target in self.targets:
                self.emit(SpeechStopped(target.code, utterance.id, ms(event.end)))
            self._spawn(self._finish(utterance, recognition), f"local-final-{utterance.id}")

    def _open(self, utterance: _Utterance) -> None:
        self._count += 1
        utterance.id, utterance.opened = f"u{self._count}", True
        for target in self.targets:
            self.emit(SpeechStarted(target.code, utterance.id, ms(utterance.start), utterance.continues))

    def _close_early(self, utterance: _Utterance, event: Settled) -> None:
        """The pause has lasted ``early_caption_ms``: close the utterance there, on the recognition
        started in it, without waiting out the end-of-speech silence. Should the speaker go on, what
        follows continues it."""
        recognition = utterance.speculative
        if recognition is None or recognition.end != event.end:
            recognition = self._recognize(utterance, event.end, self._heard_tail)
        for target in self.targets:
            self.emit(SpeechStopped(target.code, utterance.id, ms(event.end)))
        utterance.went_on = asyncio.get_running_loop().create_future()
        self._segmenter.split(event.end)
        self._utterance = utterance.next = _Utterance(
            event.end,
            continues=utterance.id,
            context=recognition.future,
            sentence_start=utterance.sentence_start,
            before=utterance.went_on,
        )
        self._spawn(self._finish(utterance, recognition), f"local-final-{utterance.id}")

    @property
    def _heard_tail(self) -> int:
        """Samples of real audio after the speech's end that exist by the time a pause is reported."""
        return min(TAIL_SAMPLES, self._segmenter.config.pause_ms * ASR_RATE // 1000)

    def _recognize(
        self, utterance: _Utterance, end: int, heard_tail: int, beam_size: int | None = None
    ) -> _Recognition:
        """Recognise the utterance's speech up to ``end`` plus a tail of ``TAIL_SAMPLES``:
        ``heard_tail`` of them heard, the rest digital silence.

        The window depends only on the utterance, never on when recognition starts, so that an early
        recognition and a final one hear exactly the same audio. A part that goes on with a sentence
        is heard with the whole sentence (whisper hears a fragment worse than the sentence it is in)
        and told from the words already captioned; past `SENTENCE_S`, on its own, after them.
        """
        start = utterance.start
        whole = utterance.context is not None and end - utterance.sentence_start <= SENTENCE_S * ASR_RATE
        if whole:
            start = utterance.sentence_start
        heard = self._history.slice(start, end + heard_tail)
        audio = np.concatenate([heard, np.zeros(end + TAIL_SAMPLES - start - len(heard), np.float32)])
        self.recognitions += 1
        languages = tuple(language.code for language in self.spoken)
        context = utterance.context
        if context is None:
            return _Recognition(end, self._hear(audio, beam_size, languages))

        async def after_the_part_before() -> Heard:
            before = (await asyncio.gather(context, return_exceptions=True))[0]
            said = (before.sentence or before.text) if isinstance(before, Heard) else ""
            if whole:
                heard = await self._hear(audio, beam_size, languages)
                return Heard(words_after(heard.text, said), heard.language, heard.text)
            heard = await self._hear(audio, beam_size, languages, said)
            return Heard(heard.text, heard.language, f"{said} {heard.text}".strip())

        return _Recognition(end, asyncio.create_task(after_the_part_before(), name="local-recognition"))

    def _hear(
        self, audio: np.ndarray, beam_size: int | None, languages: tuple[str, ...], context: str = ""
    ) -> asyncio.Future[Heard]:
        """Recognise ``audio`` in the recognition thread, after what is queued there."""
        recognizer = self._recognizer
        assert recognizer is not None, "start() first"
        # The glossary's priority terms, as words to expect (whisper's "hotwords" prompt).
        expected = ", ".join(self.glossary.priority)

        def hear() -> Heard:
            self._hearing_since = began = time.monotonic()
            try:
                return recognizer.hear(audio, beam_size, languages, context, expected)
            finally:
                # A stuck thread that comes back after its replacement must not clear the new one's.
                if self._hearing_since == began:
                    self._hearing_since = None

        future = asyncio.get_running_loop().run_in_executor(self._executor, hear)
        self._waiting.add(future)
        future.add_done_callback(self._waiting.discard)
        return future

    @property
    def _recognition_stuck(self) -> bool:
        since = self._hearing_since
        return since is not None and time.monotonic() - since >= RECOGNITION_STUCK_S

    async def restart_target(self, code: str) -> None:
        """After a stall: the shared recognition, if it is stuck, is replaced (for every language);
        then ``code``'s own stages restart and its worker goes on with the utterances waiting."""
        target = next(t for t in self.targets if t.code == code)
        self.emit(SessionState(code, "reconnecting", "restarting after a stall"))
        async with self._replacing:
            if self._recognition_stuck:
                await self._replace_recognition()
        if (worker := self._workers.get(code)) is not None:
            await cancel_and_wait(worker, STOP_TIMEOUT_S)
        await asyncio.gather(*(translator.restart() for translator in self._translators_into(code)))
        self._workers[code] = self._spawn(self._language_worker(target, self._queues[code]), f"local-{code}")
        self.emit(SessionState(code, "ready", self._notice))

    async def _replace_recognition(self) -> None:
        """A fresh model in a fresh thread; the stuck thread is left behind (nothing can stop a
        thread inside native code), and the recognitions waiting on it fail."""
        log.error(
            "offline speech recognition stuck for over %.0f s: replacing it (its thread is left behind)",
            RECOGNITION_STUCK_S,
        )
        stuck, self._executor = self._executor, _recognition_thread()
        stuck.shutdown(wait=False, cancel_futures=True)
        self._hearing_since = None
        for future in list(self._waiting):
            future.cancel()
        self._recognizer = await asyncio.to_thread(load_recognizer, self._recognizer_key)

    def _maybe_partial(self) -> None:
        """A partial source caption during long speech, only while the speaker is mid-word.

        A partial started in a pause could delay the final recognition behind it; one started
        while speech goes on finishes (~0.1 s) long before the end-of-speech silence has elapsed.
        """
        utterance = self._utterance
        if utterance is None or utterance.partial_running or self._segmenter.in_silence:
            return
        now = time.monotonic()
        if now - utterance.partial_at < PARTIAL_EVERY_S:
            return
        utterance.partial_at, utterance.partial_running = now, True
        recognition = self._recognize(utterance, self._segmenter.position, 0, beam_size=1)

        def done(future: asyncio.Future[Heard]) -> None:
            utterance.partial_running = False
            if self._utterance is utterance and not future.cancelled() and future.exception() is None:
                heard = future.result()
                for target in self.targets:
                    self.emit(SourceText(target.code, utterance.id, heard.text, False, heard.language))

        recognition.future.add_done_callback(done)

    async def _finish(self, part: _Utterance, recognition: _Recognition) -> None:
        utterance = part.id
        try:
            heard = await recognition.future
        except Exception as exc:
            log.exception("recognition failed")
            for target in self.targets:
                self.emit(EngineFailure(target.code, f"speech recognition failed: {exc}", recoverable=True))
            return
        for target in self.targets:
            self.emit(SourceText(target.code, utterance, heard.text, True, heard.language))
        if part.went_on is not None and heard.text and not is_sentence(heard.text) and await part.went_on:
            # A fragment cut at a short pause, and the speaker went on: its caption showed what was
            # said, and the next part translates the sentence whole (the translator and the voice take
            # sentences, not fragments). Closed now: its listeners are owed nothing more.
            assert part.next is not None
            part.next.carries, part.next.translated = True, part.translated
            for target in self.targets:
                self.emit(TranslationText(target.code, utterance, "", final=True))
                self.emit(TurnDone(target.code, utterance, "completed"))
            return
        sentence = heard.sentence or heard.text
        if part.next is not None:
            part.next.translated = sentence
        if part.carries:
            rest = words_after(sentence, part.translated) if part.translated else sentence
            heard = Heard(rest, heard.language, heard.sentence)
        for target in self.targets:
            code = target.code
            if not heard.text:
                self.emit(TurnDone(code, utterance, "cancelled"))
            elif heard.language == code:
                self.emit(Passthrough(code, utterance))
            elif (heard.language, code) not in self._translators:
                self._untranslatable(code, utterance, heard.language)
            else:
                self._queue(code, utterance, heard)

    def _untranslatable(self, code: str, utterance: str, language: str) -> None:
        """An utterance in a spoken language the offline engine cannot take into ``code``: its caption shows
        what was said, without a translation."""
        problem = f"no offline translation from {LANGUAGES[language].name} into {LANGUAGES[code].name}"
        self.emit(EngineFailure(code, problem, recoverable=True))
        self.emit(TranslationText(code, utterance, "", final=True))
        self.emit(TurnDone(code, utterance, "failed"))

    def _queue(self, code: str, utterance: str, heard: Heard) -> None:
        """Queue an utterance for its language; one that has fallen this far behind drops its oldest."""
        queue = self._queues[code]
        if queue.full():
            dropped, _ = queue.get_nowait()
            log.warning(
                "offline %s is %d utterances behind: utterance %s not translated",
                code,
                queue.maxsize,
                dropped,
            )
            self.emit(
                EngineFailure(code, "falling behind: an utterance was not translated", recoverable=True)
            )
            self.emit(TranslationText(code, dropped, "", final=True))
            self.emit(TurnDone(code, dropped, "failed"))
        queue.put_nowait((utterance, heard))

    async def _language_worker(self, target: Language, queue: asyncio.Queue[tuple[str, Heard]]) -> None:
        """Translate and speak this language's utterances in order, independent of other languages.

        An utterance that fails, hangs or comes back empty fails alone: this language's stages are
        restarted for the next one, and the other languages never notice.
        """
        code = target.code
        while True:
            utterance, heard = await queue.get()
            try:
                async with asyncio.timeout(UTTERANCE_TIMEOUT_S):
                    await self._interpret(code, utterance, heard)
                continue
            except TranslatorError as exc:
                log.warning("offline %s failed on utterance %s: %s", code, utterance, exc)
                problem = str(exc)
            except TimeoutError:
                log.warning("offline %s: utterance %s took over %.0f s", code, utterance, UTTERANCE_TIMEOUT_S)
                problem = f"no translation within {UTTERANCE_TIMEOUT_S:.0f} s"
            except Exception as exc:
                log.exception("offline %s: unexpected error on utterance %s", code, utterance)
                problem = f"unexpected error ({exc.__class__.__name__})"
            self.emit(EngineFailure(code, f"translation failed: {problem}", recoverable=True))
            # The caption is closed without a translation: listeners still see what was said.
            self.emit(TranslationText(code, utterance, "", final=True))
            self.emit(TurnDone(code, utterance, "failed"))
            self.emit(SessionState(code, "reconnecting", f"restarting after: {problem}"))
            await asyncio.gather(
                *(translator.restart() for translator in self._translators_into(code)),
                self._voices[code].restart(),
            )
            self.emit(SessionState(code, "ready", self._notice))

    async def _interpret(self, code: str, utterance: str, heard: Heard) -> None:
        # The glossary's terms are the default language's words.
        terms = self.glossary.for_language(code) if heard.language == self.source.code else None
        translation = await self._translators[heard.language, code].translate(
            heard.text, terms, self.glossary.exact_case
        )
        if not translation:
            raise TransientEngineError("the translation came back empty")
        self.emit(TranslationText(code, utterance, translation, final=True))
        pcm = await self._voices[code].synthesize(translation)
        for chunk in chunks(pcm):
            self.emit(TranslationAudio(code, utterance, chunk))
        self.emit(TurnDone(code, utterance, "completed"))
