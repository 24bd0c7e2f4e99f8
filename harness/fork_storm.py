"""The offline engine's deadlock conditions, in a process of their own: two rooms' recognitions in
numpy at once (faster-whisper's feature extractor, in threads), while the uvloop event loop has
espeak-ng speak sentence after sentence and restarts an Apertium stage now and then.

Prints how many sentences were spoken; a hang shows as a process that does not end (the caller
bounds it). Before the fix this hung in about half of its runs (offline-engine.md).
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time

import numpy as np
import uvloop
from faster_whisper.feature_extractor import FeatureExtractor

import translator  # noqa: F401 - first: it sizes numeric thread pools before numpy loads
from translator.engines.local.mt import ROUTES, ApertiumTranslator
from translator.engines.local.tts import EspeakVoice
from translator.engines.local.voices import Voice


def recognise(stop: threading.Event, seed: int) -> None:
    """A room's recognition thread, as busy as can be: 8 s of audio to mel features, again and again."""
    extract = FeatureExtractor()
    audio = np.random.default_rng(seed).standard_normal(16000 * 8).astype(np.float32)
    while not stop.is_set():
        extract(audio)


async def storm(seconds: float) -> int:
    stop = threading.Event()
    rooms = [threading.Thread(target=recognise, args=(stop, seed), daemon=True) for seed in (1, 2)]
    for room in rooms:
        room.start()
    voice, translate = (
        EspeakVoice(Voice("espeak-ng", "es", "espeak-ng")),
        ApertiumTranslator(ROUTES["en"]["es"], {}),
    )
    spoken = 0
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await voice.synthesize(await translate.translate("Good morning everyone."))
            spoken += 1
            if spoken % 10 == 0:
                await translate.stages[0].restart()
    finally:
        stop.set()
        await asyncio.gather(*(stage.stop() for stage in translate.stages))
    return spoken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    print(f"spoken {uvloop.run(storm(args.seconds))}", flush=True)


if __name__ == "__main__":
    main()
