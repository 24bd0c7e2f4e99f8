"""The published picture's feed on its own: a follower starts at a key frame with the codec's
configuration, and one that falls behind skips to a later key frame instead of growing."""

from __future__ import annotations

import asyncio

from translator.audio import video
from translator.audio.video import VideoFeed

CONFIG = b"\x17\x00" + b"avcC"  # AVC, key frame, sequence header
KEY = b"\x17\x01" + b"k" * 10  # AVC key frame
INTER = b"\x27\x01" + b"i" * 10  # AVC inter frame


async def test_a_follower_starts_at_a_key_frame_with_the_configuration() -> None:
    feed = VideoFeed()
    watching = feed.watch()
    feed.publish(0, CONFIG)
    follower = feed.follow()
    feed.publish(100, INTER)  # before any key frame it could not be shown: not passed on
    assert not feed.live and not watching.is_set()
    feed.publish(200, KEY)
    feed.publish(300, INTER)
    assert feed.live and watching.is_set()
    watching.clear()
    got = [await asyncio.wait_for(follower.next(), 1) for _ in range(3)]
    assert got == [(200, CONFIG), (200, KEY), (300, INTER)]
    feed.end()
    assert not feed.live and watching.is_set()
    follower.close()
    assert not feed.followers


async def test_a_follower_that_falls_behind_skips_to_a_later_key_frame(monkeypatch) -> None:
    monkeypatch.setattr(video, "MAX_BEHIND_BYTES", 30)
    feed = VideoFeed()
    feed.publish(0, CONFIG)
    follower = feed.follow()
    for at in range(0, 500, 100):  # never taken: more than 30 bytes behind
        feed.publish(at, KEY if at == 0 else INTER)
    feed.publish(600, INTER)  # still waiting for a key frame
    feed.publish(700, KEY)
    assert await asyncio.wait_for(follower.next(), 1) == (700, CONFIG)
    assert await asyncio.wait_for(follower.next(), 1) == (700, KEY)
