"""What a language costs: tokens billed in the last minute, against the resource's quota."""

from __future__ import annotations

import time
from collections import deque

WINDOW_S = 60.0


class TokensPerMinute:
    """Tokens billed over the last minute (one entry per translation)."""

    def __init__(self) -> None:
        self._spent: deque[tuple[float, int]] = deque()
        self.total = 0
        """Tokens billed since the talk began."""

    def add(self, tokens: int, now: float | None = None) -> None:
        self._spent.append((time.monotonic() if now is None else now, tokens))
        self.total += tokens

    def rate(self, now: float | None = None) -> int:
        """Tokens billed in the last `WINDOW_S` seconds."""
        now = time.monotonic() if now is None else now
        while self._spent and now - self._spent[0][0] > WINDOW_S:
            self._spent.popleft()
        return sum(tokens for _, tokens in self._spent)
