"""The room as HLS, read by an independent client (FFmpeg's HLS demuxer through PyAV) while the talk
runs, as a player follows a live stream."""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import httpx
import numpy as np

from tests.helpers import spans, tone_talk, until
from translator.config import RoomConfig, Settings
from translator.hub.chunks import AudioChunk
from translator.messages import Caption
from translator.outputs.playout import Programme
from translator.talk.room import Room

WINDOW_S = 4
READ_TO_S = 11.0
"""Programme time read: the three turns and their interpretations are over by then."""
CUE = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)\n(.+)")


@dataclass
class Followed:
    """What polling one rendition's playlists saw."""

    segments: list[tuple[float, int]] = field(default_factory=list)
    """(monotonic time, the newest audio segment's number) at each look."""
    most_listed: int = 0
    most_files: int = 0
    cues: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Each cue's text: where it shows (seconds), its pieces from every subtitle segment merged."""


def read(url: str) -> dict[str, np.ndarray]:
    """Every audio rendition decoded from the start of the window to `READ_TO_S`, by language."""
    container = av.open(url, options={"live_start_index": "0"}, timeout=10)
    # The Original is both the variant and a rendition: FFmpeg opens it twice, once untagged.
    audio = [s for s in container.streams if s.type == "audio" and s.metadata.get("language", "und") != "und"]
    languages = {stream.index: stream.metadata["language"] for stream in audio}
    decoded: dict[int, list[np.ndarray]] = {stream.index: [] for stream in audio}
    starts: dict[int, float] = {}
    done: set[int] = set()
    try:
        for packet in container.demux(audio):
            if packet.pts is None or packet.stream.index not in decoded:
                continue  # the demuxer's end-of-stream marker
            at = float(packet.pts * packet.time_base)
            starts.setdefault(packet.stream.index, at)
            for frame in packet.decode():
                assert isinstance(frame, av.AudioFrame)
                decoded[packet.stream.index].append(frame.to_ndarray().reshape(-1))
            if at >= READ_TO_S:
                done.add(packet.stream.index)
                if len(done) == len(audio):
                    break
    finally:
        container.close()
    assert set(starts.values()) == {0.0}, f"every rendition starts at the programme's start: {starts}"
    return {languages[index]: np.concatenate(chunks) for index, chunks in decoded.items()}


async def follow(
    client: httpx.AsyncClient, lang: str, folder: Path, seen: Followed, until: asyncio.Event
) -> None:
    """Poll ``lang``'s playlists as a player does, keeping every cue of every subtitle segment."""
    fetched: set[str] = set()
    while not until.is_set():
        audio = (await client.get(f"/hls/{lang}/audio.m3u8")).text
        numbers = [int(n) for n in re.findall(r"^a(\d+)\.m4s$", audio, re.M)]
        if numbers:
            seen.segments.append((time.monotonic(), numbers[-1]))
        seen.most_listed = max(seen.most_listed, len(numbers))
        files = await asyncio.to_thread(lambda: len(list(folder.glob("a*.m4s"))))
        seen.most_files = max(seen.most_files, files)
        subtitles = (await client.get(f"/hls/{lang}/subtitles.m3u8")).text
        for name in re.findall(r"^s\d+\.vtt$", subtitles, re.M):
            if name in fetched:
                continue
            fetched.add(name)
            for cue in CUE.finditer((await client.get(f"/hls/{lang}/{name}")).text):
                h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, cue.groups()[:8])
                start = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000
                end = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
                text = cue.group(9)
                earlier = seen.cues.get(text, (start, end))
                seen.cues[text] = (min(earlier[0], start), max(earlier[1], end))
        await asyncio.sleep(0.25)


async def test_every_language_is_a_rendition_with_its_subtitles_under_its_audio(tmp_path: Path) -> None:
    hls = {"outputs.hls.window_s": WINDOW_S, "outputs.hls.directory": str(tmp_path / "hls")}
    async with tone_talk(tmp_path, hls) as server, httpx.AsyncClient(base_url=server.url) as client:
        async with asyncio.timeout(10):  # the first segment, a second after the start
            while True:
                if (await client.get("/hls/original/audio.m3u8")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
        master = (await client.get("/hls/master.m3u8")).text
        stop = asyncio.Event()
        seen = {lang: Followed() for lang in ("es", "fr", "original")}
        polls = [
            asyncio.create_task(follow(client, lang, tmp_path / "hls" / "main" / lang, seen[lang], stop))
            for lang in seen
        ]
        try:
            heard = await asyncio.to_thread(read, f"{server.url}/hls/master.m3u8")
        finally:
            stop.set()
            await asyncio.gather(*polls)
        unknown = await client.get("/hls/../config.toml")

    assert 'LANGUAGE="es",NAME="Español · AI interpretation"' in master
    assert 'TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="fr"' in master
    assert unknown.status_code == 404
    # Every rendition decodes, and they run the same length (to within an AAC frame).
    assert set(heard) == {"en", "es", "fr"}
    lengths = {lang: len(samples) for lang, samples in heard.items()}
    assert max(lengths.values()) - min(lengths.values()) <= 1024, lengths
    # Each interpretation: three replies of 1 s, each captioned while it plays.
    for lang in ("es", "fr"):
        played = spans(heard[lang])
        assert [round(end - start, 1) for start, end in played] == [1.0, 1.0, 1.0], played
        for (start, end), freq in zip(played, (300, 350, 400), strict=True):
            shown = seen[lang].cues[f"translated into {lang}-{lang.upper()}: tone {freq}"]
            assert abs(shown[0] - start) <= 0.1 and abs(shown[1] - end) <= 0.1, (lang, shown, start, end)
    # The Original: the speaker's tones, each captioned with what was said once it was recognised
    # (after the speech, as live captions are), for as long as it was spoken.
    played = spans(heard["en"])
    assert [round(end - start, 1) for start, end in played] == [1.0, 1.0, 1.0], played
    for (start, end), freq in zip(played, (300, 350, 400), strict=True):
        shown = seen["original"].cues[f"tone {freq}"]
        assert start - 0.2 <= shown[0] <= end + 1.5 and abs(shown[1] - shown[0] - 1.0) <= 0.1, (shown, start)
    for lang, followed in seen.items():
        # New segments appear in real time, one a second.
        (t0, first), (t1, last) = followed.segments[0], followed.segments[-1]
        assert 0.8 <= (last - first) / (t1 - t0) <= 1.2, (lang, followed.segments)
        # The window is bounded: the playlist and the folder.
        assert followed.most_listed <= math.ceil(WINDOW_S / 1.0), lang
        assert followed.most_files <= WINDOW_S + 3, lang


async def test_an_utterance_whose_audio_runs_short_keeps_its_subtitle_across_the_gap() -> None:
    """The engine's next burst of an utterance comes late: the play-out runs dry in the middle of it,
    and the subtitle stays one cue, with its text, over both parts (it vanished after the gap)."""
    room = Room(RoomConfig(targets=["es"]), Settings())
    programme = Programme(room)
    programme.start()
    half = (np.sin(np.arange(12_000) / 5) * 8000).astype("<i2").tobytes()  # 0.5 s
    try:
        await until(lambda: len(room.hub.channels["es"].listeners) == 1)  # the programme follows it
        room.hub.publish("es", Caption(7, "es", True, "hola a todos", "hello everyone", 0, 1000))
        room.hub.publish_audio(AudioChunk.pcm("es", 7, 0, half))
        # Waited for on the programme's clock (a busy machine's sleeps are no measure of it): the
        # first half plays, then 0.4 s of nothing, then the second half plays out.
        sent = programme.frame
        await until(lambda: programme.frame >= sent + 45)
        room.hub.publish_audio(AudioChunk.pcm("es", 7, 12_000, half))
        room.hub.publish_audio(AudioChunk.ending("es", 7, 24_000, "pcm"))
        resumed = programme.frame
        await until(lambda: programme.frame >= resumed + 40)
        cues = programme.cues("es", 0, programme.frame)
    finally:
        await programme.stop()
    assert [cue.text for cue in cues] == ["hola a todos"], cues
    assert (cues[0].end - cues[0].start) * 0.02 >= 1.3, "both halves and the gap between them"


async def test_a_corrected_caption_is_put_right_in_the_subtitle_segments_still_in_the_window(
    tmp_path: Path,
) -> None:
    """A player that fetches a segment after the correction (rewinding, or joining) reads it."""
    hls = {"outputs.hls.window_s": 20, "outputs.hls.directory": str(tmp_path / "hls")}
    folder = tmp_path / "hls" / "main" / "es"
    async with tone_talk(tmp_path, hls) as server, httpx.AsyncClient(base_url=server.url) as client:

        def shown() -> set[str]:
            """The captions the segments show so far."""
            return {
                line for p in folder.glob("s*.vtt") for line in p.read_text().splitlines() if "es-ES" in line
            }

        await until(lambda: len(shown()) >= 2, 30)  # two captions' segments, in the window
        first = min(c.id for c in server.room.hub.channels["es"].history if c.final)
        server.room.correct("es", first, "Un tono corregido", "operator")
        wanted = next(c for c in server.room.hub.channels["es"].history if c.id == first)

        def fixed() -> list[str]:
            return [p.name for p in folder.glob("s*.vtt") if "Un tono corregido" in p.read_text()]

        await until(lambda: bool(fixed()), 10)
        # Every segment of the window that showed it, as a player fetches it now.
        listed = re.findall(r"^s\d+\.vtt$", (await client.get("/hls/es/subtitles.m3u8")).text, re.M)
        texts = {name: (await client.get(f"/hls/es/{name}")).text for name in listed}
    assert wanted.corrected and wanted.text == "Un tono corregido"
    corrected = [name for name, text in texts.items() if "Un tono corregido" in text]
    assert corrected, texts
    # The next caption's segments keep their own text: only that caption was put right.
    assert any("translated into es-ES" in text for text in texts.values())
