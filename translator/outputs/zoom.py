"""Zoom's closed-caption API: the meeting host's "API token" URL takes a language's captions.

Each caption is a plain-text POST to that URL with ``seq`` (one more for each new caption, the same
for a retry) and ``lang`` (a locale: ``es-ES``); the last ``seq`` Zoom took is at the URL's path
with ``/seq`` added (Zoom's "Integrating a third-party closed captioning service").
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from translator.languages import FLOOR, get_language
from translator.messages import Caption

PLAIN_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


class ZoomCaptions:
    """Captions for one language of a Zoom meeting or webinar."""

    name: Literal["zoom"] = "zoom"

    def __init__(self, lang: str, source: str) -> None:
        # The Original's captions are in the floor's language.
        self.locale = get_language(source if lang == FLOOR else lang).locale

    def request(self, url: str, seq: int, caption: Caption, talk_started_at: int | None) -> httpx.Request:
        """The caption's text as the ``seq``-th POST, in ``lang``."""
        text = caption.text or caption.source_text
        return httpx.Request(
            "POST",
            httpx.URL(url).copy_merge_params({"seq": seq, "lang": self.locale}),
            content=text.encode(),
            headers=PLAIN_TEXT,
        )

    async def last_seq(self, client: httpx.AsyncClient, url: str) -> int:
        """``GET …/closedcaption/seq``: the ``seq`` of the last caption the meeting took."""
        parts = urlsplit(url)
        response = await client.get(urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/seq")))
        response.raise_for_status()
        text = response.text.strip()
        return int(text) if text.isdigit() else 0

    async def taken(self, url: str, seq: int) -> None:
        """Nothing to keep: the meeting is asked (`last_seq`)."""
