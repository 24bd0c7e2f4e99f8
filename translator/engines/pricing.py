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

from translator.config import PricesConfig, TokenPrices
from translator.engines.events import TokensUsed
from translator.engines.voicelive.engine import TRANSLATIONS_PER_MINUTE


class TokenRates(msgspec.Struct, frozen=True):
    """US dollars per million tokens, by kind, and where they come from."""

    prices: TokenPrices
    source: str
    """Where and when the rates were read."""

    def dollars(self, billed: TokensUsed) -> float:
        """What ``billed`` costs; a total with no breakdown is priced as audio input (the dearest
        input, and most of an interpreter's)."""
        rate = self.prices
        kinds = billed.text_in + billed.audio_in + billed.text_out + billed.audio_out
        if not kinds:
            return billed.tokens * rate.audio_in / 1e6
        return (
            (billed.text_in - billed.cached_text_in) * rate.text_in
            + billed.cached_text_in * rate.cached_text_in
            + (billed.audio_in - billed.cached_audio_in) * rate.audio_in
            + billed.cached_audio_in * rate.cached_audio_in
            + billed.text_out * rate.text_out
            + billed.audio_out * rate.audio_out
        ) / 1e6


class MinuteRate(msgspec.Struct, frozen=True):
    """US dollars per minute of audio."""

    per_minute: float
    source: str


PRO = TokenRates(
    TokenPrices(
        text_in=4.0, cached_text_in=0.40, audio_in=32.0, cached_audio_in=0.40, text_out=24.0, audio_out=64.0
    ),
    "gpt-realtime-2.1's list price, developers.openai.com/api/docs/models/gpt-realtime-2.1, 2026-07-28",
)
STANDARD = TokenRates(
    TokenPrices(
        text_in=0.60, cached_text_in=0.06, audio_in=10.0, cached_audio_in=0.30, text_out=2.40, audio_out=20.0
    ),
    "gpt-realtime-2.1-mini's list price, developers.openai.com/api/docs/models/gpt-realtime-2.1-mini, "
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


class Rates(msgspec.Struct, frozen=True):
    """The rates in use: the settings' (``[prices]``) where given, else the list prices above."""

    pro: TokenRates
    standard: TokenRates
    translate: MinuteRate
    transcribe: MinuteRate


def rates(prices: PricesConfig) -> Rates:
    """The rates ``prices`` give, each unset one the list price."""

    def tokens(given: TokenPrices | None, default: TokenRates, name: str) -> TokenRates:
        if given is None:
            return default
        return TokenRates(given, f"your prices (prices.{name})")

    def minutes(given: float | None, default: MinuteRate, name: str) -> MinuteRate:
        return default if given is None else MinuteRate(given, f"your prices (prices.{name})")

    return Rates(
        tokens(prices.voicelive_pro, PRO, "voicelive_pro"),
        tokens(prices.voicelive_standard, STANDARD, "voicelive_standard"),
        minutes(prices.translate_per_minute, TRANSLATE, "translate_per_minute"),
        minutes(prices.transcribe_per_minute, TRANSCRIBE, "transcribe_per_minute"),
    )


def tier(model: str) -> str:
    """The Voice Live pricing tier of ``model``."""
    if model in STANDARD_MODELS:
        return "Standard"
    return "Lite" if model in LITE_MODELS else "Pro"


def voicelive_cost(model: str, billed: TokensUsed, prices: PricesConfig) -> tuple[float, str] | None:
    """What ``billed`` costs on Voice Live's ``model``, and the rates used; None for the Lite tier,
    which no list price covers."""
    chosen = rates(prices)
    table = {"Pro": chosen.pro, "Standard": chosen.standard}.get(tier(model))
    if table is None:
        return None
    return table.dollars(billed), f"Voice Live {tier(model)}: {table.source}"


def voicelive_hour(
    model: str, per_translation: TokensUsed, prices: PricesConfig | None = None
) -> tuple[float, str] | None:
    """A language-hour on Voice Live from what one translation was billed, and the rates used;
    None for the Lite tier, which no list price covers."""
    priced = voicelive_cost(model, per_translation, prices or PricesConfig())
    if priced is None:
        return None
    return priced[0] * TRANSLATIONS_PER_MINUTE * 60, priced[1]


def translate_cost(minutes: float, transcribing: bool, prices: PricesConfig) -> tuple[float, str]:
    """``minutes`` of gpt-realtime-translate (the session streams all the time, silence included,
    as the service asks), with its source captions when ``transcribing``, and the rates used."""
    chosen = rates(prices)
    per_minute = [chosen.translate, chosen.transcribe] if transcribing else [chosen.translate]
    return minutes * sum(rate.per_minute for rate in per_minute), "; ".join(
        rate.source for rate in per_minute
    )


def translate_hour(transcribing: bool, prices: PricesConfig | None = None) -> tuple[float, str]:
    """A language-hour on gpt-realtime-translate."""
    return translate_cost(60, transcribing, prices or PricesConfig())
