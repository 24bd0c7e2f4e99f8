"""A language's final captions POSTed, in order and each once, to a service that takes captions over
HTTP (`zoom.py`, `youtube.py`): the live feed, not the programme, so that they arrive as soon as
they are final.

Both services number the POSTs (``seq``, one more for each new caption, the same for a retry) and
answer a refused or failed POST with a status the sender is to retry on. A caption waits in order
behind the one being retried, with back-off, however long the service is away: nothing is dropped
and nothing else waits on it (the hub hands captions over without blocking). The address is a
secret (its query carries the meeting's or the stream's signature): it is shown without it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Final, Literal, Protocol

import httpx

from translator.messages import Caption
from translator.printable import shown_url
from translator.talk.room import Room
from translator.talk.state import OutputStatus
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

TIMEOUT_S: Final = 10.0
"""A POST unanswered this long is retried (both services ask for a timeout on every request)."""
FIRST_RETRY_S: Final = 1.0
MAX_RETRY_S: Final = 30.0
STOP_TIMEOUT_S: Final = 2.0


class CaptionService(Protocol):
    """How one service takes a caption: its name, its request for the ``seq``-th caption."""

    @property
    def name(self) -> Literal["zoom", "youtube"]: ...

    def request(self, url: str, seq: int, caption: Caption, talk_started_at: int | None) -> httpx.Request:
        """The POST that carries ``caption`` as the ``seq``-th to ``url``."""
        ...

    async def last_seq(self, client: httpx.AsyncClient, url: str) -> int:
        """The ``seq`` the service last took from this address (0: none), so that a restarted
        server goes on numbering after it."""
        ...

    async def taken(self, url: str, seq: int) -> None:
        """The service took the ``seq``-th caption (for a service that cannot be asked `last_seq`)."""
        ...


class CaptionPoster:
    """One language's final captions, POSTed to one service at one address while the server runs."""

    def __init__(self, room: Room, lang: str, service: CaptionService, url: str) -> None:
        self.room = room
        self.lang = lang
        self.service = service
        self._url = url
        self._waiting: deque[Caption] = deque()
        self._posted: set[tuple[int | None, int]] = set()
        """(talk, caption id) of the captions queued: a final caption published again (corrected) is
        not sent twice; each talk of the room numbers its captions from 1."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unfollow: Callable[[], None] | None = None
        self._seq = 0
        self.sent = 0
        self._failing = ""
        """Why the last POST failed, while it is being retried."""

    def start(self) -> None:
        """Follow the language's final captions from now on, and send them."""
        self._unfollow = self.room.hub.follow_finals(self.lang, self._take)
        name = f"{self.service.name}-{self.room.id}-{self.lang}"
        self._task = asyncio.create_task(self._send_all(), name=name)

    async def stop(self) -> None:
        """Stop following and sending (what is still waiting is not sent: the server is going)."""
        if self._unfollow is not None:
            self._unfollow()
        if self._task is not None:
            await cancel_and_wait(self._task, STOP_TIMEOUT_S)

    def status(self) -> OutputStatus:
        """Sending (how many sent, how many wait), or retrying and why."""
        where = f"{self.lang} → {shown_url(self._url)}"
        counts = f"{self.sent} sent, {len(self._waiting)} waiting"
        if self._failing:
            detail = f"{where}: {self._failing} ({counts})"
            return OutputStatus(self.service.name, "retrying", detail, lang=self.lang)
        return OutputStatus(self.service.name, "sending", f"{where} ({counts})", lang=self.lang)

    def _take(self, caption: Caption) -> None:
        text = caption.text or caption.source_text
        key = (self.room.talk_started_at, caption.id)
        if key in self._posted or not text.strip():
            return
        self._posted.add(key)
        self._waiting.append(caption)
        self._wake.set()

    async def _send_all(self) -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            try:
                self._seq = await self.service.last_seq(client, self._url)
            except httpx.HTTPError:
                self._seq = 0  # the service says nothing of its count: begin at 1, as on a first start
            while True:
                while not self._waiting:
                    self._wake.clear()
                    await self._wake.wait()
                self._seq += 1
                await self._deliver(client, self._seq, self._waiting[0])
                self._waiting.popleft()
                self.sent += 1
                await self.service.taken(self._url, self._seq)

    async def _deliver(self, client: httpx.AsyncClient, seq: int, caption: Caption) -> None:
        """POST ``caption`` as the ``seq``-th until the service takes it, waiting longer each time."""
        pause = FIRST_RETRY_S
        while True:
            request = self.service.request(self._url, seq, caption, self.room.talk_started_at)
            try:
                response = await client.send(request)
                if response.is_success:
                    self._failing = ""
                    return
                problem = f"the service answered {response.status_code}"
            except httpx.HTTPError as exc:
                # The exception's text may quote the address: say only what kind of failure it was.
                problem = f"{type(exc).__name__} reaching the service"
            if not self._failing:
                log.warning(
                    "%s captions for %s in room %s (%s): %s; retrying",
                    self.service.name, self.lang, self.room.id, shown_url(self._url), problem,
                )  # fmt: skip
            self._failing = f"{problem}; retrying in {pause:g} s"
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_RETRY_S)
