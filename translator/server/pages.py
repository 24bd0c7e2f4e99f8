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

from translator.printable import printable
from translator.server.assets import WEB_DIR
from translator.server.rooms import Rooms, room_or_404

JOIN_PAGE = Template((WEB_DIR / "join.html").read_text(encoding="utf-8"))
MISSING_ROOM_PAGE = Template((WEB_DIR / "missing-room.html").read_text(encoding="utf-8"))


def _page(
    name: str, state: State | None = None, room: str | None = None, any_room: bool = False
) -> File | Response[str]:
    """``web/{name}`` for ``room`` (None: a one-room server's; ``any_room``: a page of the server,
    not of a room). A room this server does not have gets a page (not JSON: a phone opened an old
    link or QR code) that says so and links the rooms there are."""
    if state is not None and (wrong := _wrong_room(state.rooms, room, any_room)) is not None:
        return wrong
    return File(WEB_DIR / name, content_disposition_type="inline", media_type="text/html")


def _wrong_room(rooms: Rooms, room: str | None, any_room: bool = False) -> Response[str] | None:
    """The rooms page, for a room this server does not have (or none named, on a server of several)."""
    if room is not None and room not in rooms.rooms:
        return _rooms_page(rooms, f"There is no room “{printable(room)}” here (an old link or QR code?).")
    if room is None and not any_room and len(rooms.rooms) > 1:
        return _rooms_page(rooms, "This server has several rooms: choose one.")
    return None


def _rooms_page(rooms: Rooms, message: str) -> Response[str]:
    links = "".join(
        f'<li><a href="/r/{html.escape(r.id)}/">{html.escape(r.name)}</a></li>' for r in rooms.rooms.values()
    )
    event = html.escape(rooms.settings.server.event_name)
    page = MISSING_ROOM_PAGE.substitute(event_name=event, message=html.escape(message), rooms=links)
    return Response(page, status_code=404, media_type="text/html")


@get(["/", "/r/{room:str}/"], sync_to_thread=False, include_in_schema=False)
def audience(state: State, room: str | None = None) -> File | Response[str]:
    """The audience page of a room; at ``/`` on a server of several rooms, the page lists them."""
    return _page("index.html", state, room, any_room=True)


@get(["/overlay", "/r/{room:str}/overlay"], sync_to_thread=False, include_in_schema=False)
def overlay(state: State, room: str | None = None) -> File | Response[str]:
    """Captions for an OBS browser source, styled by URL parameters (it may be framed: `edge.py`)."""
    return _page("overlay.html", state, room)


@get(["/watch", "/r/{room:str}/watch"], sync_to_thread=False, include_in_schema=False)
def watch(state: State, room: str | None = None) -> File | Response[str]:
    """The room as HLS in a player: every language an audio track, every language's subtitles."""
    return _page("watch.html", state, room)


@get(["/screen", "/r/{room:str}/screen"], sync_to_thread=False, include_in_schema=False)
def screen(state: State, room: str | None = None) -> File | Response[str]:
    """The room screen: two or three languages' captions at once, large, for a projector or a TV in
    the hall (``?langs=es,fr``, ``layout=rows``, ``lines=4``, ``qr=1``)."""
    return _page("screen.html", state, room)


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
def speak(state: State, room: str | None = None) -> File | Response[str]:
    """The speaker page: the speaker's microphone as the room's input (`publish.py`); it holds
    nothing secret, the publishing key is typed in or comes in the link's fragment."""
    return _page("speak.html", state, room)


@get("/console", sync_to_thread=False, include_in_schema=False)
def console() -> File | Response[str]:
    """The operator console: a page that holds nothing secret, asks for the operator token and shows
    what the token-guarded endpoints answer."""
    return _page("console.html")


@get(["/join", "/r/{room:str}/join"], sync_to_thread=False, include_in_schema=False)
def join(state: State, room: str | None = None) -> Response[str]:
    """For the projector: the event (and room), a QR code of the room's audience URL, the URL, the
    languages."""
    rooms: Rooms = state.rooms
    if (wrong := _wrong_room(rooms, room)) is not None:
        return wrong
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
