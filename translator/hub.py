"""Per-language fan-out to listeners: each message encoded once, the same object sent to all.

Translated audio arrives in bursts (speech synthesis is much faster than real time), so whether a
listener is behind is decided on the audio timeline, not by counting frames: each queued frame has
a deadline, the time playback would need it (the audio queued ahead of it when it arrived) plus a
margin. A listener whose oldest frame is past its deadline drains slower than it plays: whole
utterances that it has not started are dropped, oldest first, and it is told with a `Skipped`
notice. The utterance being sent always finishes, so nobody hears half a sentence. Captions are
never dropped; a listener that takes nothing for a while, or falls behind on captions, is stalled
and is evicted from the publisher's side (a stalled listener sits inside ``send()`` and can never
notice).

Each message's WebSocket frame is built once. A listener whose connection can take a prebuilt frame
(`Listener.writer`) and that has nothing queued gets it written at publish time, with no task
switch: the common case costs one ``transport.write`` per listener. Only a listener whose socket is
full, or that has a backlog, goes through its queue and its sending task.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Final, NamedTuple, Protocol

from translator.languages import get_language
from translator.messages import Caption, Codec, ListenerMessage, Skipped, encode_text, websocket_frame

LATE_MARGIN_S: Final = 2.0
"""How much later than playback needs it a frame may still be queued before the listener is behind."""
STALL_S: Final = 15.0
"""A listener with frames queued that takes none for this long has a stalled socket: it is closed."""
MAX_AUDIO_BYTES: Final = 4 * 1024 * 1024
"""Queued audio bytes per listener (~85 s of PCM): past it, a listener that cannot shed whole
utterances is closed."""
TEXT_BACKLOG: Final = 200
"""Text frames a listener may fall behind before it is closed as stalled."""
HISTORY: Final = 10
"""Final captions kept per language for late joiners."""
CLOSE_TOO_SLOW: Final = 4008
CLOSE_LANGUAGE_REMOVED: Final = 4404
"""Like an unknown language, so that pages stop retrying."""


class Broker(Protocol):
    """Carries what a hub publishes to every process's hub (see ``broker.py``)."""

    def send_text(self, lang: str, text: str, keep: bool) -> None: ...

    def send_audio(self, lang: str, frame: AudioFrame, codec: Codec) -> None: ...


class AudioFrame(NamedTuple):
    """One binary frame as published: the same bytes object for every listener."""

    data: bytes
    utterance: int
    seconds: float


class _Queued(NamedTuple):
    frame: AudioFrame
    wire: bytes
    deadline: float


Outgoing = tuple[str | bytes, bytes]
"""A message to send: its payload (for an ASGI send) and its prebuilt WebSocket frame."""
Writer = Callable[[bytes], bool]
"""Writes a prebuilt frame to the connection now; False when it must wait (its buffer is full)."""


class Listener:
    """One connection's queue. The connection's handler drains it with `next()`."""

    def __init__(self, lang: str, codec: Codec = "pcm", audience: bool = True) -> None:
        self.lang = lang
        self.codec = codec
        self.audience = audience
        """A member of the audience (not the operator's console or a caption overlay): counted."""
        self.writer: Writer | None = None
        """Set by a connection that takes prebuilt frames: messages then skip the queue when it is empty."""
        self._idle = False
        """The sending task waits for a message: nothing of this listener's is in flight."""
        self._text: deque[Outgoing] = deque()
        self._audio: deque[_Queued] = deque()
        self._queued_s = 0.0
        self._queued_bytes = 0
        self._sending: int | None = None
        """The utterance whose audio has started to go out: it is never cut."""
        self._progress = time.monotonic()
        """When the sender last took a frame, or the queue was last empty."""
        self._skipping: deque[int] = deque(maxlen=8)
        self._wake = asyncio.Event()
        self.skipped_utterances = 0
        self.written_at_once = 0
        """Messages written at publish time, with no queue and no task switch."""
        self.closed: tuple[int, str] | None = None
        self._on_evict: Callable[[], None] | None = None

    def _write_now(self, wire: bytes, now: float) -> bool:
        """Write at once when nothing is queued or in flight and the connection takes it."""
        if (
            self._idle
            and not self._text
            and not self._audio
            and self.writer is not None
            and self.writer(wire)
        ):
            self._progress = now
            self.written_at_once += 1
            return True
        return False

    def push_text(self, text: str, wire: bytes | None = None) -> None:
        """Send a text message (``wire``: its prebuilt frame, when already built for many)."""
        wire = wire or websocket_frame(text)
        if self._write_now(wire, time.monotonic()):
            return
        if len(self._text) >= TEXT_BACKLOG:
            self.evict(CLOSE_TOO_SLOW, "listener too slow: fell behind on captions")
            return
        self._text.append((text, wire))
        self._wake.set()

    def push_audio(self, frame: AudioFrame, wire: bytes, now: float) -> None:
        """Send ``frame`` (published at monotonic time ``now``), shedding whole utterances if behind."""
        if frame.utterance in self._skipping:
            return
        if self._write_now(wire, now):
            self._sending = frame.utterance
            return
        if not self._audio and not self._text:
            self._progress = now
        elif now - self._progress > STALL_S:
            self.evict(CLOSE_TOO_SLOW, "listener too slow: stopped reading")
            return
        self._audio.append(_Queued(frame, wire, now + self._queued_s + LATE_MARGIN_S))
        self._queued_s += frame.seconds
        self._queued_bytes += len(frame.data)
        self._wake.set()
        self._shed(now)

    def _shed(self, now: float) -> None:
        """Drop whole utterances, oldest first, while the queue is late or too large."""
        while self._audio and (self._audio[0].deadline < now or self._queued_bytes > MAX_AUDIO_BYTES):
            victim = next(
                (q.frame.utterance for q in self._audio if q.frame.utterance != self._sending), None
            )
            if victim is None:
                if self._queued_bytes > MAX_AUDIO_BYTES:
                    self.evict(CLOSE_TOO_SLOW, "listener too slow: fell behind on audio")
                return
            kept = deque(q for q in self._audio if q.frame.utterance != victim)
            for gone in self._audio:
                if gone.frame.utterance == victim:
                    self._queued_s -= gone.frame.seconds
                    self._queued_bytes -= len(gone.frame.data)
            self._audio = kept
            self._skipping.append(victim)
            self.skipped_utterances += 1
            self.push_text(encode_text(Skipped(victim)))

    def on_evict(self, callback: Callable[[], None]) -> None:
        """Called when the hub evicts this listener (the handler cancels its stuck send)."""
        self._on_evict = callback

    def evict(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = (code, reason)
            self._wake.set()
            if self._on_evict is not None:
                self._on_evict()

    async def next(self) -> Outgoing | None:
        """The next message to send (captions first); None once the listener has been evicted."""
        while True:
            if self.closed is not None:
                return None
            if self._text:
                self._progress = time.monotonic()
                return self._text.popleft()
            if self._audio:
                self._progress = time.monotonic()
                queued = self._audio.popleft()
                self._queued_s -= queued.frame.seconds
                self._queued_bytes -= len(queued.frame.data)
                self._sending = queued.frame.utterance
                return queued.frame.data, queued.wire
            self._wake.clear()
            self._idle = True
            try:
                await self._wake.wait()
            finally:
                self._idle = False


class Channel:
    """One language: its listeners and its recent final captions."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.listeners: set[Listener] = set()
        self.audience = 0
        """Listeners that are the audience: what listener counts report."""
        self.audio: dict[Codec, set[Listener]] = {"pcm": set(), "opus": set()}
        """The listeners that want audio, by codec: each audio frame goes to one of these sets."""
        self.history: deque[Caption] = deque(maxlen=HISTORY)
        self.queued = 0
        """Messages queued to listeners so far (one per listener per message)."""
        self.gone_skipped = 0
        """Utterances skipped by listeners that have left (those still here count their own)."""
        self.gone_written_at_once = 0
        self.evictions = 0
        """Listeners closed for not keeping up."""

    @property
    def skipped(self) -> int:
        """Utterances whose audio a listener missed for falling behind."""
        return self.gone_skipped + sum(listener.skipped_utterances for listener in self.listeners)

    @property
    def written_at_once(self) -> int:
        """Messages written to a listener at publish time (the rest went through its queue)."""
        return self.gone_written_at_once + sum(listener.written_at_once for listener in self.listeners)

    def remember(self, caption: Caption) -> None:
        """Keep the caption for late joiners; a newer version of the same utterance replaces the old."""
        for index, old in enumerate(self.history):
            if old.id == caption.id:
                self.history[index] = caption
                return
        self.history.append(caption)


class Hub:
    """The in-process hub: one channel per target language."""

    def __init__(self, languages: list[str]) -> None:
        self.channels = {lang: Channel(lang) for lang in languages}
        self._emptied = asyncio.Event()
        self.broker: Broker | None = None
        """Set when several processes share the talk: what is published goes through it, and comes
        back to every process's `deliver_text` / `deliver_audio`."""

    def subscribe(
        self,
        lang: str,
        *,
        audio: bool = True,
        codec: Codec = "pcm",
        first: str | None = None,
        audience: bool = True,
    ) -> Listener:
        """Register a listener, ``first`` queued ahead of everything published from now on;
        ``audience`` false for the operator's console and caption overlays (not counted).

        The caller must `unsubscribe` it in a ``finally``.
        """
        listener = Listener(lang, codec, audience)
        if first is not None:
            listener.push_text(first)
        channel = self.channels[lang]
        channel.listeners.add(listener)
        channel.audience += audience
        if audio:
            channel.audio[codec].add(listener)
        return listener

    def add_channel(self, lang: str) -> None:
        """Start serving ``lang`` (a language added during the talk)."""
        self.channels.setdefault(lang, Channel(lang))

    def remove_channel(self, lang: str) -> None:
        """Stop serving ``lang``: its listeners are told it is no longer offered, and closed."""
        channel = self.channels.pop(lang, None)
        reason = f"{get_language(lang).native} is no longer offered"
        for listener in tuple(channel.listeners if channel else ()):
            listener.evict(CLOSE_LANGUAGE_REMOVED, reason)

    def unsubscribe(self, listener: Listener) -> None:
        channel = self.channels.get(listener.lang)
        if channel is not None and listener in channel.listeners:
            channel.listeners.discard(listener)
            channel.audience -= listener.audience
            channel.audio[listener.codec].discard(listener)
            channel.gone_skipped += listener.skipped_utterances
            channel.gone_written_at_once += listener.written_at_once
            channel.evictions += listener.closed is not None and listener.closed[0] == CLOSE_TOO_SLOW
        if not any(c.listeners for c in self.channels.values()):
            self._emptied.set()

    def publish(self, lang: str, message: ListenerMessage) -> None:
        """Send a JSON message to every listener of ``lang`` (encoded once), through the broker when
        processes share the talk."""
        text = encode_text(message)
        if self.broker is not None:
            self.broker.send_text(lang, text, keep=isinstance(message, Caption) and message.final)
        else:
            self.deliver_text(lang, text, message)

    def publish_audio(self, lang: str, frame: AudioFrame, codec: Codec = "pcm") -> None:
        """Send a binary audio frame to every listener of ``lang`` that wants audio in ``codec``."""
        if self.broker is not None:
            self.broker.send_audio(lang, frame, codec)
        else:
            self.deliver_audio(lang, frame, codec)

    def deliver_text(self, lang: str, text: str, message: ListenerMessage) -> None:
        """Hand a published JSON message to this process's listeners of ``lang``."""
        channel = self.channels[lang]
        if isinstance(message, Caption) and message.final:
            channel.remember(message)
        wire = websocket_frame(text)
        channel.queued += len(channel.listeners)
        for listener in tuple(channel.listeners):
            listener.push_text(text, wire)

    def deliver_audio(self, lang: str, frame: AudioFrame, codec: Codec) -> None:
        """Hand a published audio frame to this process's listeners of ``lang``."""
        now = time.monotonic()
        channel = self.channels[lang]
        wire = websocket_frame(frame.data)
        listeners = tuple(channel.audio[codec])
        channel.queued += len(listeners)
        for listener in listeners:
            listener.push_audio(frame, wire, now)

    async def close_all(self, code: int, reason: str, within_s: float) -> None:
        """Close every listener with ``code``; return once they are gone, or after ``within_s``."""
        for channel in self.channels.values():
            for listener in tuple(channel.listeners):
                listener.evict(code, reason)
        self._emptied.clear()
        if any(c.listeners for c in self.channels.values()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), within_s)

    def listener_count(self, lang: str) -> int:
        """The audience of ``lang`` in this process (consoles and overlays are not counted)."""
        channel = self.channels.get(lang)
        return channel.audience if channel else 0
