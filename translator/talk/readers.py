"""Readers that hold no connection to count: HLS players, each seen by the playlists it fetches."""

from __future__ import annotations

import time

WINDOW_S = 10.0
"""A live player fetches its media playlist every segment (1 s by default): one not seen for this
long has stopped or left."""
MAX_CLIENTS = 20_000
"""Clients kept per channel: a flood of made-up ones (each request another user agent) costs at
most this much memory, the least recently seen going first."""


class RecentReaders:
    """Per channel, the clients (an address and a user agent, kept as a hash) seen within `WINDOW_S`."""

    def __init__(self, window_s: float = WINDOW_S, max_clients: int = MAX_CLIENTS) -> None:
        self.window_s = window_s
        self.max_clients = max_clients
        self._seen: dict[str, dict[int, float]] = {}

    def saw(self, lang: str, client: str) -> None:
        """``client`` fetched ``lang``'s playlist now (call it for channels that exist only)."""
        seen = self._seen.setdefault(lang, {})
        key = hash(client)
        # Moved to the end: the dict stays ordered from the least recently seen.
        seen.pop(key, None)
        seen[key] = time.monotonic()
        if len(seen) > self.max_clients:
            self._forget_gone(seen)
            while len(seen) > self.max_clients:
                del seen[next(iter(seen))]

    def count(self, lang: str) -> int:
        """How many clients read ``lang`` now (those gone are forgotten)."""
        seen = self._seen.get(lang)
        if not seen:
            return 0
        self._forget_gone(seen)
        return len(seen)

    def _forget_gone(self, seen: dict[int, float]) -> None:
        oldest = time.monotonic() - self.window_s
        while seen and next(iter(seen.values())) < oldest:
            del seen[next(iter(seen))]
