"""AMF0, the encoding of RTMP's commands (``connect``, ``publish``…): what a publisher sends is
read within bounds, and our answers are written.

Only RTMP's command and data messages are read here; media is FFmpeg's (through PyAV).
"""

from __future__ import annotations

import struct

Value = float | bool | str | None | dict[str, "Value"] | list["Value"]

MAX_DEPTH = 8
"""Commands nest an object or two; a deeper message is hostile."""
MAX_ITEMS = 256
"""Entries in one object or array: ``connect`` carries about ten."""

_NUMBER, _BOOLEAN, _STRING, _OBJECT, _NULL, _UNDEFINED, _ECMA_ARRAY = 0, 1, 2, 3, 5, 6, 8
_OBJECT_END, _STRICT_ARRAY, _DATE, _LONG_STRING = 9, 10, 11, 12


class AmfError(ValueError):
    """A message that is not well-formed AMF0 (or is beyond the bounds)."""


def decode_all(data: bytes) -> list[Value]:
    """Every value in ``data``, in order."""
    reader = _Reader(data)
    values = []
    while reader.at < len(data):
        values.append(reader.value(0))
    return values


def encode(*values: Value) -> bytes:
    """``values`` one after another (numbers are ``float`` or ``int``)."""
    out = bytearray()
    for value in values:
        _write(out, value)
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, count: int) -> bytes:
        if self.at + count > len(self.data):
            raise AmfError("the message ends inside a value")
        piece = self.data[self.at : self.at + count]
        self.at += count
        return piece

    def value(self, depth: int) -> Value:
        if depth > MAX_DEPTH:
            raise AmfError(f"values nested deeper than {MAX_DEPTH}")
        marker = self.take(1)[0]
        if marker == _NUMBER:
            number: float = struct.unpack(">d", self.take(8))[0]
            return number
        if marker == _BOOLEAN:
            return self.take(1)[0] != 0
        if marker == _STRING:
            return self.string(struct.unpack(">H", self.take(2))[0])
        if marker == _LONG_STRING:
            return self.string(struct.unpack(">I", self.take(4))[0])
        if marker in (_NULL, _UNDEFINED):
            return None
        if marker == _OBJECT:
            return self.members(depth)
        if marker == _ECMA_ARRAY:
            self.take(4)  # a count that encoders fill in loosely: the end marker is what counts
            return self.members(depth)
        if marker == _STRICT_ARRAY:
            count = struct.unpack(">I", self.take(4))[0]
            if count > MAX_ITEMS:
                raise AmfError(f"an array of {count} items")
            return [self.value(depth + 1) for _ in range(count)]
        if marker == _DATE:
            when: float = struct.unpack(">d", self.take(8))[0]
            self.take(2)
            return when
        raise AmfError(f"AMF0 type {marker} is not taken")

    def string(self, length: int) -> str:
        return self.take(length).decode("utf-8", "replace")

    def members(self, depth: int) -> dict[str, Value]:
        found: dict[str, Value] = {}
        while True:
            name = self.string(struct.unpack(">H", self.take(2))[0])
            if not name and self.data[self.at : self.at + 1] == bytes([_OBJECT_END]):
                self.at += 1
                return found
            if len(found) >= MAX_ITEMS:
                raise AmfError(f"an object of more than {MAX_ITEMS} entries")
            found[name] = self.value(depth + 1)


def _write(out: bytearray, value: Value | int) -> None:
    if value is None:
        out.append(_NULL)
    elif isinstance(value, bool):
        out += bytes([_BOOLEAN, int(value)])
    elif isinstance(value, (int, float)):
        out.append(_NUMBER)
        out += struct.pack(">d", float(value))
    elif isinstance(value, str):
        raw = value.encode()
        out.append(_STRING)
        out += struct.pack(">H", len(raw)) + raw
    elif isinstance(value, dict):
        out.append(_OBJECT)
        for name, member in value.items():
            raw = name.encode()
            out += struct.pack(">H", len(raw)) + raw
            _write(out, member)
        out += b"\x00\x00" + bytes([_OBJECT_END])
    else:
        out.append(_STRICT_ARRAY)
        out += struct.pack(">I", len(value))
        for item in value:
            _write(out, item)
