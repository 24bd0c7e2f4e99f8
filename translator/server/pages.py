"""The static pages in ``web/``."""

from __future__ import annotations

from pathlib import Path

from litestar import get
from litestar.response import File
from litestar.static_files import create_static_files_router

WEB_DIR = Path(__file__).resolve().parents[2] / "web"


@get("/", sync_to_thread=False, include_in_schema=False)
def audience() -> File:
    """The audience page."""
    return File(WEB_DIR / "index.html", content_disposition_type="inline")


handlers = [audience, create_static_files_router(path="/static", directories=[WEB_DIR])]
