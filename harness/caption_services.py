"""Zoom's and YouTube's caption endpoints as their documentation describes them, on 127.0.0.1, for
the caption outputs' tests.

Zoom ("Integrating a third-party closed captioning service"): ``POST /closedcaption`` with the
meeting's ``id``, ``ns``, ``expire``, ``spparams`` and ``signature``, plus ``seq`` and ``lang``;
a plain-text UTF-8 body, the caption; 403 without ``seq`` or the signature, 400 while the meeting
has not started; ``GET /closedcaption/seq`` answers the last ``seq`` taken.

YouTube ("Closed Captions over HTTP for YouTube Live Streams"): ``POST /closedcaption?cid=…&seq=N``
with a plain-text body of ``<UTC time> [region]`` / ``<text>`` line pairs, the time as
``YYYY-MM-DDTHH:MM:SS.mmm``; it answers with its own time.

``seq`` is checked as both describe it: one more for each new caption; the same again is a retry
of what was taken (taken once); anything else is recorded as a wrong sequence. `refuse_for` makes
the service refuse every POST for a while, as a meeting not yet started or a service that is down.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from harness.service_server import LocalServer

ZOOM_PARAMS = ("id", "ns", "expire", "spparams", "signature")
UTC_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}( region:\S+)?$")


@dataclass
class Taken:
    """One caption a service took."""

    seq: int
    text: str
    lang: str = ""
    """Zoom's ``lang``."""
    at: str = ""
    """YouTube's UTC time."""


class CaptionReceivers(LocalServer):
    """Both services on one port: `zoom_url` and `youtube_url` are what the host or YouTube hand out."""

    def __init__(self) -> None:
        super().__init__()
        self.zoom: list[Taken] = []
        self.youtube: list[Taken] = []
        self.wrong: list[str] = []
        """What broke the documented rules (a skipped or reused ``seq``, a bad body or content type)."""
        self.refused = 0
        self.retried = 0
        """POSTs that repeated the ``seq`` of a caption already taken."""
        self._refuse_until = 0.0

    @property
    def zoom_url(self) -> str:
        return (
            f"{self.endpoint}/closedcaption?id=200610693&ns=GZHkEA%3D%3D&expire=86400"
            "&spparams=id%2Cns%2Cexpire&signature=nYtXJqRKCWsecret"
        )

    @property
    def youtube_url(self) -> str:
        return f"{self.endpoint}/youtube/closedcaption?cid=abcd-efgh-secret"

    def refuse_for(self, seconds: float) -> None:
        """Refuse every POST for ``seconds`` from now."""
        self._refuse_until = time.monotonic() + seconds

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/closedcaption", self._zoom)
        app.router.add_get("/closedcaption/seq", self._zoom_seq)
        app.router.add_post("/youtube/closedcaption", self._youtube)

    def _plain_text(self, request: web.Request) -> bool:
        if request.content_type != "text/plain" or (request.charset or "utf-8").lower() != "utf-8":
            self.wrong.append(f"content type {request.headers.get('Content-Type')!r}")
            return False
        return True

    def _sequence(self, taken: list[Taken], seq: int) -> bool:
        """Whether ``seq`` is a new caption's (one more than the last); a retry is answered, not kept."""
        last = taken[-1].seq if taken else None
        if last is not None and seq == last:
            self.retried += 1
            return False
        if last is not None and seq != last + 1:
            self.wrong.append(f"seq {seq} after {last}")
        return True

    async def _zoom(self, request: web.Request) -> web.Response:
        query = request.query
        if "seq" not in query or any(name not in query for name in ZOOM_PARAMS):
            return web.Response(status=403, text="Unauthorized")
        if time.monotonic() < self._refuse_until:
            self.refused += 1
            return web.Response(status=400, text="The meeting has not started")
        text = (await request.read()).decode()
        if self._plain_text(request) and self._sequence(self.zoom, int(query["seq"])):
            self.zoom.append(Taken(int(query["seq"]), text, lang=query.get("lang", "")))
        return web.Response(status=200)

    async def _zoom_seq(self, request: web.Request) -> web.Response:
        return web.Response(text=str(self.zoom[-1].seq if self.zoom else 0))

    async def _youtube(self, request: web.Request) -> web.Response:
        if "cid" not in request.query or "seq" not in request.query:
            return web.Response(status=400, text="missing cid or seq")
        if time.monotonic() < self._refuse_until:
            self.refused += 1
            return web.Response(status=503, text="Service Unavailable")
        lines = (await request.read()).decode().rstrip("\n").split("\n")
        if len(lines) % 2 or not all(UTC_LINE.match(line) for line in lines[::2]):
            self.wrong.append(f"body {lines!r}")
            return web.Response(status=400)
        if self._plain_text(request) and self._sequence(self.youtube, int(request.query["seq"])):
            for at, text in zip(lines[::2], lines[1::2], strict=True):
                self.youtube.append(Taken(int(request.query["seq"]), text, at=at.split(" ")[0]))
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        return web.Response(text=now)
