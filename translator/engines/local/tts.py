"""Speech synthesis: each language speaks with its voice of the table (`voices.py`).

espeak-ng starts a process per sentence (16–20 ms). festival takes a few hundred ms to start and
load a voice, so it stays resident, one process per voice, as the Apertium stages do: a sentence is
a Scheme request on its input, the speech is written to a file of its own, and a mark on its
standard error (unbuffered, where its standard output is not) says the request is done. A request
that hangs kills the process; the next one starts a fresh one, so only that sentence fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path
from typing import Protocol

import soundfile
import soxr

from translator import processes
from translator.audio import SAMPLE_RATE, to_pcm16
from translator.engines.local.system import require_program
from translator.engines.local.voices import Voice
from translator.errors import EngineError, TransientEngineError
from translator.processes import Child

SYNTH_TIMEOUT_S = 10.0
"""A sentence takes 10–300 ms to speak: one this slow is hung."""
START_TIMEOUT_S = 30.0
"""Starting festival and loading its voice, on a busy machine (the first sentence is a warm-up)."""
# What festival's ISO-8859-1 voices cannot read, as the nearest text they can.
_TYPOGRAPHY = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "..."})


class Synthesizer(Protocol):
    """One voice: `start` before the first sentence, `stop` after the last."""

    voice: Voice

    async def start(self) -> None: ...

    async def synthesize(self, text: str) -> bytes:
        """``text`` spoken, as 24 kHz mono PCM16; TransientEngineError when the voice fails."""
        ...

    async def restart(self) -> None:
        """After a failure: the next sentence is spoken by a fresh voice."""
        ...

    async def stop(self) -> None: ...


def synthesizer(voice: Voice) -> Synthesizer:
    """The synthesizer that speaks with ``voice``."""
    return FestivalVoice(voice) if voice.kind == "festival" else EspeakVoice(voice)


def _pcm(wav: bytes) -> bytes:
    samples, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    return to_pcm16(soxr.resample(samples, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else samples)


class EspeakVoice:
    """An espeak-ng voice, a process per sentence (cheap: 16–20 ms)."""

    def __init__(self, voice: Voice, words_per_minute: int = 165) -> None:
        self.voice = voice
        self.program = require_program("espeak-ng", "espeak-ng")
        self.words_per_minute = words_per_minute

    async def start(self) -> None:
        """Nothing to start: each sentence has its process."""

    async def restart(self) -> None:
        """Nothing resident to restart."""

    async def stop(self) -> None:
        """Nothing resident to stop."""

    async def synthesize(self, text: str) -> bytes:
        """``text`` spoken (espeak-ng started off the event loop: `processes`)."""
        args = [self.program, "-v", self.voice.name, "-s", str(self.words_per_minute), "--stdout", "--", text]
        try:
            done = await processes.run(args, SYNTH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise TransientEngineError(
                f"espeak-ng ({self.voice.name}) did not finish in {SYNTH_TIMEOUT_S:.0f} s"
            ) from None
        if done.returncode != 0:
            raise EngineError(f"espeak-ng failed for voice {self.voice.name}: {done.stderr.decode().strip()}")
        return _pcm(done.stdout)


class FestivalVoice:
    """A festival voice in a resident festival process; sentences go one at a time."""

    def __init__(self, voice: Voice) -> None:
        self.voice = voice
        self.program = require_program("festival", "festival")
        self._process: Child | None = None
        self._folder: Path | None = None
        self._requests = itertools.count(1)
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Start festival with the voice, and wait until it has spoken a first sentence."""
        async with self._lock:
            await self._ensure()

    async def restart(self) -> None:
        """Kill the process between sentences; the next sentence starts a fresh one."""
        async with self._lock:
            await self._kill()

    async def stop(self) -> None:
        """Kill the process and remove its folder."""
        async with self._lock:
            await self._kill()
            if self._folder is not None:
                await asyncio.to_thread(shutil.rmtree, self._folder, True)
                self._folder = None

    async def synthesize(self, text: str) -> bytes:
        """``text`` spoken (festival restarted first if it died)."""
        async with self._lock:
            await self._ensure()
            return await self._speak(text, SYNTH_TIMEOUT_S)

    async def _ensure(self) -> None:
        if self._process is not None and self._process.returncode is None:
            return
        await self._kill()
        if self._folder is None:
            self._folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="translator-festival-"))
        self._process = await Child.start([self.program, "--pipe"], pipes=True, messages=True)
        assert self._process.stdin is not None
        self._process.stdin.write(f"(voice_{self.voice.name})\n".encode())
        await self._speak("Hola.", START_TIMEOUT_S)

    async def _kill(self) -> None:
        if self._process is not None:
            await self._process.kill()
            self._process = None

    async def _speak(self, text: str, timeout_s: float) -> bytes:
        """One request; a failure or a timeout kills the process (a late answer must never be read
        as the next sentence's)."""
        assert self._process is not None and self._process.stdin and self._process.stderr and self._folder
        number = next(self._requests)
        out = self._folder / f"{number}.wav"
        mark = f"@@{number}@@".encode()
        request = (
            f'(utt.save.wave (utt.synth (Utterance Text "{_scheme_string(text, self.voice.encoding)}")) '
            f'"{out}" (quote riff))\n(format stderr "{mark.decode()}\\n")\n'
        )
        said: list[bytes] = []
        try:
            self._process.stdin.write(request.encode(self.voice.encoding, "replace"))
            await self._process.stdin.drain()
            async with asyncio.timeout(timeout_s):
                while (line := await self._process.stderr.readline()).strip() != mark:
                    if not line:
                        raise EOFError
                    said.append(line.strip())
        except (TimeoutError, OSError, EOFError) as exc:
            await self._kill()
            what = "did not answer in time" if isinstance(exc, TimeoutError) else "died"
            raise TransientEngineError(f"festival ({self.voice.name}) {what}; restarted") from exc
        except asyncio.CancelledError:
            await self._kill()
            raise
        try:
            wav = await asyncio.to_thread(out.read_bytes)
        except FileNotFoundError:
            # festival refused the sentence (its error is on standard error) and goes on.
            why = b" ".join(said).decode(self.voice.encoding, "replace")[:200]
            raise TransientEngineError(f"festival ({self.voice.name}) spoke nothing: {why}") from None
        with contextlib.suppress(OSError):
            await asyncio.to_thread(out.unlink)
        return await asyncio.to_thread(_pcm, wav)


def _scheme_string(text: str, encoding: str) -> str:
    """``text`` inside a Scheme string literal, in what the voice can read (the rest left out)."""
    readable = unicodedata.normalize("NFC", text.translate(_TYPOGRAPHY))
    readable = readable.encode(encoding, "ignore").decode(encoding)
    return " ".join(readable.replace("\\", "\\\\").replace('"', '\\"').split())


def has_voice(program: str, voice: str) -> bool:
    """Whether espeak-ng knows ``voice``."""
    result = subprocess.run([program, "-v", voice, "-q", "x"], capture_output=True, text=True)
    return result.returncode == 0 and not result.stderr


def chunks(pcm: bytes, chunk_ms: int = 100) -> list[bytes]:
    """Cut PCM16 into chunks of ``chunk_ms`` for streaming."""
    size = SAMPLE_RATE * chunk_ms // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]
