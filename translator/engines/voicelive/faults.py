"""What a Voice Live failure means for the user, in plain words, and whether retrying can help."""

from __future__ import annotations

from azure.ai.voicelive.aio import ConnectionClosed
from azure.ai.voicelive.aio import ConnectionError as VoiceLiveConnectionError

from translator.engines.retry import Fault
from translator.errors import PermanentEngineError, TransientEngineError

# Handshake answers that no retry changes, in the words a user can act on.
PERMANENT_STATUS = {
    400: "Voice Live refused the request (HTTP 400): check the model name and the api-version",
    401: "Voice Live rejected the key or the role (HTTP 401)",
    403: "Voice Live rejected the key or the role (HTTP 403): the identity needs the Cognitive "
    "Services User and Foundry User roles on the resource",
    404: "wrong endpoint or deployment (HTTP 404): check AZURE_VOICELIVE_ENDPOINT and the model",
}


def describe(exc: BaseException) -> Fault:
    """Classify a failure of connecting or of a running connection."""
    if isinstance(exc, PermanentEngineError):
        return Fault(str(exc), retry=False)
    if isinstance(exc, TransientEngineError):
        return Fault(str(exc), retry=True)
    if isinstance(exc, ConnectionClosed):
        return Fault(f"connection closed (code {exc.code})", retry=True)
    if isinstance(exc, VoiceLiveConnectionError):
        status = getattr(exc.__cause__, "status", None)
        if status in PERMANENT_STATUS:
            return Fault(PERMANENT_STATUS[status], retry=False)
        if status == 429:
            return Fault("Voice Live quota exceeded (HTTP 429)", retry=True)
        if status is not None:
            return Fault(f"Voice Live is unavailable (HTTP {status})", retry=True)
        return Fault(f"cannot reach Voice Live ({exc.__class__.__name__})", retry=True)
    if isinstance(exc, TimeoutError):
        return Fault("Voice Live did not answer in time", retry=True)
    if isinstance(exc, OSError):
        return Fault(f"network error ({exc.__class__.__name__})", retry=True)
    return Fault(f"unexpected error ({exc.__class__.__name__})", retry=True)
