"""Speech synthesis with espeak-ng (Debian package): robotic but intelligible, 16–20 ms a sentence."""

from __future__ import annotations

import io
import subprocess

import soundfile
import soxr

from translator import processes
from translator.audio import SAMPLE_RATE, to_pcm16
from translator.engines.local.system import require_program
from translator.errors import EngineError, TransientEngineError

SYNTH_TIMEOUT_S = 10.0


class Synthesizer:
    """One espeak-ng voice. A process per sentence is cheap (unlike Apertium's start-up): 16–20 ms."""

    def __init__(self, voice: str, words_per_minute: int = 165) -> None:
        self.program = require_program("espeak-ng", "espeak-ng")
        self.voice = voice
        self.words_per_minute = words_per_minute

    async def synthesize(self, text: str) -> bytes:
        """``text`` spoken, as 24 kHz mono PCM16 (espeak-ng started off the event loop: `processes`)."""
        args = [self.program, "-v", self.voice, "-s", str(self.words_per_minute), "--stdout", "--", text]
        try:
            done = await processes.run(args, SYNTH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise TransientEngineError(
                f"espeak-ng ({self.voice}) did not finish in {SYNTH_TIMEOUT_S:.0f} s"
            ) from None
        if done.returncode != 0:
            raise EngineError(f"espeak-ng failed for voice {self.voice}: {done.stderr.decode().strip()}")
        wav = done.stdout
        samples, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
        return to_pcm16(soxr.resample(samples, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else samples)


def has_voice(program: str, voice: str) -> bool:
    """Whether espeak-ng knows ``voice``."""
    result = subprocess.run([program, "-v", voice, "-q", "x"], capture_output=True, text=True)
    return result.returncode == 0 and not result.stderr


def chunks(pcm: bytes, chunk_ms: int = 100) -> list[bytes]:
    """Cut PCM16 into chunks of ``chunk_ms`` for streaming."""
    size = SAMPLE_RATE * chunk_ms // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]
