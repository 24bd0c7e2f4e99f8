"""A talk's summary in each of its languages, made after the talk by an Azure OpenAI chat
deployment (``[summaries]``), marked as AI-generated wherever it is shown: the console, the API and
the take-home bundle. Kept beside the transcript as ``{talk}.summaries.json``.

Each language is summarised from its own captions (corrections included), so a summary says what
that language's listeners heard; the Original from what was said.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

import msgspec

from translator.config import Settings
from translator.errors import TranslatorError
from translator.languages import FLOOR, get_language
from translator.transcripts.export import export
from translator.transcripts.store import Transcript

if TYPE_CHECKING:
    # The SDK is imported when a summary is asked for: it is a third of the server's start-up.
    import openai
    from openai import AsyncOpenAI

NOTICE: Final = (
    "AI-generated summary, made by a language model from the machine interpretation's captions: "
    "it may leave out or get wrong what was said."
)
MAX_TRANSCRIPT_CHARS = 300_000
"""About four hours of speech; a longer transcript is summarised from its first part (said so)."""
TIMEOUT_S = 120.0
TOKEN_SCOPE = "https://cognitiveservices.azure.com/.default"


class SummaryError(TranslatorError):
    """Summaries are not configured, or the chat deployment could not make one (why, no secret)."""


class LanguageSummary(msgspec.Struct, frozen=True):
    """One language's summary."""

    lang: str
    """A language code, or ``original`` (what was said)."""
    text: str
    tokens: int | None = None
    """What the deployment billed for it."""
    truncated: bool = False
    """The transcript was longer than `MAX_TRANSCRIPT_CHARS`: the summary covers its first part."""


class Summaries(msgspec.Struct, frozen=True):
    """A talk's summaries."""

    talk: str
    model: str
    """The chat deployment that wrote them."""
    made_at: int
    """Unix ms."""
    languages: list[LanguageSummary]
    ai_generated: bool = True
    notice: str = NOTICE


def needs(settings: Settings) -> str:
    """What summaries need that the settings lack, in words; empty when they are configured."""
    missing = []
    if not settings.summaries.deployment:
        missing.append("a chat deployment (summaries.deployment, or AZURE_OPENAI_SUMMARY_DEPLOYMENT)")
    if not (settings.summaries.endpoint or settings.translate.endpoint):
        missing.append("its resource (summaries.endpoint, or AZURE_OPENAI_ENDPOINT)")
    if not missing:
        return ""
    return "summaries need an Azure OpenAI chat model: set " + " and ".join(missing)


def path_of(directory: Path, talk: str) -> Path:
    """Where a talk's summaries are kept."""
    return directory / f"{talk}.summaries.json"


def read_summaries(directory: Path, talk: str) -> Summaries | None:
    """The talk's summaries, if they were made."""
    path = path_of(directory, talk)
    return msgspec.json.decode(path.read_bytes(), type=Summaries) if path.is_file() else None


async def summarize(settings: Settings, transcript: Transcript) -> Summaries:
    """Summarise each language of ``transcript`` (and the Original) at once; SummaryError when
    summaries are not configured or the deployment fails for a language."""
    if problem := needs(settings):
        raise SummaryError(problem)
    deployment = settings.summaries.deployment
    assert deployment is not None
    languages = [FLOOR, *transcript.languages()]
    texts = {lang: export(transcript, lang, "txt") for lang in languages}
    client, closing = _client(settings)
    try:
        # One failure stops the others: a summary of some languages only would read as complete.
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(
                    _summarize_one(client, deployment, lang, text, settings.summaries.max_words)
                )
                for lang, text in texts.items()
                if text
            ]
    except* SummaryError as failed:
        raise failed.exceptions[0] from None
    finally:
        await client.close()
        if closing is not None:
            await closing()
    made = [task.result() for task in tasks]
    return Summaries(transcript.header.id, deployment, int(time.time() * 1000), made)


async def _summarize_one(
    client: AsyncOpenAI, deployment: str, lang: str, text: str, max_words: int
) -> LanguageSummary:
    truncated = len(text) > MAX_TRANSCRIPT_CHARS
    language = "the language the transcript is in" if lang == FLOOR else get_language(lang).name
    instructions = (
        "You summarise the transcript of a talk for people who could not attend. "
        f"Write the summary in {language}, in at most {max_words} words: the talk's main points in "
        "the order they came, with the names and numbers as the transcript gives them. Use only what "
        "the transcript says; add nothing, and write no heading or preface. Each transcript line "
        "starts with its time in the talk."
        + (
            " The transcript is cut off before the talk's end: say so in one short sentence."
            if truncated
            else ""
        )
    )
    import openai

    try:
        answer = await client.chat.completions.create(
            model=deployment,
            messages=[
                {"role": "system", "content": instructions},
                {"role": "user", "content": text[:MAX_TRANSCRIPT_CHARS]},
            ],
        )
    except openai.APIStatusError as exc:
        raise SummaryError(
            f"{lang}: the chat deployment {deployment!r} answered {exc.status_code}: {_said(exc)}"
        ) from None
    except openai.APIConnectionError as exc:
        raise SummaryError(
            f"{lang}: the chat deployment could not be reached ({type(exc).__name__})"
        ) from None
    content = answer.choices[0].message.content if answer.choices else None
    if not content:
        raise SummaryError(f"{lang}: the chat deployment {deployment!r} gave no summary")
    tokens = answer.usage.total_tokens if answer.usage is not None else None
    return LanguageSummary(lang, content.strip(), tokens, truncated)


def _said(exc: openai.APIStatusError) -> str:
    """The service's own message (Azure's error body names the problem, never the key)."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or exc.message)[:300]


def _client(settings: Settings) -> tuple[AsyncOpenAI, Callable[[], Awaitable[None]] | None]:
    """An SDK client for the chat deployment's resource, and what closes its credential (if any):
    the key as Azure documents it (``api-key``), else a token from DefaultAzureCredential."""
    from openai import AsyncOpenAI

    config = settings.summaries
    endpoint = config.endpoint or settings.translate.endpoint or ""
    same_resource = config.endpoint is None or config.endpoint == settings.translate.endpoint
    key = config.api_key or (settings.translate.api_key if same_resource else None)
    base = endpoint.rstrip("/") + "/" + config.api_path.strip("/")
    if key:
        return AsyncOpenAI(
            api_key=key, base_url=base, default_headers={"api-key": key}, timeout=TIMEOUT_S
        ), None
    from azure.identity.aio import DefaultAzureCredential

    credential = DefaultAzureCredential()

    async def token() -> str:
        return (await credential.get_token(TOKEN_SCOPE)).token

    return AsyncOpenAI(api_key=token, base_url=base, timeout=TIMEOUT_S), credential.close
