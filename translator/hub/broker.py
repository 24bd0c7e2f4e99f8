"""Several processes (or machines) sharing one room through Redis, each room under its own prefix.

The process running the room's talk publishes each language's messages once, on one Redis channel
per language; every process, that one included, subscribes once to them all and fans out to its own
listeners through its own hub. Final captions are also kept in a short Redis list per language, for
processes that start late; the room's state (its languages, their states, when its talk started,
whether it is paused) is a key the talk's process refreshes every second; every process keeps its
listener counts under a key that expires, so that any process can tell the total.

A Redis restart loses what is published while Redis is down (counted, logged once per outage),
never a listener: subscribers reconnect with back-off and reload the caption history. Whatever
else is in Redis is untrusted: a message or key that cannot be read is dropped and counted
(`malformed`), and no task of the broker ends for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Callable

import msgspec
import redis.asyncio as redis
from redis.exceptions import RedisError

from translator.config import BrokerConfig
from translator.hub.chunks import AudioChunk
from translator.hub.delivery import HISTORY
from translator.hub.hub import Hub
from translator.messages import Caption, ListenerMessage
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

SYNC_S = 1.0
"""How often the talk's state and the listener counts are written and read."""
COUNTS_LOG_S = 60.0
"""How often the pipeline's process logs the listener counts of every process, when they changed."""
EXPIRE_S = 5
"""A process that stops reporting drops out of the counts after this."""
RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)
STOP_S = 2.0
"""How long stopping waits for what is still to be published."""
OUTBOX = 2000
"""Messages waiting for Redis at most (~20 s of one language); older ones are dropped."""
QUESTIONS_KEPT = 1000
"""Forwarded questions waiting in Redis at most (the talk's process down); older ones are dropped."""
QUESTION_WAIT_S = 2
"""How long one wait for a forwarded question blocks (under the connection's 5 s socket timeout)."""
TEXT, AUDIO = b"T", b"A"
_decode = msgspec.json.Decoder(ListenerMessage).decode
_encode_chunk = msgspec.msgpack.Encoder().encode
_decode_chunk = msgspec.msgpack.Decoder(AudioChunk).decode
_decode_counts = msgspec.json.Decoder(dict[str, int]).decode
MALFORMED_LOG_S = 60.0
"""Unreadable messages are logged at most this often (with a count): a flood is one line a minute."""


def _honour_cancellation() -> None:
    """Raise CancelledError if this task was asked to stop: redis-py can swallow a cancellation that
    arrives while a command runs (redis/redis-py#2028, #2551), and a task that did not notice would
    never end."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class RedisBroker:
    """One process's link to the talk's Redis: what it publishes, what it receives, its counts."""

    def __init__(
        self,
        config: BrokerConfig,
        hub: Hub,
        *,
        snapshot: Callable[[], object] | None = None,
        on_snapshot: Callable[[bytes], None] | None = None,
        on_question: Callable[[bytes], None] | None = None,
    ) -> None:
        """``snapshot``: the room's state (a Struct), written every second by the process that runs
        its talk; ``on_snapshot``: a listener-only process's use for it (the JSON as written);
        ``on_question``: the talk's process's use for the audience's questions that listener-only
        processes took (`forward_question`)."""
        self.config = config
        self.hub = hub
        self._snapshot = snapshot
        self._on_snapshot = on_snapshot
        self._on_question = on_question
        self._redis = redis.from_url(config.url or "", health_check_interval=10, socket_timeout=5)
        self._outbox: asyncio.Queue[tuple[str, bytes, bytes | None] | None] = asyncio.Queue(OUTBOX)
        """What waits to be published; None ends the publisher once what came before is written."""
        self._tasks: list[asyncio.Task[None]] = []
        self._publisher: asyncio.Task[None] | None = None
        self._id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.totals: dict[str, int] = {}
        """Listeners per language across every process (refreshed every second)."""
        self.dropped = 0
        """Messages that could not be published (Redis down, or too far behind)."""
        self.connected = False
        self.heard = asyncio.Event()
        """Set once the talk's state has come from the pipeline's process (listener-only processes)."""
        self.malformed = 0
        """Messages and keys found in Redis that could not be read, dropped."""
        self._logged: dict[str, int] = {}
        self._logged_at = float("-inf")
        self._malformed_logged_at = float("-inf")

    @property
    def healthy(self) -> bool:
        """Subscribed to Redis, and every task of the broker running."""
        return self.connected and all(not task.done() for task in self._tasks)

    def _drop(self, what: str, exc: Exception) -> None:
        """Count something unreadable found in Redis; log it, at most once a minute."""
        self.malformed += 1
        now = asyncio.get_running_loop().time()
        if now - self._malformed_logged_at >= MALFORMED_LOG_S:
            self._malformed_logged_at = now
            log.warning(
                "broker: dropped %s that cannot be read (%s: %s); %d so far: does something else write "
                "to this Redis? (protect it with a password)",
                what,
                type(exc).__name__,
                exc,
                self.malformed,
            )

    async def write_state(self) -> None:
        """Write the room's state now, not at the next sync: a process started meanwhile knows it.
        Raises RedisError or OSError while Redis is away (the sync writes it once it is back)."""
        assert self._snapshot is not None, "the talk's process writes the room's state"
        await self._redis.set(self._key("talk"), msgspec.json.encode(self._snapshot()), ex=EXPIRE_S)

    def _key(self, *parts: str) -> str:
        return ":".join((self.config.channel, *parts))

    async def start(self) -> None:
        """Start the subscriber and the periodic tasks (they retry until Redis answers)."""
        self._tasks = [
            asyncio.create_task(self._subscribe(), name="redis-broker-subscribe"),
            asyncio.create_task(self._sync(), name="redis-broker-sync"),
        ]
        if self._snapshot is not None:
            self._publisher = asyncio.create_task(self._publish(), name="redis-broker-publish")
            self._tasks.append(self._publisher)
        if self._on_question is not None:
            self._tasks.append(asyncio.create_task(self._take_questions(), name="redis-broker-questions"))

    async def stop(self) -> None:
        """Publish what waits (the room's last states: for up to ``STOP_S``), stop the tasks and close
        the connections."""
        if self._publisher is not None:
            self._queue(None)
            await asyncio.wait({self._publisher}, timeout=STOP_S)
        await asyncio.gather(*(cancel_and_wait(task) for task in self._tasks))
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(self._key("listeners", self._id))
        await self._redis.aclose()

    def send_text(self, lang: str, text: str, keep: bool) -> None:
        """Publish a JSON message of ``lang``; ``keep``: a final caption, kept for late joiners."""
        self._queue((lang, TEXT + text.encode(), text.encode() if keep else None))

    def send_audio(self, chunk: AudioChunk) -> None:
        """Publish a chunk of audio."""
        self._queue((chunk.lang, AUDIO + _encode_chunk(chunk), None))

    async def forward_question(self, data: bytes) -> None:
        """Hand a question asked here to the process that runs the talk: a Redis list, so that none
        is lost while that process restarts (RedisError, OSError: Redis cannot take it now)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.rpush(self._key("questions"), data)
            pipe.ltrim(self._key("questions"), -QUESTIONS_KEPT, -1)
            await pipe.execute()

    async def _take_questions(self) -> None:
        """Take the questions listener-only processes forwarded, in order, retrying while Redis is away."""
        assert self._on_question is not None
        attempt = 0
        while True:
            _honour_cancellation()
            try:
                taken = await self._redis.blpop([self._key("questions")], timeout=QUESTION_WAIT_S)
            except (RedisError, OSError):
                await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                attempt += 1
                continue
            attempt = 0
            if taken is not None:
                data = taken[1]
                self._on_question(data if isinstance(data, bytes) else data.encode())

    def _queue(self, item: tuple[str, bytes, bytes | None] | None) -> None:
        if self._outbox.full():
            self._outbox.get_nowait()
            self.dropped += 1
        self._outbox.put_nowait(item)

    async def _publish(self) -> None:
        """Write the outbox to Redis in order. While Redis is down, what waits is dropped: audio
        delivered seconds late would only be heard out of time."""
        lost, attempts = 0, 0
        while (item := await self._outbox.get()) is not None:
            _honour_cancellation()
            lang, data, keep = item
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.publish(self._key("lang", lang), data)
                    if keep is not None:
                        pipe.rpush(self._key("history", lang), keep)
                        pipe.ltrim(self._key("history", lang), -HISTORY, -1)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                if not attempts:
                    log.warning(
                        "broker: cannot publish to Redis (%s); messages are lost until it is back", exc
                    )
                dropped = 1 + self._outbox.qsize()
                while not self._outbox.empty():
                    if self._outbox.get_nowait() is None:
                        return
                self.dropped += dropped
                lost += dropped
                await asyncio.sleep(RETRY_S[min(attempts, len(RETRY_S) - 1)])
                attempts += 1
                continue
            if attempts:
                log.warning("broker: Redis is back; %d messages were lost while it was away", lost)
                lost, attempts = 0, 0

    async def _subscribe(self) -> None:
        """Receive every language's messages and hand them to this process's hub, reconnecting."""
        attempt = 0
        while True:
            _honour_cancellation()
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(self._key("lang", "*"))
                await self._load_history(list(self.hub.channels))
                self.connected, attempt = True, 0
                prefix = len(self._key("lang", ""))
                async for message in pubsub.listen():
                    _honour_cancellation()
                    try:
                        self._receive(message["channel"][prefix:].decode(), message["data"])
                    except Exception as exc:
                        self._drop("a message", exc)
            except (RedisError, OSError) as exc:
                if self.connected or attempt == 0:
                    log.warning("broker: lost Redis (%s); reconnecting", exc)
                self.connected = False
                await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                attempt += 1
            except Exception:
                log.exception("broker: the subscription failed; subscribing again")
                self.connected = False
                await asyncio.sleep(RETRY_S[-1])
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

    async def _load_history(self, languages: list[str]) -> None:
        """The recent final captions of ``languages``, for listeners joining this process."""
        for lang in languages:
            for text in await self._redis.lrange(self._key("history", lang), 0, -1):
                try:
                    caption = _decode(text)
                except msgspec.DecodeError as exc:
                    self._drop("a kept caption", exc)
                    continue
                if isinstance(caption, Caption) and lang in self.hub.channels:
                    self.hub.channels[lang].remember(caption)

    def _receive(self, lang: str, data: bytes) -> None:
        if lang not in self.hub.channels:
            return  # a language this process does not offer (yet, or any more)
        if data[:1] == TEXT:
            text = data[1:].decode()
            self.hub.deliver_text(lang, text, _decode(text))
        elif data[:1] == AUDIO:
            self.hub.deliver_audio(_decode_chunk(memoryview(data)[1:]))

    def _log_counts(self, processes: int) -> None:
        now = asyncio.get_running_loop().time()
        if self._snapshot is None or self.totals == self._logged or now - self._logged_at < COUNTS_LOG_S:
            return
        self._logged, self._logged_at = dict(self.totals), now
        counts = ", ".join(f"{lang} {count}" for lang, count in sorted(self.totals.items()))
        log.info("listeners: %s (in %d processes)", counts or "none", processes)

    async def _sync(self) -> None:
        """Every second: this process's listener counts out, everyone's in, and the talk's state."""
        while True:
            try:
                await self._sync_once()
            except (RedisError, OSError):
                pass  # the subscriber says Redis is away; counts and state wait for it
            except Exception:
                log.exception("broker: could not exchange counts and state; trying again")
            _honour_cancellation()
            await asyncio.sleep(SYNC_S)

    async def _sync_once(self) -> None:
        counts = {lang: channel.audience for lang, channel in self.hub.channels.items()}
        await self._redis.set(self._key("listeners", self._id), msgspec.json.encode(counts), ex=EXPIRE_S)
        keys = [key async for key in self._redis.scan_iter(match=self._key("listeners", "*"))]
        totals: dict[str, int] = {}
        for value in await self._redis.mget(keys) if keys else []:
            try:
                process = _decode_counts(value) if value else {}
            except msgspec.DecodeError as exc:
                self._drop("a listener count", exc)
                continue
            for lang, count in process.items():
                totals[lang] = totals.get(lang, 0) + max(0, count)
        self.totals = totals
        self._log_counts(len(keys))
        if self._snapshot is not None:
            await self.write_state()
        elif self._on_snapshot is not None and (state := await self._redis.get(self._key("talk"))):
            known = set(self.hub.channels)
            try:
                self._on_snapshot(state if isinstance(state, bytes) else state.encode())
            except Exception as exc:
                self._drop("the room's state", exc)
                return
            await self._load_history([lang for lang in self.hub.channels if lang not in known])
            self.heard.set()
