"""The pages in ``web/``: the audience page, the caption overlay, and the join page with its QR code."""

from __future__ import annotations

import html
from pathlib import Path
from string import Template

import segno
from litestar import Response, get
from litestar.datastructures import ResponseHeader, State
from litestar.response import File
from litestar.response.base import ASGIResponse
from litestar.static_files import create_static_files_router

from translator.server.operator import require_operator
from translator.server.services import Services

WEB_DIR = Path(__file__).resolve().parents[2] / "web"

# Everything the pages load is their own: no inline script, no third party. WebSockets are 'self'.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'"
)
SECURITY_HEADERS = [
    ResponseHeader(name="Content-Security-Policy", value=f"{_CSP}; frame-ancestors 'self'"),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="no-referrer"),
    ResponseHeader(name="X-Frame-Options", value="SAMEORIGIN"),
]
"""Sent with every response. The overlay alone may be framed: streaming studios embed it."""
JOIN_PAGE = Template((WEB_DIR / "join.html").read_text(encoding="utf-8"))


def _page(name: str) -> File:
    return File(WEB_DIR / name, content_disposition_type="inline", media_type="text/html")


@get("/", sync_to_thread=False, include_in_schema=False)
def audience() -> File:
    """The audience page."""
    return _page("index.html")


@get(
    "/overlay",
    sync_to_thread=False,
    include_in_schema=False,
    response_headers=[
        ResponseHeader(name="Content-Security-Policy", value=_CSP),
        ResponseHeader(name="X-Frame-Options", value="", documentation_only=True),
    ],
)
def overlay() -> File:
    """Captions for an OBS browser source, styled by URL parameters."""
    return _page("overlay.html")


@get("/console", sync_to_thread=False, include_in_schema=False, guards=[require_operator])
def console() -> File:
    """The operator console (its URL carries the operator token: ``/console?token=...``)."""
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
    )
    return Response(page, media_type="text/html")


def _secured(response: ASGIResponse) -> ASGIResponse:
    # The static files router takes no response headers of its own.
    for header in SECURITY_HEADERS:
        response.headers.setdefault(header.name, header.value)
    return response


handlers = [
    audience,
    overlay,
    join,
    create_static_files_router(path="/static", directories=[WEB_DIR], after_request=_secured),  # type: ignore[arg-type]
]
"""The public pages; the console is an operator surface."""
