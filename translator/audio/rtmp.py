"""The server's side of an RTMP publish: what OBS, hardware encoders and Zoom's custom live
streaming push with.

A session does the handshake, reads the chunk stream, answers the commands that lead to
``publish`` and then hands over each audio and video message with its timestamp (an FLV tag's
body: the sound for `flv_audio.FlvAudioDecoder`, the picture for a language pushed as a stream,
`video.VideoFeed`). Whoever uses the session decides whether the publish is taken (`accept`,
`refuse`).

Nothing a publisher sends is trusted: chunk and message sizes, the number of chunk streams and how
deeply commands nest are bounded, and every wait has a timeout. The handshake is RTMP's plain one
(what FFmpeg and librtmp, and so OBS, use for ``rtmp://``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from collections.abc import AsyncIterator

import msgspec

from translator.audio import amf0

HANDSHAKE_BYTES = 1536
MAX_CHUNK_SIZE = 65536
"""The largest chunk a publisher may announce (encoders use 4096)."""
MAX_MESSAGE_BYTES = 64 * 1024
"""A message (a command, metadata, an audio frame) is at most this, a video frame excepted."""
MAX_VIDEO_BYTES = 4 * 1024 * 1024
"""A video frame is at most this (a 4K key frame at a high bit rate is about 1 MB)."""
MAX_CHUNK_STREAMS = 32
"""Encoders use about five."""
OUR_CHUNK_SIZE = 4096
WINDOW_BYTES = 2_500_000
"""The acknowledgement window we ask for and announce."""
STEP_S = 10.0
"""How long the publisher may take for each step before ``publish``, and may then stay silent."""

_SET_CHUNK_SIZE, _ABORT, _ACK, _USER_CONTROL, _WINDOW, _PEER_BANDWIDTH = 1, 2, 3, 4, 5, 6
_AUDIO, _VIDEO, _DATA_AMF3, _COMMAND_AMF3, _DATA, _COMMAND = 8, 9, 15, 17, 18, 20
_KEPT = {_SET_CHUNK_SIZE, _ABORT, _ACK, _USER_CONTROL, _WINDOW, _PEER_BANDWIDTH, _AUDIO, _VIDEO}
_KEPT |= {_DATA_AMF3, _COMMAND_AMF3, _DATA, _COMMAND}
_PING_REQUEST, _PING_RESPONSE = 6, 7
_CONTROL_CHUNKS, _COMMAND_CHUNKS = 2, 3
_ENDS = {"FCUnpublish", "deleteStream", "closeStream"}


class ProtocolError(Exception):
    """The publisher broke RTMP or a bound: the session ends, saying why."""


class PublisherGone(Exception):
    """The connection dropped, or went quiet for longer than `STEP_S`."""


class PublishRequest(msgspec.Struct, frozen=True):
    """What a publisher asked for: its application path, stream name (the key) and encoder."""

    app: str
    name: str
    encoder: str


class Media(msgspec.Struct, frozen=True):
    """One audio or video message of the publish: its FLV tag body and timestamp (ms, the encoder's
    clock, wrapping after 49 days)."""

    video: bool
    timestamp_ms: int
    body: bytes


class _ChunkStream:
    """What a chunk stream's headers left behind (later chunks leave out what did not change)."""

    def __init__(self) -> None:
        self.length = 0
        self.type = 0
        self.stream_id = 0
        self.timestamp = 0
        """The message's timestamp: absolute in a full header, else the last plus ``delta``."""
        self.delta = 0
        self.extended = False
        self.remaining = 0
        self.keep = False
        self.payload = bytearray()


class RtmpSession:
    """One publisher's connection, from its handshake to its last audio message."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._streams: dict[int, _ChunkStream] = {}
        self._chunk_in = 128
        self._chunk_out = 128
        self._window: int | None = None
        self._acked = 0
        self.received = 0
        """Bytes read from the publisher so far."""
        self._publish_stream = 1
        self._timestamp = 0
        """The last whole message's timestamp."""
        self.ended = False
        """Whether the publisher said it stopped (rather than dropping)."""

    async def handshake(self) -> None:
        """RTMP's plain handshake: C0 C1 in, S0 S1 S2 out, C2 in."""
        async with asyncio.timeout(STEP_S):
            c0c1 = await self._read(1 + HANDSHAKE_BYTES)
            if c0c1[0] != 3:
                raise ProtocolError(f"not RTMP (version byte {c0c1[0]}; rtmps:// is not served)")
            s1 = bytes(8) + os.urandom(HANDSHAKE_BYTES - 8)
            self._writer.write(b"\x03" + s1 + c0c1[1:])
            await self._writer.drain()
            await self._read(HANDSHAKE_BYTES)

    async def publish_request(self) -> PublishRequest:
        """Answer ``connect`` and ``createStream`` until the publisher asks to ``publish``."""
        app = encoder = ""
        while True:
            async with asyncio.timeout(STEP_S):
                kind, stream_id, payload = await self._message()
            if kind not in (_COMMAND, _COMMAND_AMF3):
                continue
            name, transaction, args = _command(kind, payload)
            if name == "connect":
                found = args[0] if args and isinstance(args[0], dict) else {}
                app = _text(found.get("app"))
                encoder = _text(found.get("flashVer")) or "an encoder"
                await self._connected(transaction)
            elif name == "createStream":
                await self._result(transaction, None, float(self._publish_stream))
            elif name in ("releaseStream", "FCPublish"):
                await self._result(transaction, None)
            elif name == "publish":
                self._publish_stream = stream_id
                key = _text(args[1]) if len(args) > 1 else ""
                return PublishRequest(app.strip("/"), key, encoder)
            elif name in _ENDS:
                raise PublisherGone("the publisher stopped before publishing")

    async def accept(self) -> None:
        """Tell the publisher its stream is taken."""
        await self._status("status", "NetStream.Publish.Start", "publishing")

    async def refuse(self, why: str) -> None:
        """Tell the publisher why not (an encoder shows it) and close."""
        with contextlib.suppress(ConnectionError, TimeoutError):
            await self._status("error", "NetStream.Publish.BadName", why)
        await self.close()

    async def media(self) -> AsyncIterator[Media]:
        """Each audio and video message, until the publisher stops (`ended` is then set), drops or
        goes quiet (PublisherGone), or breaks the protocol (ProtocolError)."""
        while True:
            async with asyncio.timeout(STEP_S):
                kind, _, payload = await self._message()
            if kind in (_AUDIO, _VIDEO):
                yield Media(kind == _VIDEO, self._timestamp, bytes(payload))
            elif kind in (_COMMAND, _COMMAND_AMF3) and _command(kind, payload)[0] in _ENDS:
                self.ended = True
                return

    async def close(self) -> None:
        """Close the connection (at most a second for what is still being sent)."""
        self._writer.close()
        try:
            async with asyncio.timeout(1.0):
                await self._writer.wait_closed()
        except (ConnectionError, TimeoutError):
            self._writer.transport.abort()

    async def _read(self, count: int) -> bytes:
        try:
            data = await self._reader.readexactly(count)
        except asyncio.IncompleteReadError:
            raise PublisherGone("the connection closed") from None
        except ConnectionError as exc:
            raise PublisherGone(f"the connection dropped ({exc.strerror or exc})") from None
        self.received += count
        if self._window and self.received - self._acked >= self._window:
            self._acked = self.received
            self._send(_CONTROL_CHUNKS, _ACK, struct.pack(">I", self.received & 0xFFFFFFFF))
        return data

    async def _message(self) -> tuple[int, int, bytearray]:
        """The next whole message worth handing on (kind, message stream, payload); protocol control
        is dealt with here."""
        while True:
            first = (await self._read(1))[0]
            form, csid = first >> 6, first & 0x3F
            if csid == 0:
                csid = 64 + (await self._read(1))[0]
            elif csid == 1:
                low, high = await self._read(2)
                csid = 64 + low + 256 * high
            stream = self._streams.get(csid)
            if stream is None:
                if form != 0:
                    raise ProtocolError(f"chunk stream {csid} starts without a full header")
                if len(self._streams) >= MAX_CHUNK_STREAMS:
                    raise ProtocolError(f"more than {MAX_CHUNK_STREAMS} chunk streams")
                stream = self._streams[csid] = _ChunkStream()
            if form < 3:
                if stream.remaining:
                    raise ProtocolError("a new header inside an unfinished message")
                header = await self._read((11, 7, 3)[form])
                if form < 2:
                    stream.length = int.from_bytes(header[3:6], "big")
                    stream.type = header[6]
                if form == 0:
                    stream.stream_id = int.from_bytes(header[7:11], "little")
                stream.extended = header[:3] == b"\xff\xff\xff"
                value = int.from_bytes(header[:3], "big")
                if stream.extended:
                    value = int.from_bytes(await self._read(4), "big")
                if form == 0:
                    # A header-less chunk after a full header adds its timestamp again (as FFmpeg
                    # and librtmp read RTMP's specification).
                    stream.timestamp, stream.delta = value, value
                else:
                    stream.delta = value
                    stream.timestamp += value
            elif stream.extended:
                await self._read(4)  # a continuation repeats the extended timestamp
                if not stream.remaining:
                    stream.timestamp += stream.delta
            elif not stream.remaining:
                stream.timestamp += stream.delta  # a new message with the same delta as the last
            if not stream.remaining:
                stream.remaining = stream.length
                stream.keep = stream.type in _KEPT
                bound = MAX_VIDEO_BYTES if stream.type == _VIDEO else MAX_MESSAGE_BYTES
                if stream.keep and stream.length > bound:
                    raise ProtocolError(f"a message of {stream.length} bytes (type {stream.type})")
                stream.payload = bytearray()
            piece = await self._read(min(self._chunk_in, stream.remaining))
            stream.remaining -= len(piece)
            if stream.keep:
                stream.payload += piece
            if stream.remaining or not stream.keep:
                continue
            if stream.type in (_SET_CHUNK_SIZE, _ABORT, _ACK, _USER_CONTROL, _WINDOW, _PEER_BANDWIDTH):
                self._control(stream.type, bytes(stream.payload))
                continue
            self._timestamp = stream.timestamp & 0xFFFFFFFF
            return stream.type, stream.stream_id, stream.payload

    def _control(self, kind: int, payload: bytes) -> None:
        if len(payload) < 4:
            if kind in (_SET_CHUNK_SIZE, _ABORT, _WINDOW):
                raise ProtocolError(f"a control message (type {kind}) of {len(payload)} bytes")
            return
        value = struct.unpack(">I", payload[:4])[0]
        if kind == _SET_CHUNK_SIZE:
            value &= 0x7FFFFFFF
            if not 1 <= value <= MAX_CHUNK_SIZE:
                raise ProtocolError(f"a chunk size of {value} bytes (at most {MAX_CHUNK_SIZE})")
            self._chunk_in = value
        elif kind == _ABORT:
            aborted = self._streams.get(value)
            if aborted is not None:
                aborted.remaining = 0
        elif kind == _WINDOW:
            self._window = value
        elif kind == _USER_CONTROL and value >> 16 == _PING_REQUEST and len(payload) >= 6:
            self._send(_CONTROL_CHUNKS, _USER_CONTROL, struct.pack(">H", _PING_RESPONSE) + payload[2:6])

    async def _connected(self, transaction: float) -> None:
        self._send(_CONTROL_CHUNKS, _WINDOW, struct.pack(">I", WINDOW_BYTES))
        self._send(_CONTROL_CHUNKS, _PEER_BANDWIDTH, struct.pack(">IB", WINDOW_BYTES, 2))
        self._send(_CONTROL_CHUNKS, _SET_CHUNK_SIZE, struct.pack(">I", OUR_CHUNK_SIZE))
        self._chunk_out = OUR_CHUNK_SIZE
        await self._result(
            transaction,
            {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0},
            {
                "level": "status",
                "code": "NetConnection.Connect.Success",
                "description": "Connection succeeded.",
                "objectEncoding": 0.0,
            },
        )

    async def _result(self, transaction: float, *values: amf0.Value) -> None:
        self._send(_COMMAND_CHUNKS, _COMMAND, amf0.encode("_result", transaction, *values))
        await self._drain()

    async def _status(self, level: str, code: str, description: str) -> None:
        info: amf0.Value = {"level": level, "code": code, "description": description}
        self._send(_COMMAND_CHUNKS, _COMMAND, amf0.encode("onStatus", 0.0, None, info), self._publish_stream)
        await self._drain()

    async def _drain(self) -> None:
        async with asyncio.timeout(STEP_S):
            await self._writer.drain()

    def _send(self, csid: int, kind: int, payload: bytes, stream_id: int = 0) -> None:
        header = struct.pack(">B", csid) + len(payload).to_bytes(3, "big").rjust(6, b"\x00")
        header += bytes([kind]) + struct.pack("<I", stream_id)
        out = bytearray(header)
        for at in range(0, len(payload), self._chunk_out):
            if at:
                out.append(0xC0 | csid)
            out += payload[at : at + self._chunk_out]
        self._writer.write(bytes(out))


def _command(kind: int, payload: bytearray) -> tuple[str, float, list[amf0.Value]]:
    """A command's name, transaction number and arguments (after the command object)."""
    data = bytes(payload[1:] if kind == _COMMAND_AMF3 else payload)
    try:
        values = amf0.decode_all(data)
    except amf0.AmfError as exc:
        raise ProtocolError(f"a malformed command ({exc})") from None
    if len(values) < 2 or not isinstance(values[0], str) or not isinstance(values[1], float):
        raise ProtocolError("a command without its name and transaction number")
    return values[0], values[1], values[2:]


def _text(value: amf0.Value) -> str:
    return value if isinstance(value, str) else ""
