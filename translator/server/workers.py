"""``translator serve --workers N``: N listener processes, each a ``translator serve`` of its own in
listener-only mode, sharing the public port (SO_REUSEPORT) and the talk (the broker); supervised by
the process that runs the pipeline, and gone with it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator

import msgspec

from translator.config import Settings, validate
from translator.processes import Child
from translator.server.stopping import Stopping
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

SETTINGS_ENV = "TRANSLATOR_WORKER_SETTINGS"
"""A worker's settings, as JSON, from the process that started it."""
PARENT_ENV = "TRANSLATOR_WORKER_PARENT"
RESTART_S = 1.0
STOP_S = 5.0


def worker_settings(settings: Settings) -> Settings:
    """What a listener process needs: the same settings, listener-only, without Azure's secrets."""
    return msgspec.structs.replace(
        settings,
        broker=msgspec.structs.replace(settings.broker, listener_only=True),
        server=msgspec.structs.replace(settings.server, workers=1),
        azure=msgspec.structs.replace(settings.azure, api_key=None),
        translate=msgspec.structs.replace(settings.translate, api_key=None),
        rooms=[
            msgspec.structs.replace(
                room,
                azure=msgspec.structs.replace(room.azure, api_key=None),
                translate=msgspec.structs.replace(room.translate, api_key=None),
            )
            for room in settings.rooms
        ],
    )


def settings_from_parent() -> Settings | None:
    """A worker's settings, when this process was started as one."""
    encoded = os.environ.get(SETTINGS_ENV)
    if encoded is None:
        return None
    settings = msgspec.json.decode(encoded, type=Settings)
    validate(settings)
    return settings


@contextlib.asynccontextmanager
async def supervised(settings: Settings) -> AsyncIterator[None]:
    """Run ``server.workers`` listener processes while the block runs; one that exits is restarted."""
    env = os.environ | {
        SETTINGS_ENV: msgspec.json.encode(worker_settings(settings)).decode(),
        PARENT_ENV: str(os.getpid()),
    }
    tasks = [
        asyncio.create_task(_keep_running(index, env), name=f"worker-{index}")
        for index in range(settings.server.workers)
    ]
    try:
        yield
    finally:
        await asyncio.gather(*(cancel_and_wait(task, STOP_S + 1) for task in tasks))


async def _keep_running(index: int, env: dict[str, str]) -> None:
    while True:
        process = await Child.start([sys.executable, "-m", "translator", "serve"], env=env)
        try:
            code = await process.wait()
        except asyncio.CancelledError:
            process.signal(signal.SIGTERM)
            try:
                await process.wait(STOP_S)
            except TimeoutError:
                await process.kill()
            raise
        log.error("listener process %d exited with status %s; restarting it", index, code)
        await asyncio.sleep(RESTART_S)


@contextlib.asynccontextmanager
async def parent_watched(stop: Stopping) -> AsyncIterator[None]:
    """In a listener process: stop once the process that started it is gone (even killed), from the
    start on: one still waiting for the talk's state must not outlive it, holding the port."""
    parent = os.environ.get(PARENT_ENV)
    if parent is None:
        yield
        return

    async def watch() -> None:
        while os.getppid() == int(parent):  # noqa: ASYNC110 - no event tells a process its parent is gone
            await asyncio.sleep(1.0)
        stop.request("the pipeline process is gone")

    watcher = asyncio.create_task(watch(), name="parent-watch")
    try:
        yield
    finally:
        await cancel_and_wait(watcher)
