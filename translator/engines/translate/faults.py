"""What a failure of the translation service means for the user, in plain words, and whether
retrying can help."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

from websockets.exceptions import ConnectionClosed, InvalidStatus

from translator.config import TranslateConfig
from translator.engines.retry import Fault
from translator.errors import PermanentEngineError, TransientEngineError
from translator.printable import shown_url

SERVICE = "gpt-realtime-translate"

# Handshake answers that no retry changes, in the words a user can act on.
PERMANENT_STATUS = {
    400: f"{SERVICE} refused the request (HTTP 400): check translate.deployment",
    401: f"{SERVICE} rejected the key or the token (HTTP 401): check AZURE_OPENAI_API_KEY",
    403: f"{SERVICE} rejected the identity (HTTP 403): it needs the Cognitive Services OpenAI User role "
    "on the resource",
    404: "wrong endpoint or deployment (HTTP 404): check AZURE_OPENAI_ENDPOINT and translate.deployment",
}


def not_found(config: TranslateConfig) -> str:
    """What a 404 at the handshake means, naming where it was asked and for what."""
    where = f"{shown_url(config.api_base())}/realtime/translations"
    return (
        f"nothing at {where} for deployment {config.deployment!r} (HTTP 404): check AZURE_OPENAI_ENDPOINT, "
        f"translate.deployment, that the resource's region offers {SERVICE}, and translate.api_path"
    )


PERMANENT_CODES = {"insufficient_quota", "invalid_api_key", "model_not_found", "DeploymentNotFound"}
"""Error codes no retry changes: billing, credentials, a deployment that is not there."""
RETRY_AFTER_MAX_S = 300.0
"""A service asking for a longer wait is waited for this long at most: the state says why meanwhile."""


class ServiceError(Exception):
    """The service answered with an ``error`` event before the session was ready."""

    def __init__(self, kind: str, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.kind = kind
        """The error's type: ``invalid_request_error`` (what we asked for is refused), ``server_error``…"""
        self.code = code

    @property
    def permanent(self) -> bool:
        """Whether asking again cannot help: most errors can (an overloaded or slowed-down service);
        a refused request (a language it does not serve), billing and credentials cannot."""
        return self.code in PERMANENT_CODES or self.kind == "invalid_request_error"


def retry_after(value: str | None) -> float:
    """The seconds a ``Retry-After`` header asks for (a number or an HTTP date), 0 without one."""
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (email.utils.parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return 0.0
    return max(0.0, min(seconds, RETRY_AFTER_MAX_S))


def describe(exc: BaseException, config: TranslateConfig | None = None) -> Fault:
    """Classify a failure of connecting or of a running connection (``config``: the settings it
    connected with, for a message that names them)."""
    if isinstance(exc, PermanentEngineError):
        return Fault(str(exc), retry=False)
    if isinstance(exc, TransientEngineError):
        return Fault(str(exc), retry=True)
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status == 404 and config is not None and config.endpoint:
            return Fault(not_found(config), retry=False)
        if status in PERMANENT_STATUS:
            return Fault(PERMANENT_STATUS[status], retry=False)
        wait = retry_after(exc.response.headers.get("Retry-After"))
        if status == 429:
            if b"insufficient_quota" in (exc.response.body or b""):
                return Fault(
                    f"{SERVICE}'s quota is used up (HTTP 429, insufficient_quota): add credit or raise "
                    "the deployment's quota",
                    retry=False,
                )
            return Fault(f"{SERVICE} quota exceeded (HTTP 429)", retry=True, retry_after_s=wait)
        return Fault(f"{SERVICE} is unavailable (HTTP {status})", retry=True, retry_after_s=wait)
    if isinstance(exc, ServiceError):
        if exc.permanent:
            return Fault(f"{SERVICE} refused the session ({exc})", retry=False)
        return Fault(f"{SERVICE} could not start the session ({exc})", retry=True)
    if isinstance(exc, ConnectionClosed):
        code = exc.rcvd.code if exc.rcvd is not None else 1006
        return Fault(f"connection closed (code {code})", retry=True)
    if isinstance(exc, TimeoutError):
        return Fault(f"{SERVICE} did not answer in time", retry=True)
    if isinstance(exc, OSError):
        return Fault(f"cannot reach {SERVICE} ({exc.__class__.__name__})", retry=True)
    return Fault(f"unexpected error ({exc.__class__.__name__})", retry=True)
