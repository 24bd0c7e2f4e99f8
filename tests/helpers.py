"""What the tests share: log records caught as they are emitted; a wait on a condition; the CLI and
the service as processes; the talks and settings several test modules use."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
import numpy as np
import soundfile
import websockets

from harness.live import OPERATOR_TOKEN, LiveServer, Received, RedisServer, free_port, listen, live_server
from harness.voicelive_server import RATE, FakeVoiceLive, tone, tone_names
from translator.audio.wav import WavSource
from translator.config import Settings, load_settings
from translator.engines.events import Passthrough, TurnDone
from translator.engines.local.engine import LocalEngine
from translator.engines.local.mt import ApertiumPipe
from translator.engines.local.translation import translator_for

T = TypeVar("T")


class Records(logging.Handler):
    """The log records that reach the handler's logger (after its filters)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [self.format(r) for r in self.records]


async def until(condition: Callable[[], bool], within_s: float = 30.0) -> None:
    """Wait until ``condition`` holds, looking again every 100 ms (what it watches has no event)."""
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - what it watches has no event
            await asyncio.sleep(0.1)


async def settled(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], within_s: float = 10.0) -> T:
    """Read (another process's count, say) every 200 ms until ``done`` holds of a reading or
    ``within_s`` has passed: the last reading either way, for the test to assert on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not done(reading := await read()) and loop.time() < deadline:  # noqa: ASYNC110 - no event
        await asyncio.sleep(0.2)
    return reading


def without_azure() -> dict[str, str]:
    """This process's environment without its Azure settings: a child sees only what a test gives."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``translator ARGS`` as a process, without the Azure settings of the environment."""
    return subprocess.run(
        [sys.executable, "-m", "translator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=without_azure() | (env or {}),
    )


@contextlib.asynccontextmanager
async def translator_process(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[int]:
    """``translator serve ARGS`` as a real process on a free port (yielded) until the block ends."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "translator", "serve", "--port", str(port), *args),
        env=without_azure() | {"TRANSLATOR_OPERATOR_TOKEN": OPERATOR_TOKEN} | (env or {}),
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            # Not left running for a later test to hear of (its transport complains when collected).
            process.kill()
            await process.wait()
            raise


async def ready(port: int, within_s: float = 60) -> None:
    """Wait until the server on ``port`` answers ``/readyz`` with 200."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        async with asyncio.timeout(within_s):
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)


def voicelive_settings(server: FakeVoiceLive, talk: Path) -> Settings:
    """Spanish and French from the Voice Live test server, ``talk`` as the input."""
    return load_settings(
        env={"AZURE_VOICELIVE_ENDPOINT": server.endpoint, "AZURE_VOICELIVE_API_KEY": "secret-key-456"},
        overrides={"targets": ["es", "fr"], "audio.input": str(talk), "azure.model": "gpt-4.1"},
    )


async def reference_translations(target: str, sources: list[str]) -> list[str]:
    """What a fresh pipeline makes of each source sentence."""
    pipes: dict[str, ApertiumPipe] = {}
    translator = translator_for("en", target, pipes)
    try:
        return [await translator.translate(text) for text in sources]
    finally:
        await asyncio.gather(translator.close(), *(pipe.stop() for pipe in pipes.values()))


async def assert_own_sentences(received: Received, target: str, skip: int = 0) -> None:
    """Each final caption (after the first ``skip``) is the translation of its own source sentence."""
    finals = [c for c in received.finals().values() if c["text"]][skip:]
    expected = await reference_translations(target, [c["source_text"] for c in finals])
    assert [c["text"] for c in finals] == expected, "each caption translates its own sentence"


def three_turns(path: Path) -> Path:
    """Three 1 s tones (300, 350, 400 Hz) after 2 s of silence, with pauses: the tone talk."""
    pause = bytes(int(RATE * 0.9) * 2)
    pcm = bytes(RATE * 2) + b"".join(tone(1.0, freq) + pause for freq in (300, 350, 400))
    soundfile.write(str(path), np.frombuffer(pcm, dtype="<i2"), RATE, subtype="PCM_16")
    return path


TONES = ["tone 300", "tone 350", "tone 400"]
"""The tone talk's turns as the Voice Live test server hears them (`tone_name`)."""


def tones_heard(received: Received) -> list[str]:
    """The tones named by the final captions, in order. A caption may name two: the strict service,
    as the real one, answers a turn that ends while the one before is being answered together
    with it."""
    finals = sorted(received.finals().values(), key=lambda c: c["id"])
    return [tone for caption in finals for tone in re.findall(r"tone \d+", caption["source_text"])]


def every_tone_final(received: Received) -> bool:
    """One round of the tone talk: its three tones under final captions, and all their audio."""
    return len(set(tones_heard(received))) >= 3 and received.ended() >= set(received.finals())


async def tone_listener(server: LiveServer, lang: str = "es") -> asyncio.Task[Received]:
    """A listener of ``lang``, counted by the room before this returns, that collects one round of
    the tone talk (`every_tone_final`)."""
    listener = asyncio.create_task(listen(f"{server.ws}/ws/listen/{lang}", every_tone_final, within_s=60))
    await until(lambda: server.room.hub.listener_count(lang) == 1)
    return listener


def assert_heard_the_tones(received: Received) -> None:
    """Each tone of a (looped) tone talk under a final caption, in order, with all its audio. A tone
    the network delivered with a gap in it is two turns, each under a caption of its own (Chromium's
    WebRTC on CI's busy machine: "tone 300, tone 300, tone 350"): still that tone, in its place."""
    named = tones_heard(received)
    heard = [tone for index, tone in enumerate(named) if index == 0 or tone != named[index - 1]][:3]
    start = TONES.index(heard[0])
    assert heard == TONES[start:] + TONES[:start], heard
    assert all(share >= 0.99 for share in received.audio_shares().values())


def _told_again(received: Received) -> list[int] | None:
    """The ids of the captions under which the tone talk was told from its start, in order, if it was."""
    finals = sorted(received.finals().values(), key=lambda c: c["id"])
    texts = [c["source_text"] for c in finals]
    for at in range(len(texts) - len(TONES) + 1):
        if texts[at : at + len(TONES)] == TONES:
            return [c["id"] for c in finals[at : at + len(TONES)]]
    return None


async def talk_again_listener(server: LiveServer, lang: str = "es") -> asyncio.Task[Received]:
    """A listener, counted before this returns, that collects until the tone talk has been told from
    its start with all its audio (whatever a publisher that dropped left in flight may come first)."""
    listener = asyncio.create_task(
        listen(
            f"{server.ws}/ws/listen/{lang}",
            lambda r: (ids := _told_again(r)) is not None and r.ended() >= set(ids),
            within_s=60,
        )
    )
    await until(lambda: server.room.hub.listener_count(lang) == 1)
    return listener


def assert_heard_the_talk_again(received: Received) -> None:
    """The tone talk, told again from its start, each tone under its own caption with all its audio."""
    ids = _told_again(received)
    assert ids is not None, [c["source_text"] for c in received.finals().values()]
    shares = received.audio_shares()
    assert all(shares[i] >= 0.99 for i in ids), shares


async def assert_an_encoder_is_the_talk_until_it_stops(
    server: LiveServer, start: Callable[[], Awaitable[asyncio.subprocess.Process]], live: str
) -> None:
    """An encoder process (``start``) sending the tone talk once: while it sends, the room's input
    detail starts with ``live``; every tone is heard under its own caption; once it ends cleanly, the
    room waits for a speaker, not for it to come back."""
    listener = await tone_listener(server)
    encoder = await start()
    await until(lambda: server.room.input_report().detail.startswith(live), 20)
    received = await listener
    _, err = await asyncio.wait_for(encoder.communicate(), 30)
    assert encoder.returncode == 0, err.decode()
    assert_heard_the_tones(received)
    await until(lambda: server.room.input_report().detail == "waiting for the speaker", 10)


async def assert_a_killed_encoder_is_taken_back(
    server: LiveServer, start: Callable[[], Awaitable[asyncio.subprocess.Process]], dropped: str
) -> None:
    """An encoder process (``start``) of the looped tone talk, killed once its first sentence is
    heard: no goodbye, so the room says it waits for it (its input's detail starts with
    ``dropped``); the next one is heard telling the talk from its start."""
    encoder = await start()
    await listen(f"{server.ws}/ws/listen/es", lambda r: len(r.finals()) >= 1, within_s=30)
    encoder.kill()
    await encoder.wait()
    await until(lambda: server.room.input_report().detail.startswith(dropped), 15)
    # What the dropped encoder left in flight may come first; then the talk, from its start.
    listener = await talk_again_listener(server)
    again = await start()
    received = await listener
    again.kill()  # how it ends is not judged here
    await again.wait()
    assert_heard_the_talk_again(received)
    assert server.room.state == "running"


@contextlib.asynccontextmanager
async def published_room(
    overrides: dict[str, object] | None = None,
    language_of: Callable[[str], str] | None = None,
    reply_s: float = 1.0,
) -> AsyncIterator[LiveServer]:
    """A one-room server into Spanish that takes its talk from a publisher, on the Voice Live test
    server that names tones (``overrides``: settings by dotted name; ``language_of``: the locale
    the service hears each turn's text in, English by default; ``reply_s``: each interpretation's
    length)."""
    async with FakeVoiceLive(transcribe=tone_names, reply_s=reply_s, language_of=language_of) as voicelive:
        settings = load_settings(
            env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "publish-key"},
            overrides={
                "targets": ["es"],
                "engine": "voicelive",
                "azure.model": "gpt-4.1",
                "audio.input": "publish",
                **(overrides or {}),
            },
        )
        async with live_server(settings) as running:
            yield running


def spans(samples: np.ndarray, rate: int = 24_000) -> list[tuple[float, float]]:
    """(start, end) in seconds of each stretch of sound (decoded AAC: floats)."""
    found, at = [], 0.0
    window = rate // 50
    loud = [
        float(np.sqrt(np.mean(samples[i : i + window] ** 2))) > 0.03
        for i in range(0, len(samples) - window, window)
    ]
    start = None
    for index, on in enumerate([*loud, False]):
        at = index / 50
        if on and start is None:
            start = at
        elif not on and start is not None:
            found.append((start, at))
            start = None
    return found


@contextlib.asynccontextmanager
async def tone_talk(
    folder: Path, overrides: dict[str, object] | None = None, *, loop: bool = False
) -> AsyncIterator[LiveServer]:
    """The service on that talk, into Spanish and French (``overrides``: settings by dotted name)."""
    async with FakeVoiceLive(transcribe=tone_names, reply_s=(1.0,)) as voicelive:
        settings = load_settings(
            env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "tone-talk-key"},
            overrides={
                "targets": ["es", "fr"],
                "engine": "voicelive",
                "azure.model": "gpt-4.1",
                **(overrides or {}),
            },
        )
        source = WavSource(three_turns(folder / "talk.wav"), loop=loop)
        async with live_server(settings, source, outputs=True) as server:
            yield server


async def rtmp_receiver(address: str, received: Path) -> asyncio.subprocess.Process:
    """Debian's ffmpeg as an RTMP server at ``address`` (as a platform's ingest), writing the one
    stream pushed to it into ``received`` (FLV) until the sender ends it."""
    return await asyncio.create_subprocess_exec(
        *("ffmpeg", "-hide_banner", "-loglevel", "error", "-listen", "1", "-i", address),
        # Each packet written as it comes: the muxer would otherwise hold seconds of it.
        *("-c", "copy", "-flush_packets", "1", "-f", "flv", str(received)),
        stdin=asyncio.subprocess.DEVNULL,
    )


async def run_offline(engine: LocalEngine, talk: Path, turns: int) -> list:
    """The talk through the engine at twice real time; its events until ``turns`` utterances of
    every language are finished (translated, passed through, or failed)."""
    events: list = []
    finished = (TurnDone, Passthrough)

    async with engine:

        async def collect() -> None:
            async for event in engine.events():
                events.append(event)
                if sum(isinstance(e, finished) for e in events) == turns * len(engine.targets):
                    return

        collector = asyncio.create_task(collect())
        async with WavSource(talk, pace=2) as source:
            async for frame in source.frames():
                await engine.send_audio(frame)
        for _ in range(40):
            await engine.send_audio(bytes(960))
        await asyncio.wait_for(collector, 60)
    return events


@contextlib.asynccontextmanager
async def shared_talk(
    voicelive: FakeVoiceLive, talk: Path, redis_server: RedisServer
) -> AsyncIterator[tuple[LiveServer, int]]:
    """The pipeline's process (this one) and a listener-only process (its port), sharing a talk."""
    settings = voicelive_settings(voicelive, talk)
    settings.broker.url = redis_server.url
    async with (
        live_server(settings, WavSource(talk, loop=True, pace=2)) as pipeline,
        translator_process("--listener-only", "--broker", redis_server.url) as worker,
    ):
        await ready(worker)
        yield pipeline, worker


CHUNK_BYTES = 4096
"""What a test publisher sends in one message (the server's bound)."""


async def publisher(server: LiveServer, key: str, who: str = "test publisher") -> websockets.ClientConnection:
    """A WebSocket publisher of the one-room server's talk, past its first message."""
    ws = await websockets.connect(f"{server.ws}/ws/publish/main")
    await ws.send(json.dumps({"type": "publish", "key": key, "who": who}))
    return ws


async def send_in_bursts(ws: websockets.ClientConnection, pcm: bytes, seed: int = 3) -> None:
    """``pcm`` as a live sender makes it, in real time, over a network that holds it back for up
    to 300 ms at a time and then delivers all that waited at once."""
    chance = random.Random(seed)
    loop = asyncio.get_running_loop()
    began = release = loop.time()
    sent = 0
    while sent < len(pcm):
        release += chance.uniform(0.02, 0.3)
        await asyncio.sleep(max(0.0, release - loop.time()))
        made = min(len(pcm), int((loop.time() - began) * 24_000) * 2)
        for start in range(sent, made, CHUNK_BYTES):
            await ws.send(pcm[start : min(start + CHUNK_BYTES, made)])
        sent = max(sent, made)


QUESTION_HZ = 550
"""A question asked aloud in the tests: the Voice Live test server hears it as Spanish (`spanish`)."""
SILENCE = bytes(RATE * 2 // 10)
"""100 ms."""


def spanish(text: str) -> str:
    """The locale the Voice Live test server hears a turn in: Spanish for the question's tone."""
    return "es-ES" if str(QUESTION_HZ) in text else "en-US"


class Speaker:
    """The room's publisher, sending in real time: silence, and what it is told to say."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self._ws = ws
        self._said = bytearray()
        self._task = asyncio.create_task(self._send(), name="speaker")

    def say(self, pcm: bytes) -> None:
        self._said += pcm

    async def _send(self) -> None:
        while True:
            chunk, self._said = bytes(self._said[: len(SILENCE)]), self._said[len(SILENCE) :]
            chunk += SILENCE[len(chunk) :]
            for start in range(0, len(chunk), CHUNK_BYTES):
                await self._ws.send(chunk[start : start + CHUNK_BYTES])
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._ws.close()


@contextlib.asynccontextmanager
async def speaking(server: LiveServer) -> AsyncIterator[Speaker]:
    """The one-room server's publisher, as a `Speaker`."""
    speaker = Speaker(await publisher(server, server.room.publish_key))
    try:
        yield speaker
    finally:
        await speaker.stop()
