"""The one language vocabulary. Engines map a `Language` to their vendor's codes at their edge."""

from __future__ import annotations

import msgspec

from translator.errors import UnknownLanguageError


class Language(msgspec.Struct, frozen=True):
    """A language the service knows, with the names and locales each part needs."""

    code: str
    """ISO 639-1 code used everywhere in the API and the config (``es``)."""
    name: str
    """English name (``Spanish``)."""
    native: str
    """The language's own name, shown to listeners (``Español``)."""
    locale: str
    """BCP-47 locale for speech services (``es-ES``)."""
    espeak_voice: str | None = None
    """espeak-ng voice for the offline engine, where espeak-ng has one."""
    azure_voice: bool = True
    """Azure Speech has voices for ``locale`` (Voice Live can speak it)."""


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("en", "English", "English", "en-US", "en-us"),
        Language("es", "Spanish", "Español", "es-ES", "es"),
        Language("fr", "French", "Français", "fr-FR", "fr-fr"),
        Language("de", "German", "Deutsch", "de-DE", "de"),
        Language("it", "Italian", "Italiano", "it-IT", "it"),
        Language("pt", "Portuguese", "Português", "pt-PT", "pt"),
        Language("ca", "Catalan", "Català", "ca-ES", "ca"),
        Language("gl", "Galician", "Galego", "gl-ES", "gl"),
        Language("eo", "Esperanto", "Esperanto", "eo", "eo", azure_voice=False),
        Language("nl", "Dutch", "Nederlands", "nl-NL", "nl"),
        Language("pl", "Polish", "Polski", "pl-PL", "pl"),
        Language("uk", "Ukrainian", "Українська", "uk-UA", "uk"),
        Language("ru", "Russian", "Русский", "ru-RU", "ru"),
        Language("ar", "Arabic", "العربية", "ar-SA", "ar"),
        Language("hi", "Hindi", "हिन्दी", "hi-IN", "hi"),
        Language("ja", "Japanese", "日本語", "ja-JP", "ja"),
        Language("ko", "Korean", "한국어", "ko-KR", "ko"),
        Language("zh", "Chinese", "中文", "zh-CN", "cmn"),
    )
}


def get_language(code: str) -> Language:
    """Return the language for ``code``, or raise an error listing the known codes."""
    try:
        return LANGUAGES[code.lower()]
    except KeyError:
        raise UnknownLanguageError(code, sorted(LANGUAGES)) from None
