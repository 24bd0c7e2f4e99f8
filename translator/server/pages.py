"""The pages in ``web/``: the audience page, the caption overlay, and the join page with its QR code."""

from __future__ import annotations

import html
import io
from string import Template

import segno
from litestar import Response, get
from litestar.datastructures import State
from litestar.response import File
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from translator.server.assets import WEB_DIR
from translator.server.rooms import Rooms, room_or_404

JOIN_PAGE = Template((WEB_DIR / "join.html").read_text(encoding="utf-8"))


def _page(name: str) -> File:
    return File(WEB_DIR / name, content_disposition_type="inline", media_type="text/html")


@get(["/", "/r/{room:str}/"], sync_to_thread=False, include_in_schema=False)
def audience(state: State, room: str | None = None) -> File:
    """The audience page of a room; at ``/`` on a server of several rooms, the page lists them."""
    if room is not None:
        room_or_404(state.rooms, room)
    return _page("index.html")


@get(["/overlay", "/r/{room:str}/overlay"], sync_to_thread=False, include_in_schema=False)
def overlay(state: State, room: str | None = None) -> File:
    """Captions for an OBS browser source, styled by URL parameters (it may be framed: `edge.py`)."""
    room_or_404(state.rooms, room)
    return _page("overlay.html")


@get(["/watch", "/r/{room:str}/watch"], sync_to_thread=False, include_in_schema=False)
def watch(state: State, room: str | None = None) -> File:
    """The room as HLS in a player: every language an audio track, every language's subtitles."""
    room_or_404(state.rooms, room)
    return _page("watch.html")


@get(["/screen", "/r/{room:str}/screen"], sync_to_thread=False, include_in_schema=False)
def screen(state: State, room: str | None = None) -> File:
    """The room screen: two or three languages' captions at once, large, for a projector or a TV in
    the hall (``?langs=es,fr``, ``layout=rows``, ``lines=4``, ``qr=1``)."""
    room_or_404(state.rooms, room)
    return _page("screen.html")


@get(["/qr.svg", "/r/{room:str}/qr.svg"], sync_to_thread=False, include_in_schema=False)
def qr_code(state: State, room: str | None = None) -> Response[bytes]:
    """The QR code of the room's audience page, for a screen's corner."""
    rooms: Rooms = state.rooms
    url = rooms.audience_url(room_or_404(rooms, room))
    svg = io.BytesIO()
    # Without a fixed size (a viewBox only): the page scales it.
    segno.make(url, error="m").save(svg, kind="svg", border=4, light="#fff", omitsize=True)
    return Response(svg.getvalue(), media_type="image/svg+xml")


@get(["/speak", "/r/{room:str}/speak"], sync_to_thread=False, include_in_schema=False)
def speak(state: State, room: str | None = None) -> File:
    """The speaker page: the speaker's microphone as the room's input (`publish.py`); it holds
    nothing secret, the publishing key is typed in or comes in the link's fragment."""
    room_or_404(state.rooms, room)
    return _page("speak.html")


@get("/console", sync_to_thread=False, include_in_schema=False)
def console() -> File:
    """The operator console: a page that holds nothing secret, asks for the operator token and shows
    what the token-guarded endpoints answer."""
    return _page("console.html")


@get(["/join", "/r/{room:str}/join"], sync_to_thread=False, include_in_schema=False)
def join(state: State, room: str | None = None) -> Response[str]:
    """For the projector: the event (and room), a QR code of the room's audience URL, the URL, the
    languages."""
    rooms: Rooms = state.rooms
    found = room_or_404(rooms, room)
    url = rooms.audience_url(found)
    names = " · ".join(target.native for target in found.targets)
    title = rooms.settings.server.event_name
    if len(rooms.rooms) > 1:
        title = f"{title} · {found.name}"
    page = JOIN_PAGE.substitute(
        event_name=html.escape(title),
        url=html.escape(url),
        qr_svg=segno.make(url, error="m").svg_inline(border=4, light="#fff", omitsize=True),
        languages=html.escape(names),
        warning=""
        if rooms.urls(found).reachable_by_phones
        else '<p class="warning" role="alert">Phones cannot reach this address: it is this machine\'s '
        "loopback. Start the service with <code>--host 0.0.0.0</code> or set <code>--public-url</code>.</p>",
    )
    return Response(page, media_type="text/html")


handlers: list[ControllerRouterHandler] = [
    audience,
    overlay,
    join,
    screen,
    qr_code,
    watch,
    speak,
    create_static_files_router(path="/static", directories=[WEB_DIR]),
]
"""The public pages; the console goes with the operator surfaces (its page holds nothing secret,
its data is behind the operator token)."""
