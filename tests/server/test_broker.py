"""Several processes sharing one talk through a real Redis (``redis-server`` on a free port): the
pipeline's process and listener-only processes, `translator serve --workers`, a Redis restart."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis
import websockets

from harness.live import OPERATOR_TOKEN, Received, RedisServer, free_port, listen
from harness.voicelive_server import FakeVoiceLive
from tests.helpers import ready, settled, shared_talk, translator_process, until
from translator.hub import broker as redis_broker


def finished(count: int):
    """``count`` final captions whose audio has ended."""
    return lambda r: len([i for i in r.finals() if i in r.ended()]) >= count


def whole(received: Received) -> set[int]:
    """The utterances whose audio it heard from their start (one under way when it joined is not)."""
    return {utterance for (_, _, _, utterance, position), _ in received.audio if position == 0}


def same_talk(a: Received, b: Received) -> int:
    """Both got the same captions and all of the audio of every utterance both heard from its start
    to its end; how many."""
    both = sorted(set(a.finals()) & set(b.finals()) & a.ended() & b.ended() & whole(a) & whole(b))
    for utterance in both:
        assert a.finals()[utterance] == b.finals()[utterance]
        assert a.audio_shares()[utterance] == b.audio_shares()[utterance] == 1.0
    return len(both)


async def test_listeners_on_two_processes_get_the_whole_talk(
    voicelive: FakeVoiceLive,
    talk: Path,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, logger="translator.hub.broker")
    monkeypatch.setattr(redis_broker, "COUNTS_LOG_S", 0.0)  # every change, not once a minute
    async with shared_talk(voicelive, talk, redis_server) as (pipeline, worker):
        here, there = await asyncio.gather(
            listen(f"{pipeline.ws}/ws/listen/es?codec=opus", finished(3)),
            listen(f"ws://127.0.0.1:{worker}/ws/listen/es?codec=opus", finished(3)),
        )
        # A late joiner on the listener process gets the recent captions, from Redis.
        late = await listen(f"ws://127.0.0.1:{worker}/ws/listen/es", lambda r: True)
        async with (
            websockets.connect(f"ws://127.0.0.1:{worker}/ws/listen/es"),
            websockets.connect(f"{pipeline.ws}/ws/listen/fr"),
            httpx.AsyncClient() as client,
        ):
            counted = await settled(
                lambda: _counts(client, pipeline.url, f"http://127.0.0.1:{worker}"),
                lambda counts: all(c == {"es": 1, "fr": 1} for c in counts),
            )
            public_status = await client.get(f"http://127.0.0.1:{worker}/api/status")
    assert same_talk(here, there) >= 2
    assert there.hello["protocol"] == 2 and there.hello["state"] == "ready"
    history = {c.id: c.text for c in pipeline.room.hub.channels["es"].history}
    # (A caption's source line may arrive after its translation: the pipeline's copy may be newer.)
    assert late.hello["captions"] and all(history[c["id"]] == c["text"] for c in late.hello["captions"])
    assert counted[0] == counted[1] == {"es": 1, "fr": 1}, "every process counts everyone's listeners"
    assert public_status.status_code == 404, "operator surfaces stay with the pipeline"
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("listeners: ")]
    assert "listeners: es 1, fr 1, original 0 (in 2 processes)" in logged, (
        "the log counts every process's listeners"
    )


async def test_a_redis_restart_is_survived(
    voicelive: FakeVoiceLive, talk: Path, redis_server: RedisServer
) -> None:
    async with shared_talk(voicelive, talk, redis_server) as (pipeline, worker):
        urls = (f"{pipeline.ws}/ws/listen/es", f"ws://127.0.0.1:{worker}/ws/listen/es")
        async with websockets.connect(urls[0]) as here, websockets.connect(urls[1]) as there:
            await asyncio.gather(here.recv(), there.recv())
            restarted = pipeline.room.broker
            assert restarted is not None
            redis_server.stop()
            # Something is published while Redis is down (the talk may be between sentences): a
            # test tone, whose audio and captions cannot reach Redis and are counted as lost.
            pipeline.room.send_tone("es")
            async with asyncio.timeout(10):
                while not restarted.dropped:  # noqa: ASYNC110 - a counter, with no event to wait on
                    await asyncio.sleep(0.05)
            redis_server.start()
            # Captions published after the restart reach both processes' listeners, still connected.
            # Each process reconnects after its own back-off: read both until they share captions.
            after: tuple[set[int], set[int]] = (set(), set())
            async with asyncio.timeout(40):
                while len(after[0] & after[1]) < 2:
                    for ws, ids in zip((here, there), after, strict=True):
                        if len(ids) <= len(after[0] & after[1]) + 2:
                            ids.add(await _next_final(ws))
    assert len(after[0] & after[1]) >= 2
    assert restarted.dropped > 0, "what was published while Redis was down is counted as lost"


async def _next_final(ws: websockets.ClientConnection) -> int:
    """The id of the next final caption ``ws`` receives."""
    while True:
        message = await ws.recv()
        if isinstance(message, str) and '"type":"caption"' in message and '"final":true' in message:
            return int(message.split('"id":')[1].split(",")[0])


async def test_serve_with_two_worker_processes(
    voicelive: FakeVoiceLive, talk: Path, redis_server: RedisServer
) -> None:
    env = {"AZURE_VOICELIVE_ENDPOINT": voicelive.endpoint, "AZURE_VOICELIVE_API_KEY": "worker-secret"}
    operator = free_port()
    arguments = ("--workers", "2", "--operator-port", str(operator), "--broker", redis_server.url)
    arguments += ("--input", str(talk), "--loop", "--target", "es")
    async with translator_process(*arguments, env=env) as public:
        await ready(operator)
        await ready(public)
        received = await asyncio.gather(
            *(listen(f"ws://127.0.0.1:{public}/ws/listen/es", finished(2), within_s=60) for _ in range(6))
        )
        async with websockets.connect(f"ws://127.0.0.1:{public}/ws/listen/es"), httpx.AsyncClient() as client:
            (total,) = await settled(
                lambda: _counts(client, f"http://127.0.0.1:{public}"), lambda counts: counts == [{"es": 1}]
            )
            # The pipeline's process counts the listener processes' listeners a sync later.
            status = await settled(
                lambda: client.get(
                    f"http://127.0.0.1:{operator}/api/status",
                    headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
                ),
                lambda answer: answer.json()["languages"][0]["listeners"] == 1,
            )
            refused = await client.get(f"http://127.0.0.1:{operator}/api/status")
            console = await client.get(f"http://127.0.0.1:{public}/console?token={OPERATOR_TOKEN}")
        workers = _children(public)
    assert all(len(r.finals()) >= 2 for r in received)
    assert total == {"es": 1}
    assert status.status_code == 200 and status.json()["languages"][0]["listeners"] == 1
    assert refused.status_code == 401 and console.status_code == 404
    assert len(workers) == 2, "two listener processes"
    assert "worker-secret" not in status.text


async def _counts(client: httpx.AsyncClient, *urls: str) -> list[dict[str, int]]:
    """Each server's listener counts by language (the processes exchange them every second)."""
    return [
        {t["code"]: t["listeners"] for t in (await client.get(f"{url}/api/languages")).json()["targets"]}
        for url in urls
    ]


def _children(port: int) -> list[int]:
    """The listener processes: translator processes listening on ``port`` (SO_REUSEPORT)."""
    found = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    return sorted({int(part.split("pid=")[1].split(",")[0]) for part in found.split() if "pid=" in part})


async def test_garbage_in_redis_is_dropped_and_counted_and_the_talk_goes_on(
    voicelive: FakeVoiceLive, talk: Path, redis_server: RedisServer
) -> None:
    """Whoever can write to Redis publishes a malformed message on a language's channel and writes
    unreadable listener counts: both processes drop and count them, stay ready, and their listeners
    keep getting the talk."""
    async with shared_talk(voicelive, talk, redis_server) as (pipeline, worker):
        urls = (f"{pipeline.ws}/ws/listen/es", f"ws://127.0.0.1:{worker}/ws/listen/es")
        async with websockets.connect(urls[0]) as here, websockets.connect(urls[1]) as there:
            await asyncio.gather(here.recv(), there.recv())
            assert pipeline.room.broker is not None
            prefix = pipeline.room.broker.config.channel
            attacker = redis.from_url(redis_server.url)
            try:
                for garbage in (b"T{not json", b"A\x00\x01", b"\xff\xfe", b""):
                    await attacker.publish(f"{prefix}:lang:es", garbage)
                await attacker.set(f"{prefix}:listeners:evil", b'["not", "counts"]', ex=60)
                await attacker.set(f"{prefix}:listeners:worse", b"\xff", ex=60)
                after = await asyncio.gather(*(_next_final(ws) for ws in (here, there)))
                after = await asyncio.gather(*(_next_final(ws) for ws in (here, there)))
            finally:
                await attacker.aclose()
            async with httpx.AsyncClient() as client:
                readiness = [
                    (await client.get(f"{url}/readyz")).status_code
                    for url in (pipeline.url, f"http://127.0.0.1:{worker}")
                ]
                # The four messages, and the two counts once a sync has read them (once a second).
                broker = pipeline.room.broker
                await until(lambda: broker.malformed >= 6, 30)
                metrics = (await client.get(f"{pipeline.url}/metrics", headers=pipeline.operator)).text
    assert after[0] == after[1], "both processes' listeners go on with the same talk"
    assert readiness == [200, 200]
    assert 'translator_broker_malformed_total{room="main"}' in metrics
