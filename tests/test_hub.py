"""The hub: encoded once, bursts kept whole, slow listeners shed whole utterances, stalled ones evicted."""

from __future__ import annotations

import json
import struct
import time

from translator.hub import (
    CLOSE_TOO_SLOW,
    HISTORY,
    LATE_MARGIN_S,
    STALL_S,
    TEXT_BACKLOG,
    AudioChunk,
    Hub,
    Listener,
)
from translator.hub.hub import WRITE_CHUNKS
from translator.messages import AUDIO_HEADER, Caption, Status, encode_text, websocket_frame
from translator.server.listen import WEBSOCKET


def caption(n: int, final: bool = True, text: str = "hola") -> Caption:
    return Caption(n, "es", final, text, "hello", 0, 100)


def frame(utterance: int, index: int, seconds: float = 0.1) -> AudioChunk:
    """A chunk whose audio names it (``b"2:7"``), playing ``seconds``."""
    audio = f"{utterance}:{index}".encode()
    return AudioChunk("es", utterance, index, "pcm", [audio], seconds, len(audio))


def push(listener: Listener, audio: AudioChunk, now: float) -> None:
    listener.push_audio(audio, WEBSOCKET.audio(audio), now)


def wire(audio: AudioChunk) -> bytes:
    return WEBSOCKET.audio(audio).wire


async def take(listener: Listener) -> str | bytes | None:
    """The next message's payload: a text message's JSON, an audio message's audio (no header)."""
    message = await listener.next()
    if message is None:
        return None
    payload = message.payload
    return payload if isinstance(payload, str) else payload[AUDIO_HEADER.size :]


async def test_the_same_encoded_object_goes_to_every_listener() -> None:
    hub = Hub(["es", "fr"])
    a, b, other = (
        hub.subscribe("es", WEBSOCKET),
        hub.subscribe("es", WEBSOCKET),
        hub.subscribe("fr", WEBSOCKET),
    )
    hub.publish("es", caption(1))
    first, second = await a.next(), await b.next()
    assert first is not None and second is not None
    assert first.payload is second.payload and first.wire is second.wire
    assert isinstance(first.payload, str) and '"text":"hola"' in first.payload
    assert first.wire == websocket_frame(first.payload), "the frame itself built once, too"
    assert other.take() is None, "the French listener got nothing"


async def test_a_burst_of_a_long_sentence_is_kept_whole() -> None:
    # 20 s of translated speech produced in an instant: a burst, not a listener falling behind.
    hub = Hub(["es"])
    listener = hub.subscribe("es", WEBSOCKET)
    sent = [frame(1, i) for i in range(200)] + [frame(2, i) for i in range(50)]
    hub.publish("es", caption(1))
    for f in sent:
        hub.publish_audio(f)
    received = [await take(listener) for _ in range(len(sent) + 1)]
    assert received[1:] == [f.packets[0] for f in sent]
    assert listener.skipped_utterances == 0 and listener.closed is None


async def test_a_slow_listener_loses_whole_utterances_with_a_notice_never_half_of_one() -> None:
    listener = Hub(["es"]).subscribe("es", WEBSOCKET)
    now = time.monotonic()
    for i in range(30):  # 3 s of utterance 1
        push(listener, frame(1, i), now)
    assert await take(listener) == b"1:0"  # utterance 1 has started playing
    for i in range(30):  # utterance 2 arrives while utterance 1 is still queued
        push(listener, frame(2, i), now + 1)
    # Nothing taken since: utterance 1's last frames are now later than playback needs them.
    late = now + 3 + LATE_MARGIN_S + 0.1
    push(listener, frame(2, 30), late)
    push(listener, frame(2, 31), late)  # more of a skipped utterance: dropped too
    # While the utterance it is hearing is late, a listener skips the utterances after it.
    push(listener, frame(3, 0), late)
    out = [await take(listener) for _ in range(31)]
    assert [json.loads(t) for t in out[:2]] == [{"type": "skipped", "id": 2}, {"type": "skipped", "id": 3}]
    assert out[2:] == [f"1:{i}".encode() for i in range(1, 30)]
    # Caught up: the next utterance is heard whole.
    for i in range(10):
        push(listener, frame(4, i), late + 1)
    assert [await take(listener) for _ in range(10)] == [f"4:{i}".encode() for i in range(10)]
    assert listener.skipped_utterances == 2 and listener.closed is None


async def test_a_listener_that_stops_reading_is_evicted_and_the_others_carry_on() -> None:
    hub = Hub(["es"])
    stalled, healthy = hub.subscribe("es", WEBSOCKET), hub.subscribe("es", WEBSOCKET)
    cancelled = []
    stalled.on_evict(lambda: cancelled.append(True))
    now = time.monotonic()
    push(stalled, frame(1, 0), now)
    push(stalled, frame(1, 1), now + STALL_S / 2)
    assert stalled.closed is None
    push(stalled, frame(2, 0), now + STALL_S + 1)
    assert stalled.closed == (CLOSE_TOO_SLOW, "listener too slow: stopped reading")
    assert cancelled == [True]
    assert await take(stalled) is None
    hub.publish_audio(frame(3, 0))
    assert await take(healthy) == b"3:0" and healthy.closed is None


async def test_captions_only_listeners_get_no_audio() -> None:
    hub = Hub(["es"])
    listener = hub.subscribe("es", WEBSOCKET, audio=False)
    hub.publish_audio(frame(1, 0))
    assert listener.take() is None, "nothing was queued"


async def test_a_listener_behind_on_captions_is_evicted_with_a_code() -> None:
    hub = Hub(["es"])
    stalled, healthy = hub.subscribe("es", WEBSOCKET), hub.subscribe("es", WEBSOCKET)
    for n in range(TEXT_BACKLOG + 1):
        hub.publish("es", caption(n))
        assert await take(healthy)
    assert stalled.closed == (CLOSE_TOO_SLOW, "listener too slow: fell behind on captions")
    assert healthy.closed is None


def test_history_keeps_the_latest_version_of_recent_finals() -> None:
    hub = Hub(["es"])
    for n in range(HISTORY + 3):
        hub.publish("es", caption(n))
    hub.publish("es", caption(HISTORY + 2, text="corrected"))
    hub.publish("es", caption(99, final=False))
    history = list(hub.channels["es"].history)
    assert [c.id for c in history] == list(range(3, HISTORY + 3))
    assert history[-1].text == "corrected"


def test_a_connection_that_takes_prebuilt_frames_gets_them_at_publish_time_in_order() -> None:
    hub = Hub(["es"])
    listener = hub.subscribe("es", WEBSOCKET, first=Status("es", "ready"))
    written: list[bytes] = []
    listener.attach(written.append)

    def drain() -> None:
        """What the connection does when its transport can take more."""
        while listener.writable and (out := listener.take()) is not None:
            written.append(out.wire)

    drain()  # the hello, queued before the connection was attached
    frames = [frame(1, i) for i in range(6)]
    hub.publish_audio(frames[0])
    hub.publish_audio(frames[1])
    assert written[1:] == [wire(f) for f in frames[:2]], "written at publish time"
    listener.writable = False  # the socket's buffer is full: the hub queues
    hub.publish_audio(frames[2])
    listener.writable = True
    hub.publish_audio(frames[3])  # queued behind frame 2, never ahead of it
    assert len(written) == 3
    drain()
    hub.publish_audio(frames[4])
    hub.publish("es", caption(1))
    hub.publish_audio(frames[5])
    assert written == [
        websocket_frame(encode_text(Status("es", "ready"))),
        *(wire(f) for f in frames[:5]),
        websocket_frame(caption_text(1)),
        wire(frames[5]),
    ]


def test_a_burst_published_while_holding_reaches_a_listener_that_keeps_up_in_few_writes() -> None:
    """A sentence synthesised at once: writes of `WRITE_CHUNKS` frames, in order, for a listener
    that keeps up; a caption published in the middle goes after the audio before it; a listener
    whose socket is full gets the same frames queued one by one, nothing lost."""
    hub = Hub(["es"])
    keeping_up, full = hub.subscribe("es", WEBSOCKET), hub.subscribe("es", WEBSOCKET)
    writes: dict[Listener, list[bytes]] = {keeping_up: [], full: []}
    for listener in (keeping_up, full):
        listener.attach(writes[listener].append)
    full.writable = False
    frames = [frame(1, i) for i in range(6)]
    with hub.holding():
        for chunk in frames[:4]:
            hub.publish_audio(chunk)
        hub.publish("es", caption(1))
        for chunk in frames[4:]:
            hub.publish_audio(chunk)
        assert writes[keeping_up] == [
            *(b"".join(map(wire, frames[i : i + WRITE_CHUNKS])) for i in range(0, 4, WRITE_CHUNKS)),
            websocket_frame(caption_text(1)),
        ]
    assert writes[keeping_up][-1] == b"".join(map(wire, frames[4:])), "the rest at the end"
    assert len(writes[keeping_up]) == 4 // WRITE_CHUNKS + 2
    assert writes[full] == []
    full.writable = True
    queued = []
    while (out := full.take()) is not None:
        queued.append(out.wire)
    # A queue gives captions first (`Listener.take`), then the audio in order.
    assert queued == [websocket_frame(caption_text(1)), *map(wire, frames)]
    assert hub.channels["es"].written_at_once == 7 and hub.channels["es"].queued == 14


def caption_text(n: int) -> str:
    return encode_text(caption(n))


def unmasked(opcode: int, message: bytes) -> bytes:
    """One final, unmasked WebSocket frame (RFC 6455), built by hand."""
    if len(message) < 126:
        return struct.pack("!BB", 0x80 | opcode, len(message)) + message
    if len(message) < 1 << 16:
        return struct.pack("!BBH", 0x80 | opcode, 126, len(message)) + message
    return struct.pack("!BBQ", 0x80 | opcode, 127, len(message)) + message


def protocol_2_frame(codec: int, flags: int, utterance: int, position: int, payload: bytes) -> bytes:
    """A binary audio message built by hand from the README's table: what the wire carried before
    the hub knew no transport."""
    return unmasked(2, struct.pack("<BBHII", 2, codec, flags, utterance, position) + payload)


def test_the_websocket_framer_writes_protocol_2_byte_for_byte() -> None:
    hub = Hub(["es"])
    pcm_listener = hub.subscribe("es", WEBSOCKET, codec="pcm")
    opus_listener = hub.subscribe("es", WEBSOCKET, codec="opus")
    wires: dict[str, list[bytes]] = {"pcm": [], "opus": []}
    for codec, listener in (("pcm", pcm_listener), ("opus", opus_listener)):
        listener.attach(wires[codec].append)
    packets = [b"\x01" * 60, b"\x02" * 70, b"\x03" * 300]
    long_pcm = bytes(range(256)) * 300  # 76,800 bytes: a frame with a 64-bit length
    hub.publish_audio(AudioChunk.pcm("es", 7, 0, b"\x10\x00" * 40))
    hub.publish_audio(AudioChunk.pcm("es", 7, 40, long_pcm))
    hub.publish_audio(AudioChunk.ending("es", 7, 40 + len(long_pcm) // 2, "pcm"))
    hub.publish_audio(AudioChunk.opus("es", 7, 0, packets))
    hub.publish_audio(AudioChunk.ending("es", 7, 3 * 480, "opus"))
    hub.publish("es", Caption(7, "es", True, "hola", "hello", 10, 20))
    prefixed = b"".join(struct.pack("<H", len(p)) + p for p in packets)
    caption_json = (
        b'{"type":"caption","id":7,"lang":"es","final":true,"text":"hola",'
        b'"source_text":"hello","start_ms":10,"end_ms":20}'
    )
    text_frame = unmasked(1, caption_json)
    assert wires["pcm"] == [
        protocol_2_frame(0, 0, 7, 0, b"\x10\x00" * 40),
        protocol_2_frame(0, 0, 7, 40, long_pcm),
        protocol_2_frame(0, 1, 7, 40 + 38400, b""),
        text_frame,
    ]
    assert wires["opus"] == [
        protocol_2_frame(1, 0, 7, 0, prefixed),
        protocol_2_frame(1, 1, 7, 1440, b""),
        text_frame,
    ]
