"""HTTP to meshStack: media types, bearer auth with API-key login, retries with backoff.

Retry rules (the same as meshcloud's Terraform provider, plus connection errors): 429 honouring ``Retry-After``,
502/503/504 and connection failures or timeouts, with bounded exponential backoff and jitter. Every request the
reporter makes is safe to repeat: a PATCH sets absolute states, and a repeated registration answers 409, which the
caller treats as success. Any other 4xx fails at once with one readable line.
"""

from __future__ import annotations

import json
import random as _random
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import requests
from requests.auth import AuthBase

from meshpipe import __version__
from meshpipe.report.errors import AuthenticationError, ConnectionFailed, api_error

__all__ = [
    "MAX_BACKOFF",
    "MAX_RETRY_AFTER",
    "MEDIA_TYPE",
    "RETRY_STATUSES",
    "TOKEN_REFRESH_MARGIN",
    "ApiKeyLogin",
    "StaticToken",
    "TokenSource",
    "Transport",
    "backoff_delays",
    "parse_retry_after",
    "should_retry",
]

MEDIA_TYPE = "application/vnd.meshcloud.api.meshbuildingblockrun.v1.hal+json"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: a single backoff never exceeds this many seconds
MAX_BACKOFF = 30.0
#: a server asking for a longer pause than this gets this; a pipeline step must not stall for an hour
MAX_RETRY_AFTER = 60.0
#: re-login when less than this many seconds of token lifetime remain (meshcloud's own clients use 30 s)
TOKEN_REFRESH_MARGIN = 30.0
USER_AGENT = f"meshpipe/{__version__}"


def should_retry(method: str, outcome: int | BaseException) -> bool:
    """Whether a request that ended with a status code or an exception may be sent again.

    ``method`` is part of the signature on purpose: all of the reporter's calls are idempotent (see the module
    docstring), so it does not change the answer today, but a future non-idempotent call must be decided here.
    """
    del method
    if isinstance(outcome, BaseException):
        return isinstance(outcome, (requests.ConnectionError, requests.Timeout))
    return outcome in RETRY_STATUSES


def backoff_delays(
    retries: int, *, base: float, cap: float = MAX_BACKOFF, random: Callable[[], float] = _random.random
) -> list[float]:
    """The pauses before each of ``retries`` retries: ``min(cap, base * 2**n)`` scaled by a jitter in [0.5, 1]."""
    return [min(cap, base * 2**n) * (0.5 + random() / 2) for n in range(retries)]


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), capped; None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        import email.utils  # only for the rare HTTP-date form; it costs milliseconds at start-up

        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if parsed.tzinfo is None:
            return None
        seconds = parsed.timestamp() - now()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


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
            raise AuthenticationError(exc.method, exc.url, exc.status, exc.message or "API key login failed") from None
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthenticationError("POST", self._url, 200, "login answer has no access_token")
        expires_in = data.get("expires_in", 300)
        self._token = token
        self._expires_at = self._clock() + float(expires_in if isinstance(expires_in, (int, float)) else 300)
        self._transport.add_secret(token)
        if self._on_token:
            self._on_token(token, self._expires_at)

    def __repr__(self) -> str:
        return f"ApiKeyLogin(url={self._url!r}, client_id={self._client_id!r})"


class _Bearer(AuthBase):
    # An AuthBase (not a plain header) also stops requests from consulting ~/.netrc.
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def __repr__(self) -> str:
        return "_Bearer(***)"


class Transport:
    """Sends JSON to meshStack with the versioned media type, bearer auth and retries.

    ``sleep`` and ``random`` are the seams tests use to pin the exact delay sequence without sleeping.
    """

    def __init__(
        self,
        *,
        timeout: float,
        attempts: int,
        base_delay: float,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        session: requests.Session | None = None,
    ) -> None:
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.base_delay = base_delay
        self.auth: TokenSource | None = None
        self._sleep = sleep
        self._random = random
        self._session = session or requests.Session()
        self._secrets: list[str] = []

    def add_secret(self, value: str) -> None:
        """Remember a value that must never appear in an error message."""
        if value and value not in self._secrets:
            self._secrets.append(value)

    def send(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        media_type: str = MEDIA_TYPE,
        auth: bool = True,
        ok_statuses: Sequence[int] = (),
    ) -> Any:
        """Send one request with retries; return the parsed JSON answer (None when empty).

        Statuses in ``ok_statuses`` (e.g. 409 for a registration) count as success. Raises an
        :class:`~meshpipe.report.errors.APIError` subclass or :class:`~meshpipe.report.errors.ConnectionFailed`.
        """
        headers = {"Accept": media_type, "User-Agent": USER_AGENT}
        data = None
        if body is not None:
            headers["Content-Type"] = media_type
            data = json.dumps(body).encode()
        delays = backoff_delays(self.attempts - 1, base=self.base_delay, random=self._random)
        relogged = False
        attempt = 0
        while True:
            bearer = _Bearer(self.auth.token()) if auth and self.auth else None
            try:
                response = self._session.request(
                    method, url, data=data, headers=headers, auth=bearer, timeout=self.timeout, allow_redirects=False
                )
            except requests.RequestException as exc:
                if should_retry(method, exc) and attempt < len(delays):
                    self._sleep(delays[attempt])
                    attempt += 1
                    continue
                raise ConnectionFailed(method, url, self._reason(exc)) from None
            status = response.status_code
            if status == 401 and auth and self.auth and not relogged and self.auth.refresh():
                relogged = True
                continue
            if should_retry(method, status) and attempt < len(delays):
                wait = parse_retry_after(response.headers.get("Retry-After")) if status in (429, 503) else None
                self._sleep(delays[attempt] if wait is None else wait)
                attempt += 1
                continue
            if status >= 400 and status not in ok_statuses:
                raise api_error(method, url, status, self._server_message(response))
            return _json_or_none(response)

    def _reason(self, exc: requests.RequestException) -> str:
        if isinstance(exc, requests.Timeout):
            return f"no answer within {self.timeout:g} s"
        match = re.search(r"\[Errno -?\d+\] [^'\"()]+", str(exc))
        return self.redact(match.group(0).strip() if match else type(exc).__name__)

    def _server_message(self, response: requests.Response) -> str:
        text = response.text.strip()
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("message", "error_description", "detail", "error", "title"):
                if isinstance(data.get(key), str) and data[key]:
                    text = data[key]
                    break
        # Redact before cutting: a cut could leave half a token that no longer matches.
        text = " ".join(self.redact(text).split())
        if len(text) > 300:
            text = text[:297] + "..."
        return text

    def redact(self, text: str) -> str:
        """``text`` with every remembered secret replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
