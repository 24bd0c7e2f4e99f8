"""The operator token: what guards every surface that shows or changes more than the public pages.

Configured (``server.operator_token`` or ``TRANSLATOR_OPERATOR_TOKEN``), or generated at first start,
stored with owner-only permissions and printed once. Compared in constant time; never logged. The
guard fails closed: an empty expected token refuses everyone, and wrong guesses are limited per
client address.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException

from translator.config import MIN_TOKEN_CHARS, Settings
from translator.errors import ConfigError, TranslatorError
from translator.server.limits import address_key
from translator.state_files import state_directory

log = logging.getLogger(__name__)

HEADER = "x-operator-token"
MAX_WRONG_PER_MINUTE = 10
"""Wrong tokens one client address may present a minute; past it, 429 until the minute is over."""
WINDOW_S = 60.0


class OperatorToken(msgspec.Struct, frozen=True):
    """The token, and where it came from (so that start-up can say so without printing it again)."""

    value: str
    source: Literal["configured", "stored", "generated"]
    path: Path | None = None

    def __repr__(self) -> str:
        return f"OperatorToken(source={self.source!r}, path={self.path!r})"


def token_file() -> Path:
    """Where a generated token is kept: ``$XDG_STATE_HOME/live-translator/operator-token``."""
    return state_directory() / "operator-token"


def resolve_token(settings: Settings) -> OperatorToken:
    """The configured token, else the stored one, else a new one (stored, mode 0600).

    A stored token that is empty or short (a write cut off by a full disk, a file emptied by hand)
    is refused with a ConfigError naming the file: it must never mean "no token".
    """
    if settings.server.operator_token:
        # The configured value was checked with the other settings (`config.validate`).
        return OperatorToken(settings.server.operator_token, "configured")
    path = token_file()
    if path.is_file():
        value = path.read_text(errors="replace").strip()
        if len(value) < MIN_TOKEN_CHARS:
            raise ConfigError(
                "server.operator_token",
                f"the stored token in {path} is {'empty' if not value else 'too short'}; "
                "delete the file to have a new one generated, or set TRANSLATOR_OPERATOR_TOKEN",
            )
        return OperatorToken(value, "stored", path)
    value = secrets.token_urlsafe(24)
    try:
        _write_atomically(path, value + "\n")
    except OSError as exc:
        raise ConfigError(
            "server.operator_token",
            f"cannot store a new token in {path} ({exc.strerror or exc}); "
            "free some space or set TRANSLATOR_OPERATOR_TOKEN",
        ) from None
    return OperatorToken(value, "generated", path)


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: a temporary file, fsync, then a link in place.

    A link, unlike a rename, never replaces a token another process stored meanwhile.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def presented(headers: Mapping[str, str]) -> str:
    """The token a request's (case-insensitive) headers carry: ``Authorization: Bearer`` or
    ``X-Operator-Token``.

    Never from the URL: a token there lands in history, bookmarks, proxies' logs and screen shares.
    """
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return headers.get(HEADER, "")


def matches(candidate: str, expected: str) -> bool:
    """Constant-time comparison that fails closed: an empty expected token matches nothing."""
    return bool(expected) and hmac.compare_digest(candidate.encode(), expected.encode())


class WrongGuesses:
    """Wrong tokens counted per client address in one-minute windows, and one log line a minute."""

    def __init__(self, what: str = "operator token") -> None:
        self.what = what
        """What is guessed, as the log names it."""
        self._windows: dict[str, tuple[float, int]] = {}
        self._logged_at = -WINDOW_S
        self._unlogged = 0
        self._addresses: set[str] = set()

    def blocked(self, address: str, now: float | None = None) -> bool:
        """Whether ``address`` has used up its wrong guesses this minute."""
        now = time.monotonic() if now is None else now
        started, count = self._windows.get(address, (now, 0))
        return now - started < WINDOW_S and count >= MAX_WRONG_PER_MINUTE

    def wrong(self, address: str, now: float | None = None) -> None:
        """Count one wrong token from ``address``."""
        now = time.monotonic() if now is None else now
        started, count = self._windows.get(address, (now, 0))
        if now - started >= WINDOW_S:
            started, count = now, 0
        self._windows[address] = (started, count + 1)
        if len(self._windows) > 10_000:
            # Old windows go: memory stays bounded however many addresses guess.
            self._windows = {a: w for a, w in self._windows.items() if now - w[0] < WINDOW_S}
        self._unlogged += 1
        self._addresses.add(address)
        if now - self._logged_at >= WINDOW_S:
            log.warning(
                "%d wrong %s(s) in the last minute from %d address(es)",
                self._unlogged,
                self.what,
                len(self._addresses),
            )
            self._logged_at, self._unlogged = now, 0
            self._addresses.clear()


def require_editor(connection: ASGIConnection[Any, Any, Any, Any], _: object) -> None:
    """Litestar guard for a language's captions: the operator token, or the key of that language's
    editor (``editors.<lang>``); 401 otherwise, 429 after too many wrong."""
    rooms = connection.app.state.rooms
    lang = str(connection.path_params.get("lang", ""))
    room_id = connection.path_params.get("room")
    with contextlib.suppress(TranslatorError):
        room = rooms.find(room_id)
        key = room.config.editors.get(lang, "")
        address = address_key(connection.client.host if connection.client else "")
        if key and not rooms.wrong_guesses.blocked(address) and matches(presented(connection.headers), key):
            return
    require_operator(connection, _)


def require_operator(connection: ASGIConnection[Any, Any, Any, Any], _: object) -> None:
    """Litestar guard: 401 unless the request carries the operator token; 429 after too many wrong."""
    rooms = connection.app.state.rooms
    address = address_key(connection.client.host if connection.client else "")
    guesses: WrongGuesses = rooms.wrong_guesses
    if guesses.blocked(address):
        raise TooManyRequestsException(
            "too many wrong operator tokens from your address; try again in a minute",
            headers={"Retry-After": str(int(WINDOW_S))},
        )
    candidate = presented(connection.headers)
    if not matches(candidate, rooms.operator_token):
        if candidate:  # no token at all is no guess (a page or a monitor that does not know it)
            guesses.wrong(address)
        raise NotAuthorizedException(
            "operator token required", headers={"WWW-Authenticate": 'Bearer realm="operator"'}
        )
