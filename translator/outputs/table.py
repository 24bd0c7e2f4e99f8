"""The output table: what a room becomes beyond its live listeners, one row per kind of output.

Each row names the output, the settings it reads, the feed it takes and the route it serves:

- **the programme** (`playout.Programme`): every channel played out on one real-time clock, the
  same length and lined up, for what is heard or watched later or elsewhere (HTTP streams, HLS,
  recordings, a language pushed as a stream);
- **the live feed** (the hub's channels): each message as soon as the talk publishes it, for what
  shows captions beside its own picture and sound: a subscription without audio (Server-Sent
  Events), or only the final captions, typed (`Hub.follow_finals`: Zoom, YouTube).

The server builds a room's outputs from the rows, where its talk runs (an output that serves, in
every process that serves the room: `everywhere`), starts them after the room's programme and stops
them before it. Each reports itself (`/api/status` ``outputs``, the console, `/metrics`) and fails
alone. Adding an output: a module with a class that starts, stops and reports (`playout.Output`),
a row here, and for one that serves, its route in ``server/`` (the row names its path).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from translator.config import Settings
from translator.outputs.caption_events import CaptionEvents
from translator.outputs.caption_post import CaptionPoster
from translator.outputs.hls import HlsOutput
from translator.outputs.http_stream import HttpStreams
from translator.outputs.playout import Output, Programme
from translator.outputs.push import LanguagePush
from translator.outputs.recording import Recorder
from translator.outputs.youtube import YoutubeCaptions
from translator.outputs.zoom import ZoomCaptions
from translator.talk.room import Room, RoomBase
from translator.transcripts.store import transcripts_directory


@dataclass(frozen=True)
class Place:
    """What an output is built from: the room, its programme, the server's settings."""

    room: RoomBase
    programme: Programme
    settings: Settings

    @property
    def talk(self) -> Room:
        """The room, whose talk runs in this process (the rows not built `everywhere`)."""
        assert isinstance(self.room, Room), "built only where the room's talk runs"
        return self.room


@dataclass(frozen=True)
class OutputKind:
    """One row of the table."""

    name: str
    feed: Literal["programme", "live"]
    settings: str
    """The settings that turn it on and say where it goes."""
    build: Callable[[Place], list[Output]]
    """The room's outputs of this kind (none when its settings ask for none)."""
    route: str = ""
    """What it serves, when it serves (its handler is in ``server/``)."""
    everywhere: bool = False
    """Built in every process that serves the room (a listener process too), not only where its
    talk runs."""


def _hls(place: Place) -> list[Output]:
    config = place.settings.outputs.hls
    if not config.enabled or config.directory is None:
        return []
    return [HlsOutput(place.programme, config, Path(config.directory) / place.room.id)]


def _recordings(place: Place) -> list[Output]:
    if not place.settings.outputs.recordings.enabled:
        return []
    directory = transcripts_directory(place.settings.transcripts)
    return [Recorder(place.programme, place.talk, directory, place.settings.server.event_name)]


def _zoom(place: Place) -> list[Output]:
    room = place.talk
    return [
        CaptionPoster(room, lang, ZoomCaptions(lang, room.config.source), url)
        for lang, url in room.config.outputs.zoom.items()
    ]


def _youtube(place: Place) -> list[Output]:
    room = place.talk
    addresses = room.config.outputs.youtube
    return [CaptionPoster(room, lang, YoutubeCaptions(), url) for lang, url in addresses.items()]


def _push(place: Place) -> list[Output]:
    pushes = place.talk.config.outputs.push.items()
    return [LanguagePush(place.programme, place.talk, lang, url) for lang, url in pushes]


OUTPUTS: tuple[OutputKind, ...] = (
    OutputKind(
        "stream",
        "programme",
        "none: always on",
        lambda place: [HttpStreams(place.programme)],
        "/stream/{room}/{lang}.ogg (.mp3, .aac)",
        everywhere=True,
    ),
    OutputKind(
        "sse",
        "live",
        "none: always on",
        lambda place: [CaptionEvents(place.room)],
        "/sse/captions/{room}/{lang}",
        everywhere=True,
    ),
    OutputKind("hls", "programme", "outputs.hls", _hls, "/r/{room}/hls/master.m3u8"),
    OutputKind("recording", "programme", "outputs.recordings", _recordings),
    OutputKind("zoom", "live", "outputs.zoom.<lang>", _zoom),
    OutputKind("youtube", "live", "outputs.youtube.<lang>", _youtube),
    OutputKind("push", "programme", "outputs.push.<lang>", _push),
)


def outputs_for(place: Place) -> list[Output]:
    """Every output the settings ask of ``place.room`` in this process, in the table's order."""
    here = isinstance(place.room, Room)
    return [output for kind in OUTPUTS if here or kind.everywhere for output in kind.build(place)]
