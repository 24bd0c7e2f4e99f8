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
import collections
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


def _kill_unwanted(starting: asyncio.Future[subprocess.Popen[bytes]]) -> None:
    """Kill the process a cancelled `Child.start` started after all, and reap it off the loop."""
    if starting.cancelled() or starting.exception() is not None:
        return
    process = starting.result()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    asyncio.get_running_loop().run_in_executor(None, process.wait)


class Child:
    """A running child process; with ``pipes``, its stdin and stdout as asyncio streams.

    Started in its own session (process group), so that `kill` ends a whole shell pipeline.
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        stdin: asyncio.StreamWriter | None,
        stdout: asyncio.StreamReader | None,
        messages: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None,
    ) -> None:
        self._process = process
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = messages[0] if messages is not None else None
        # Held (a writer dropped would close its socket) and closed with the child.
        self._messages = messages[1] if messages is not None else None
        self._reaping: asyncio.Future[int] | None = None
        """The wait for a killed child, held until it is done (its caller may have gone)."""

    @classmethod
    async def start(
        cls,
        args: Sequence[str],
        pipes: bool = False,
        env: Mapping[str, str] | None = None,
        messages: bool = False,
        handed: socket.socket | None = None,
    ) -> Child:
        """Start ``args``; with ``pipes`` its stdin and stdout are streams (else both are closed),
        with ``messages`` its stderr too (else it is closed); ``handed`` (one end of a socket pair,
        closed here) stays open in the child under its own number (``pipe:N`` to ffmpeg).

        The streams are one end of a socket pair, the child's stdin and stdout the other: the loop
        owns a socket outright, whereas uvloop closes a pipe's descriptor and then its file object
        again, which in a threaded process can close some other thread's file.
        """
        ours, theirs = socket.socketpair() if pipes else (None, None)
        heard, said = socket.socketpair() if messages else (None, None)
        try:
            end = theirs.fileno() if theirs is not None else subprocess.DEVNULL
            starting = asyncio.ensure_future(
                asyncio.to_thread(
                    subprocess.Popen,
                    list(args),
                    stdin=end,
                    stdout=end,
                    stderr=said.fileno() if said is not None else subprocess.DEVNULL,
                    start_new_session=True,
                    env=env,
                    pass_fds=(handed.fileno(),) if handed is not None else (),
                )
            )
            try:
                process = await asyncio.shield(starting)
            except asyncio.CancelledError:
                # Cancelled while the thread starts it (a language stopped as its stage starts): it
                # is waited for (moments; the descriptors it is handed stay open until it has them),
                # then killed and reaped, never left running unowned.
                await asyncio.wait({starting})
                _kill_unwanted(starting)
                raise
        except BaseException:
            for sock in (ours, heard):
                if sock is not None:
                    sock.close()
            raise
        finally:
            for sock in (theirs, said, handed):
                if sock is not None:
                    sock.close()
        stderr = await asyncio.open_connection(sock=heard) if heard is not None else None
        if ours is None:
            return cls(process, None, None, stderr)
        reader, writer = await asyncio.open_connection(sock=ours, limit=READ_LIMIT)
        return cls(process, writer, reader, stderr)

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

    async def end(self, timeout_s: float, *, input_first: bool = False) -> None:
        """End it within ``timeout_s``: with ``input_first`` its input is closed and it finishes by
        itself (an encoder flushing what it holds), else SIGTERM; killed past the bound. Reaped,
        our ends of its streams closed."""
        if self.returncode is None:
            if input_first and self.stdin is not None:
                with contextlib.suppress(OSError):
                    self.stdin.write_eof()
            else:
                self.signal(signal.SIGTERM)
            try:
                await self.wait(timeout_s)
            except TimeoutError:
                await self.kill()
                return
        self.close_pipes()

    async def said(self, lines: collections.deque[str]) -> None:
        """Keep the last of what it says on stderr in ``lines`` until it closes stderr (read all
        along: a full pipe would stall it)."""
        assert self.stderr is not None, "start it with messages=True"
        while line := await self.stderr.readline():
            if line.strip():
                lines.append(line.decode("utf-8", "replace").strip())

    async def kill(self) -> None:
        """Kill its process group and reap it; its pipes are closed. Reaped even when the caller is
        cancelled meanwhile (a stage killed as its language stops): a child left unreaped stays a
        zombie, and its Popen complains when it is collected."""
        self.signal(signal.SIGKILL)
        self._reaping = asyncio.ensure_future(self.wait())
        try:
            await asyncio.shield(self._reaping)
        finally:
            self.close_pipes()

    def close_pipes(self) -> None:
        """Close our ends of its streams (an exited child's)."""
        for writer in (self.stdin, self._messages):
            if writer is not None:
                writer.close()
