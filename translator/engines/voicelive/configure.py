"""The Voice Live session for one language pair, built from the model's row of the capability table
(`models.py`)."""

from __future__ import annotations

from azure.ai.voicelive.models import (
    AudioInputTranscriptionOptions,
    AudioNoiseReduction,
    AzureRealtimeNativeVoice,
    AzureRealtimeNativeVoiceName,
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
from translator.engines.voicelive.models import PROMPTED_TRANSCRIPTION, capabilities
from translator.glossary import Glossary
from translator.languages import Language

# azure-speech takes fewer than 500 phrases, and up to ten candidate locales.
MAX_PHRASES = 499
MAX_LOCALES = 10
# An OpenAI transcription model reads only the end of a long prompt (Whisper: its last 224 tokens).
MAX_PROMPT_CHARS = 800
# The documented default of the semantic VADs since 2026-04-10: less clips the onset of speech.
PREFIX_PADDING_MS = 420
# With the end-of-utterance model, silence only proposes an end and the model decides: 500 ms is
# the docs' value. Without it, silence alone ends a turn: 500 ms commits at every short pause
# (choppy translations, a response billed for each piece), 800 ms waits out a breath.
SILENCE_WITH_EOU_MS = 500
SILENCE_WITHOUT_EOU_MS = 800
NATIVE_VOICES = frozenset(v.value for v in AzureRealtimeNativeVoiceName)


def transcription(
    spoken: list[Language], config: AzureConfig, glossary: Glossary
) -> AudioInputTranscriptionOptions:
    """Transcription of the floor's languages that the model accepts, biased towards the glossary's
    terms where the model takes a bias: azure-speech's phrase list, or an OpenAI model's prompt.

    azure-speech takes up to ten candidate locales, comma-separated, and says which one each turn
    was in (voice-live-language-support: "use this ONLY if the input voice includes multiple
    languages"); OpenAI's models take one language, or none to detect it themselves.
    """
    model = capabilities(config.model)
    if model.transcription != "azure-speech":
        options = AudioInputTranscriptionOptions(model=model.transcription)
        if len(spoken) == 1:
            options.language = spoken[0].code
        if model.transcription in PROMPTED_TRANSCRIPTION and (prompt := transcription_prompt(glossary)):
            options["prompt"] = prompt  # in the API reference, not yet a field of the SDK's model
        return options
    locales = ",".join(language.locale for language in spoken[:MAX_LOCALES])
    options = AudioInputTranscriptionOptions(model="azure-speech", language=locales)
    if model.phrase_list and (phrases := glossary.phrases()):
        options.phrase_list = phrases[:MAX_PHRASES]
    return options


def transcription_prompt(glossary: Glossary) -> str:
    """The glossary's names and terms as a transcription prompt: the words the speaker may say."""
    prompt = ""
    for phrase in glossary.phrases():
        longer = f"{prompt}, {phrase}" if prompt else f"Names and terms: {phrase}"
        if len(longer) > MAX_PROMPT_CHARS:
            break
        prompt = longer
    return f"{prompt}." if prompt else ""


def voice(target: Language, config: AzureConfig) -> AzureStandardVoice | AzureRealtimeNativeVoice:
    """The voice the model takes, speaking with the target's accent."""
    if capabilities(config.model).voice == "azure-realtime-native":
        return AzureRealtimeNativeVoice(name=config.voice if config.voice in NATIVE_VOICES else "ava")
    if config.force_voice_locale:
        return AzureStandardVoice(name=config.voice, locale=target.locale)
    # The accent preferred, not forced: a name kept in another script is still spoken.
    return AzureStandardVoice(name=config.voice, prefer_locales=[target.locale])


def glossary_update(
    spoken: list[Language], target: Language, config: AzureConfig, glossary: Glossary
) -> RequestSession:
    """The part of the session a glossary change touches: the instructions and the phrase list.

    Sent alone, so that nothing else (the VAD, the voice) is reset while the speaker talks.
    """
    return RequestSession(
        instructions=interpreter_instructions(spoken, target, glossary),
        input_audio_transcription=transcription(spoken, config, glossary),
    )


def session_config(
    spoken: list[Language], target: Language, config: AzureConfig, glossary: Glossary
) -> RequestSession:
    """The Voice Live session for interpreting the floor's ``spoken`` languages into ``target``.

    The VAD commits turns but never starts a response: the engine asks for each translation itself,
    one at a time, so that every response is attributed to its own turns (see ``turns.py``).
    """
    eou = capabilities(config.model).end_of_utterance
    turn_detection = AzureSemanticVadMultilingual(
        threshold=0.5,
        prefix_padding_ms=PREFIX_PADDING_MS,
        silence_duration_ms=SILENCE_WITH_EOU_MS if eou else SILENCE_WITHOUT_EOU_MS,
        remove_filler_words=True,
        languages=list(dict.fromkeys([*(language.code for language in spoken), target.code])),
        create_response=False,
        interrupt_response=False,
    )
    if eou:
        turn_detection.end_of_utterance_detection = AzureSemanticDetectionMultilingual(
            threshold_level="default", timeout_ms=1000
        )
    session = RequestSession(
        modalities=[Modality.TEXT, Modality.AUDIO],
        instructions=interpreter_instructions(spoken, target, glossary),
        input_audio_format=InputAudioFormat.PCM16,
        output_audio_format=OutputAudioFormat.PCM16,
        turn_detection=turn_detection,
        input_audio_transcription=transcription(spoken, config, glossary),
        input_audio_noise_reduction=AudioNoiseReduction(type="azure_deep_noise_suppression"),
        voice=voice(target, config),
        max_response_output_tokens=config.max_response_tokens,
    )
    if config.temperature is not None:
        session.temperature = config.temperature
    return session
