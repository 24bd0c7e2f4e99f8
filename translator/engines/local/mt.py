"""Machine translation with Apertium (Debian packages), kept resident: one pipeline per language pair.

A new ``apertium`` process per sentence costs 150–350 ms; a resident pipeline 1–3 ms. Each request
is the text, a newline and a NUL; the answer ends at the NUL. Pairs Apertium lacks go through a pivot
(English → French through Catalan came out better than through Spanish).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Collection, Mapping
from pathlib import Path

from translator.engines.local.system import require_program
from translator.engines.local.terms import protect, restore
from translator.errors import PermanentEngineError, TransientEngineError
from translator.processes import Child

MODES_DIR = Path("/usr/share/apertium/modes")

# Source → target → the Apertium modes to run in order, each with the Debian package holding it.
ROUTES: dict[str, dict[str, list[tuple[str, str]]]] = {
    "en": {
        "es": [("eng-spa", "apertium-eng-spa")],
        "ca": [("eng-cat", "apertium-eng-cat")],
        "gl": [("en-gl", "apertium-en-gl")],
        "eo": [("en-eo", "apertium-eo-en")],
        "fr": [("eng-cat", "apertium-eng-cat"), ("cat-fra", "apertium-fra-cat")],
        "it": [("eng-spa", "apertium-eng-spa"), ("spa-ita", "apertium-spa-ita")],
    },
    # Into English, for a floor where these are spoken too (the same Debian packages hold both ways).
    "es": {
        "en": [("spa-eng", "apertium-eng-spa")],
        "it": [("spa-ita", "apertium-spa-ita")],
        "pt": [("es-pt", "apertium-es-pt")],
    },
    "ca": {"en": [("cat-eng", "apertium-eng-cat")], "fr": [("cat-fra", "apertium-fra-cat")]},
    "gl": {"en": [("gl-en", "apertium-en-gl")]},
    "eo": {"en": [("eo-en", "apertium-eo-en")]},
    "fr": {"en": [("fra-cat", "apertium-fra-cat"), ("cat-eng", "apertium-eng-cat")]},
}
PORTUGUESE_THROUGH_SPANISH = [("eng-spa", "apertium-eng-spa"), ("es-pt", "apertium-es-pt")]
"""English → Portuguese before the neural model (`neural.py`): the benchmark's baseline."""
REQUEST_TIMEOUT_S = 5.0
"""A request answered in 1–3 ms normally: a pipeline this slow is hung, and is killed."""
STARTUP_TIMEOUT_S = 60.0
"""Loading a pair's dictionaries takes up to a few seconds on a busy machine: the first request
(a warm-up) may take that long, so that no real request ever pays for it."""
# Characters with a meaning in Apertium's stream format; escaped so that text passes through as text.
_SPECIAL = re.compile(r"([\\\[\]^$/@*#<>{}])")


def mode_command(mode: str, package: str) -> str:
    """The shell pipeline of a mode, in NUL-flush form, without unknown-word marks."""
    require_program("apertium", "apertium")
    path = MODES_DIR / f"{mode}.mode"
    if not path.is_file():
        raise PermanentEngineError(
            f"Apertium pair {mode} is not installed: the offline engine needs the Debian package {package} "
            f"(sudo apt-get install {package})"
        )
    command = subprocess.run(
        ["apertium-wblank-mode", "-z", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    # $1 is the generator's option (-n: no marks on unknown words), $2 the tagger's extra option.
    return command.replace("$1", "-n").replace("$2", "")


class ApertiumPipe:
    """One resident Apertium pipeline; requests go one at a time."""

    def __init__(self, mode: str, package: str) -> None:
        self.mode = mode
        self.package = package
        self._process: Child | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Start the pipeline and wait until it has answered a first request."""
        command = await asyncio.to_thread(mode_command, self.mode, self.package)
        self._process = await Child.start(["bash", "-c", command], pipes=True)
        await self._request("Hello.", STARTUP_TIMEOUT_S)

    async def warm(self) -> None:
        """Start the pipeline unless it runs (pivot pipelines are shared by several languages)."""
        async with self._lock:
            if self._process is None or self._process.returncode is not None:
                await self.stop()
                await self.start()

    async def stop(self) -> None:
        """Kill the whole pipeline (its own process group: bash alone would leave the stages running)."""
        if self._process is None:
            return
        await self._process.kill()
        self._process = None

    async def restart(self) -> None:
        """Kill the pipeline between requests; the next request starts a fresh one."""
        async with self._lock:
            await self.stop()

    async def translate(self, stream: str) -> str:
        """Translate one line of Apertium stream format (restarting the pipeline if it died).

        A request that fails or times out kills the pipeline: its late answer must never be read
        as the answer to the next request.
        """
        async with self._lock:
            if self._process is None or self._process.returncode is not None:
                await self.stop()
                await self.start()
            return await self._request(stream, REQUEST_TIMEOUT_S)

    async def _request(self, stream: str, timeout_s: float) -> str:
        assert self._process is not None and self._process.stdin and self._process.stdout
        try:
            self._process.stdin.write(stream.encode() + b"\n\0")
            await self._process.stdin.drain()
            answer = await asyncio.wait_for(self._process.stdout.readuntil(b"\0"), timeout_s)
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            await self.stop()
            what = "did not answer in time" if isinstance(exc, TimeoutError) else "died"
            raise TransientEngineError(f"Apertium {self.mode} {what}; restarted") from exc
        except asyncio.CancelledError:
            # Its answer is still coming: the next request (maybe another language's) must not read it.
            await self.stop()
            raise
        return answer[:-1].decode().strip()


class ApertiumTranslator:
    """One language into another, through a pivot where needed."""

    description = "Apertium"

    def __init__(self, modes: list[tuple[str, str]], pipes: dict[str, ApertiumPipe]) -> None:
        """``modes``: the route's (mode, Debian package), in order; ``pipes``: the pipelines by
        mode, shared with the engine's other translators (a pivot serves several languages)."""
        self.stages = [pipes.setdefault(mode, ApertiumPipe(mode, package)) for mode, package in modes]

    async def warm(self) -> None:
        """Start the pipelines that do not run yet."""
        await asyncio.gather(*(stage.warm() for stage in self.stages))

    async def restart(self) -> None:
        """Kill the pipelines: the next request starts fresh ones."""
        await asyncio.gather(*(stage.restart() for stage in self.stages))

    async def close(self) -> None:
        """Nothing of its own to let go: the engine stops the shared pipelines none still uses."""

    async def translate(
        self, text: str, terms: Mapping[str, str] | None = None, exact_case: Collection[str] = ()
    ) -> str:
        """``text`` translated, each of ``terms`` (source term → required translation) as required
        (those in ``exact_case`` only where written with their capitals)."""
        line, placeholders = protect(" ".join(text.split()), terms or {}, exact_case)
        stream = _SPECIAL.sub(r"\\\1", line)
        for stage in self.stages:
            stream = await stage.translate(stream)
        return restore(re.sub(r"\\(.)", r"\1", stream), placeholders)
