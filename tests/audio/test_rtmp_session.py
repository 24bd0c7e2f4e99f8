"""The RTMP session against a hostile publisher on a real socket: each way of breaking the chunk
stream's bounds ends the session with a reason that names it, before anything is kept."""

from __future__ import annotations

import asyncio
import struct

import pytest

from translator.audio import amf0
from translator.audio.rtmp import ProtocolError, RtmpSession


def header(csid: int, length: int, kind: int, form: int = 0) -> bytes:
    if form == 1:
        return bytes([0x40 | csid]) + bytes(3) + length.to_bytes(3, "big") + bytes([kind])
    return bytes([csid]) + bytes(3) + length.to_bytes(3, "big") + bytes([kind]) + struct.pack("<I", 0)


def command(*values: amf0.Value) -> bytes:
    body = amf0.encode(*values)
    return header(3, len(body), 20) + body


def nested(depth: int) -> amf0.Value:
    value: amf0.Value = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


HOSTILE = {
    "a 16 MB command": (header(3, 0xFFFFFF, 20), "a message of 16777215 bytes (type 20)"),
    "a chunk size of 0": (header(2, 4, 1) + struct.pack(">I", 0), "a chunk size of 0 bytes"),
    "a chunk size of 1 GB": (header(2, 4, 1) + struct.pack(">I", 1 << 30), "a chunk size of 1073741824"),
    "no first header": (header(5, 10, 20, form=1), "chunk stream 5 starts without a full header"),
    "40 chunk streams": (
        b"".join(header(10 + n, 4, 9) + bytes(4) for n in range(40)),
        "more than 32 chunk streams",
    ),
    "a command nested 10 deep": (command("connect", 1.0, nested(10)), "nested deeper than 8"),
    "a command without its name": (command(1.0, 2.0), "a command without its name"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_a_chunk_stream_beyond_its_bounds_ends_the_session_with_the_reason(name: str) -> None:
    sent, reason = HOSTILE[name]
    outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = RtmpSession(reader, writer)
        try:
            await session.handshake()
            await session.publish_request()
            outcome.set_result(None)
        except ProtocolError as exc:
            outcome.set_result(exc)
        finally:
            await session.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    writer.write(b"\x03" + bytes(1536))
    s0s1s2 = await reader.readexactly(1 + 2 * 1536)
    writer.write(s0s1s2[1:1537] + sent)
    error = await asyncio.wait_for(outcome, 10)
    assert s0s1s2[1537:] == bytes(1536), "S2 echoes C1"
    assert isinstance(error, ProtocolError) and reason in str(error), error
    # The publisher is closed on.
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    server.close()


def test_amf0_reads_what_it_writes_and_refuses_what_is_cut_short() -> None:
    values: list[amf0.Value] = ["publish", 5.0, None, {"app": "live/main", "n": [1.0, True]}]
    assert amf0.decode_all(amf0.encode(*values)) == values
    with pytest.raises(amf0.AmfError, match="ends inside a value"):
        amf0.decode_all(amf0.encode("publish")[:-2])
