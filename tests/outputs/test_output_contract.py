"""One contract for every output of the table (`translator/outputs/table.py`), each with a real
receiver (its folder, the caption services' endpoints, ffmpeg as an RTMP server, a player decoding
the HTTP stream, an EventSource's reading of the caption events):

- it starts with the room and follows the talk; its language removed and offered again during the
  talk, it follows it again; the server stops within its bound, the output with it;
- an output that cannot deliver (a folder that cannot be made, a service that refuses, an address
  nobody answers, a client that stops reading) says so, and nobody else notices: every listener
  hears the talk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import av
import httpx
import numpy as np
import pytest

from harness.caption_services import CaptionReceivers
from harness.live import LiveServer, free_port, listen, live_server
from harness.voicelive_server import FakeVoiceLive, tone_names
from tests.helpers import every_tone_final, rtmp_receiver, three_turns, until
from translator.audio.wav import WavSource
from translator.config import load_settings
from translator.outputs.table import OUTPUTS
from translator.server import slow_clients
from translator.talk.state import OutputStatus
from translator.tasks import cancel_and_wait

STOP_BOUND_S = 15.0
"""The server's stop, every output's included (`stopping.py` gives the service 10 s after a signal)."""


WORKING = ("writing", "sending", "serving")


@dataclass
class Receiver:
    """Where one output delivers in a test, and how much it has delivered."""

    settings: dict[str, object]
    delivered: Callable[[], float]
    reader: Callable[[LiveServer], Awaitable[None]] | None = None
    """For an output that serves: its client, run while the server does."""
    failed: Callable[[OutputStatus], bool] = lambda status: status.state in ("stopped", "retrying")
    """What the output says when it cannot deliver."""


def stream_sound(url: str, heard: list[float], stop: threading.Event) -> None:
    """In a thread, as a player would: the Ogg/Opus stream decoded by FFmpeg (PyAV), the seconds of
    sound in it added to ``heard``; opened again whenever it ends (the language removed and offered
    again) until ``stop``."""
    while not stop.is_set():
        try:
            with av.open(url, format="ogg", timeout=5) as container:
                for frame in container.decode(audio=0):
                    samples = frame.to_ndarray()
                    if float(np.sqrt(np.mean(samples.astype(np.float32) ** 2))) > 0.01:
                        heard[0] += frame.samples / frame.sample_rate
                    if stop.is_set():
                        return
        except (av.error.FFmpegError, OSError):
            pass
        stop.wait(0.3)


async def read_stream(url: str, heard: list[float]) -> None:
    stop = threading.Event()
    try:
        await asyncio.to_thread(stream_sound, url, heard, stop)
    finally:
        stop.set()  # the thread ends at its next frame, or when FFmpeg's read times out


async def read_events(url: str, finals: list[float]) -> None:
    """An ``EventSource``'s reading: the final captions counted, connected again when it ends."""
    async with httpx.AsyncClient(timeout=None) as client:
        while True:
            async with client.stream("GET", url) as events:
                async for line in events.aiter_lines():
                    if line.startswith("data: ") and json.loads(line[6:]).get("final"):
                        finals[0] += 1
            await asyncio.sleep(0.3)


async def stalled_client(port: int, path: str) -> None:
    """A client that asks for ``path`` and never reads: its window fills, the server's send queue
    grows."""
    loop = asyncio.get_running_loop()
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    stalled.setblocking(False)
    try:
        await loop.sock_connect(stalled, ("127.0.0.1", port))
        await loop.sock_sendall(stalled, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await asyncio.Event().wait()
    finally:
        stalled.close()


def folder_bytes(folder: Path, pattern: str) -> Callable[[], float]:
    return lambda: sum(f.stat().st_size for f in folder.rglob(pattern) if f.is_file())


@contextlib.asynccontextmanager
async def receiver(kind: str, tmp_path: Path, working: bool) -> AsyncIterator[Receiver]:
    """The output ``kind`` into Spanish, delivering to a receiver that takes it (``working``) or to
    a destination that cannot."""
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    off = {"outputs.hls.enabled": False, "outputs.recordings.enabled": False, "transcripts.enabled": False}
    if kind == "hls":
        folder = tmp_path / "hls" if working else blocked / "hls"
        yield Receiver({**off, "outputs.hls.enabled": True, "outputs.hls.directory": str(folder)},
                       folder_bytes(folder, "*"))  # fmt: skip
    elif kind == "recording":
        folder = tmp_path / "talks" if working else blocked / "talks"
        settings = {**off, "outputs.recordings.enabled": True, "transcripts.enabled": True}
        yield Receiver({**settings, "transcripts.directory": str(folder)}, folder_bytes(folder, "*.es.ogg"))
    elif kind in ("zoom", "youtube"):
        async with CaptionReceivers() as receivers:
            if not working:
                receivers.refuse_for(3600)
            url = receivers.zoom_url if kind == "zoom" else receivers.youtube_url
            taken = receivers.zoom if kind == "zoom" else receivers.youtube
            yield Receiver({**off, f"outputs.{kind}": {"es": url}}, lambda: len(taken))
    elif kind == "push":
        if not shutil.which("ffmpeg"):
            pytest.skip("the push needs Debian's ffmpeg")
        port = free_port()
        address = f"rtmp://127.0.0.1:{port}/live/contract-key"
        received = tmp_path / "pushed.flv"
        platform = None
        if working:
            platform = await rtmp_receiver(address, received)
        try:
            yield Receiver({**off, "outputs.push": {"es": address}}, folder_bytes(tmp_path, "pushed.flv"))
        finally:
            if platform is not None and platform.returncode is None:
                platform.kill()
                await platform.wait()
    elif kind in ("stream", "sse"):
        path = "/stream/es.ogg" if kind == "stream" else "/sse/captions/es"
        got = [0.0]
        if working:

            async def reader(server: LiveServer) -> None:
                follow = read_stream if kind == "stream" else read_events
                await follow(f"{server.url}{path}", got)

            yield Receiver(off, lambda: got[0], reader)
        else:
            # Behind by anything for a second: closed (the rule's bounds, small enough for a test).
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(slow_clients, "BEHIND_BYTES", 0)
                patch.setattr(slow_clients, "STALL_S", 1.0)
                yield Receiver(
                    off,
                    lambda: got[0],
                    lambda server: stalled_client(server.port, path),
                    lambda status: "dropped" in status.detail or "let go" in status.detail,
                )
    else:
        raise AssertionError(f"the output {kind!r} of the table has no case in the contract suite")


def settings_with(voicelive: FakeVoiceLive, talk: Path, outputs: dict[str, object]):
    return load_settings(
        env={"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "contract-key"},
        overrides={"targets": ["es", "fr"], "azure.model": "gpt-4.1", **outputs},
    )


def the_output(server: LiveServer, kind: str):
    (output,) = [o for o in server.rooms.outputs["main"] if o.status().name == kind]
    return output


KINDS = [kind.name for kind in OUTPUTS]


@dataclass
class Served:
    destination: Receiver
    server: LiveServer
    stop: Callable[[], Awaitable[None]]
    """Stops the server (and its outputs); leaving the context does it otherwise."""


@contextlib.asynccontextmanager
async def served(kind: str, tmp_path: Path, *, working: bool, loop: bool) -> AsyncIterator[Served]:
    """A room into Spanish and French with the output ``kind`` on, the tone talk (``loop``: for ever)."""
    talk = three_turns(tmp_path / "talk.wav")
    async with (
        receiver(kind, tmp_path, working) as destination,
        FakeVoiceLive(transcribe=tone_names, reply_s=(1.0,)) as voicelive,
        contextlib.AsyncExitStack() as stack,
    ):
        settings = settings_with(voicelive, talk, destination.settings)
        server = await stack.enter_async_context(
            live_server(settings, WavSource(talk, loop=loop), outputs=True)
        )
        if destination.reader is not None:
            reading = asyncio.create_task(destination.reader(server))
            stack.push_async_callback(cancel_and_wait, reading)
        yield Served(destination, server, stack.aclose)


@pytest.mark.parametrize("kind", KINDS)
async def test_an_output_follows_the_talk_and_its_language_and_stops_within_its_bound(
    kind: str, tmp_path: Path
) -> None:
    async with served(kind, tmp_path, working=True, loop=True) as room:
        server, delivered = room.server, room.destination.delivered
        async with httpx.AsyncClient(base_url=server.url, headers=server.operator) as client:
            output = the_output(server, kind)
            await until(lambda: delivered() > 0, 40)
            assert output.status().state in WORKING, output.status()
            # Spanish removed and offered again during the talk: the output follows it again.
            assert (await client.delete("/api/languages/es")).status_code == 200
            before = delivered()
            assert (await client.post("/api/languages", json={"code": "es"})).status_code == 201
            await listen(f"{server.ws}/ws/listen/es", lambda r: len(r.finals()) >= 1, within_s=40)
            await until(lambda: delivered() > before, 40)
            assert output.status().state in WORKING, output.status()
        async with asyncio.timeout(STOP_BOUND_S):
            await room.stop()


@pytest.mark.parametrize("kind", KINDS)
async def test_an_output_that_cannot_deliver_says_so_and_nobody_else_notices(
    kind: str, tmp_path: Path
) -> None:
    async with served(kind, tmp_path, working=False, loop=False) as room:
        server = room.server
        in_spanish, in_french = await asyncio.gather(
            listen(f"{server.ws}/ws/listen/es", every_tone_final, within_s=60),
            listen(f"{server.ws}/ws/listen/fr", every_tone_final, within_s=60),
        )
        output = the_output(server, kind)
        await until(lambda: room.destination.failed(output.status()), 30)
    assert output.status().detail, "it says why"
    for received in (in_spanish, in_french):
        assert all(share >= 0.99 for share in received.audio_shares().values())
