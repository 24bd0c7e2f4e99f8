from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from harness.live import RedisServer, talk_wav
from harness.voicelive_server import FakeVoiceLive

# What the service keeps on a machine (the operator token, YouTube's caption counters), kept apart
# for each test process and its children: never the home folder of the machine the tests run on.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="translator-state-")


@pytest.fixture(scope="session")
def talk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two short English sentences spoken by espeak-ng, with silence around them."""
    return talk_wav(
        ["Good morning everyone.", "Please turn off your phones."],
        tmp_path_factory.mktemp("audio") / "talk.wav",
    )


@pytest.fixture
async def voicelive() -> AsyncIterator[FakeVoiceLive]:
    server = FakeVoiceLive()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()
