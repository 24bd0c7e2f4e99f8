"""The operator token: what guards every surface that shows or changes more than the public pages.

Configured (``server.operator_token`` or ``TRANSLATOR_OPERATOR_TOKEN``), or generated at first start,
stored with owner-only permissions and printed once. Compared in constant time; never logged.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Any, Literal

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException

from translator.config import Settings

HEADER = "x-operator-token"


class OperatorToken(msgspec.Struct, frozen=True):
    """The token, and where it came from (so that start-up can say so without printing it again)."""

    value: str
    source: Literal["configured", "stored", "generated"]
    path: Path | None = None

    def __repr__(self) -> str:
        return f"OperatorToken(source={self.source!r}, path={self.path!r})"


def token_file() -> Path:
    """Where a generated token is kept: ``$XDG_STATE_HOME/live-translator/operator-token``."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "live-translator" / "operator-token"


def resolve_token(settings: Settings) -> OperatorToken:
    """The configured token, else the stored one, else a new one (stored, mode 0600)."""
    if settings.server.operator_token:
        return OperatorToken(settings.server.operator_token, "configured")
    path = token_file()
    if path.is_file():
        return OperatorToken(path.read_text().strip(), "stored", path)
    value = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(value + "\n")
    return OperatorToken(value, "generated", path)


def presented(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The token a request carries: ``Authorization: Bearer``, ``X-Operator-Token`` or ``?token=``."""
    authorization = connection.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return connection.headers.get(HEADER) or connection.query_params.get("token") or ""


def require_operator(connection: ASGIConnection[Any, Any, Any, Any], _: object) -> None:
    """Litestar guard: 401 unless the request carries the operator token."""
    expected: str = connection.app.state.services.operator_token
    if not hmac.compare_digest(presented(connection).encode(), expected.encode()):
        raise NotAuthorizedException(
            "operator token required", headers={"WWW-Authenticate": 'Bearer realm="operator"'}
        )
