"""What a failure of the translation service means for the user, in plain words, and whether
retrying can help."""

from __future__ import annotations

from websockets.exceptions import ConnectionClosed, InvalidStatus

from translator.engines.retry import Fault
from translator.errors import PermanentEngineError, TransientEngineError

SERVICE = "gpt-realtime-translate"

# Handshake answers that no retry changes, in the words a user can act on.
PERMANENT_STATUS = {
    400: f"{SERVICE} refused the request (HTTP 400): check translate.deployment",
    401: f"{SERVICE} rejected the key or the token (HTTP 401): check AZURE_OPENAI_API_KEY",
    403: f"{SERVICE} rejected the identity (HTTP 403): it needs the Cognitive Services OpenAI User role "
    "on the resource",
    404: "wrong endpoint or deployment (HTTP 404): check AZURE_OPENAI_ENDPOINT and translate.deployment",
}


class ServiceError(Exception):
    """The service answered with an ``error`` event where the session cannot go on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code


def describe(exc: BaseException) -> Fault:
    """Classify a failure of connecting or of a running connection."""
    if isinstance(exc, PermanentEngineError):
        return Fault(str(exc), retry=False)
    if isinstance(exc, TransientEngineError):
        return Fault(str(exc), retry=True)
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status in PERMANENT_STATUS:
            return Fault(PERMANENT_STATUS[status], retry=False)
        if status == 429:
            return Fault(f"{SERVICE} quota exceeded (HTTP 429)", retry=True)
        return Fault(f"{SERVICE} is unavailable (HTTP {status})", retry=True)
    if isinstance(exc, ServiceError):
        return Fault(f"{SERVICE} refused the session ({exc})", retry=False)
    if isinstance(exc, ConnectionClosed):
        code = exc.rcvd.code if exc.rcvd is not None else 1006
        return Fault(f"connection closed (code {code})", retry=True)
    if isinstance(exc, TimeoutError):
        return Fault(f"{SERVICE} did not answer in time", retry=True)
    if isinstance(exc, OSError):
        return Fault(f"cannot reach {SERVICE} ({exc.__class__.__name__})", retry=True)
    return Fault(f"unexpected error ({exc.__class__.__name__})", retry=True)
