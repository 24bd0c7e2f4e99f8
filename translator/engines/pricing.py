"""What an hour of one language costs on each Azure engine, at list prices, for ``translator check``
and the README's table.

Microsoft's pages give the structure: Voice Live bills per token at the rate of the model's tier
(Pro, Standard or Lite; the overview's pricing table of 2026-09-29); gpt-realtime-translate bills per
minute of audio, and its source captions (`translate.transcription_model`) per minute of their own.
The dollar rates below are the list prices published for the same models, each with where and when
it was read; Azure's page (https://azure.microsoft.com/pricing/details/cognitive-services/speech-services/
for Voice Live, .../openai-service/ for gpt-realtime-translate) is the authority, and an enterprise
agreement's prices differ. The estimate says which rates it used.
"""

from __future__ import annotations

import msgspec

from translator.engines.events import TokensUsed
from translator.engines.voicelive.engine import TRANSLATIONS_PER_MINUTE


class TokenRates(msgspec.Struct, frozen=True):
    """US dollars per million tokens, by kind."""

    text_in: float
    cached_text_in: float
    audio_in: float
    cached_audio_in: float
    text_out: float
    audio_out: float
    source: str
    """Where and when the rates were read."""

    def dollars(self, billed: TokensUsed) -> float:
        """What ``billed`` costs; a total with no breakdown is priced as audio input (the dearest
        input, and most of an interpreter's)."""
        kinds = billed.text_in + billed.audio_in + billed.text_out + billed.audio_out
        if not kinds:
            return billed.tokens * self.audio_in / 1e6
        return (
            (billed.text_in - billed.cached_text_in) * self.text_in
            + billed.cached_text_in * self.cached_text_in
            + (billed.audio_in - billed.cached_audio_in) * self.audio_in
            + billed.cached_audio_in * self.cached_audio_in
            + billed.text_out * self.text_out
            + billed.audio_out * self.audio_out
        ) / 1e6


class MinuteRate(msgspec.Struct, frozen=True):
    """US dollars per minute of audio."""

    per_minute: float
    source: str


PRO = TokenRates(
    text_in=4.0,
    cached_text_in=0.40,
    audio_in=32.0,
    cached_audio_in=0.40,
    text_out=24.0,
    audio_out=64.0,
    source="gpt-realtime-2.1's list price, developers.openai.com/api/docs/models/gpt-realtime-2.1, "
    "2026-07-28",
)
STANDARD = TokenRates(
    text_in=0.60,
    cached_text_in=0.06,
    audio_in=10.0,
    cached_audio_in=0.30,
    text_out=2.40,
    audio_out=20.0,
    source="gpt-realtime-2.1-mini's list price, developers.openai.com/api/docs/models/gpt-realtime-2.1-mini, "
    "2026-07-28",
)
TRANSLATE = MinuteRate(
    0.034, "gpt-realtime-translate's list price, platform.openai.com/docs/pricing, 2026-09-19"
)
TRANSCRIBE = MinuteRate(
    0.017, "gpt-realtime-whisper's list price, platform.openai.com/docs/pricing, 2026-09-19"
)

STANDARD_MODELS = frozenset(
    (
        "gpt-realtime-2.1-mini",
        "gpt-realtime-mini",
        "gpt-4o-mini",
        "gpt-4.1-mini",
        "gpt-5.6-luna",
        "gpt-5-mini",
    )
)
LITE_MODELS = frozenset(("gpt-4.1-nano", "gpt-5-nano", "phi4-mm-realtime", "phi4-mini"))
"""Voice Live's tiers (the overview's pricing table); every other model it serves is Pro."""


def tier(model: str) -> str:
    """The Voice Live pricing tier of ``model``."""
    if model in STANDARD_MODELS:
        return "Standard"
    return "Lite" if model in LITE_MODELS else "Pro"


def voicelive_hour(model: str, per_translation: TokensUsed) -> tuple[float, str] | None:
    """A language-hour on Voice Live from what one translation was billed, and the rates used;
    None for the Lite tier, which no list price covers."""
    rates = {"Pro": PRO, "Standard": STANDARD}.get(tier(model))
    if rates is None:
        return None
    return rates.dollars(
        per_translation
    ) * TRANSLATIONS_PER_MINUTE * 60, f"Voice Live {tier(model)}: {rates.source}"


def translate_hour(transcribing: bool) -> tuple[float, str]:
    """A language-hour on gpt-realtime-translate: the session streams the whole hour (silence
    included, as the service asks), with its source captions when ``transcribing``."""
    rates = [TRANSLATE, TRANSCRIBE] if transcribing else [TRANSLATE]
    return 60 * sum(rate.per_minute for rate in rates), "; ".join(rate.source for rate in rates)
