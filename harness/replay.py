"""A ``translator check --probe`` recording answered again: the test services (Voice Live's and
gpt-realtime-translate's) replay what the real one sent, so that a user's file becomes a test."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

CLOSED = "connection.closed"
"""Not an event of any protocol: the probe's record of the service closing the connection (with
``code`` and ``reason``)."""

Recorded = list[tuple[str, dict[str, Any], float, float | None]]
"""Each event's direction, the event, its seconds since the probe began and its wall clock (absent
from recordings made before it was kept)."""
"""One recorded connection: its events in order, each ("sent" or "received", the event, seconds
since the probe began)."""


async def client_events(
    ws: web.WebSocketResponse, keep: Callable[[dict[str, Any]], None]
) -> AsyncIterator[dict[str, Any]]:
    """A test service's client's events as they arrive, each given to ``keep`` first, until it
    leaves."""
    async for message in ws:
        if message.type != WSMsgType.TEXT:
            return
        event = json.loads(message.data)
        keep(event)
        yield event


def recorded_connections(path: Path) -> list[Recorded]:
    """A ``--probe`` recording's connections, each its events in order."""
    connections: dict[int, Recorded] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        wall = record.get("wall")
        entry = (record["dir"], record["event"], float(record["at"]), None if wall is None else float(wall))
        connections.setdefault(record["connection"], []).append(entry)
    return [connections[n] for n in sorted(connections)]


def _moved(event: dict[str, Any], wall: float | None) -> dict[str, Any]:
    """``event`` with the service's own clock (a session's ``expires_at``) moved by the time since
    it was recorded: the service would give a session opened now the same hour from now."""
    session = event.get("session")
    if wall is None or not isinstance(session, dict) or not session.get("expires_at"):
        return event
    return event | {"session": session | {"expires_at": session["expires_at"] + round(time.time() - wall)}}


def _unscrubbed(event: dict[str, Any]) -> dict[str, Any]:
    """Audio recorded as its size becomes that much audio again: silence (``<N bytes>``), or a tone
    where it was sound (``<N bytes of sound>``)."""
    return {key: _audio(value) if isinstance(value, str) else value for key, value in event.items()}


def _audio(value: str) -> str:
    if not (match := re.fullmatch(r"<(\d+) bytes( of sound)?>", value)):
        return value
    samples = int(match[1]) // 2
    if not match[2]:
        return base64.b64encode(bytes(samples * 2)).decode()
    tone = np.sin(2 * np.pi * 440 * np.arange(samples) / 24_000) * 8000
    return base64.b64encode(tone.astype("<i2").tobytes()).decode()


async def replay_connection(
    ws: web.WebSocketResponse, client_events: AsyncIterator[dict[str, Any]], recorded: Recorded
) -> None:
    """Answer a client as the recorded service did: what it sent after each client event, sent
    after the same event (audio appends by their count, other events by the next of their type),
    and never before what it sent earlier (a client's appends run ahead of its other events by
    different amounts on different runs). A recorded close closes the socket, as long after the
    event before it as it came."""
    blocks: list[list[tuple[dict[str, Any], float]]] = [[]]
    """What the service sent after each client event (the first: before any), with the wait
    before a close."""
    waiting: dict[str, deque[int]] = defaultdict(deque)
    """By event type, the blocks whose client event has not yet come, in order."""
    previous = recorded[0][2] if recorded else 0.0
    for direction, event, at, wall in recorded:
        if direction == "sent":
            waiting[event["type"]].append(len(blocks))
            blocks.append([])
        else:
            blocks[-1].append((_moved(_unscrubbed(event), wall), at - previous))
        previous = at
    arrived = [True] + [False] * (len(blocks) - 1)
    sent = 0

    async def send_what_is_due() -> None:
        nonlocal sent
        while sent < len(blocks) and arrived[sent]:
            for reply, after in blocks[sent]:
                if reply["type"] == CLOSED:
                    await asyncio.sleep(after)
                    await ws.close(
                        code=reply.get("code") or 1000, message=(reply.get("reason") or "").encode()
                    )
                    return
                await ws.send_str(json.dumps(reply))
            sent += 1

    await send_what_is_due()
    async for event in client_events:
        if waiting[event["type"]]:
            arrived[waiting[event["type"]].popleft()] = True
        await send_what_is_due()
