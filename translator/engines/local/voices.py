"""The espeak-ng voice of each language the offline engine speaks (and `translator check` uses)."""

from __future__ import annotations

ESPEAK_VOICES: dict[str, str] = {
    "en": "en-us",
    "es": "es",
    "fr": "fr-fr",
    "de": "de",
    "it": "it",
    "pt": "pt",
    "ca": "ca",
    "gl": "gl",
    "eo": "eo",
    "nl": "nl",
    "pl": "pl",
    "uk": "uk",
    "ru": "ru",
    "ar": "ar",
    "hi": "hi",
    "ja": "ja",
    "ko": "ko",
    "zh": "cmn",
}
