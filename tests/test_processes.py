"""Child processes start without fork's at-fork handlers, under the server's own loop (uvloop)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import uvloop

from tests.helpers import until
from translator import processes


def test_children_start_without_running_at_fork_handlers() -> None:
    """uvloop's own spawn runs them (the deadlock's trigger); a child started here does not."""
    forks: list[int] = []
    os.register_at_fork(before=lambda: forks.append(1))

    async def children() -> tuple[bytes, int, bytes]:
        uvloop_spawn = await asyncio.create_subprocess_exec("true")
        await uvloop_spawn.wait()
        assert len(forks) == 1, "uvloop runs the at-fork handlers (else this test proves nothing)"
        cat = await processes.Child.start(["cat"], pipes=True)
        assert cat.stdin is not None and cat.stdout is not None
        cat.stdin.write(b"hello\n")
        await cat.stdin.drain()
        echoed = await cat.stdout.readline()
        await cat.kill()
        done = await processes.run(["echo", "spoken"], timeout_s=5)
        return echoed, done.returncode, done.stdout

    assert uvloop.run(children()) == (b"hello\n", 0, b"spoken\n")
    assert len(forks) == 1, "no at-fork handler ran for our own children"


async def test_a_child_is_waited_for_with_a_bound_and_killed_with_its_group() -> None:
    shell = await processes.Child.start(["bash", "-c", "sleep 60 | sleep 60"])
    with pytest.raises(TimeoutError):
        await shell.wait(timeout_s=0.2)
    await shell.kill()
    assert shell.returncode == -9

    def group_gone() -> bool:
        """No process left in the group (fields after the command's closing parenthesis: state,
        parent, group)."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                if int(stat.read_text().rpartition(")")[2].split()[2]) == shell.pid:
                    return False
        return True

    await until(group_gone, within_s=5)


async def test_a_run_that_does_not_finish_is_killed() -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        await processes.run([sys.executable, "-c", "import time; time.sleep(60)"], timeout_s=0.5)


def test_numpy_keeps_no_blas_thread_pool() -> None:
    """Importing the service first sizes OpenBLAS's pool to the calling thread alone."""
    probe = (
        "import translator, os, numpy; a = numpy.ones((400, 400)); a @ a; "
        "print(len(os.listdir('/proc/self/task')))"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    threads = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert threads.stdout.strip() == "1"


def running(marker: str) -> list[int]:
    """The processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


async def test_a_start_cancelled_while_its_process_starts_leaves_nothing_running() -> None:
    """A language stopped as its stage starts: the process the thread started anyway is killed and
    reaped, not left running for its Popen to complain about when collected."""
    marker = "31.41592"
    starting = asyncio.create_task(processes.Child.start(["sleep", marker]))
    await asyncio.sleep(0)  # the start is under way, in its thread
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    await until(lambda: not running(marker), 10)
