"""The address the audience uses: configured, or derived from the host and port."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from translator.config import Settings


def public_url(settings: Settings) -> str:
    """The address the audience types or scans: the configured one, else derived from host and port."""
    server = settings.server
    if server.public_url:
        return server.public_url.rstrip("/") + "/"
    host = server.host
    if host in ("0.0.0.0", "::", ""):
        host = _lan_address()
    scheme = "https" if server.tls_cert else "http"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{server.port}/"


def is_loopback(url: str) -> bool:
    """Whether ``url`` names this machine's loopback: no phone can reach it, though a browser on
    this machine treats it as a secure page."""
    host = urlsplit(url).hostname or ""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def operator_url(settings: Settings) -> str:
    """Where the process that runs the talks is reached (the console, publishers): the public
    address, or with several listener processes, the same host on the operator port."""
    server = settings.server
    public = public_url(settings)
    if server.workers <= 1:
        return public
    parts = urlsplit(public)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{server.operator_port or server.port + 1}/"


def publisher_host(settings: Settings) -> str:
    """The host encoders reach the service at (for RTMP and SRT), as a URL writes it."""
    host = urlsplit(operator_url(settings)).hostname or "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _lan_address() -> str:
    # Connecting a UDP socket sends nothing; it only asks the kernel which interface would be used.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()
