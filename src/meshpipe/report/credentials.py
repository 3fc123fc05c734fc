"""Where the reporter's bearer tokens come from: a ready token, or a login with a meshStack API key.

:class:`~meshpipe.report.transport.Transport` asks its ``auth`` for a token before each request and for a new one
after a 401; every token and secret seen here is registered with the transport's redactor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from meshpipe.report.errors import AuthenticationError

if TYPE_CHECKING:
    from meshpipe.report.transport import Transport

__all__ = ["TOKEN_REFRESH_MARGIN", "ApiKeyLogin", "StaticToken", "TokenSource"]

#: re-login when less than this many seconds of token lifetime remain (meshcloud's own clients use 30 s)
TOKEN_REFRESH_MARGIN = 30.0


class TokenSource(Protocol):
    """Where bearer tokens come from."""

    def token(self) -> str:
        """A token fit for the next request."""

    def refresh(self) -> bool:
        """Get a new token after a 401; False when this source cannot (a fixed token)."""


class StaticToken:
    """A ready bearer token (run token, API token, token file)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self) -> str:
        """The token."""
        return self._token

    def refresh(self) -> bool:
        """A fixed token cannot be renewed."""
        return False

    def __repr__(self) -> str:
        return "StaticToken(***)"


class ApiKeyLogin:
    """Logs in with an API key (JSON ``POST {base}/api/login``) and re-logs in 30 s before expiry or after a 401.

    ``on_token(token, expires_at)`` is called after each login, e.g. to mask the token and cache it for later steps.
    """

    def __init__(
        self,
        transport: Transport,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        clock: Callable[[], float] = time.time,
        on_token: Callable[[str, float], None] | None = None,
        cached: tuple[str, float] | None = None,
    ) -> None:
        self._transport = transport
        self._url = base_url.rstrip("/") + "/api/login"
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._on_token = on_token
        self._token: str | None = cached[0] if cached else None
        self._expires_at = cached[1] if cached else 0.0
        transport.add_secret(client_secret)

    def token(self) -> str:
        """A token with at least 30 s of life left, logging in when needed."""
        if self._token is None or self._clock() >= self._expires_at - TOKEN_REFRESH_MARGIN:
            self._login()
        assert self._token is not None
        return self._token

    def refresh(self) -> bool:
        """Log in again (after a 401)."""
        self._login()
        return True

    def _login(self) -> None:
        body = {"clientId": self._client_id, "clientSecret": self._client_secret}
        try:
            data = self._transport.send("POST", self._url, body, media_type="application/json", auth=False)
        except AuthenticationError as exc:
            raise AuthenticationError(
                exc.method, exc.url, exc.status, exc.message or "API key login failed", hint=exc.hint
            ) from None
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthenticationError("POST", self._url, 200, "login answer has no access_token")
        if not all("!" <= c <= "~" for c in token):
            raise AuthenticationError("POST", self._url, 200, "the login answer's access_token is not header-safe")
        expires_in = data.get("expires_in", 300)
        self._token = token
        self._expires_at = self._clock() + float(expires_in if isinstance(expires_in, (int, float)) else 300)
        self._transport.add_secret(token)
        if self._on_token:
            self._on_token(token, self._expires_at)

    def __repr__(self) -> str:
        return f"ApiKeyLogin(url={self._url!r}, client_id={self._client_id!r})"
