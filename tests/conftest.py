from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness.live import talk_wav
from harness.voicelive_server import FakeVoiceLive

# What the service keeps on a machine (the operator token, YouTube's caption counters), kept apart
# for each test process and its children: never the home folder of the machine the tests run on.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="translator-state-")


SLOWEST_FIRST = Path(__file__).with_name("slow-tests.txt")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest tests (`SLOWEST_FIRST`) first, the slowest of all first; the rest as collected.
    xdist, handing one test at a time (``--maxschedchunk 1``), gives them out in this order: each
    worker starts on a long one, and the short ones fill the end (a 57 s test begun last held the
    whole run up by about that much)."""
    names = [line for line in SLOWEST_FIRST.read_text().splitlines() if line and not line.startswith("#")]
    rank = {name: index for index, name in enumerate(names)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("[")[0], len(rank)))


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
