"""``GET /r/{room}/hls/master.m3u8`` (``/hls/master.m3u8`` on a one-room server): the room's HLS
folder (``outputs/hls.py``), as written by the process that runs its talk. Any process of the
server serves it from disk, and so can any web server or CDN given the folder."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException

from translator.outputs.hls import MASTER
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


@get(["/hls/{path:path}", "/r/{room:str}/hls/{path:path}"])
async def hls(
    state: State, request: Request[Any, Any, Any], path: str, room: str | None = None
) -> Response[bytes]:
    """A playlist or segment of the room's HLS output (read whole, off the event loop: a playlist is
    replaced every segment and a segment deleted as the window moves, so what is sent is one read).
    Each client's fetches of a channel's audio playlist count it as that channel's reader."""
    rooms: Rooms = state.rooms
    found = room_or_404(rooms, room)
    directory = rooms.settings.outputs.hls.directory
    if not rooms.settings.outputs.hls.enabled or directory is None:
        raise NotFoundException("this server makes no HLS output (outputs.hls.enabled is false)")
    name = path.lstrip("/")
    file = Path(directory) / found.id / name
    missing = NotFoundException(
        f"{printable(name)!r} is not in room {found.id!r}'s HLS output; start from {MASTER}"
    )
    if not NAMES.match(name) or ("/" not in name and name != MASTER):
        raise missing
    try:
        content = await asyncio.to_thread(file.read_bytes)
    except (FileNotFoundError, IsADirectoryError):
        raise missing from None
    lang, _, rest = name.partition("/")
    if rest == "audio.m3u8":
        # A player fetches its media playlist every segment: what counts it (`RecentReaders`), once
        # the channel is found to exist (a made-up one takes no memory).
        client = request.client.host if request.client else ""
        found.hls_readers.saw(lang, f"{client} {request.headers.get('user-agent', '')}")
    # Playlists change every segment. A segment does not change once listed, but its name comes
    # back after a restart (the folder starts afresh): kept no longer than a window.
    cache = "no-cache" if file.suffix == ".m3u8" else f"max-age={rooms.settings.outputs.hls.window_s:.0f}"
    return Response(
        content,
        media_type=MEDIA_TYPES[file.suffix],
        headers={"Cache-Control": cache, "Access-Control-Allow-Origin": "*"},
    )
