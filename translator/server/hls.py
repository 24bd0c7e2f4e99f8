"""``GET /r/{room}/hls/master.m3u8`` (``/hls/master.m3u8`` on a one-room server): the room's HLS
folder (``outputs/hls.py``), as written by the process that runs its talk. Any process of the
server serves it from disk, and so can any web server or CDN given the folder."""

from __future__ import annotations

import re
from pathlib import Path

from litestar import get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.response import File

from translator.printable import printable
from translator.server.rooms import Rooms, room_or_404

NAMES = re.compile(
    r"^(master\.m3u8|[a-z]{2,3}(-[A-Za-z0-9]+)?|original)(/(audio\.m3u8|subtitles\.m3u8|init\.mp4|a\d+\.m4s|s\d+\.vtt))?$"
)
MEDIA_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mp4": "audio/mp4",
    ".m4s": "audio/mp4",
    ".vtt": "text/vtt",
}


@get(["/hls/{path:path}", "/r/{room:str}/hls/{path:path}"], sync_to_thread=False)
def hls(state: State, path: str, room: str | None = None) -> File:
    """A playlist or segment of the room's HLS output."""
    rooms: Rooms = state.rooms
    found = room_or_404(rooms, room)
    directory = rooms.settings.outputs.hls.directory
    if not rooms.settings.outputs.hls.enabled or directory is None:
        raise NotFoundException("this server makes no HLS output (outputs.hls.enabled is false)")
    name = path.lstrip("/")
    file = Path(directory) / found.id / name
    if not NAMES.match(name) or "/" not in name and name != "master.m3u8" or not file.is_file():
        raise NotFoundException(
            f"{printable(name)!r} is not in room {found.id!r}'s HLS output; start from master.m3u8"
        )
    # Playlists change every segment; a segment never changes once listed.
    cache = "no-cache" if file.suffix == ".m3u8" else "max-age=3600, immutable"
    return File(
        file,
        media_type=MEDIA_TYPES[file.suffix],
        content_disposition_type="inline",
        headers={"Cache-Control": cache, "Access-Control-Allow-Origin": "*"},
    )
