"""A room as HLS, for a stream's online viewers and for CDNs: one audio rendition per channel (the
Original and each language) and one WebVTT subtitle rendition per language, from the programme.

Written to a folder per room, which the app serves and any web server or CDN can serve as well:

    master.m3u8                  every rendition (EXT-X-MEDIA), audio and subtitles
    {lang}/audio.m3u8, init.mp4, a{n}.m4s      AAC-LC in fragmented MP4 (FFmpeg's HLS muxer)
    {lang}/subtitles.m3u8, s{n}.vtt            WebVTT, one segment per ``segment_s``

Every rendition is cut from the same programme clock, so they run the same length: a media time of
``t`` seconds is programme frame ``t / 0.02`` in each, and the subtitle cues carry the same clock
(``X-TIMESTAMP-MAP`` maps it to the audio's), falling where their audio plays. A cue that spans
segments is cut at their boundaries. The playlists keep ``window_s``; older segments are deleted.

Encoding and writing run in one thread per room (`OutputThread`); the event loop only hands over
frames, five at a time.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Final

import av
import numpy as np
from av.audio.stream import AudioStream

from translator.audio import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE
from translator.config import HlsConfig
from translator.languages import FLOOR
from translator.messages import Caption
from translator.outputs.playout import Cue, Programme
from translator.outputs.thread import OutputThread
from translator.talk.state import OutputStatus
from translator.transcripts.export import vtt_text, vtt_time

log = logging.getLogger(__name__)

BATCH: Final = 5
"""Frames handed to the thread at once (100 ms)."""
BIT_RATE: Final = 32_000
MASTER: Final = "master.m3u8"
AUDIO_PLAYLIST: Final = "audio.m3u8"
SUBTITLE_PLAYLIST: Final = "subtitles.m3u8"
AI_LABEL: Final = "AI interpretation"
SUBTITLE_GRACE_FRAMES: Final = 25
"""A subtitle segment is written half a second after its span has played: a caption whose text
arrives just after its audio has begun (a busy machine, an engine that sends the words after the
first sound) still shows from its first frame, not from the next segment on. Players read
subtitles well behind the live edge."""


class HlsOutput:
    """One room's HLS folder, written from its programme (a `Sink`)."""

    def __init__(self, programme: Programme, config: HlsConfig, directory: Path) -> None:
        self.programme = programme
        self.config = config
        self.directory = directory
        self._segment_frames = round(config.segment_s * 1000 / FRAME_MS)
        self._window = math.ceil(config.window_s / config.segment_s)
        self._thread = OutputThread(f"hls-{programme.room.id}")
        self._batch: list[dict[str, bytes]] = []
        self._batch_start = 0
        self._languages: tuple[str, ...] = ()
        self._renditions: dict[str, _Rendition] = {}
        """Only touched in the thread."""
        self._following: dict[str, Callable[[], None]] = {}
        """Per language, what stops following its final captions (for corrections)."""
        self._begun = False
        """The room's first talk has begun: from then on every frame is written, silence between
        talks included (a player keeps playing); before it there is nothing to watch."""

    def start(self) -> None:
        """Start from a clean folder, taking the programme's frames from now on."""
        self._thread.submit(self._clean)
        self.programme.add_sink(self)

    async def stop(self) -> None:
        """Finish the playlists (``EXT-X-ENDLIST``) and stop the thread."""
        self.programme.remove_sink(self)
        for unfollow in self._following.values():
            unfollow()
        self._following.clear()
        self._thread.submit(self._close)
        await self._thread.stop()

    def status(self) -> OutputStatus:
        """Writing, or stopped and why."""
        if self._thread.error is not None:
            return OutputStatus("hls", "stopped", self._thread.error, str(self.directory))
        return OutputStatus("hls", "writing", "", str(self.directory))

    def played(self, frame: int, frames: dict[str, bytes]) -> None:
        if not self._begun:
            if self.programme.room.state != "running":
                return  # no encoder runs for a room that never started (one failed: 1.3 % of a core each)
            self._begun = True
        if not self._batch:
            self._batch_start = frame
        self._batch.append(frames)
        if tuple(frames) != self._languages:
            self._languages = tuple(frames)
            self._thread.submit(self._write_master, self._master())
            self._follow_corrections()
        if len(self._batch) == BATCH:
            self._thread.submit(self._write_audio, self._batch_start, self._batch)
            self._batch = []
        end = frame + 1 - SUBTITLE_GRACE_FRAMES
        if end > 0 and end % self._segment_frames == 0:
            first = end - self._segment_frames
            cues = {lang: self.programme.cues(lang, first, end) for lang in frames}
            self._thread.submit(self._write_subtitles, first, end, cues)

    def _follow_corrections(self) -> None:
        """A caption a person corrects is put right in the subtitle segments still in the window."""
        hub = self.programme.room.hub
        for lang in self._following.keys() - set(self._languages):
            self._following.pop(lang)()
        for lang in set(self._languages) - self._following.keys() - {FLOOR}:
            self._following[lang] = hub.follow_finals(lang, functools.partial(self._corrected, lang))

    def _corrected(self, lang: str, caption: Caption) -> None:
        if caption.corrected:
            self._thread.submit(self._correct, lang, caption.id, caption.text)

    def _master(self) -> str:
        """The master playlist: the Original as the default audio, every language as another."""
        room = self.programme.room
        bandwidth = BIT_RATE * 5 // 4
        lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
        for lang in self._languages:
            # Every rendition names its playlist, the Original's too (it is also the variant's).
            original = lang == FLOOR
            code = room.source.code if original else lang
            name = room.channel_name(lang) if original else f"{room.channel_name(lang)} · {AI_LABEL}"
            default = "YES" if original else "NO"
            lines.append(
                f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",LANGUAGE="{code}",NAME="{name}",DEFAULT={default},'
                f'AUTOSELECT=YES,CHANNELS="1",URI="{lang}/{AUDIO_PLAYLIST}"'
            )
        for lang in self._languages:
            code = room.source.code if lang == FLOOR else lang
            lines.append(
                f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="{code}",'
                f'NAME="{room.channel_name(lang)}",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,'
                f'URI="{lang}/{SUBTITLE_PLAYLIST}"'
            )
        lines.append(
            f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS="mp4a.40.2",AUDIO="audio",SUBTITLES="subs"'
        )
        lines.append(f"{FLOOR}/{AUDIO_PLAYLIST}")
        return "\n".join(lines) + "\n"

    # In the thread.

    def _clean(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)

    def _write_master(self, text: str) -> None:
        _replace(self.directory / MASTER, text)

    def _write_audio(self, start: int, batch: list[dict[str, bytes]]) -> None:
        for lang in batch[-1]:
            rendition = self._renditions.get(lang)
            if rendition is None:
                rendition = self._renditions[lang] = _Rendition(
                    self.directory / lang, start, self.config, self._window
                )
            rendition.feed(b"".join(frames[lang] for frames in batch if lang in frames))
        for lang in self._renditions.keys() - batch[-1].keys():
            self._renditions.pop(lang).close()

    def _correct(self, lang: str, caption: int, text: str) -> None:
        if (rendition := self._renditions.get(lang)) is not None:
            rendition.subtitles.correct(caption, text)

    def _write_subtitles(self, first: int, end: int, cues: dict[str, list[Cue]]) -> None:
        for lang, found in cues.items():
            if (rendition := self._renditions.get(lang)) is not None:
                rendition.subtitles.add(first, end, found)

    def _close(self) -> None:
        for rendition in self._renditions.values():
            rendition.close()
        self._renditions.clear()


class _Rendition:
    """One channel's audio playlist (FFmpeg's HLS muxer) and subtitle playlist, in its own folder."""

    def __init__(self, directory: Path, first_frame: int, config: HlsConfig, window: int) -> None:
        directory.mkdir(exist_ok=True)
        self._output = av.open(
            str(directory / AUDIO_PLAYLIST),
            "w",
            format="hls",
            options={
                "hls_time": str(config.segment_s),
                "hls_list_size": str(window),
                "hls_segment_type": "fmp4",
                "hls_fmp4_init_filename": "init.mp4",
                "hls_segment_filename": str(directory / "a%d.m4s"),
                # Segments appear whole (written aside, then renamed), old ones go.
                "hls_flags": "delete_segments+program_date_time+independent_segments+temp_file",
            },
        )
        self._stream = self._output.add_stream("aac", rate=SAMPLE_RATE)
        assert isinstance(self._stream, AudioStream)
        self._stream.layout = "mono"
        self._stream.bit_rate = BIT_RATE
        self._pts = first_frame * FRAME_SAMPLES
        self.subtitles = _Subtitles(directory, config.segment_s, window)

    def feed(self, pcm: bytes) -> None:
        samples = np.frombuffer(pcm, dtype="<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        self._pts += samples.shape[1]
        for packet in self._stream.encode(frame):
            self._output.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._output.mux(packet)
        self._output.close()


class _Subtitles:
    """One channel's WebVTT segments and their playlist."""

    def __init__(self, directory: Path, segment_s: float, window: int) -> None:
        self._directory = directory
        self._segment_s = segment_s
        self._segments: deque[tuple[int, list[Cue]]] = deque()
        """Each segment in the window: its first frame and its cues (kept for corrections)."""
        self._window = window
        self._sequence = 0

    def add(self, first: int, end: int, cues: list[Cue]) -> None:
        """The segment of frames ``[first, end)`` with its cues; the playlist then names it."""
        self._write_segment(first, cues)
        self._segments.append((first, cues))
        while len(self._segments) > self._window:
            gone, _ = self._segments.popleft()
            self._sequence += 1
            (self._directory / self._name(gone)).unlink(missing_ok=True)
        self._write_playlist()

    def correct(self, caption: int, text: str) -> None:
        """A caption's new text in every segment of the window that shows it (written again: a
        player that fetches it from now on, rewinding or joining, reads the correction)."""
        for first, cues in self._segments:
            if any(cue.caption == caption for cue in cues):
                for cue in cues:
                    if cue.caption == caption:
                        cue.text = text
                self._write_segment(first, cues)

    def _write_segment(self, first: int, cues: list[Cue]) -> None:
        lines = ["WEBVTT", "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000", ""]
        for cue in cues:
            start_ms, end_ms = cue.start * FRAME_MS, cue.end * FRAME_MS
            lines += [f"{vtt_time(start_ms)} --> {vtt_time(end_ms)}", vtt_text(cue.text), ""]
        _replace(self._directory / self._name(first), "\n".join(lines))

    def _name(self, first: int) -> str:
        return f"s{first // round(self._segment_s * 1000 / FRAME_MS)}.vtt"

    def _write_playlist(self) -> None:
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:7",
            f"#EXT-X-TARGETDURATION:{math.ceil(self._segment_s)}",
            f"#EXT-X-MEDIA-SEQUENCE:{self._sequence}",
        ]
        for first, _ in self._segments:
            lines += [f"#EXTINF:{self._segment_s:.3f},", self._name(first)]
        _replace(self._directory / SUBTITLE_PLAYLIST, "\n".join(lines) + "\n")


def _replace(path: Path, text: str) -> None:
    """Write ``path`` whole: a server reading it meanwhile sees the old file or the new one."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
