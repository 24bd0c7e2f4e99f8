"""The sound of an RTMP stream: each audio message is an FLV audio tag's body, AAC (what OBS,
encoders and Zoom send) or MP3, decoded by FFmpeg (PyAV) to mono PCM16 on the talk's rate."""

from __future__ import annotations

import av

from translator.audio.format import SAMPLE_RATE

AAC, MP3, MP3_8K = 10, 2, 14
FORMATS = {
    0: "PCM",
    1: "ADPCM",
    3: "PCM",
    4: "Nellymoser",
    5: "Nellymoser",
    6: "Nellymoser",
    7: "G.711 A-law",
    8: "G.711 µ-law",
    9: "Enhanced RTMP audio",
    11: "Speex",
}
MAX_RATE = 96_000
MAX_CHANNELS = 8


class UnsupportedAudio(ValueError):
    """Audio this decoder does not take, or that does not decode: the reason names it."""


class FlvAudioDecoder:
    """One stream's audio tag bodies in, mono PCM16 at `SAMPLE_RATE` out."""

    def __init__(self) -> None:
        self._format: int | None = None
        self._codec: av.AudioCodecContext | None = None
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)

    def decode(self, body: bytes) -> bytes:
        """The audio of one tag body (none for AAC's configuration, which comes first)."""
        if not body:
            return b""
        sound = body[0] >> 4
        if self._format is None:
            if sound not in (AAC, MP3, MP3_8K):
                raise UnsupportedAudio(f"the stream's audio is {FORMATS.get(sound, sound)}: send AAC or MP3")
            self._format = sound
            if sound != AAC:
                self._codec = av.AudioCodecContext.create("mp3", "r")
        elif sound != self._format:
            raise UnsupportedAudio("the stream changed its audio format")
        payload = body[1:]
        if sound == AAC:
            if len(body) < 2:
                raise UnsupportedAudio("an AAC message without its packet type")
            if body[1] == 0:
                # The AudioSpecificConfig: again when an encoder restarts with other settings.
                self._codec = av.AudioCodecContext.create("aac", "r")
                self._codec.extradata = body[2:]
                self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
                return b""
            if self._codec is None:
                raise UnsupportedAudio("AAC audio came before its configuration")
            payload = body[2:]
        assert self._codec is not None
        try:
            frames = self._codec.decode(av.Packet(payload))
        except av.FFmpegError as exc:
            raise UnsupportedAudio(f"the audio does not decode ({exc})") from None
        pcm = bytearray()
        for frame in frames:
            if frame.sample_rate > MAX_RATE or len(frame.layout.channels) > MAX_CHANNELS:
                raise UnsupportedAudio(
                    f"audio at {frame.sample_rate} Hz in {len(frame.layout.channels)} channels "
                    f"(at most {MAX_RATE} Hz, {MAX_CHANNELS} channels)"
                )
            for out in self._resampler.resample(frame):
                pcm += bytes(out.planes[0])[: out.samples * 2]
        return bytes(pcm)
