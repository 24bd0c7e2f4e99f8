"""YouTube Live's closed captions over HTTP: the stream's ``closedCaptionsIngestionUrl`` takes a
language's captions (one language per stream).

Each POST carries ``seq`` (one more for each new caption, the same for a retry) and a plain-text
body of a UTC time and the caption's text, ``<br>`` for a line break (YouTube's "Closed Captions
over HTTP for YouTube Live Streams"). The time is when its speech began: YouTube shows the caption
over the video of that moment, however late the caption comes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal

import httpx

from translator.messages import Caption

PLAIN_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


def utc_time(ms: int) -> str:
    """``2026-12-07T10:00:06.873``: a UTC time as YouTube reads it."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


class YoutubeCaptions:
    """Captions for one YouTube live stream."""

    name: Literal["youtube"] = "youtube"

    def request(self, url: str, seq: int, caption: Caption, talk_started_at: int | None) -> httpx.Request:
        """The caption, timed at its speech's start on the wall clock, as the ``seq``-th POST."""
        text = (caption.text or caption.source_text).replace("\n", "<br>")
        if talk_started_at is not None and caption.start_ms is not None:
            at = talk_started_at + caption.start_ms
        else:
            at = int(time.time() * 1000)
        return httpx.Request(
            "POST",
            httpx.URL(url).copy_merge_params({"seq": seq}),
            content=f"{utc_time(at)}\n{text}\n".encode(),
            headers=PLAIN_TEXT,
        )

    async def last_seq(self, client: httpx.AsyncClient, url: str) -> int:
        """YouTube does not say: every start numbers from 1 (a new stream's URL begins there)."""
        return 0
