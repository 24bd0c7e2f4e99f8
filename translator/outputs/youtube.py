"""YouTube Live's closed captions over HTTP: the stream's ``closedCaptionsIngestionUrl`` takes a
language's captions (one language per stream).

Each POST carries ``seq`` (one more for each new caption, the same for a retry) and a plain-text
body of a UTC time and the caption's text, ``<br>`` for a line break (YouTube's "Closed Captions
over HTTP for YouTube Live Streams"). The time is when its speech began: YouTube shows the caption
over the video of that moment, however late the caption comes.

YouTube cannot be asked for the last ``seq`` it took, and wants one more than it: the last one
taken from each address is kept on this machine (`state_files`), so that a restarted service goes
on counting where it stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx

from translator.messages import Caption
from translator.state_files import state_directory

log = logging.getLogger(__name__)

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
        """The last ``seq`` this machine saw YouTube take from ``url`` (0: none yet)."""
        return await asyncio.to_thread(_read_seq, seq_file(url))

    async def taken(self, url: str, seq: int) -> None:
        """YouTube took the ``seq``-th caption: kept for a restart."""
        await asyncio.to_thread(_write_seq, seq_file(url), seq)


def seq_file(url: str) -> Path:
    """Where the last ``seq`` taken from ``url`` is kept, named by a hash of the address (a secret)."""
    return state_directory() / "youtube-seq" / hashlib.sha256(url.encode()).hexdigest()[:32]


def _read_seq(path: Path) -> int:
    try:
        return int(path.read_text())
    except FileNotFoundError:
        return 0
    except (OSError, ValueError) as exc:
        log.warning("YouTube captions: cannot read the last caption number (%s): numbering from 1", exc)
        return 0


def _write_seq(path: Path, seq: int) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        written = path.with_suffix(".new")
        written.write_text(str(seq))
        written.replace(path)  # whole or not at all
    except OSError as exc:
        log.warning(
            "YouTube captions: cannot keep the last caption number (%s): a restart numbers from 1", exc
        )
