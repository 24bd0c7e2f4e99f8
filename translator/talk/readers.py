"""Readers that hold no connection to count: HLS players, each seen by the playlists it fetches."""

from __future__ import annotations

import time

WINDOW_S = 10.0
"""A live player fetches its media playlist every segment (1 s by default): one not seen for this
long has stopped or left."""


class RecentReaders:
    """Per channel, the clients (an address and a user agent) seen within `WINDOW_S`."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._seen: dict[str, dict[str, float]] = {}

    def saw(self, lang: str, client: str) -> None:
        """``client`` fetched ``lang``'s playlist now."""
        self._seen.setdefault(lang, {})[client] = time.monotonic()

    def count(self, lang: str) -> int:
        """How many clients read ``lang`` now (those gone are forgotten)."""
        seen = self._seen.get(lang)
        if not seen:
            return 0
        oldest = time.monotonic() - self.window_s
        for client in [client for client, at in seen.items() if at < oldest]:
            del seen[client]
        return len(seen)
