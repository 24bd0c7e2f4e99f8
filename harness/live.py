"""A real server on a free port, real WebSocket listeners, a real Redis, speech made by espeak-ng."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

from harness.talk import write_talk
from translator.audio import AudioSource
from translator.config import Settings
from translator.messages import AUDIO_HEADER, FLAG_END, PACKET_SAMPLES, opus_packets
from translator.server.app import running
from translator.server.rooms import Rooms
from translator.talk.room import Room


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_udp_port() -> int:
    """A UDP port nobody uses now (SRT's)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def speak(text: str, path: Path, voice: str = "en-us", rate: int = 150) -> Path:
    """Write ``text`` spoken by espeak-ng to ``path`` (22.05 kHz mono WAV)."""
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(path), text], check=True)
    return path


def talk_wav(sentences: list[str], path: Path, gap_s: float = 1.2, voices: list[str] | None = None) -> Path:
    """Sentences spoken one after another with ``gap_s`` of silence between and around them (each
    in its espeak-ng voice from ``voices``, default English)."""
    write_talk(path, sentences, gap_s, voices)
    return path


OPERATOR_TOKEN = "operator-token-for-tests"


@dataclass
class LiveServer:
    rooms: Rooms
    port: int

    @property
    def room(self) -> Room:
        """The room of a one-room server (the first of several)."""
        room = next(iter(self.rooms.rooms.values()))
        assert isinstance(room, Room)
        return room

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def operator(self) -> dict[str, str]:
        """Headers that carry the operator token."""
        return {"Authorization": f"Bearer {self.rooms.operator_token}"}


@asynccontextmanager
async def live_server(
    settings: Settings,
    source: AudioSource | None = None,
    port: int | None = None,
    sources: dict[str, AudioSource] | None = None,
    *,
    outputs: bool = False,
) -> AsyncIterator[LiveServer]:
    """The whole service (rooms with their input, engine, pipeline, hub; Litestar under uvicorn) on
    a free port. ``source``: the input of a one-room server; ``sources``: inputs by room id.
    ``outputs``: the HLS output and the recordings as the settings say; without, both off (their
    encoders cost every test that is not about them)."""
    settings.server.port = port or free_port()
    if settings.server.rtmp_port is not None:
        settings.server.rtmp_port = 0
    if not outputs:
        settings.outputs.hls.enabled = settings.outputs.recordings.enabled = False
    settings.server.operator_token = settings.server.operator_token or OPERATOR_TOKEN
    settings.transcripts.directory = settings.transcripts.directory or tempfile.mkdtemp(prefix="talks-")
    if source is not None:
        sources = {settings.room_configs()[0].id: source}
    async with running(settings, sources) as rooms:
        yield LiveServer(rooms, settings.server.port)


class HeldSource(AudioSource):
    """``source`` held back until ``release()``: a talk that starts once its listener is there, however
    long a busy machine takes to open the listener's page."""

    def __init__(self, source: AudioSource) -> None:
        self.source = source
        self.description = source.description
        self._released = asyncio.Event()

    async def open(self) -> None:
        await self.source.open()

    async def close(self) -> None:
        await self.source.close()

    def release(self) -> None:
        """Start the talk."""
        self._released.set()

    async def frames(self) -> AsyncIterator[bytes]:
        await self._released.wait()
        async for frame in self.source.frames():
            yield frame


@dataclass
class Received:
    """What one listener got."""

    hello: dict[str, Any]
    captions: list[dict[str, Any]] = field(default_factory=list)
    other: list[dict[str, Any]] = field(default_factory=list)
    audio: list[tuple[tuple[int, int, int, int, int], bytes]] = field(default_factory=list)

    def finals(self) -> dict[int, dict[str, Any]]:
        """The last final caption of each utterance."""
        return {c["id"]: c for c in self.captions if c["final"]}

    def ended(self) -> set[int]:
        """The utterances whose end-of-audio frame arrived."""
        return {header[3] for header, _ in self.audio if header[2] & FLAG_END}

    def audio_shares(self) -> dict[int, float]:
        """Per ended utterance: the share of its translated audio that arrived (1.0 = all of it).

        The end frame's position is the utterance's whole length in samples; an Opus packet is 20 ms.
        """
        got: dict[int, int] = {}
        total: dict[int, int] = {}
        for (_, codec, flags, utterance, position), payload in self.audio:
            if flags & FLAG_END:
                total[utterance] = position
            elif payload:
                samples = len(opus_packets(payload)) * PACKET_SAMPLES if codec == 1 else len(payload) // 2
                got[utterance] = got.get(utterance, 0) + samples
        return {u: got.get(u, 0) / n for u, n in total.items()}


async def listen(url: str, until: Any, within_s: float = 30.0) -> Received:
    """Connect a real WebSocket client and collect messages until ``until(received)`` is true."""
    async with websockets.connect(url, compression=None) as ws:
        received = Received(json.loads(await asyncio.wait_for(ws.recv(), within_s)))
        return await collect(ws, received, until, within_s)


async def listening(
    server: LiveServer, langs: tuple[str, ...]
) -> tuple[dict[str, websockets.ClientConnection], dict[str, Received]]:
    """Opus listeners of ``langs`` (``original`` too), each with its hello; the caller closes them."""
    channels = {lang: await websockets.connect(f"{server.ws}/ws/listen/{lang}?codec=opus") for lang in langs}
    return channels, {lang: Received(json.loads(await ws.recv())) for lang, ws in channels.items()}


async def collect(ws: Any, received: Received, until: Any, within_s: float = 30.0) -> Received:
    """Add what ``ws`` sends to ``received`` until ``until(received)`` is true."""
    async with asyncio.timeout(within_s):
        while not until(received):
            message = await ws.recv()
            if isinstance(message, bytes):
                header = AUDIO_HEADER.unpack_from(message)
                received.audio.append((header, message[AUDIO_HEADER.size :]))
            else:
                data = json.loads(message)
                (received.captions if data["type"] == "caption" else received.other).append(data)
    return received


def raw_websocket(port: int, path: str, origin: str | None = None) -> socket.socket:
    """A WebSocket opened by hand, so that it can send what a client library would not."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sent_origin = f"Origin: {origin}\r\n" if origin else ""
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{sent_origin}\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(4096)
    assert response.startswith(b"HTTP/1.1 101")
    return sock


def masked_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + mask + masked


class RedisServer:
    """A real redis-server of the test's own, which can be stopped and started again on its port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
