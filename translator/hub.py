"""Per-language fan-out to listeners: each message encoded once, the same object sent to all.

A listener's audio waits in a bounded drop-oldest buffer; captions are never dropped, but a listener
whose caption backlog passes a bound is stalled and is evicted from the publisher's side (a stalled
listener sits inside ``send()`` and can never notice by itself).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Final

from translator.messages import Caption, Codec, ListenerMessage, encode_text

AUDIO_BACKLOG: Final = 25
"""Audio frames a listener may fall behind (~0.5 s to 1 s) before its oldest are dropped."""
TEXT_BACKLOG: Final = 200
"""Text frames a listener may fall behind before it is closed as stalled."""
HISTORY: Final = 10
"""Final captions kept per language for late joiners."""
CLOSE_TOO_SLOW: Final = 4008


class Listener:
    """One connection's queue. The connection's handler drains it with `next()`."""

    def __init__(self, lang: str, audio: bool, codec: Codec = "pcm") -> None:
        self.lang = lang
        self.wants_audio = audio
        self.codec = codec
        self._text: deque[str] = deque()
        self._audio: deque[bytes] = deque(maxlen=AUDIO_BACKLOG)
        self._wake = asyncio.Event()
        self.dropped_audio = 0
        self.closed: tuple[int, str] | None = None
        self._on_evict: Callable[[], None] | None = None

    def push_text(self, text: str) -> None:
        if len(self._text) >= TEXT_BACKLOG:
            self.evict(CLOSE_TOO_SLOW, "listener too slow: fell behind on captions")
            return
        self._text.append(text)
        self._wake.set()

    def push_audio(self, frame: bytes) -> None:
        if len(self._audio) == AUDIO_BACKLOG:
            self.dropped_audio += 1
        self._audio.append(frame)
        self._wake.set()

    def on_evict(self, callback: Callable[[], None]) -> None:
        """Called when the hub evicts this listener (the handler cancels its stuck send)."""
        self._on_evict = callback

    def evict(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = (code, reason)
            self._wake.set()
            if self._on_evict is not None:
                self._on_evict()

    async def next(self) -> str | bytes | None:
        """The next frame to send (captions first); None once the listener has been evicted."""
        while True:
            if self.closed is not None:
                return None
            if self._text:
                return self._text.popleft()
            if self._audio:
                return self._audio.popleft()
            self._wake.clear()
            await self._wake.wait()


class Channel:
    """One language: its listeners and its recent final captions."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.listeners: set[Listener] = set()
        self.history: deque[Caption] = deque(maxlen=HISTORY)

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

    def subscribe(
        self, lang: str, *, audio: bool = True, codec: Codec = "pcm", first: str | None = None
    ) -> Listener:
        """Register a listener, ``first`` queued ahead of everything published from now on.

        The caller must `unsubscribe` it in a ``finally``.
        """
        listener = Listener(lang, audio, codec)
        if first is not None:
            listener.push_text(first)
        self.channels[lang].listeners.add(listener)
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        self.channels[listener.lang].listeners.discard(listener)

    def publish(self, lang: str, message: ListenerMessage) -> None:
        """Send a JSON message to every listener of ``lang`` (encoded once)."""
        channel = self.channels[lang]
        if isinstance(message, Caption) and message.final:
            channel.remember(message)
        text = encode_text(message)
        for listener in tuple(channel.listeners):
            listener.push_text(text)

    def publish_audio(self, lang: str, frame: bytes, codec: Codec = "pcm") -> None:
        """Send a binary audio frame to every listener of ``lang`` that wants audio in ``codec``."""
        for listener in tuple(self.channels[lang].listeners):
            if listener.wants_audio and listener.codec == codec:
                listener.push_audio(frame)

    def listener_count(self, lang: str) -> int:
        return len(self.channels[lang].listeners)
