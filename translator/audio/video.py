"""The speaker's picture, where an encoder publishes one (RTMP: OBS, a hardware encoder, Zoom's
custom live stream), kept only to be passed on as it came: a language pushed as a stream shows the
speaker instead of a still card (``outputs/push.py``). Nothing here decodes it.

A follower starts at the next key frame (with the codec's configuration, which an encoder sends
once, first), and one that falls behind by more than `MAX_BEHIND_BYTES` skips to the key frame
after: a picture may jump, it never stalls the sound or grows without bound.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Final

MAX_BEHIND_BYTES: Final = 8 * 1024 * 1024
"""What a follower may leave untaken (seconds of a high-rate picture) before it skips ahead."""
_AVC, _HEVC = 7, 12


def is_key_frame(body: bytes) -> bool:
    """An FLV video tag body that starts a picture on its own (legacy and enhanced RTMP)."""
    return bool(body) and (body[0] >> 4) & 0x7 == 1


def is_configuration(body: bytes) -> bool:
    """The codec's configuration (AVC/HEVC sequence header, enhanced RTMP's sequence start)."""
    if len(body) < 2:
        return False
    if body[0] & 0x80:  # enhanced RTMP: the packet type is the low nibble
        return body[0] & 0x0F == 0
    return body[0] & 0x0F in (_AVC, _HEVC) and body[1] == 0


class VideoFollower:
    """One reader of the feed: tags (timestamp ms, body) from a key frame on."""

    def __init__(self, feed: VideoFeed) -> None:
        self._feed = feed
        self._tags: collections.deque[tuple[int, bytes]] = collections.deque()
        self._bytes = 0
        self._synced = False
        self._wake = asyncio.Event()

    def offer(self, timestamp_ms: int, body: bytes, configuration: bytes | None) -> None:
        if not self._synced:
            if not is_key_frame(body) or is_configuration(body):
                return
            self._synced = True
            if configuration is not None:
                self._tags.append((timestamp_ms, configuration))
        self._tags.append((timestamp_ms, body))
        self._bytes += len(body)
        if self._bytes > MAX_BEHIND_BYTES:
            self._tags.clear()
            self._bytes, self._synced = 0, False
        self._wake.set()

    async def next(self) -> tuple[int, bytes]:
        """The next tag, waiting for one."""
        while not self._tags:
            self._wake.clear()
            await self._wake.wait()
        timestamp_ms, body = self._tags.popleft()
        self._bytes -= len(body)
        return timestamp_ms, body

    def close(self) -> None:
        """Stop following."""
        self._feed.followers.discard(self)


class VideoFeed:
    """A room's published picture: live while a publisher sends one."""

    def __init__(self) -> None:
        self.followers: set[VideoFollower] = set()
        self._configuration: bytes | None = None
        self.live = False
        """A publisher is sending a picture now."""
        self._watchers: set[asyncio.Event] = set()

    def publish(self, timestamp_ms: int, body: bytes) -> None:
        """One video tag from the publisher."""
        if is_configuration(body):
            self._configuration = body
        if not self.live and is_key_frame(body) and not is_configuration(body):
            self.live = True
            self._changed()
        for follower in list(self.followers):
            follower.offer(timestamp_ms, body, self._configuration)

    def end(self) -> None:
        """The publisher is gone: no picture until the next one sends its own."""
        self._configuration = None
        if self.live:
            self.live = False
            self._changed()

    def watch(self) -> asyncio.Event:
        """An event of one's own, set whenever the picture comes or goes (each watcher clears its
        own: a language's push restarts with the other picture)."""
        event = asyncio.Event()
        self._watchers.add(event)
        return event

    def _changed(self) -> None:
        for event in self._watchers:
            event.set()

    def follow(self) -> VideoFollower:
        """A new follower, from the next key frame."""
        follower = VideoFollower(self)
        self.followers.add(follower)
        return follower
