"""A typed question translated by Voice Live: a text-only session of its own for each translation,
so that nothing reaches a live interpreter's conversation or its audio."""

from __future__ import annotations

import asyncio
from typing import Any

from azure.ai.voicelive.aio import ConnectionClosed, connect
from azure.ai.voicelive.aio import ConnectionError as VoiceLiveConnectionError
from azure.ai.voicelive.models import (
    InputTextContentPart,
    Modality,
    RequestSession,
    ServerEventType,
    UserMessageItem,
)

from translator.config import AzureConfig
from translator.engines.instructions import question_instructions
from translator.engines.voicelive.connection import close_abandoned, version_options
from translator.engines.voicelive.faults import describe
from translator.errors import TranslatorError
from translator.glossary import Glossary
from translator.languages import Language

TEXT_TIMEOUT_S = 20.0
"""Connecting, configuring and the answer: a question is a sentence or two."""
TEXT_TEMPERATURE = 0.6
"""The lowest the service takes: a translation, not a conversation."""


async def translate_text(
    config: AzureConfig,
    credential: Any,
    text: str,
    source: Language,
    target: Language,
    glossary: Glossary,
) -> str:
    """``text`` in ``target``, as the configured model translates it. Raises TranslatorError naming
    what failed (a refused session, a failed answer, no answer within `TEXT_TIMEOUT_S`)."""
    session = RequestSession(
        modalities=[Modality.TEXT],
        instructions=question_instructions(source, target, glossary),
        temperature=TEXT_TEMPERATURE,
    )
    opened = connect(
        credential=credential, endpoint=config.endpoint or "", model=config.model, **version_options(config)
    )
    try:
        async with asyncio.timeout(TEXT_TIMEOUT_S), opened as conn:
            await conn.session.update(session=session)
            question = UserMessageItem(content=[InputTextContentPart(text=text)])
            await conn.conversation.item.create(item=question)
            await conn.response.create()
            return await _answer(conn)
    except TranslatorError:
        raise
    except BaseException as exc:
        await close_abandoned(exc)
        if isinstance(exc, ConnectionClosed | VoiceLiveConnectionError | TimeoutError | OSError):
            raise TranslatorError(f"a question's translation failed: {describe(exc).message}") from None
        raise


async def _answer(conn: Any) -> str:
    """The response's text, once it is done."""
    parts: list[str] = []
    while True:
        event = await conn.recv()
        kind = event.type
        if kind == ServerEventType.ERROR:
            raise TranslatorError(f"Voice Live refused the translation: {event.error.message}")
        if kind == ServerEventType.RESPONSE_TEXT_DELTA:
            parts.append(event.delta)
        elif kind == ServerEventType.RESPONSE_TEXT_DONE:
            parts = [event.text]
        elif kind == ServerEventType.RESPONSE_DONE:
            if event.response.status != "completed" or not "".join(parts).strip():
                raise TranslatorError(f"Voice Live's translation ended {event.response.status}")
            return "".join(parts).strip()
