"""A language pushed as a stream of its own: the channel's programme sent over RTMP (``rtmp://``,
``rtmps://``: YouTube, Twitch, a venue's overflow room) or SRT (``srt://``) by the ffmpeg program,
with a picture (the platforms take no stream without video), for "the Spanish channel" of an event.

The picture is the speaker's where an encoder publishes the room's talk with video over RTMP
(`video.VideoFeed`: passed on as it came, from a key frame, not encoded again), else a still card
with the language's name (H.264, 10 frames a second, a key frame every 2 s). When the speaker's
picture comes or goes, ffmpeg is started again with the other.

The programme plays the channel in real time, silence between utterances included, so the stream
runs at the pace a viewer hears it. ffmpeg encodes AAC (128 kb/s, 48 kHz), and is fed by the event
loop (nothing blocks: a pipe ffmpeg does not drain is written behind, at most `BEHIND_S`). When it
stops (the platform refused the key, the network went), it is started again after 1, 2, 4 … 30 s;
what played meanwhile is not sent (the stream is live). The address carries the stream's key: it is
shown as its scheme, host and application only.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from translator.audio import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from translator.audio.video import VideoFollower
from translator.languages import FLOOR, get_language
from translator.outputs.playout import Programme
from translator.printable import printable
from translator.processes import Child
from translator.talk.room import Room
from translator.talk.state import OutputStatus
from translator.tasks import cancel_and_wait

log = logging.getLogger(__name__)

BEHIND_S: Final = 2.0
"""Sound waiting for ffmpeg to take it; past this, the oldest is dropped (a stalled pipe)."""
FIRST_RETRY_S: Final = 1.0
MAX_RETRY_S: Final = 30.0
STOP_S: Final = 3.0
SILENCE: Final = bytes(FRAME_BYTES)
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
"""The card's type (Debian's fonts-dejavu-core); without it the card is plain black."""
FLV_VIDEO_ONLY: Final = b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00"
"""An FLV file's header (video, no audio) and the first tag's zero "previous size"."""


def flv_video_tag(timestamp_ms: int, body: bytes) -> bytes:
    """One FLV video tag and the size that follows it."""
    stamp = timestamp_ms & 0xFFFFFFFF
    header = b"\x09" + len(body).to_bytes(3, "big") + (stamp & 0xFFFFFF).to_bytes(3, "big")
    header += bytes([stamp >> 24]) + bytes(3)
    return header + body + (11 + len(body)).to_bytes(4, "big")


def shown_push(url: str) -> str:
    """What may be shown of a push address: its scheme, host and (RTMP) application; the stream key
    (the path's last part, or an SRT ``streamid``/``passphrase``) never."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if parts.port:
        host = f"{host}:{parts.port}"
    application = parts.path.strip("/").split("/")[0] if parts.scheme.startswith("rtmp") else ""
    return printable(f"{parts.scheme}://{host}/{application + '/' if application else ''}…", limit=120)


def without_key(text: str, url: str) -> str:
    """``text`` (what ffmpeg said) with the address shown as `shown_push` shows it and every part
    of its key starred."""
    text = text.replace(url, shown_push(url))
    parts = urlsplit(url)
    secrets = parts.path.strip("/").split("/")[1:] + [value for _, value in parse_qsl(parts.query)]
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _container(url: str) -> str:
    return "mpegts" if url.startswith("srt://") else "flv"


class LanguagePush:
    """One channel of a room's programme pushed to one address, for as long as the server runs."""

    def __init__(self, programme: Programme, room: Room, lang: str, url: str) -> None:
        self.programme = programme
        self.room = room
        self.lang = lang
        self._url = url
        self._pending: collections.deque[bytes] = collections.deque(maxlen=int(BEHIND_S * 1000 / FRAME_MS))
        self._ready = asyncio.Event()
        self._feeding = False
        self._task: asyncio.Task[None] | None = None
        self._state = "sending"
        self._detail = ""
        self.sent_s = 0.0
        """Seconds of sound handed to the ffmpeg running now (one that fails to connect takes some
        into its pipe before it gives up: counted anew at each start)."""
        self._speaker = False
        """The stream shows the speaker's published picture (else the card)."""
        self._picture_changed: asyncio.Event | None = None
        """Set when the speaker's picture comes or goes (`VideoFeed.watch`)."""
        self._card = Path()
        self._picture = "color=c=black:s=1280x720:r=10"
        """ffmpeg's video input: a still card, the language's name on it where a font is installed."""

    def start(self) -> None:
        """Begin pushing (and keep at it until `stop`)."""
        language = get_language(self.lang if self.lang != FLOOR else self.room.config.source)
        label = "" if self.lang == FLOOR else "\nAI interpretation"
        # drawtext reads its text from a file: nothing of it needs escaping for the filter graph.
        handle, name = tempfile.mkstemp(prefix="translator-card-", suffix=".txt")
        with open(handle, "w", encoding="utf-8") as card:
            card.write(f"{language.native}{label}")
        self._card = Path(name)
        if FONT.exists():
            self._picture += (
                f",drawtext=fontfile={FONT}:textfile={self._card}:fontcolor=white:fontsize=72"
                ":line_spacing=24:x=(w-text_w)/2:y=(h-text_h)/2"
            )
        self.programme.add_sink(self)
        self._task = asyncio.create_task(self._keep_pushing(), name=f"push-{self.room.id}-{self.lang}")

    async def stop(self) -> None:
        """Stop pushing: ffmpeg is told to finish, then stopped within a bound."""
        self.programme.remove_sink(self)
        if self._task is not None:
            await cancel_and_wait(self._task, STOP_S * 2)
        self._card.unlink(missing_ok=True)

    def status(self) -> OutputStatus:
        """Sending (how much, with which picture), or retrying and why."""
        where = f"{self.lang} → {shown_push(self._url)}"
        picture = "the speaker's picture" if self._speaker else "a still card"
        sent = f"{self.sent_s:.0f} s sent, {picture}"
        detail = f"{where}: {self._detail}" if self._detail else f"{where} ({sent})"
        if self._state == "sending":
            return OutputStatus("push", "sending", detail, lang=self.lang)
        return OutputStatus("push", "retrying", detail, lang=self.lang)

    def played(self, frame: int, frames: dict[str, bytes]) -> None:
        """A programme tick: the channel's 20 ms, for ffmpeg while one runs."""
        if self._feeding:
            self._pending.append(frames.get(self.lang, SILENCE))
            self._ready.set()

    async def _keep_pushing(self) -> None:
        pause = FIRST_RETRY_S
        while True:
            began = asyncio.get_running_loop().time()
            why = await self._push_once()
            if why is None:
                continue  # the speaker's picture came or went: at once, with the other picture
            if asyncio.get_running_loop().time() - began > MAX_RETRY_S:
                pause = FIRST_RETRY_S  # it ran a good while: the next failure starts the back-off again
            self._state, self._detail = "retrying", f"{why}; again in {pause:g} s"
            where = shown_push(self._url)
            log.warning("push of %s in room %s to %s: %s", self.lang, self.room.id, where, self._detail)
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_RETRY_S)

    async def _push_once(self) -> str | None:
        """Run one ffmpeg until it stops; why it stopped (without the key), or None when it was
        stopped for the speaker's picture coming or going."""
        command = shutil.which("ffmpeg")
        if command is None:
            return "the ffmpeg program is not installed (Debian: apt install ffmpeg)"
        feed = self.room.published.video if self.room.published is not None else None
        feed_live = feed is not None and feed.live
        self._speaker = feed_live
        if feed is not None and self._picture_changed is None:
            self._picture_changed = feed.watch()
        if self._picture_changed is not None:
            self._picture_changed.clear()
        ours, theirs = socket.socketpair() if feed_live else (None, None)
        if theirs is not None:
            picture = ["-f", "flv", "-analyzeduration", "1000000", "-i", f"pipe:{theirs.fileno()}"]
            encoded = ["-c:v", "copy"]
        else:
            picture = ["-f", "lavfi", "-i", self._picture]
            encoded = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage",
                       "-pix_fmt", "yuv420p", "-g", "20", "-b:v", "150k"]  # fmt: skip
        try:
            child = await self._start(command, picture, encoded, theirs)
        except BaseException:
            if ours is not None:
                ours.close()
            raise
        said: collections.deque[str] = collections.deque(maxlen=3)
        tasks = [asyncio.create_task(child.said(said), name=f"push-{self.lang}-messages")]
        if ours is not None and feed is not None:
            _, video_in = await asyncio.open_connection(sock=ours)
            follower = feed.follow()
            tasks.append(
                asyncio.create_task(_feed_picture(video_in, follower), name=f"push-{self.lang}-video")
            )
        self._pending.clear()
        self.sent_s = 0.0
        self._feeding = True
        self._state, self._detail = "sending", ""
        try:
            switched = await self._feed(child, self._picture_changed)
        finally:
            self._feeding = False
            await child.end(STOP_S, input_first=True)
            for task in tasks:
                await cancel_and_wait(task, STOP_S)
        if switched:
            return None
        last = said[-1] if said else f"ffmpeg stopped ({child.returncode})"
        return printable(without_key(last, self._url), limit=160)

    async def _start(
        self, command: str, picture: list[str], encoded: list[str], handed: socket.socket | None
    ) -> Child:
        return await Child.start(
            [
                command, "-hide_banner", "-nostdin", "-loglevel", "error",
                "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0",
                *picture,
                "-map", "1:v", "-map", "0:a", *encoded,
                "-c:a", "aac", "-b:a", "128k", "-ar", "48000",
                # The picture may not end: the stream ends with the sound (else closing the input
                # would leave ffmpeg encoding pictures until it is killed, the last seconds unsent).
                "-shortest",
                "-f", _container(self._url), self._url,
            ],
            pipes=True,
            messages=True,
            handed=handed,
        )  # fmt: skip

    async def _feed(self, child: Child, picture_changed: asyncio.Event | None) -> bool:
        """Hand the channel's sound to ffmpeg as it plays, until ffmpeg ends (False) or the
        speaker's picture comes or goes (True)."""
        assert child.stdin is not None
        ended = asyncio.ensure_future(child.wait())
        changed = asyncio.ensure_future((picture_changed or asyncio.Event()).wait())
        try:
            while not ended.done():
                ready = asyncio.ensure_future(self._ready.wait())
                await asyncio.wait({ready, ended, changed}, return_when=asyncio.FIRST_COMPLETED)
                ready.cancel()
                if changed.done():
                    return True
                self._ready.clear()
                chunk = b"".join(self._pending)
                self._pending.clear()
                if not chunk or ended.done():
                    continue
                child.stdin.write(chunk)
                try:
                    await child.stdin.drain()
                except ConnectionError:
                    return False  # ffmpeg has gone: its exit says why
                self.sent_s += len(chunk) / (2 * SAMPLE_RATE)
            return False
        finally:
            ended.cancel()
            changed.cancel()


async def _feed_picture(out: asyncio.StreamWriter, follower: VideoFollower) -> None:
    """The speaker's picture to ffmpeg as an FLV stream, from a key frame, its times moved so that
    its first frame falls where the sound is when it arrives."""
    began = asyncio.get_running_loop().time()
    try:
        out.write(FLV_VIDEO_ONLY)
        first: tuple[int, int] | None = None
        while True:
            timestamp_ms, body = await follower.next()
            if first is None:
                first = (timestamp_ms, round((asyncio.get_running_loop().time() - began) * 1000))
            out.write(flv_video_tag(timestamp_ms - first[0] + first[1], body))
            await out.drain()
    except ConnectionError:
        return  # ffmpeg has gone: its exit says why
    finally:
        follower.close()
        out.close()
