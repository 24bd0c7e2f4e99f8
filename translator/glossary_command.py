"""``translator glossary``: a vendor's term list (CSV or TSV, `glossary_file`; TBX, `glossary_tbx`)
checked against a room's languages, applied to the running service, or the glossary in use written
out.

``check`` needs no service: it reads the file against the configuration. ``import`` and ``export``
talk to the service on this machine (or ``--url``) with the operator token: the configured one
(``TRANSLATOR_OPERATOR_TOKEN``), else the one the service stored when it made it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx

from translator.config import RoomConfig, Settings
from translator.errors import ConfigError, TranslatorError
from translator.glossary import Glossary
from translator.glossary_file import MEDIA_TYPES, Format, GlossaryFileError, read_table
from translator.glossary_tbx import read_tbx
from translator.server.operator import token_file

TIMEOUT_S = 30.0


def file_kind(path: Path) -> Format | Literal["tbx"]:
    """TBX for a ``.tbx`` file, TSV for a ``.tsv`` or ``.tab`` one, else CSV."""
    suffix = path.suffix.lower()
    return "tbx" if suffix == ".tbx" else "tsv" if suffix in (".tsv", ".tab") else "csv"


def read_file(path: Path, room: RoomConfig) -> Glossary:
    """The glossary in ``path`` for ``room``'s languages; ConfigError naming the file and where in it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), exc.strerror or str(exc)) from None
    kind = file_kind(path)
    try:
        if kind == "tbx":
            glossary = read_tbx(data, room.channels(), room.source)
        else:
            glossary = read_table(data.decode(), room.channels(), kind)
    except UnicodeDecodeError:
        raise ConfigError(str(path), "not UTF-8 text (save it as CSV UTF-8)") from None
    except GlossaryFileError as exc:
        raise ConfigError(str(path), str(exc)) from None
    if bad := glossary.problem(room.channels()):
        raise ConfigError(str(path), f"{bad[0]}: {bad[1]}")
    return glossary


def summary(glossary: Glossary) -> str:
    """What a glossary holds, in one line."""
    terms = sum(map(len, glossary.terms.values()))
    avoided = sum(map(len, glossary.avoid.values()))
    return (
        f"{len(glossary.keep)} names kept, {terms} translations to use, {avoided} to avoid, "
        f"{len(glossary.exact_case)} matched with their capitals, {len(glossary.priority)} priority terms"
    )


def apply_file(settings: Settings, room: RoomConfig, path: Path, url: str | None) -> str:
    """Send the file to the running service's room (read here first: nothing is sent that does not
    read whole); what the service answered, in words."""
    read_file(path, room)
    kind = file_kind(path)
    media = "application/x-tbx" if kind == "tbx" else f"{MEDIA_TYPES[kind]}; charset=utf-8"
    with _client(settings, url) as client:
        answer = client.put(
            f"api/rooms/{room.id}/glossary", content=path.read_bytes(), headers={"Content-Type": media}
        )
        _raise_for(answer)
        applied = Glossary(**answer.json())
    warning = answer.headers.get("X-Glossary-Warning")
    return f"applied to room {room.id}: {summary(applied)}" + (f"\nwarning: {warning}" if warning else "")


def fetch_table(settings: Settings, room: RoomConfig, kind: Format, url: str | None) -> str:
    """The room's glossary in use, as CSV or TSV."""
    with _client(settings, url) as client:
        answer = client.get(f"api/rooms/{room.id}/glossary", params={"format": kind})
        _raise_for(answer)
        return answer.text


@contextlib.contextmanager
def _client(settings: Settings, url: str | None) -> Iterator[httpx.Client]:
    token = settings.server.operator_token or _stored_token()
    base = (url or local_url(settings)).rstrip("/") + "/"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=TIMEOUT_S) as client:
            yield client
    except httpx.HTTPError as exc:
        raise TranslatorError(
            f"cannot reach the service at {base} ({type(exc).__name__}): is it running? (--url)"
        ) from None


def local_url(settings: Settings) -> str:
    """Where this machine reaches the service's operator surfaces."""
    server = settings.server
    host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host
    port = server.port if server.workers <= 1 else server.operator_port or server.port + 1
    scheme = "https" if server.tls_cert else "http"
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}/"


def _stored_token() -> str:
    try:
        return token_file().read_text().strip()
    except OSError:
        raise ConfigError(
            "server.operator_token",
            f"no operator token: set TRANSLATOR_OPERATOR_TOKEN (none is stored in {token_file()})",
        ) from None


def _raise_for(answer: httpx.Response) -> None:
    if answer.is_success:
        return
    try:
        detail = answer.json().get("detail", answer.text)
    except ValueError:
        detail = answer.text
    raise TranslatorError(f"the service answered {answer.status_code}: {detail}")
