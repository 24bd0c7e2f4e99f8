"""A room's state as Structs: what the API shows and what other processes are told.

The talk keeps one `LanguageState` per language (not parallel dicts); the reports below are what
leaves the room: ``/api/languages``, ``/api/status``, ``/api/rooms`` and the snapshot that a
listener-only process reads from Redis every second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from translator.audio.source import FailoverReport, NetworkBuffer
from translator.engines.events import TokensUsed
from translator.fidelity import Fidelity
from translator.languages import Language
from translator.messages import Question
from translator.talk.catchup import CatchUp
from translator.talk.lags import LagsReport, LanguageLags
from translator.talk.turn_light import TurnState
from translator.talk.usage import TokensPerMinute
from translator.transcripts.store import TranscriptStatus

RoomStateName = Literal["starting", "running", "stopping", "stopped", "failed"]
"""A room's life: it runs its talk, or it is stopped (by the operator), or it failed to start."""


class FidelityCounts(msgspec.Struct):
    """What a language's final captions had to carry since the talk began, and what they lost
    (`translator.fidelity`)."""

    numbers: int = 0
    numbers_missed: int = 0
    names: int = 0
    names_missed: int = 0
    terms: int = 0
    terms_missed: int = 0

    def add(self, checked: Fidelity) -> None:
        """Count one caption's check."""
        self.numbers += checked.numbers
        self.numbers_missed += checked.missed("number")
        self.names += checked.names
        self.names_missed += checked.missed("name")
        self.terms += checked.terms
        self.terms_missed += checked.missed("term")


@dataclass
class LanguageState:
    """One language's interpreter as the talk sees it."""

    language: Language
    state: str = "connecting"
    """The engine session's state (connecting, ready, reconnecting, failed, closed)."""
    detail: str = ""
    """Why it is not ready (the engine's words), empty when it is."""
    lag_s: float | None = None
    """The last final caption's lag behind the end of its speech."""
    lags: LanguageLags = field(default_factory=LanguageLags)
    """Rolling lags to the first translated audio and to the final caption."""
    tokens: TokensPerMinute | None = None
    """Tokens its translations were billed over the last minute (engines that bill by token)."""
    billed: TokensUsed | None = None
    """What its translations were billed since the talk began, by kind (engines that bill by token)."""
    failures: int = 0
    reconnects: int = 0
    fidelity: FidelityCounts = field(default_factory=FidelityCounts)
    catch_up: CatchUp = field(default_factory=lambda: CatchUp(1.0))
    """Its listener followed: how late it hears, and the tempo that catches it up."""
    stall: str = ""
    """Why it is stalled (`talk.stalls`): set when a stall is found, cleared once its interpreter
    is restarted, or, for a stall that came back soon after a restart, by its next caption."""
    stalls: int = 0
    last_stall: str = ""
    """Why it last stalled, kept after the repair: a restart that takes a moment would otherwise
    leave the operator only a count."""
    repairing: bool = False
    """Its interpreter is being restarted after a stall."""
    repaired_at: float | None = None
    """Monotonic time of its last restart after a stall."""

    @property
    def shown(self) -> tuple[str, str]:
        """The state and detail the operator sees: ``reconnecting`` while a stall is repaired,
        ``stalled`` while one lasts unrepaired, else the session's own."""
        if self.repairing:
            return "reconnecting", self.stall
        if self.stall:
            return "stalled", self.stall
        return self.state, self.detail


class LanguageName(msgspec.Struct, frozen=True):
    """A language as pages show it."""

    code: str
    name: str
    native: str

    @classmethod
    def of(cls, language: Language) -> LanguageName:
        return cls(language.code, language.name, language.native)


class LanguageReport(msgspec.Struct, frozen=True, omit_defaults=True):
    """One language of ``/api/languages``; the operator's view adds the fields that default to UNSET."""

    code: str
    name: str
    native: str
    state: str
    lag_s: float | None
    listeners: int
    detail: str | msgspec.UnsetType = msgspec.UNSET
    lags: LagsReport | None | msgspec.UnsetType = msgspec.UNSET
    tokens_per_minute: int | None | msgspec.UnsetType = msgspec.UNSET
    engine: str | msgspec.UnsetType = msgspec.UNSET
    """The engine that interprets into it (a room may run several)."""
    models: str | msgspec.UnsetType = msgspec.UNSET
    """Its engine's models and voice, in words (``faster-whisper tiny.en, Apertium, festival …``)."""
    fidelity: FidelityCounts | msgspec.UnsetType = msgspec.UNSET
    """Numbers, names and terms its captions carried, and missed."""
    behind_s: float | msgspec.UnsetType = msgspec.UNSET
    """What a listener who hears everything in order still has to hear."""
    tempo: float | msgspec.UnsetType = msgspec.UNSET
    """How fast its latest utterance plays (1: as spoken; more while catching up)."""
    stalls: int | msgspec.UnsetType = msgspec.UNSET
    """Times speech went in and nothing came out for long (each restarted its interpreter)."""
    last_stall: str | msgspec.UnsetType = msgspec.UNSET
    """Why the latest of them happened (empty: none yet)."""


class RoomName(msgspec.Struct, frozen=True):
    id: str
    name: str


class LanguagesBody(msgspec.Struct, frozen=True):
    """``GET /api/languages``: a room's source and its channels."""

    protocol: int
    event_name: str
    room: RoomName
    source: LanguageName
    """The floor's default language."""
    targets: list[LanguageReport]
    """The languages offered (the spoken ones among them when several are spoken)."""
    spoken: list[LanguageName]
    """The languages that may be spoken on the floor, the default first."""
    floor: LanguageReport
    """The Original channel (``/ws/listen/original``): the speaker's voice and the source captions."""
    delay_s: float = 0.0
    """How long the audience page holds audio and captions back by default, to match a stream
    that runs behind the room (``delay_s``); a listener may choose otherwise."""
    questions: bool = False
    """The room takes typed questions from the audience (``POST …/questions``)."""
    ask_aloud: list[str] = []
    """The languages a listener may ask a question aloud in (``WS /ws/ask``); empty: none."""
    turn: TurnState | None = None
    """For a panel taking turns (``consecutive``): whether the next speaker may begin."""


class InputReport(msgspec.Struct, frozen=True):
    """What the operator sees of a room's input."""

    description: str
    state: str
    """starting, running, stalled, restarting, ended, failed; ``stopped`` with the room."""
    detail: str
    restarts: int
    muted: bool
    paused: bool
    level_dbfs: float
    silent_s: float
    silent: bool
    talk_started_at: int | None
    seconds: float
    delay_s: float = 0.0
    """How long the input holds its sound before the engines get it (a device's buffers, a jitter
    buffer, a backup running behind; a network's transit is not seen)."""
    network: NetworkBuffer | None = None
    """A network input's jitter buffer (None for a local input)."""
    failover: FailoverReport | None = None
    """The primary and backup inputs (None without ``audio.backup``)."""


class Urls(msgspec.Struct, frozen=True):
    """What the operator hands out for a room."""

    audience: str
    join: str
    overlays: dict[str, str]
    """Per language code, its caption overlay's URL."""
    reachable_by_phones: bool
    """False for a loopback address, which no phone can reach."""
    streams: dict[str, str] = {}
    """Per channel (``original`` and each language), its continuous HTTP audio stream: an OBS
    media source, one audio track per language."""
    hls: str = ""
    """The room's HLS master playlist (every language); empty when the server makes none."""
    watch: str = ""
    """A page that plays the HLS output, every language's audio and subtitles to choose from."""
    speaker: str = ""
    """The speaker page (without its key), for a room whose talk a publisher sends; else empty."""


class OutputStatus(msgspec.Struct, frozen=True):
    """One of a room's outputs beyond its live listeners (`outputs/table.py`), as the operator sees it."""

    name: Literal["hls", "recording", "zoom", "youtube", "push", "stream", "sse"]
    state: Literal["off", "writing", "stopped", "sending", "retrying", "serving"]
    """Off: nothing to write (no talk running, nobody reading); stopped: a write failed (``detail``
    says why); sending (captions to a service); retrying: the service refused the last one
    (``detail``); serving: clients are reading it (``detail``: how many, and any dropped)."""
    detail: str = ""
    path: str = ""
    """The folder written to."""
    written: int = 0
    """Bytes written so far."""
    lang: str = ""
    """The language it carries, for an output of one."""


class StatusBody(msgspec.Struct, frozen=True):
    """``GET /api/status`` of a room (operator token)."""

    room: RoomName
    state: RoomStateName
    detail: str
    engine: str
    uptime_s: float
    tasks: int
    """Tasks in the server's event loop: flat over a talk, or something leaks."""
    input: InputReport
    languages: list[LanguageReport]
    transcript: TranscriptStatus
    addable: list[LanguageName]
    urls: Urls
    outputs: list[OutputStatus] = []
    turn: TurnState | None = None
    """For a panel taking turns (``consecutive``): whether the next speaker may begin."""


class ReadyBody(msgspec.Struct, frozen=True):
    """``GET /readyz`` of a room."""

    ready: bool
    input: str
    languages: dict[str, str]
    """Per language code, its session's state."""
    lag_s: dict[str, float]
    transcript: str | msgspec.UnsetType = msgspec.UNSET


class RoomSummary(msgspec.Struct, frozen=True):
    """One room of ``GET /api/rooms``: enough for a landing page and the console's overview."""

    id: str
    name: str
    state: RoomStateName
    detail: str
    source: LanguageName
    input: str
    targets: list[LanguageReport]
    audience: str
    """The room's audience page."""


class LanguageSnapshot(msgspec.Struct, frozen=True, array_like=True):
    code: str
    state: str
    detail: str
    lag_s: float | None


class RoomSnapshot(msgspec.Struct, frozen=True):
    """What the room's process writes to Redis every second for the processes that serve only its
    listeners."""

    state: RoomStateName
    detail: str
    languages: list[LanguageSnapshot]
    talk_started_at: int | None
    paused: bool
    input: str
    questions: dict[str, Question] = {}
    """Per channel, the audience question last put to the room: a process that starts serving
    listeners after it has it for their hellos."""
