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


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("en", "English", "English", "en-US"),
        Language("es", "Spanish", "Español", "es-ES"),
        Language("fr", "French", "Français", "fr-FR"),
        Language("de", "German", "Deutsch", "de-DE"),
        Language("it", "Italian", "Italiano", "it-IT"),
        Language("pt", "Portuguese", "Português", "pt-PT"),
        Language("ca", "Catalan", "Català", "ca-ES"),
        Language("gl", "Galician", "Galego", "gl-ES"),
        Language("eo", "Esperanto", "Esperanto", "eo"),
        Language("nl", "Dutch", "Nederlands", "nl-NL"),
        Language("pl", "Polish", "Polski", "pl-PL"),
        Language("uk", "Ukrainian", "Українська", "uk-UA"),
        Language("ru", "Russian", "Русский", "ru-RU"),
        Language("ar", "Arabic", "العربية", "ar-SA"),
        Language("hi", "Hindi", "हिन्दी", "hi-IN"),
        Language("ja", "Japanese", "日本語", "ja-JP"),
        Language("ko", "Korean", "한국어", "ko-KR"),
        Language("zh", "Chinese", "中文", "zh-CN"),
    )
}


FLOOR = "original"
"""The floor's channel: the speaker's own voice with the source captions, whatever is spoken."""


def get_language(code: str) -> Language:
    """Return the language for ``code``, or raise an error listing the known codes."""
    try:
        return LANGUAGES[code.lower()]
    except KeyError:
        raise UnknownLanguageError(code, sorted(LANGUAGES)) from None
