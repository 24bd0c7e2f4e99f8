"""A sound-device input through PortAudio (sounddevice), resampled to 24 kHz when it must be."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import numpy as np

from translator.audio.format import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE, Framer, Resampler
from translator.audio.source import AudioSource
from translator.errors import SourceError

NEXT_STEPS = (
    "List the devices with `translator devices` and choose one with --device NAME_OR_INDEX, "
    "or play a recording with --input FILE.wav"
)

# Half a second of 20 ms blocks: if the event loop falls this far behind, the oldest audio goes.
QUEUE_BLOCKS = 25


def load_sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio into a clear SourceError."""
    try:
        import sounddevice
    except OSError as exc:
        raise SourceError(
            f"PortAudio is not installed ({exc}); install the Debian package libportaudio2"
        ) from None
    return sounddevice


class InputDevice(msgspec.Struct, frozen=True):
    """A sound device that can record."""

    index: int
    name: str
    channels: int
    rate: float


def list_input_devices() -> list[InputDevice]:
    """The sound devices that can record."""
    sd = load_sounddevice()
    return [
        InputDevice(i, d["name"], d["max_input_channels"], d["default_samplerate"])
        for i, d in enumerate(sd.query_devices())
        if d["max_input_channels"] > 0
    ]


def _device_arg(device: str | None) -> int | str | None:
    if device is not None and device.isdigit():
        return int(device)
    return device


class MicSource(AudioSource):
    """Captures int16 mono from an input device; frames cross into the event loop without blocking it."""

    def __init__(self, device: str | None = None, channel: int | None = None) -> None:
        self.device = device
        self.channel = channel
        """The one channel taken (counted from 1: a desk's feed on one input of a USB interface);
        None for a mono capture (the device mixes its channels down)."""
        self.description = f"microphone {device or '(default)'}"
        self._stream: Any = None
        self._channels = 1
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_BLOCKS)
        self._resampler: Resampler | None = None
        self.overflows = 0

    async def open(self) -> None:
        """Open the device at 24 kHz, or at its own rate with resampling."""
        sd = load_sounddevice()
        device = _device_arg(self.device)
        try:
            info = sd.query_devices(device, kind="input")
        except (ValueError, sd.PortAudioError) as exc:
            available = ", ".join(f"{d.index}: {d.name}" for d in list_input_devices()) or "none found"
            which = f"microphone {self.device!r}" if self.device else "the default microphone"
            raise SourceError(
                f"cannot open {which} ({exc}); input devices: {available}. {NEXT_STEPS}"
            ) from None
        available = info["max_input_channels"]
        if self.channel is not None and self.channel > available:
            raise SourceError(
                f"audio.channel is {self.channel}, but {info['name']!r} has {available} input channel(s)"
            )
        # Channel 1 alone is not a mono capture, which a device (or PulseAudio) mixes down.
        channels = 1 if self.channel is None else min(max(self.channel, 2), available)
        self._channels = channels
        rate = SAMPLE_RATE
        try:
            sd.check_input_settings(device=device, channels=channels, dtype="int16", samplerate=rate)
        except (ValueError, sd.PortAudioError):
            rate = int(info["default_samplerate"])
        self._resampler = Resampler(rate, SAMPLE_RATE)
        loop = asyncio.get_running_loop()

        def deliver(data: bytes) -> None:
            if self._queue.full():
                self._queue.get_nowait()
                self.overflows += 1
            self._queue.put_nowait(data)

        def callback(indata: Any, frames: int, time: Any, status: Any) -> None:
            # PortAudio's thread: hand the bytes over and return at once.
            loop.call_soon_threadsafe(deliver, bytes(indata))

        try:
            self._stream = sd.RawInputStream(
                samplerate=rate,
                blocksize=FRAME_SAMPLES * rate // SAMPLE_RATE,
                device=device,
                channels=channels,
                dtype="int16",
                callback=callback,
            )
            self._stream.start()
        except sd.PortAudioError as exc:
            raise SourceError(f"cannot open microphone {info['name']!r} ({exc}). {NEXT_STEPS}") from None
        which = "" if self.channel is None else f", channel {self.channel}"
        self.description = f"microphone {info['name']!r} at {rate} Hz{which}"

    @property
    def delay_s(self) -> float:
        """PortAudio's input latency and the blocks queued for the loop."""
        if self._stream is None:
            return 0.0
        return float(self._stream.latency) + self._queue.qsize() * FRAME_MS / 1000

    async def close(self) -> None:
        """Stop and close the device."""
        if self._stream is not None:
            await asyncio.to_thread(self._stream.close)
            self._stream = None

    async def frames(self) -> AsyncIterator[bytes]:
        """Yield 20 ms frames as the device delivers them."""
        assert self._resampler is not None, "open() first"
        framer = Framer()
        while True:
            block = await self._queue.get()
            if self.channel is not None:
                interleaved = np.frombuffer(block, dtype="<i2").reshape(-1, self._channels)
                block = interleaved[:, self.channel - 1].tobytes()
            for frame in framer.feed(self._resampler.feed(block)):
                yield frame
