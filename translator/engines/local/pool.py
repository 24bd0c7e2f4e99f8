"""Loaded models kept for the next engine that needs the same one.

A room stopped and started again takes its models back instead of loading them anew: each load of
whisper left some 35 MB that the allocator never returned to the system (a room restarted twelve
times: 290 → 684 MB), and a restart was as slow as a first start. A model is kept only while no
engine uses it; a process holds at most as many of each as it ever ran at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
M = TypeVar("M")


class ModelPool(Generic[K, M]):
    """Idle models by key; `take` one (loading it when none is idle), `give` it back when done."""

    def __init__(self, load: Callable[[K], M]) -> None:
        self._load = load
        self._idle: dict[K, list[M]] = {}
        self._lock = threading.Lock()

    def take(self, key: K) -> M:
        """An idle model of ``key``, else a new one: blocking, call it from a worker thread."""
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop()
        return self._load(key)

    def give(self, key: K, model: M) -> None:
        """``model`` is no longer used: the next `take` of ``key`` may have it."""
        with self._lock:
            self._idle.setdefault(key, []).append(model)
