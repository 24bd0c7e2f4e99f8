"""One Entra ID token for every language: fetched once, kept until shortly before it expires,
fetched again within a bound, and a failure told apart into "for now" and "for good".

The SDK asks for a token on every connect and nothing caches it: ten languages starting at once
would start ten ``az`` processes, and a reconnect waits on a sign-in with no bound. azure-identity
raises `ClientAuthenticationError` both when no identity is set up at all and when ``az`` took longer
than its 10 s or a managed-identity endpoint blipped. So a failure is a hiccup worth retrying,
except Entra ID's own refusal (AADSTS), and except at first start when signing in fails
`FIRST_START_ATTEMPTS` times in a row: then no identity is set up here.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from translator.errors import PermanentEngineError, TransientEngineError

REFRESH_MARGIN_S = 300.0
"""A token is fetched again this long before it expires: a connection made with it must last."""
TOKEN_TIMEOUT_S = 20.0
FIRST_START_ATTEMPTS = 3


class SharedCredential:
    """An async token credential around another, caching its token for all languages."""

    def __init__(self, inner: Any, timeout_s: float = TOKEN_TIMEOUT_S) -> None:
        self._inner = inner
        self._timeout_s = timeout_s
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()
        self._signed_in = False
        self._failures = 0
        self.fetches = 0
        """Tokens fetched from the inner credential."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The cached token, or a new one (one fetch at a time, shared by every waiting caller).

        Raises TransientEngineError when retrying may help, PermanentEngineError when it cannot.
        """
        async with self._lock:
            if self._token is not None and self._token.expires_on - time.time() > REFRESH_MARGIN_S:
                return self._token
            self.fetches += 1
            try:
                async with asyncio.timeout(self._timeout_s):
                    token = await self._inner.get_token(*scopes, **kwargs)
            except TimeoutError:
                raise TransientEngineError(
                    f"signing in to Azure took more than {self._timeout_s:.0f} s"
                ) from None
            except ClientAuthenticationError as exc:
                self._failures += 1
                raise self._classify(exc) from None
            self._token, self._signed_in, self._failures = token, True, 0
            return token

    def _classify(self, exc: ClientAuthenticationError) -> TransientEngineError | PermanentEngineError:
        # DefaultAzureCredential's message lists every credential it tried: the first line says it.
        first_line = (exc.message or str(exc)).strip().splitlines()[0]
        message = f"cannot sign in to Azure: {first_line}"
        if "AADSTS" in str(exc.message or exc):
            # Entra ID answered and refused (a disabled app, a wrong tenant, consent missing).
            return PermanentEngineError(message)
        if not self._signed_in and self._failures >= FIRST_START_ATTEMPTS:
            return PermanentEngineError(
                f"{message} (no Azure identity is set up here: sign in with `az login`, use a managed "
                "identity, or set an API key)"
            )
        return TransientEngineError(message)

    async def close(self) -> None:
        await self._inner.close()

    async def __aenter__(self) -> SharedCredential:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
