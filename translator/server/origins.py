"""Which pages may make a browser listen here: this service's own, and those the operator allowed.

A page's Origin compared with the request's Host is not enough: with DNS rebinding, a page on an
attacker's name that resolves to this server arrives with a matching Host. So a page served under a
name is this service's only under a name it knows (the public URL's, localhost, this machine's own
name); one served under an address (a phone that typed the IP) cannot be rebound, and must match the
Host. The same rule holds on every listener transport: WebSockets, and the audio streams and
Server-Sent Events that a third-party page would load with an ``<audio>`` or an ``EventSource``.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Mapping
from functools import cache
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from translator.printable import printable
from translator.server import log_limits
from translator.server.rooms import Rooms

log = logging.getLogger(__name__)
_refused = log_limits.Windows()


@cache
def _own_names() -> frozenset[str]:
    name = socket.gethostname().lower()
    return frozenset({"localhost", name, f"{name.split('.')[0]}.local"})


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def page_allowed(origin: str, host: str, rooms: Rooms) -> bool:
    """Whether a page of ``origin`` may listen, the request having come for ``host``."""
    allowed = rooms.settings.server.allowed_origins
    if "*" in allowed or origin in allowed:
        return True
    page = urlsplit(origin)
    if not page.hostname:
        return False  # "null": a sandboxed frame, a file
    if page.netloc.lower() == urlsplit(rooms.base_url).netloc.lower():
        return True
    if page.netloc.lower() != host.lower():
        return False
    return _is_address(page.hostname) or page.hostname.lower() in _own_names()


def refusal(headers: Mapping[str, str], rooms: Rooms) -> str:
    """Why a listener request from a browser page is refused as another site's ("" when it is not).

    Players that are no browser page (OBS, VLC, ffmpeg, a smart speaker) send neither Origin nor
    Sec-Fetch-Site and are let through.
    """
    origin = headers.get("origin")
    if origin is not None:
        allowed = page_allowed(origin, headers.get("host", ""), rooms)
    else:
        # An <audio> element of another site's page sends no Origin, but the browser says cross-site.
        allowed = (
            headers.get("sec-fetch-site") != "cross-site" or "*" in rooms.settings.server.allowed_origins
        )
    if allowed:
        return ""
    # Whatever the client sent, escaped and short: a close reason holds 123 bytes at most (40
    # characters of a header, two bytes each at most, and the words around them).
    page = printable(origin, limit=40) if origin is not None else "another site"
    suppressed = _refused.passes("cross-site")
    if suppressed is not None:
        log.warning(
            "refused a listener from a page at %s%s; if that is this service's own address, set "
            "server.public_url to it (or add it to server.allowed_origins)",
            page,
            f" ({suppressed} more in the last minute)" if suppressed else "",
        )
    return f"pages from {page} may not listen here"


def same_site(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """A route guard: 403 for a listener request made by another site's page."""
    if why := refusal(connection.headers, connection.app.state.rooms):
        raise PermissionDeniedException(why)
