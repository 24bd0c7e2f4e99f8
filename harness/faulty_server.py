"""``translator serve`` with a fault injected, for the tests of stopping and of hangs.

- ``--stuck-recognition``: the offline recognition never returns (a model that hangs in native
  code): its thread is stuck for good from the first utterance on.
- ``--blocked-loop``: the event loop blocks for good in the first second of the talk (a blocking
  call on it), so nothing is served.

Prints ``fault: …`` on stdout once the fault has struck; every other argument goes to ``serve``.
"""

from __future__ import annotations

import sys
import threading
import time

import translator  # noqa: F401 - first: it sizes numeric thread pools before numpy loads
from translator import cli
from translator.engines.base import Engine
from translator.engines.local.asr import Recognizer


def stick_recognition() -> None:
    def hear(*args: object, **kwargs: object) -> None:
        print("fault: recognition stuck", flush=True)
        threading.Event().wait()

    Recognizer.hear = hear  # type: ignore[assignment, method-assign]


def block_the_loop() -> None:
    send = Engine.send_audio

    async def send_audio(self: Engine, frame: bytes) -> None:
        if self.audio_ms >= 1000:
            print("fault: event loop blocked", flush=True)
            time.sleep(3600)  # noqa: ASYNC251 - the fault: a blocking call on the event loop
        await send(self, frame)

    Engine.send_audio = send_audio  # type: ignore[method-assign]


def main() -> int:
    args = sys.argv[1:]
    if "--stuck-recognition" in args:
        args.remove("--stuck-recognition")
        stick_recognition()
    if "--blocked-loop" in args:
        args.remove("--blocked-loop")
        block_the_loop()
    return cli.main(["serve", *args])


if __name__ == "__main__":
    raise SystemExit(main())
