"""Child processes started by the standard library in a worker thread, never by the event loop.

uvloop starts a child with ``fork()``, which runs every loaded library's at-fork handlers in the
parent first. numpy's OpenBLAS has one that waits for its thread pool; when another thread is inside
a matrix product at that moment (the offline recognition, always running somewhere in a busy room),
it waits for ever and the event loop with it: four of seven offline starts hung that way. CPython's
``subprocess`` starts children with ``vfork()`` on Linux, which runs no at-fork handler, so every
child of the service starts here, and its pipes join the event loop afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence

# A resident child's answers can be long (a paragraph of Apertium stream format).
READ_LIMIT = 1024 * 1024


async def run(
    args: Sequence[str], timeout_s: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``args`` to completion, capturing its output; raises subprocess.TimeoutExpired (the
    child killed) after ``timeout_s``."""
    return await asyncio.to_thread(
        subprocess.run, list(args), capture_output=True, timeout=timeout_s, env=env
    )


class Child:
    """A running child process; with ``pipes``, its stdin and stdout as asyncio streams.

    Started in its own session (process group), so that `kill` ends a whole shell pipeline.
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        stdin: asyncio.StreamWriter | None,
        stdout: asyncio.StreamReader | None,
    ) -> None:
        self._process = process
        self.stdin = stdin
        self.stdout = stdout

    @classmethod
    async def start(
        cls, args: Sequence[str], pipes: bool = False, env: Mapping[str, str] | None = None
    ) -> Child:
        """Start ``args``; with ``pipes`` its stdin and stdout are streams (else both are closed).

        The streams are one end of a socket pair, the child's stdin and stdout the other: the loop
        owns a socket outright, whereas uvloop closes a pipe's descriptor and then its file object
        again, which in a threaded process can close some other thread's file.
        """
        ours, theirs = socket.socketpair() if pipes else (None, None)
        try:
            end = theirs.fileno() if theirs is not None else subprocess.DEVNULL
            process = await asyncio.to_thread(
                subprocess.Popen,
                list(args),
                stdin=end,
                stdout=end,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        except BaseException:
            if ours is not None:
                ours.close()
            raise
        finally:
            if theirs is not None:
                theirs.close()
        if ours is None:
            return cls(process, None, None)
        reader, writer = await asyncio.open_connection(sock=ours, limit=READ_LIMIT)
        return cls(process, writer, reader)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """Its exit status once it has exited, else None."""
        return self._process.poll()

    def signal(self, number: int) -> None:
        """Send ``number`` to its whole process group (nothing if it is gone)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, number)

    async def wait(self, timeout_s: float | None = None) -> int:
        """Its exit status; raises TimeoutError after ``timeout_s``. No thread waits meanwhile: the
        loop watches a pidfd, readable once the process has exited."""
        if (code := self._process.poll()) is not None:
            return code
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[None] = loop.create_future()
        fd = os.pidfd_open(self._process.pid)

        def readable() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(fd, readable)
        try:
            async with asyncio.timeout(timeout_s):
                await exited
        except TimeoutError:
            raise TimeoutError(f"process {self.pid} still running after {timeout_s} s") from None
        finally:
            loop.remove_reader(fd)
            os.close(fd)
        return self._process.wait()

    async def kill(self) -> None:
        """Kill its process group and reap it; its pipes are closed."""
        self.signal(signal.SIGKILL)
        await self.wait()
        if self.stdin is not None:
            self.stdin.close()
