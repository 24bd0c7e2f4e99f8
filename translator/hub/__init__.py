"""Fan-out to listeners: per-channel delivery rules over typed chunks and messages, no transport.

``hub.py``: one room's channels; ``delivery.py``: the rules (the audio timeline, whole utterances
dropped with a notice, eviction); ``chunks.py``: what a talk publishes of its audio;
``broker.py``: processes sharing a room through Redis.
"""

from translator.hub.chunks import AudioChunk
from translator.hub.delivery import (
    CLOSE_LANGUAGE_REMOVED,
    CLOSE_TOO_SLOW,
    HISTORY,
    LATE_MARGIN_S,
    MAX_AUDIO_BYTES,
    STALL_S,
    TEXT_BACKLOG,
    Channel,
    Framer,
    Listener,
    Outgoing,
)
from translator.hub.hub import Broker, Hub

__all__ = [
    "CLOSE_LANGUAGE_REMOVED",
    "CLOSE_TOO_SLOW",
    "HISTORY",
    "LATE_MARGIN_S",
    "MAX_AUDIO_BYTES",
    "STALL_S",
    "TEXT_BACKLOG",
    "AudioChunk",
    "Broker",
    "Channel",
    "Framer",
    "Hub",
    "Listener",
    "Outgoing",
]
