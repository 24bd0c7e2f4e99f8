"""The pages in ``web/``: the audience page, the caption overlay, and the join page with its QR code."""

from __future__ import annotations

import html
from pathlib import Path
from string import Template

import segno
from litestar import Response, get
from litestar.datastructures import State
from litestar.response import File
from litestar.static_files import create_static_files_router

from translator.server.services import Services

WEB_DIR = Path(__file__).resolve().parents[2] / "web"

JOIN_PAGE = Template((WEB_DIR / "join.html").read_text(encoding="utf-8"))


def _page(name: str) -> File:
    return File(WEB_DIR / name, content_disposition_type="inline", media_type="text/html")


@get("/", sync_to_thread=False, include_in_schema=False)
def audience() -> File:
    """The audience page."""
    return _page("index.html")


@get("/overlay", sync_to_thread=False, include_in_schema=False)
def overlay() -> File:
    """Captions for an OBS browser source, styled by URL parameters (it may be framed: `edge.py`)."""
    return _page("overlay.html")


@get("/console", sync_to_thread=False, include_in_schema=False)
def console() -> File:
    """The operator console: a page that holds nothing secret, asks for the operator token and shows
    what the token-guarded endpoints answer."""
    return _page("console.html")


@get("/join", sync_to_thread=False, include_in_schema=False)
def join(state: State) -> Response[str]:
    """For the projector: the event, a QR code of the audience URL, the URL, the languages."""
    services: Services = state.services
    url = services.audience_url
    names = " · ".join(target.native for target in services.pipeline.engine.targets)
    page = JOIN_PAGE.substitute(
        event_name=html.escape(services.settings.server.event_name),
        url=html.escape(url),
        qr_svg=segno.make(url, error="m").svg_inline(border=4, light="#fff", omitsize=True),
        languages=html.escape(names),
        warning=""
        if services.urls()["reachable_by_phones"]
        else '<p class="warning" role="alert">Phones cannot reach this address: it is this machine\'s '
        "loopback. Start the service with <code>--host 0.0.0.0</code> or set <code>--public-url</code>.</p>",
    )
    return Response(page, media_type="text/html")


handlers = [
    audience,
    overlay,
    join,
    create_static_files_router(path="/static", directories=[WEB_DIR]),
]
"""The public pages; the console goes with the operator surfaces (its page holds nothing secret,
its data is behind the operator token)."""
