"""One room's hub: a channel per language, what the talk publishes handed to every listener.

The hub knows no transport: a talk publishes messages (captions, states) and typed audio chunks,
and each listener's transport brings the `Framer` that builds its bytes. When several processes
share the room, what is published goes through a `Broker` and comes back to every process's hub.

Speech synthesis is faster than real time: an engine hands over a sentence's audio in a burst of
chunks. Audio published while the hub is `holding` goes out at the end of it, each channel's chunks
of one codec together, so that a listener who keeps up gets the burst `WRITE_CHUNKS` chunks a write
(a system call per 0.2 s of audio, not per 0.1 s); the messages on the wire are the same.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

from translator.hub.chunks import AudioChunk
from translator.hub.delivery import CLOSE_LANGUAGE_REMOVED, Channel, Framer, Listener
from translator.languages import get_language
from translator.messages import Caption, Codec, ListenerMessage, Question, encode_text

WRITE_CHUNKS = 2
"""Chunks of a burst written to a listener at once (0.2 s of audio). Measured at 10,000 Opus
listeners beside one write per chunk (8.5 µs of server CPU a message, delay p99 105 ms): 2 → 5.1
µs, p99 131 ms; 4 → 3.0 µs, 286 ms; a whole sentence → 1.6 µs, 676 ms, the last listeners
getting its first chunk that much later (`bench/results/fanout-socket.md`)."""


class Broker(Protocol):
    """Carries what a hub publishes to every process's hub (see ``broker.py``)."""

    def send_text(self, lang: str, text: str, keep: bool) -> None: ...

    def send_audio(self, chunk: AudioChunk) -> None: ...


class Hub:
    """The in-process hub: one channel per language."""

    def __init__(self, languages: list[str]) -> None:
        self.channels = {lang: Channel(lang) for lang in languages}
        self._emptied = asyncio.Event()
        self.broker: Broker | None = None
        """Set when several processes share the room: what is published goes through it, and comes
        back to every process's `deliver_text` / `deliver_audio`."""
        self._finals: dict[str, list[Callable[[Caption], None]]] = {}
        self._held: dict[tuple[str, Codec], list[AudioChunk]] | None = None
        """Audio published while `holding`, by channel and codec, in order."""

    def subscribe(
        self,
        lang: str,
        framer: Framer,
        *,
        audio: bool = True,
        codec: Codec = "pcm",
        first: ListenerMessage | None = None,
        audience: bool = True,
    ) -> Listener:
        """Register a listener on ``framer``'s transport, ``first`` queued ahead of everything
        published from now on; ``audience`` false for the operator's console and caption overlays
        (not counted).

        The caller must `unsubscribe` it in a ``finally``.
        """
        listener = Listener(lang, framer, codec, audience)
        if first is not None:
            listener.push_message(first)
        self.channels[lang].add(listener, audio)
        return listener

    def add_channel(self, lang: str) -> None:
        """Start serving ``lang`` (a language added during the talk)."""
        self.channels.setdefault(lang, Channel(lang))

    def remove_channel(self, lang: str) -> None:
        """Stop serving ``lang``: its listeners are told it is no longer offered, and closed."""
        channel = self.channels.pop(lang, None)
        reason = f"{get_language(lang).native} is no longer offered"
        for listener in channel.listeners if channel else ():
            listener.evict(CLOSE_LANGUAGE_REMOVED, reason)

    def follow_finals(self, lang: str, follower: Callable[[Caption], None]) -> Callable[[], None]:
        """Call ``follower`` with each final caption of ``lang`` delivered from now on (a caption
        service's feed: typed, never framed), whether or not ``lang`` is offered at the time; it
        must not block. Returns what stops it."""
        followers = self._finals.setdefault(lang, [])
        followers.append(follower)
        return lambda: followers.remove(follower)

    def unsubscribe(self, listener: Listener) -> None:
        """Let ``listener`` go (its connection has ended)."""
        channel = self.channels.get(listener.lang)
        if channel is not None:
            channel.discard(listener)
        if not any(c.groups for c in self.channels.values()):
            self._emptied.set()

    def publish(self, lang: str, message: ListenerMessage) -> None:
        """Send a message to every listener of ``lang`` (its JSON encoded once), through the broker
        when processes share the room."""
        text = encode_text(message)
        self._release()  # after the audio published before it
        if self.broker is not None:
            if isinstance(message, Question):
                # The room's state says so from now on, before the broker brings it back.
                self.channels[lang].question = message
            self.broker.send_text(lang, text, keep=isinstance(message, Caption) and message.final)
        else:
            self.deliver_text(lang, text, message)

    def publish_audio(self, chunk: AudioChunk) -> None:
        """Send a chunk of audio to every listener of its language that wants audio in its codec
        (while `holding`, at its end)."""
        if self.broker is not None:
            self.broker.send_audio(chunk)
        elif self._held is not None:
            self._held.setdefault((chunk.lang, chunk.codec), []).append(chunk)
        else:
            self.deliver_audio(chunk)

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Hold the audio published inside until its end, then deliver each channel's chunks of one
        codec together (text published meanwhile goes out after the audio before it)."""
        self._held = {}
        try:
            yield
        finally:
            self._release()
            self._held = None

    def _release(self) -> None:
        if not self._held:
            return
        held, self._held = self._held, {}
        for (lang, _), chunks in held.items():
            for start in range(0, len(chunks), WRITE_CHUNKS):
                self.channels[lang].deliver_audio(chunks[start : start + WRITE_CHUNKS])

    def deliver_text(self, lang: str, text: str, message: ListenerMessage) -> None:
        """Hand a published message to this process's listeners of ``lang``."""
        self.channels[lang].deliver_text(message, text)
        if isinstance(message, Caption) and message.final:
            for follower in self._finals.get(lang, ()):
                follower(message)

    def deliver_audio(self, chunk: AudioChunk) -> None:
        """Hand a published chunk to this process's listeners of its language."""
        self.channels[chunk.lang].deliver_audio([chunk])

    async def close_all(self, code: int, reason: str, within_s: float) -> None:
        """Close every listener with ``code``; return once they are gone, or after ``within_s``."""
        for channel in self.channels.values():
            for listener in channel.listeners:
                listener.evict(code, reason)
        self._emptied.clear()
        if any(c.groups for c in self.channels.values()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), within_s)

    def listener_count(self, lang: str) -> int:
        """The audience of ``lang`` in this process (consoles and overlays are not counted)."""
        channel = self.channels.get(lang)
        return channel.audience if channel else 0
