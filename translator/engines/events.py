"""Normalized engine events: what every engine reports, whatever its vendor.

Each event names its target language; utterance events carry the engine's utterance id (shared by
the captions and audio of one utterance) and times on the talk's timeline (ms since the input began).
"""

from __future__ import annotations

from typing import Literal

import msgspec


class EngineEvent(msgspec.Struct, frozen=True, tag_field="kind"):
    """Base of all engine events."""

    target: str


class SpeechStarted(EngineEvent, frozen=True, tag="speech_started"):
    """The speaker started an utterance."""

    utterance: str
    start_ms: int
    continues: str = ""
    """The utterance this one goes on from: the engine had closed it at a pause, and the speaker
    went on with the same sentence (empty: a new one)."""


class SpeechStopped(EngineEvent, frozen=True, tag="speech_stopped"):
    """The utterance's speech ended."""

    utterance: str
    end_ms: int


class SourceText(EngineEvent, frozen=True, tag="source_text"):
    """What the speaker said, in the language spoken: the whole text so far."""

    utterance: str
    text: str
    final: bool
    lang: str = ""
    """The spoken language's code when the engine knows it (one of the room's spoken languages)."""


class Passthrough(EngineEvent, frozen=True, tag="passthrough"):
    """The utterance was spoken in the target language itself: the engine translated nothing and
    never will; the talk carries the speaker's own voice and words on this channel. Comes after the
    utterance's final `SourceText` (and its `SpeechStopped`)."""

    utterance: str


class TranslationText(EngineEvent, frozen=True, tag="translation_text"):
    """The translation: the whole text so far (partial) or the finished text (final)."""

    utterance: str
    text: str
    final: bool


class TranslationAudio(EngineEvent, frozen=True, tag="translation_audio"):
    """A chunk of translated speech, 24 kHz mono PCM16."""

    utterance: str
    pcm: bytes


class TurnDone(EngineEvent, frozen=True, tag="turn_done"):
    """The utterance's translation is complete (status: completed, cancelled, failed, incomplete)."""

    utterance: str
    status: str


class TokensUsed(EngineEvent, frozen=True, tag="tokens_used"):
    """What one translation was billed, in tokens (its input, the instructions included, and output),
    and by kind where the service says (``usage.input_token_details``, ``output_token_details``)."""

    tokens: int
    text_in: int = 0
    """Text input (the instructions), the cached part included."""
    audio_in: int = 0
    """Audio input (the turn), the cached part included."""
    cached_text_in: int = 0
    cached_audio_in: int = 0
    text_out: int = 0
    audio_out: int = 0

    def plus(self, other: TokensUsed) -> TokensUsed:
        """Two bills as one (each kind summed)."""
        kinds = (
            "tokens",
            "text_in",
            "audio_in",
            "cached_text_in",
            "cached_audio_in",
            "text_out",
            "audio_out",
        )
        return TokensUsed(self.target, **{kind: getattr(self, kind) + getattr(other, kind) for kind in kinds})


SessionStateName = Literal["connecting", "ready", "reconnecting", "failed", "closed"]


class SessionState(EngineEvent, frozen=True, tag="session_state"):
    """The state of the target language's session changed."""

    state: SessionStateName
    detail: str = ""


class EngineFailure(EngineEvent, frozen=True, tag="engine_failure"):
    """Something went wrong; ``recoverable`` says whether the session carries on."""

    message: str
    recoverable: bool


AnyEngineEvent = (
    SpeechStarted
    | SpeechStopped
    | SourceText
    | TranslationText
    | TranslationAudio
    | TurnDone
    | Passthrough
    | SessionState
    | EngineFailure
    | TokensUsed
)
