"""The listener wire protocol (public, versioned): JSON text frames and binary audio frames.

Binary audio frame = a 12-byte little-endian header, then the payload:

    offset  size  field
    0       1     protocol version (1)
    1       1     codec: 0 = PCM16 24 kHz mono, 1 = Opus packet
    2       2     flags: bit 0 = the utterance's audio ends here (``FLAG_END``); other bits 0
    4       4     utterance id (the caption ``id`` this audio translates)
    8       4     position: the chunk's first sample within the utterance's translated audio (24 kHz)

The frame that ends an utterance has an empty payload. Each utterance's Opus packets are one Opus
stream of their own (a fresh encoder), so a decoder per utterance needs no state from the one before.
"""

from __future__ import annotations

import struct
from typing import Literal

import msgspec

PROTOCOL_VERSION = 1
AUDIO_HEADER = struct.Struct("<BBHII")
CODEC_IDS = {"pcm": 0, "opus": 1}
FLAG_END = 1
PAUSED = "paused"
Codec = Literal["pcm", "opus"]


class Caption(msgspec.Struct, tag="caption", tag_field="type", frozen=True):
    """One utterance's caption. A later caption with the same ``id`` replaces the earlier one."""

    id: int
    lang: str
    final: bool
    text: str
    """The translation."""
    source_text: str
    """What the speaker said."""
    start_ms: int | None
    """Start of the source speech on the talk's timeline (ms since ``talk_started_at``)."""
    end_ms: int | None


class Status(msgspec.Struct, tag="status", tag_field="type", frozen=True):
    """The language's interpreter session changed state (connecting, ready, reconnecting, failed),
    or the operator paused the talk (``paused``) or resumed it (the session's state again)."""

    lang: str
    state: str
    detail: str = ""


class ErrorMessage(msgspec.Struct, tag="error", tag_field="type", frozen=True):
    """A problem the listener should show."""

    message: str


class Skipped(msgspec.Struct, tag="skipped", tag_field="type", frozen=True):
    """This listener fell behind: the utterance's audio (the caption ``id``) will not come, whole.

    Captions are never skipped; only audio, and only utterances none of whose audio was sent yet.
    """

    id: int


class Hello(msgspec.Struct, tag="hello", tag_field="type", frozen=True):
    """The first frame of every listener connection."""

    protocol: int
    lang: str
    name: str
    state: str
    audio: bool
    codec: Codec
    sample_rate: int
    channels: int
    audio_header_bytes: int
    talk_started_at: int | None
    """Unix ms when the input stream began; None before it has."""
    captions: list[Caption]
    """The recent final captions, oldest first."""
    detail: str = ""
    """Why the language's session is not ready, when it is not."""


ListenerMessage = Caption | Status | ErrorMessage | Skipped | Hello

_encoder = msgspec.json.Encoder()


def encode_text(message: ListenerMessage) -> str:
    """JSON text of a message (encoded once per message, shared by all listeners)."""
    return _encoder.encode(message).decode()


def audio_frame(codec: Codec, utterance: int, position: int, payload: bytes, flags: int = 0) -> bytes:
    """A binary audio frame: header, then payload."""
    return AUDIO_HEADER.pack(PROTOCOL_VERSION, CODEC_IDS[codec], flags, utterance, position) + payload
