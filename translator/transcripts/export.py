"""A talk's captions in one language as subtitles (SRT, WebVTT) or plain text, on the talk's timeline,
with the audience's accepted questions marked as such.

A subtitle shows during its sentence's speech (at least ``MIN_SHOW_MS``, never past the next one's
start), so that it plays over the recording of the talk.
"""

from __future__ import annotations

import html
import io
import sys
from pathlib import Path
from typing import Literal, cast

import pysrt
import webvtt

from translator.languages import FLOOR
from translator.transcripts.store import Transcript, TranscriptError, read_transcript

Format = Literal["srt", "vtt", "txt"]
FORMATS: tuple[Format, ...] = ("srt", "vtt", "txt")
MIN_SHOW_MS = 1500
QUESTION_SHOW_MS = 6000
QUESTION_MARK = "[Audience question]"
"""What sets a question from the audience apart from the talk's captions in every export."""
ASKED_ALOUD = "(asked aloud)"
MEDIA_TYPES = {"srt": "application/x-subrip", "vtt": "text/vtt", "txt": "text/plain"}
EXIT_UNKNOWN = 3
"""A child's exit status for a talk or a language that is not there (why on standard error)."""


def cues(transcript: Transcript, lang: str) -> list[tuple[int, int, str]]:
    """(start ms, end ms, text) of each caption in ``lang`` (``original``: what was said), in order;
    TranscriptError for a language the talk lacks."""
    if lang == FLOOR:
        # What was said, as the first language's interpreter heard it (as the Original channel shows
        # it live: with Voice Live each language's session hears the speech on its own).
        heard = next((t for t in transcript.header.targets if t in transcript.languages()), None)
        timed = [
            (c.start_ms, c.end_ms, c.source_text)
            for c in transcript.captions
            if c.lang == heard and c.source_text and c.start_ms is not None
        ]
    elif lang in transcript.languages():
        timed = [
            (c.start_ms, c.end_ms, c.text)
            for c in transcript.captions
            if c.lang == lang and c.text and c.start_ms is not None
        ]
    else:
        languages = ", ".join([FLOOR, *transcript.languages()])
        raise TranscriptError(f"talk {transcript.header.id} has no {lang!r} captions; it has: {languages}")
    # The audience's questions at the moment they were put to the room, in this language where it
    # had them (as typed, or in the floor's language, otherwise).
    code = transcript.header.source if lang == FLOOR else lang
    for question in transcript.questions:
        at = question.at - transcript.header.started_at
        text = (
            question.translations.get(code)
            or question.translations.get(transcript.header.source)
            or question.text
        )
        # A spoken question's words are the captions that follow: the mark says where it began.
        text = ASKED_ALOUD if question.spoken else text
        timed.append((at, at + QUESTION_SHOW_MS, f"{QUESTION_MARK} {text}"))
    timed.sort(key=lambda cue: cue[0])
    result = []
    for index, (start, end_ms, text) in enumerate(timed):
        end = max(end_ms or start, start + MIN_SHOW_MS)
        if index + 1 < len(timed):
            end = min(end, timed[index + 1][0])
        result.append((start, max(end, start + 1), text))
    return result


def export(transcript: Transcript, lang: str, fmt: Format) -> str:
    """The talk's ``lang`` captions in ``fmt``."""
    entries = cues(transcript, lang)
    if fmt == "srt":
        subtitles = pysrt.SubRipFile(
            [
                pysrt.SubRipItem(i, pysrt.SubRipTime(milliseconds=s), pysrt.SubRipTime(milliseconds=e), text)
                for i, (s, e, text) in enumerate(entries, 1)
            ]
        )
        out = io.StringIO()
        subtitles.write_into(out)
        return out.getvalue()
    if fmt == "vtt":
        vtt = webvtt.WebVTT()
        for start, end, text in entries:
            vtt.captions.append(webvtt.Caption(vtt_time(start), vtt_time(end), vtt_text(text)))
        return vtt.content
    return "".join(f"[{vtt_time(start)[:8]}] {text}\n" for start, _, text in entries)


def vtt_text(text: str) -> str:
    """``text`` as WebVTT cue text: what was said, never markup. ``<`` would open a tag, ``&`` an
    entity, ``-->`` or an empty line would end the cue and start a forged one."""
    escaped = html.escape(text, quote=False)
    return "\n".join(line for line in escaped.splitlines() if line.strip())


def vtt_time(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02}:{minutes:02}:{seconds:02}.{millis:03}"


def main(argv: list[str] | None = None) -> int:
    """``python -m translator.transcripts.export DIRECTORY TALK LANG FORMAT``: the export on standard
    output. The server runs it as a child process: a long talk's export holds the interpreter's
    lock for most of a second at a time, which the server's event loop must not share."""
    directory, talk, lang, fmt = argv if argv is not None else sys.argv[1:]
    try:
        text = export(read_transcript(Path(directory), talk), lang, cast(Format, fmt))
    except TranscriptError as exc:
        print(exc, file=sys.stderr)
        return EXIT_UNKNOWN
    sys.stdout.buffer.write(text.encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
