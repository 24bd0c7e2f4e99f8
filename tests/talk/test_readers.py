"""HLS players counted by their playlist fetches: each once, and a flood costs bounded memory."""

from __future__ import annotations

from translator.talk.readers import RecentReaders


def test_a_player_counts_once_and_a_flood_of_made_up_ones_is_bounded() -> None:
    readers = RecentReaders(max_clients=100)
    for _ in range(5):
        readers.saw("es", "192.0.2.7 Lavf/60")
    readers.saw("es", "192.0.2.8 Lavf/60")
    assert readers.count("es") == 2 and readers.count("fr") == 0
    for n in range(10_000):
        readers.saw("es", f"203.0.113.9 flood/{n}")
    assert readers.count("es") == 100, "the least recently seen go first"
