"""The exception tree. Each layer raises its own kind; vendors' errors are translated at the edge.

TranslatorError
├── ConfigError        a setting is wrong; names the field (exit status 2)
├── SourceError        the audio input cannot be opened or read (missing file, no microphone)
├── AddressError       the server cannot listen on its host and port (exit status 3)
├── EngineError        an engine failed
│   ├── PermanentEngineError   retrying will not help (auth, unsupported pair, missing package)
│   └── TransientEngineError   a drop or timeout: reconnect
├── UnknownLanguageError       a language the service does not serve (lists those it does)
├── LastLanguageError          the talk's last language cannot be removed
├── UnknownRoomError           a room the server does not have (lists those it has)
└── RoomStoppedError           a control that needs the room's talk running
"""


class TranslatorError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(TranslatorError):
    """A setting is invalid. The message starts with the field's name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class SourceError(TranslatorError):
    """The audio input cannot be opened or read."""


class AddressError(TranslatorError):
    """The server cannot listen on its address (in use, not this machine's, not allowed)."""


class EngineError(TranslatorError):
    """An engine failed."""


class PermanentEngineError(EngineError):
    """An engine failure that retrying will not fix."""


class TransientEngineError(EngineError):
    """An engine failure worth a reconnect."""


class UnknownCaptionError(TranslatorError):
    """A caption that is not among those still held for correction (the message lists them)."""


class UnknownLanguageError(TranslatorError):
    """A language code that is not known or not served."""

    def __init__(self, code: str, available: list[str]) -> None:
        super().__init__(f"unknown language {code!r}; available: {', '.join(available)}")
        self.code = code
        self.available = available


class LastLanguageError(TranslatorError):
    """The operator asked to remove the only language offered."""


class UnknownRoomError(TranslatorError):
    """A room id that this server does not have."""

    def __init__(self, room: str, available: list[str]) -> None:
        super().__init__(f"unknown room {room!r}; rooms: {', '.join(available)}")
        self.room = room
        self.available = available


class RoomStoppedError(TranslatorError):
    """The operator asked a stopped (or failed) room for something only a running talk can do."""
