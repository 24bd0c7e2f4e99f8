"""The operator's controls during a talk (token required): mute and pause, the glossary, and the
target languages."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Response, delete, get, post, put
from litestar.datastructures import State
from litestar.exceptions import ClientException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_409_CONFLICT

from translator.errors import LastLanguageError, TranslatorError, UnknownLanguageError
from translator.glossary import Glossary
from translator.languages import LANGUAGES, get_language
from translator.printable import printable
from translator.server.operator import require_operator
from translator.server.services import Services

log = logging.getLogger(__name__)

GLOSSARY_WARNING = "X-Glossary-Warning"


class InputControl(msgspec.Struct, forbid_unknown_fields=True):
    """What the console may change about the input; a field left out stays as it is."""

    muted: bool | None = None
    """The speaker's microphone cut (a cough, an aside): silence, listeners are not told."""
    paused: bool | None = None
    """A break in the talk: silence, and every listener is told the talk is paused."""


class NewLanguage(msgspec.Struct, forbid_unknown_fields=True):
    code: str


@post("/api/input", status_code=200, guards=[require_operator])
async def control_input(state: State, data: InputControl) -> dict[str, Any]:
    """Mute or pause the input; every session stays open."""
    pipeline = state.services.pipeline
    if data.muted is not None and data.muted != pipeline.input.muted:
        pipeline.input.muted = data.muted
        log.info("input %s by the operator", "muted" if data.muted else "unmuted")
    if data.paused is not None and data.paused != pipeline.input.paused:
        pipeline.set_paused(data.paused)
    return {"muted": pipeline.input.muted, "paused": pipeline.input.paused}


@get("/api/glossary", sync_to_thread=False, guards=[require_operator])
def glossary(state: State) -> Glossary:
    """The glossary in use."""
    return state.services.pipeline.engine.glossary


@put("/api/glossary", guards=[require_operator])
async def set_glossary(state: State, data: Glossary) -> Response[Glossary]:
    """Replace the glossary; it applies from the next utterance on, in every language. What it
    would cost, when that is worth a warning, comes in the ``X-Glossary-Warning`` header."""
    if bad := data.problem(set(LANGUAGES)):
        raise ValidationException(f"{bad[0]}: {bad[1]}")
    engine = state.services.pipeline.engine
    await engine.set_glossary(data)
    log.info(
        "glossary changed by the operator: %d names kept, %d terms",
        len(data.keep),
        sum(map(len, data.terms.values())),
    )
    if warning := engine.glossary_cost(data):
        log.warning("glossary: %s", warning)
        return Response(data, headers={GLOSSARY_WARNING: warning})
    return Response(data)


@post("/api/languages", status_code=201, guards=[require_operator])
async def add_language(state: State, data: NewLanguage) -> list[dict[str, object]]:
    """Offer another language from the next utterance on; returns every language offered."""
    services: Services = state.services
    try:
        language = get_language(data.code)
        if language.code == services.pipeline.engine.source.code:
            raise ValidationException(f"{language.name} is the speaker's language")
        await services.pipeline.add_language(language)
    except TranslatorError as exc:
        raise ValidationException(f"cannot offer {data.code!r}: {exc}") from None
    return services.languages(operator=True)["targets"]  # type: ignore[return-value]


@delete("/api/languages/{code:str}", status_code=200, guards=[require_operator])
async def remove_language(state: State, code: str) -> list[dict[str, object]]:
    """Stop offering a language: its listeners are told and disconnected."""
    services: Services = state.services
    try:
        await services.pipeline.remove_language(code)
    except UnknownLanguageError as exc:
        raise NotFoundException(
            f"{printable(code)!r} is not offered; offered: {', '.join(exc.available)}"
        ) from None
    except LastLanguageError as exc:
        raise ClientException(str(exc), status_code=HTTP_409_CONFLICT) from None
    return services.languages(operator=True)["targets"]  # type: ignore[return-value]


@post("/api/languages/{code:str}/tone", status_code=202, guards=[require_operator])
async def test_tone(state: State, code: str) -> dict[str, str]:
    """A one-second test tone to the language's listeners, captioned "♪ Test tone"."""
    services: Services = state.services
    offered = [t.code for t in services.pipeline.engine.targets]
    if code not in offered:
        raise NotFoundException(f"'{printable(code)}' is not offered; offered: {', '.join(offered)}")
    services.pipeline.send_tone(code)
    log.info("test tone sent to %s by the operator", code)
    return {"sent": code}


handlers = [control_input, glossary, set_glossary, add_language, remove_language, test_tone]
