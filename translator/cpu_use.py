"""Where the process's CPU goes, by part: what an operator sizing a machine needs to see.

The operating system counts CPU time per thread and per child process (read through psutil). A
thread belongs to the part that started it: the worker threads of the engine and of the outputs
say so when they start (``claim``), the event loop is the thread the server runs in, and threads
Python never started are the native pools of the models (CTranslate2, ONNX Runtime). Child
processes are the offline engine's tools (espeak-ng, Apertium) and the network inputs' decoders.
"""

from __future__ import annotations

import enum
import threading

import msgspec
import psutil


class Part(enum.StrEnum):
    EVENT_LOOP = "event_loop"
    """Fan-out, HTTP, the pipelines and the programme's playout: everything on the event loop."""
    ENGINE = "engine"
    """The engine's own worker threads (the offline engine's speech recognition)."""
    MODELS = "models"
    """Threads Python did not start: the native thread pools of the offline engine's models."""
    OUTPUTS = "outputs"
    """The encoders and writers of HLS, recordings and the HTTP streams."""
    CHILDREN = "child_processes"
    """espeak-ng, Apertium, and decoders of network inputs."""
    OTHER = "other"
    """The rest of the process's time: short blocking calls handed to threads (file reads, starting
    processes), watchdogs, and threads that began and ended between two readings."""


_claimed: dict[int, Part] = {}


def claim(part: Part) -> None:
    """Count the calling thread's CPU under ``part`` (an executor's ``initializer``)."""
    _claimed[threading.get_native_id()] = part


class CpuUse(msgspec.Struct):
    """CPU seconds by part since the process started (threads that have ended included)."""

    seconds: dict[Part, float]


class CpuMeter:
    """Reads CPU time by part; each reading includes the threads that ended since the last one.

    Every part only grows. A thread Python does not know counts as the models' from the second
    reading that sees it (a Python thread that has just ended lingers a moment in the operating
    system's list); what it used before that stays in the rest.
    """

    def __init__(self, loop_thread: int | None = None) -> None:
        self._process = psutil.Process()
        self._loop_thread = loop_thread if loop_thread is not None else threading.get_native_id()
        self._ended = dict.fromkeys(Part, 0.0)
        """What the threads that have ended used, as last read."""
        self._last: dict[int, tuple[Part, float]] = {}
        self._models: dict[int, float] = {}
        """The models' threads: what each had used when it became known as theirs."""
        # The threads running now are the models loaded at start, counted whole.
        self._unknown: dict[int, float] = {thread.id: 0.0 for thread in self._process.threads()}
        """Threads Python does not know, seen by one reading only: what each had used then."""

    def read(self) -> CpuUse:
        """CPU seconds by part now."""
        python_threads = {thread.native_id for thread in threading.enumerate()}
        seen: dict[int, tuple[Part, float]] = {}
        unknown: dict[int, float] = {}
        for thread in self._process.threads():
            used = thread.user_time + thread.system_time
            if thread.id == self._loop_thread:
                part = Part.EVENT_LOOP
            elif thread.id in _claimed:
                part = _claimed[thread.id]
            elif thread.id in python_threads:
                continue
            elif thread.id in self._models or thread.id in self._unknown:
                part = Part.MODELS
                used -= self._models.setdefault(thread.id, self._unknown.get(thread.id, 0.0))
            else:
                unknown[thread.id] = used
                continue
            seen[thread.id] = (part, used)
        self._unknown = unknown
        for tid, (part, seconds) in self._last.items():
            if tid not in seen:
                self._ended[part] += seconds
                _claimed.pop(tid, None)
                self._models.pop(tid, None)
        self._last = seen
        totals = dict(self._ended)
        for part, seconds in seen.values():
            totals[part] += seconds
        waited = self._process.cpu_times()
        # The rest of the process's own time: threads of no part, those that began and ended
        # between two readings, and the models' threads before they were known.
        totals[Part.OTHER] = max(0.0, waited.user + waited.system - sum(totals.values()))
        totals[Part.CHILDREN] = waited.children_user + waited.children_system
        for child in self._process.children(recursive=True):
            try:
                times = child.cpu_times()
            except psutil.Error:  # it ended while being read: its time is in the waited-for total next
                continue
            totals[Part.CHILDREN] += times.user + times.system + times.children_user + times.children_system
        return CpuUse(totals)
