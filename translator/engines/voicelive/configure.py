"""The Voice Live session for one language pair, fitted to the model's documented rules."""

from __future__ import annotations

from azure.ai.voicelive.models import (
    AudioInputTranscriptionOptions,
    AudioNoiseReduction,
    AzureSemanticDetectionMultilingual,
    AzureSemanticVadMultilingual,
    AzureStandardVoice,
    InputAudioFormat,
    Modality,
    OutputAudioFormat,
    RequestSession,
)

from translator.config import AzureConfig
from translator.engines.instructions import interpreter_instructions
from translator.glossary import Glossary
from translator.languages import Language

# Microsoft's docs: the semantic end-of-utterance model does not serve these models.
NO_SEMANTIC_EOU = ("gpt-realtime", "gpt-4o-mini-realtime", "phi4-mm-realtime")
# API reference 2026-04-10: OpenAI transcription models are "supported with gpt-realtime and
# gpt-realtime-mini"; every other model (phi4 included) takes azure-speech.
OPENAI_TRANSCRIPTION = ("gpt-realtime",)
# azure-speech takes fewer than 500 phrases.
MAX_PHRASES = 499


def transcription(
    source: Language, config: AzureConfig, glossary: Glossary
) -> AudioInputTranscriptionOptions:
    """Source-language transcription that the model accepts, biased towards the glossary's terms."""
    if config.model.startswith(OPENAI_TRANSCRIPTION):
        return AudioInputTranscriptionOptions(model="gpt-4o-transcribe", language=source.code)
    options = AudioInputTranscriptionOptions(model="azure-speech", language=source.locale)
    if phrases := glossary.phrases():
        options.phrase_list = phrases[:MAX_PHRASES]
    return options


def glossary_update(
    source: Language, target: Language, config: AzureConfig, glossary: Glossary
) -> RequestSession:
    """The part of the session a glossary change touches: the instructions and the phrase list.

    Sent alone, so that nothing else (the VAD, the voice) is reset while the speaker talks.
    """
    return RequestSession(
        instructions=interpreter_instructions(source, target, glossary),
        input_audio_transcription=transcription(source, config, glossary),
    )


def session_config(
    source: Language, target: Language, config: AzureConfig, glossary: Glossary
) -> RequestSession:
    """The Voice Live session for interpreting ``source`` into ``target``.

    The VAD commits turns but never starts a response: the engine asks for each translation itself,
    one at a time, so that every response is attributed to its own turns (see ``turns.py``).
    """
    turn_detection = AzureSemanticVadMultilingual(
        threshold=0.5,
        prefix_padding_ms=300,
        silence_duration_ms=500,
        remove_filler_words=True,
        languages=[source.code, target.code],
        create_response=False,
        interrupt_response=False,
    )
    if not config.model.startswith(NO_SEMANTIC_EOU):
        turn_detection.end_of_utterance_detection = AzureSemanticDetectionMultilingual(
            threshold_level="default", timeout_ms=1000
        )
    session = RequestSession(
        modalities=[Modality.TEXT, Modality.AUDIO],
        instructions=interpreter_instructions(source, target, glossary),
        input_audio_format=InputAudioFormat.PCM16,
        output_audio_format=OutputAudioFormat.PCM16,
        turn_detection=turn_detection,
        input_audio_transcription=transcription(source, config, glossary),
        input_audio_noise_reduction=AudioNoiseReduction(type="azure_deep_noise_suppression"),
        voice=AzureStandardVoice(name=config.voice, locale=target.locale),
        max_response_output_tokens=config.max_response_tokens,
    )
    if config.temperature is not None:
        session.temperature = config.temperature
    return session
