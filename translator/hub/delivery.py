"""The delivery rules: one listener's queue, and one channel's listeners grouped by transport.

Translated audio arrives in bursts (speech synthesis is much faster than real time), so whether a
listener is behind is decided on the audio timeline, not by counting messages: each queued chunk has
a deadline, the time playback would need it (the audio queued ahead of it when it arrived) plus a
margin. A listener whose oldest chunk is past its deadline drains slower than it plays: whole
utterances that it has not started are dropped, oldest first, and it is told with a `Skipped`
notice. The utterance being sent always finishes, so nobody hears half a sentence. Captions are
never dropped; a listener that takes nothing for a while, or falls behind on captions, is stalled
and is evicted from the publisher's side (a stalled listener sits inside its send and can never
notice).

What a listener is sent was built by its transport's `Framer`, once for all the listeners of that
transport. A listener whose connection can take it at once (`Listener.attach`) and that has nothing
queued gets it written at publish time, with no task switch: the common case costs one write per
listener, made by the channel's own loop (`Channel.deliver_audio`). Only a listener whose socket
is full, or that has a backlog, goes through its queue, which its connection drains (`take`) when
it can take more. A transport that writes no bytes itself (a response body) drains the queue from a
task of its own (`next`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, NamedTuple, Protocol

from translator.hub.chunks import AudioChunk
from translator.messages import Caption, Codec, ListenerMessage, Question, Skipped, encode_text

LATE_MARGIN_S: Final = 2.0
"""How much later than playback needs it a chunk may still be queued before the listener is behind."""
STALL_S: Final = 15.0
"""A listener with chunks queued that takes none for this long has a stalled socket: it is closed."""
MAX_AUDIO_BYTES: Final = 4 * 1024 * 1024
"""Queued audio bytes per listener (~85 s of PCM): past it, a listener that cannot shed whole
utterances is closed."""
TEXT_BACKLOG: Final = 200
"""Text messages a listener may fall behind before it is closed as stalled."""
HISTORY: Final = 10
SKIPPING_KEPT: Final = 8
"""Final captions kept per language for late joiners."""
CLOSE_TOO_SLOW: Final = 4008
CLOSE_LANGUAGE_REMOVED: Final = 4404
"""Like an unknown language, so that pages stop retrying."""


class Outgoing(NamedTuple):
    """A message as a transport sends it, built once for all its listeners."""

    payload: str | bytes
    """What the application hands its server to send (an ASGI send)."""
    wire: bytes
    """The bytes on the connection, for a transport that writes them itself (`Listener.attach`)."""
    typed: Caption | AudioChunk | None = None
    """What was published, as it was, for a listener in this process that sends no bytes (the
    programme): nothing of it is packed to be unpacked again."""


class Framer(Protocol):
    """How one transport turns what a talk publishes into what it sends."""

    def text(self, message: ListenerMessage, json: str) -> Outgoing:
        """A message, with its JSON text (encoded once for every transport)."""
        ...

    def audio(self, chunk: AudioChunk) -> Outgoing:
        """A chunk of audio (only for listeners that asked for audio in the chunk's codec)."""
        ...


Writer = Callable[[bytes], object]
"""Writes a message's wire bytes to the connection now (its transport's ``write``)."""


def _unattached(wire: bytes) -> None:
    raise RuntimeError("a listener is written to only once a connection is attached")


class _Queued(NamedTuple):
    chunk: AudioChunk
    out: Outgoing
    deadline: float


class Listener:
    """One connection's queue, drained by its connection (`take`) or by a task (`next`)."""

    # Thousands per process: no instance dictionaries.
    __slots__ = (
        "_audio",
        "_on_evict",
        "_progress",
        "_queued_bytes",
        "_queued_s",
        "_sending",
        "_skipping",
        "_text",
        "_wake",
        "audience",
        "closed",
        "codec",
        "framer",
        "lang",
        "skipped_utterances",
        "writable",
        "write",
    )

    def __init__(self, lang: str, framer: Framer, codec: Codec = "pcm", audience: bool = True) -> None:
        self.lang = lang
        self.framer = framer
        self.codec = codec
        self.audience = audience
        """A member of the audience (not the operator's console or a caption overlay): counted."""
        self.write: Writer = _unattached
        """Set by a connection that writes wire bytes itself (`attach`)."""
        self.writable = False
        """``write`` takes a message now: its connection says so while its buffer has room and it
        is not closing. Then a message skips an empty queue."""
        # Made when first needed: most listeners never queue anything.
        self._text: deque[Outgoing] | None = None
        self._audio: deque[_Queued] | None = None
        self._queued_s = 0.0
        self._queued_bytes = 0
        self._sending: int | None = None
        """The utterance whose audio has started to go out: it is never cut."""
        self._progress = time.monotonic()
        """When the sender last took a message, or the queue was last empty."""
        self._skipping: list[int] = []
        """The utterances last shed (a few): their remaining chunks are not queued."""
        self._wake: asyncio.Event | None = None
        """What `next` waits on (made when first needed: a connection that takes never waits)."""
        self.skipped_utterances = 0
        self.closed: tuple[int, str] | None = None
        self._on_evict: Callable[[], None] | None = None

    def write_now(self, out: Outgoing) -> bool:
        """Write at once when nothing is queued ahead and the connection takes it. (A queue that
        was empty starts its stall clock when it next fills: nothing to note here.)"""
        if self.writable and not self._text and not self._audio:
            self.write(out.wire)
            return True
        return False

    def push_message(self, message: ListenerMessage) -> None:
        """Send a message of this listener's own (a notice, the hello), framed for it alone."""
        self.push_text(self.framer.text(message, encode_text(message)))

    def push_text(self, out: Outgoing) -> None:
        """Send a text message already framed for this listener's transport."""
        if self.write_now(out):
            return
        if self._text is None:
            self._text = deque()
        if len(self._text) >= TEXT_BACKLOG:
            self.evict(CLOSE_TOO_SLOW, "listener too slow: fell behind on captions")
            return
        self._text.append(out)
        self._notify()

    def push_audio(self, chunk: AudioChunk, out: Outgoing, now: float) -> None:
        """Send ``chunk`` (published at monotonic time ``now``), shedding whole utterances if behind."""
        if chunk.utterance in self._skipping:
            return
        if self.write_now(out):
            self._sending = chunk.utterance
            return
        if not self._audio and not self._text:
            self._progress = now
        elif now - self._progress > STALL_S:
            self.evict(CLOSE_TOO_SLOW, "listener too slow: stopped reading")
            return
        if self._audio is None:
            self._audio = deque()
        self._audio.append(_Queued(chunk, out, now + self._queued_s + LATE_MARGIN_S))
        self._queued_s += chunk.seconds
        self._queued_bytes += chunk.nbytes
        self._notify()
        self._shed(now)

    def _shed(self, now: float) -> None:
        """Drop whole utterances, oldest first, while the queue is late or too large."""
        while self._audio and (self._audio[0].deadline < now or self._queued_bytes > MAX_AUDIO_BYTES):
            victim = next(
                (q.chunk.utterance for q in self._audio if q.chunk.utterance != self._sending), None
            )
            if victim is None:
                if self._queued_bytes > MAX_AUDIO_BYTES:
                    self.evict(CLOSE_TOO_SLOW, "listener too slow: fell behind on audio")
                return
            kept = deque(q for q in self._audio if q.chunk.utterance != victim)
            for gone in self._audio:
                if gone.chunk.utterance == victim:
                    self._queued_s -= gone.chunk.seconds
                    self._queued_bytes -= gone.chunk.nbytes
            self._audio = kept
            self._skipping.append(victim)
            del self._skipping[:-SKIPPING_KEPT]
            self.skipped_utterances += 1
            self.push_message(Skipped(victim))

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def on_evict(self, callback: Callable[[], None]) -> None:
        """Called when the hub evicts this listener (the handler cancels its stuck send)."""
        self._on_evict = callback

    def evict(self, code: int, reason: str) -> None:
        """Close this listener with ``code``: its handler's `next()` returns None from now on."""
        if self.closed is None:
            self.closed = (code, reason)
            self._notify()
            if self._on_evict is not None:
                self._on_evict()

    def attach(self, write: Writer) -> None:
        """Write messages with ``write`` as they are published while `writable`; the connection
        clears `writable` while it cannot take more, and drains the queue with `take` once it can."""
        self.write = write
        self.writable = True

    def take(self) -> Outgoing | None:
        """The next queued message (captions first), or None when nothing is queued."""
        if self._text:
            self._progress = time.monotonic()
            return self._text.popleft()
        if self._audio:
            self._progress = time.monotonic()
            queued = self._audio.popleft()
            self._queued_s -= queued.chunk.seconds
            self._queued_bytes -= queued.chunk.nbytes
            self._sending = queued.chunk.utterance
            return queued.out
        return None

    async def next(self) -> Outgoing | None:
        """The next message to send, waiting for one; None once the listener has been evicted."""
        while True:
            if self.closed is not None:
                return None
            if (out := self.take()) is not None:
                return out
            if self._wake is None:
                self._wake = asyncio.Event()
            self._wake.clear()
            await self._wake.wait()


@dataclass
class Group:
    """A channel's listeners on one transport: what its framer builds goes to each of them."""

    listeners: set[Listener] = field(default_factory=set)
    audio: dict[Codec, set[Listener]] = field(default_factory=lambda: {"pcm": set(), "opus": set()})
    """The listeners that want audio, by codec: each chunk goes to one of these sets."""


class Channel:
    """One language: its listeners by transport, its recent final captions and the audience
    question last put to the room."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.groups: dict[Framer, Group] = {}
        self.audience = 0
        """Listeners that are the audience: what listener counts report."""
        self.history: deque[Caption] = deque(maxlen=HISTORY)
        self.question: Question | None = None
        self.queued = 0
        """Messages queued to listeners so far (one per listener per message)."""
        self.gone_skipped = 0
        """Utterances skipped by listeners that have left (those still here count their own)."""
        self.written_at_once = 0
        """Messages written to a listener at publish time (the rest went through its queue)."""
        self.evictions = 0
        """Listeners closed for not keeping up."""

    @property
    def listeners(self) -> list[Listener]:
        """Every listener, whatever its transport."""
        return [listener for group in self.groups.values() for listener in group.listeners]

    @property
    def skipped(self) -> int:
        """Utterances whose audio a listener missed for falling behind."""
        return self.gone_skipped + sum(listener.skipped_utterances for listener in self.listeners)

    def add(self, listener: Listener, audio: bool) -> None:
        """Take ``listener``; with ``audio``, it gets the chunks of its codec."""
        group = self.groups.setdefault(listener.framer, Group())
        group.listeners.add(listener)
        if audio:
            group.audio[listener.codec].add(listener)
        self.audience += listener.audience

    def discard(self, listener: Listener) -> None:
        """Let ``listener`` go, keeping what it counted."""
        group = self.groups.get(listener.framer)
        if group is None or listener not in group.listeners:
            return
        group.listeners.discard(listener)
        group.audio[listener.codec].discard(listener)
        if not group.listeners:
            del self.groups[listener.framer]
        self.audience -= listener.audience
        self.gone_skipped += listener.skipped_utterances
        self.evictions += listener.closed is not None and listener.closed[0] == CLOSE_TOO_SLOW

    def deliver_text(self, message: ListenerMessage, json: str) -> None:
        """``message`` to every listener, framed once per transport."""
        if isinstance(message, Caption) and message.final:
            self.remember(message)
        elif isinstance(message, Question):
            self.question = message
        for framer, group in tuple(self.groups.items()):
            out = framer.text(message, json)
            listeners = tuple(group.listeners)
            self.queued += len(listeners)
            for listener in listeners:
                if listener.write_now(out):
                    self.written_at_once += 1
                else:
                    listener.push_text(out)

    def deliver_audio(self, chunks: list[AudioChunk]) -> None:
        """Chunks of one codec, in order, to every listener that wants audio in it, framed once per
        transport; a listener that keeps up gets them in one write."""
        now, codec, last = time.monotonic(), chunks[0].codec, chunks[-1].utterance
        for framer, group in tuple(self.groups.items()):
            listeners = tuple(group.audio[codec])
            if not listeners:
                continue
            outs = [framer.audio(chunk) for chunk in chunks]
            wire = outs[0].wire if len(outs) == 1 else b"".join(out.wire for out in outs)
            at_once = 0
            # The hot path, thousands of times per burst: a listener that keeps up (nothing queued,
            # nothing shed) is written to here, with no Python call but the transport's write.
            for listener in listeners:
                if listener.writable and not (listener._text or listener._audio or listener._skipping):
                    listener.write(wire)
                    listener._sending = last
                    at_once += 1
                else:
                    for chunk, out in zip(chunks, outs, strict=True):
                        listener.push_audio(chunk, out, now)
            self.queued += len(listeners) * len(chunks)
            self.written_at_once += at_once * len(chunks)

    def remember(self, caption: Caption) -> None:
        """Keep the caption for late joiners; a newer version of the same utterance replaces the old."""
        for index, old in enumerate(self.history):
            if old.id == caption.id:
                self.history[index] = caption
                return
        self.history.append(caption)
