"""The output table: what a room becomes beyond its live listeners, one row per kind of output.

Each row names the output, the settings it reads and the feed it takes:

- **the programme** (`playout.Programme`): every channel played out on one real-time clock, the
  same length and lined up, for what is heard or watched later or elsewhere (HLS, recordings, a
  language pushed as a stream);
- **the live feed** (`Hub.follow_finals`): each final caption as soon as the talk publishes it,
  for services that show captions beside their own picture and sound (Zoom, YouTube).

The server builds a room's outputs from the rows where its talk runs, starts them after the room's
programme and stops them before it. Each reports itself (`/api/status` ``outputs``, the console)
and fails alone. Adding an output: a module with a class that starts, stops and reports
(`playout.Output`), and a row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from translator.config import Settings
from translator.outputs.caption_post import CaptionPoster
from translator.outputs.hls import HlsOutput
from translator.outputs.playout import Output, Programme
from translator.outputs.push import LanguagePush
from translator.outputs.recording import Recorder
from translator.outputs.youtube import YoutubeCaptions
from translator.outputs.zoom import ZoomCaptions
from translator.talk.room import Room
from translator.transcripts.store import transcripts_directory


@dataclass(frozen=True)
class Place:
    """What an output is built from: the room, its programme, the server's settings."""

    room: Room
    programme: Programme
    settings: Settings


@dataclass(frozen=True)
class OutputKind:
    """One row of the table."""

    name: str
    feed: Literal["programme", "live"]
    settings: str
    """The settings that turn it on and say where it goes."""
    build: Callable[[Place], list[Output]]
    """The room's outputs of this kind (none when its settings ask for none)."""


def _hls(place: Place) -> list[Output]:
    config = place.settings.outputs.hls
    if not config.enabled or config.directory is None:
        return []
    return [HlsOutput(place.programme, config, Path(config.directory) / place.room.id)]


def _recordings(place: Place) -> list[Output]:
    if not place.settings.outputs.recordings.enabled:
        return []
    directory = transcripts_directory(place.settings.transcripts)
    return [Recorder(place.programme, place.room, directory, place.settings.server.event_name)]


def _zoom(place: Place) -> list[Output]:
    room = place.room
    return [
        CaptionPoster(room, lang, ZoomCaptions(lang, room.config.source), url)
        for lang, url in room.config.outputs.zoom.items()
    ]


def _youtube(place: Place) -> list[Output]:
    room = place.room
    addresses = room.config.outputs.youtube
    return [CaptionPoster(room, lang, YoutubeCaptions(), url) for lang, url in addresses.items()]


def _push(place: Place) -> list[Output]:
    pushes = place.room.config.outputs.push.items()
    return [LanguagePush(place.programme, place.room, lang, url) for lang, url in pushes]


OUTPUTS: tuple[OutputKind, ...] = (
    OutputKind("hls", "programme", "outputs.hls", _hls),
    OutputKind("recording", "programme", "outputs.recordings", _recordings),
    OutputKind("zoom", "live", "outputs.zoom.<lang>", _zoom),
    OutputKind("youtube", "live", "outputs.youtube.<lang>", _youtube),
    OutputKind("push", "programme", "outputs.push.<lang>", _push),
)


def outputs_for(place: Place) -> list[Output]:
    """Every output the settings ask of ``place.room``, in the table's order."""
    return [output for kind in OUTPUTS for output in kind.build(place)]
