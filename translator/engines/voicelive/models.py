"""What each Voice Live model takes, in one table, from Microsoft's docs (the overview's model list of
2026-09-29, API reference 2026-04-10 and 2026-07-15, voice-live-language-support, the how-tos) and
from recorded traffic (../shared/docs/voicelive.md).

The session configuration is built from this table and nothing else: no capability is guessed from a
model's name. A model the table does not know is served with the settings every model accepts (see
`capabilities`), with a warning: Azure adds models faster than this service ships, and a name the
service does not serve is refused at the handshake anyway (HTTP 400/404, a plain message).
"""

from __future__ import annotations

import logging

import msgspec

log = logging.getLogger(__name__)

ALL_LANGUAGES: frozenset[str] = frozenset()
"""Marks a model whose languages the table does not restrict."""


class ModelCapabilities(msgspec.Struct, frozen=True):
    """One Voice Live model."""

    cascaded: bool
    """Azure speech recognition → a text model → Azure speech synthesis. The user's item joins the
    conversation only once recognition has finished (recorded: 200 ms after the commit on gpt-4.1);
    on native audio models it joins at the commit. The engine waits for the item on every model
    (`turns.py`), so nothing depends on this being right."""
    transcription: str
    """The source-caption model it takes. The API reference: OpenAI's transcription models are
    "supported with gpt-realtime and gpt-realtime-mini", azure-speech "with all other models" (so
    the newer gpt-realtime-1.5 and -2.1 get azure-speech until the docs say more)."""
    end_of_utterance: bool
    """The semantic end-of-utterance model: cascaded models only (a native model refuses it, and then
    every later message of that session)."""
    phrase_list: bool
    """azure-speech's recognition bias list: not on gpt-realtime, gpt-4o-mini-realtime, phi4."""
    voice: str
    """The voice type it takes: ``azure-standard``, or ``azure-realtime-native`` (azure-realtime)."""
    languages: frozenset[str] = ALL_LANGUAGES
    """The languages it serves, when the docs restrict them (phi4-mm-realtime: eight)."""

    @property
    def reports_language(self) -> bool:
        """Whether its transcription says which language each turn was in: azure-speech puts
        ``"language": "en-US"`` on ``...transcription.completed`` (recorded traffic, gpt-4.1), and
        takes up to ten candidate locales (voice-live-language-support); OpenAI's transcription
        models (whisper-1, gpt-4o-transcribe) report no language, so on the gpt-realtime family every
        turn is taken to be in the floor's default language."""
        return self.transcription == "azure-speech"


_CASCADED = ModelCapabilities(
    cascaded=True,
    transcription="azure-speech",
    end_of_utterance=True,
    phrase_list=True,
    voice="azure-standard",
)
_GPT_REALTIME = ModelCapabilities(
    cascaded=False,
    transcription="gpt-4o-transcribe",
    end_of_utterance=False,
    phrase_list=False,
    voice="azure-standard",
)
_NATIVE_AZURE_SPEECH = msgspec.structs.replace(_GPT_REALTIME, transcription="azure-speech")
"""A native audio model the docs give azure-speech captions; its phrase list is not confirmed
(`translator check --probe` asks the service), so none is sent."""

MODELS: dict[str, ModelCapabilities] = {
    # Native audio models. The -datazone variants are the same model kept in the resource's data zone.
    "gpt-realtime": _GPT_REALTIME,
    "gpt-realtime-datazone": _GPT_REALTIME,
    "gpt-realtime-mini": _GPT_REALTIME,
    "gpt-realtime-2.1": _NATIVE_AZURE_SPEECH,
    "gpt-realtime-2.1-datazone": _NATIVE_AZURE_SPEECH,
    "gpt-realtime-2.1-mini": _NATIVE_AZURE_SPEECH,
    "gpt-realtime-1.5": _NATIVE_AZURE_SPEECH,
    "gpt-realtime-1.5-datazone": _NATIVE_AZURE_SPEECH,
    "gpt-realtime-2": _GPT_REALTIME,
    "gpt-4o-mini-realtime": _NATIVE_AZURE_SPEECH,
    # Cascaded: Azure speech to text → the text model → Azure text to speech.
    "gpt-4o": _CASCADED,
    "gpt-4o-mini": _CASCADED,
    "gpt-4.1": _CASCADED,
    "gpt-4.1-mini": _CASCADED,
    "gpt-4.1-nano": _CASCADED,
    "gpt-5": _CASCADED,
    "gpt-5-mini": _CASCADED,
    "gpt-5-nano": _CASCADED,
    "gpt-5-chat": _CASCADED,
    "gpt-5.1": _CASCADED,
    "gpt-5.2": _CASCADED,
    "gpt-5.4": _CASCADED,
    "gpt-5.6-terra": _CASCADED,
    "gpt-5.6-luna": _CASCADED,
    "phi4-mini": _CASCADED,
    "phi4-mm-realtime": msgspec.structs.replace(
        _NATIVE_AZURE_SPEECH, languages=frozenset(("en", "zh", "de", "fr", "it", "ja", "es", "pt"))
    ),
    "azure-realtime": msgspec.structs.replace(_NATIVE_AZURE_SPEECH, voice="azure-realtime-native"),
}
"""Voice Live's model table. gpt-4o-realtime-preview is no longer in it; gpt-5.5, gpt-5.4-mini and
-nano are served only as a deployment of one's own (BYOM), which this service does not configure."""

PROMPTED_TRANSCRIPTION = frozenset(
    ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize")
)
"""The transcription models that take a ``prompt`` to guide them (the API reference)."""

UNKNOWN = _NATIVE_AZURE_SPEECH
"""What a model missing from the table gets: only what every model accepts."""

_warned: set[str] = set()


def capabilities(model: str) -> ModelCapabilities:
    """The model's row; for a model the table does not know, `UNKNOWN`, with a warning once."""
    known = MODELS.get(model)
    if known is not None:
        return known
    if model not in _warned:
        _warned.add(model)
        log.warning(
            "Voice Live model %r is not in this service's table (%s): using the settings every model "
            "accepts (azure-speech captions, no end-of-utterance model, no phrase list)",
            model,
            ", ".join(MODELS),
        )
    return UNKNOWN
