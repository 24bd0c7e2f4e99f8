"""The listener wire protocol (public, versioned): JSON text frames and binary audio frames.

Binary audio frame = a 12-byte little-endian header, then the payload:

    offset  size  field
    0       1     protocol version (2)
    1       1     codec: 0 = PCM16 24 kHz mono, 1 = Opus packets
    2       2     flags: bit 0 = the utterance's audio ends here (``FLAG_END``); other bits 0
    4       4     utterance id (the caption ``id`` this audio translates)
    8       4     position: the chunk's first sample within the utterance's translated audio (24 kHz)

An Opus payload holds up to ``MAX_PACKETS`` packets of 20 ms, each preceded by its length (uint16,
little-endian): a listener costs ~10 messages a second, not 50, and the cost of fan-out is per
message. A message carries the packets already encoded; audio is never held back to fill one.
The frame that ends an utterance has an empty payload. Each utterance's Opus packets are one Opus
stream of their own (a fresh encoder), so a decoder per utterance needs no state from the one before.

Version 1 sent one Opus packet per message, unprefixed.
"""

from __future__ import annotations

import struct
from typing import Literal

import msgspec
from websockets.frames import Frame, Opcode

from translator.audio import FRAME_SAMPLES

PROTOCOL_VERSION = 2
AUDIO_HEADER = struct.Struct("<BBHII")
PACKET_LENGTH = struct.Struct("<H")
MAX_PACKETS = 5
"""Opus packets per message at most: 100 ms of audio."""
PACKET_SAMPLES = FRAME_SAMPLES
"""Samples (24 kHz) in one Opus packet: the encoder's 20 ms frame."""
CODEC_IDS = {"pcm": 0, "opus": 1}
FLAG_END = 1
PAUSED = "paused"
Codec = Literal["pcm", "opus"]


class Caption(msgspec.Struct, tag="caption", tag_field="type", frozen=True, omit_defaults=True):
    """One utterance's caption. A later caption with the same ``id`` replaces the earlier one.

    ``source_lang``, ``passthrough``, ``continues`` and ``misses`` are left out while they hold
    their defaults: a caption of a one-language floor reads as it did before they existed."""

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
    source_lang: str = ""
    """The language the speaker spoke (``es``), as the engine recognised it; empty until known."""
    passthrough: bool = False
    """Spoken in the channel's own language: the audio is the speaker's voice, the text what was said."""
    continues: int | None = None
    """The caption this one goes on from: the speaker went on with the sentence after a pause the
    engine had closed it at (pages show it as the same paragraph going on)."""
    misses: list[str] = []
    """What the translation lost of the numbers, names and glossary terms said (``2,400 → missing``),
    once both texts are final; left out when nothing was lost."""
    corrected: bool = False
    """A person (the operator, or an editor of the language) corrected the text after it was final."""


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


class Question(msgspec.Struct, tag="question", tag_field="type", frozen=True):
    """A question from the audience, accepted by the moderator: shown apart from the talk's
    captions (it is not the speaker's). Sent to every channel, in its language where it could be
    translated (``lang`` says which language ``text`` is in)."""

    id: int
    text: str
    lang: str
    source_text: str
    """As the listener typed it."""
    source_lang: str
    """The language the listener typed in."""


class OpusLayout(msgspec.Struct, frozen=True):
    """How an Opus message's payload is laid out."""

    length_prefix: str = "uint16le"
    """Each packet is preceded by its length in bytes."""
    packet_samples: int = PACKET_SAMPLES
    max_packets: int = MAX_PACKETS


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
    opus: OpusLayout = OpusLayout()
    question: Question | None = None
    """The audience question last put to the room, for a listener who joins after it."""


ListenerMessage = Caption | Status | ErrorMessage | Skipped | Question | Hello

_encoder = msgspec.json.Encoder()


def encode_text(message: ListenerMessage) -> str:
    """JSON text of a message (encoded once per message, shared by all listeners)."""
    return _encoder.encode(message).decode()


def websocket_frame(message: str | bytes) -> bytes:
    """The message as one unmasked WebSocket frame, as a server sends it: built once per message and
    written as is to every listener that can take it (see ``server/uvicorn_protocols.py``)."""
    if isinstance(message, str):
        return Frame(Opcode.TEXT, message.encode()).serialize(mask=False)
    return Frame(Opcode.BINARY, message).serialize(mask=False)


def audio_frame(codec: Codec, utterance: int, position: int, payload: bytes, flags: int = 0) -> bytes:
    """A binary audio frame: header, then payload."""
    return AUDIO_HEADER.pack(PROTOCOL_VERSION, CODEC_IDS[codec], flags, utterance, position) + payload


def opus_payload(packets: list[bytes]) -> bytes:
    """Opus packets laid out for one message, each preceded by its length."""
    return b"".join(PACKET_LENGTH.pack(len(packet)) + packet for packet in packets)


def opus_packets(payload: bytes) -> list[bytes]:
    """The Opus packets of a message's payload (what a listener does with it)."""
    packets, offset = [], 0
    while offset < len(payload):
        (length,) = PACKET_LENGTH.unpack_from(payload, offset)
        packets.append(payload[offset + 2 : offset + 2 + length])
        offset += 2 + length
    return packets
