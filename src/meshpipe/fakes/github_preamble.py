"""What the fake GitHub checks before any API handler runs (mixed into :class:`meshpipe.fakes.github.FakeGitHub`):
the User-Agent (403), the API version (400), the credentials (401; an App's JWT only where GitHub takes one) and the
primary rate limit (403 with GitHub's ``x-ratelimit-*`` headers)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from meshpipe.fakes._http import HttpError, Request, Response
from meshpipe.fakes.github_api import Caller
from meshpipe.fakes.github_auth import JwtError, looks_like_jwt, verify_jwt

if TYPE_CHECKING:
    from meshpipe.fakes.github_models import App, Token

__all__ = ["API_VERSIONS", "RequestPreamble"]

#: Supported ``X-GitHub-Api-Version`` values per flavour (GHES 3.19 predates 2026-03-10).
API_VERSIONS = {"github": ("2022-11-28", "2026-03-10"), "ghes": ("2022-11-28",)}
_USER_AGENT_MESSAGE = (
    "Request forbidden by administrative rules. Please make sure your request has a User-Agent header "
    "(https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). "
    "Check https://developer.github.com for other possible causes."
)


class RequestPreamble:
    """``_api(handler)`` wraps an endpoint handler in GitHub's checks and hands it the authenticated :class:`Caller`."""

    if TYPE_CHECKING:
        flavour: str
        apps: dict[str, App]
        tokens: dict[str, Token]
        lock: threading.RLock
        rate_limit: int
        rate_window: float
        _usage: dict[str, tuple[float, int]]
        _local: threading.local

    # -- User-Agent, API version, credentials, rate limit ------------------------------------------
    def _api(self, handler: Any, *, jwt: bool = False) -> Any:
        def wrapped(request: Request) -> Response:
            if not request.header("user-agent"):
                raise HttpError(403, _USER_AGENT_MESSAGE)
            version = request.header("x-github-api-version") or "2022-11-28"
            if version not in API_VERSIONS[self.flavour]:
                raise HttpError(400, _version_message(version, API_VERSIONS[self.flavour]))
            request.params["api_version"] = version
            caller = self._authenticate(request, jwt=jwt)
            self._count(request, caller)
            result: Response = handler(request, caller)
            return result

        return wrapped

    def _credential(self, request: Request) -> str | None:
        value = (request.header("authorization") or "").strip()
        scheme, _, credential = value.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not credential.strip():
            return None
        return credential.strip()

    def _authenticate(self, request: Request, *, jwt: bool) -> Caller:
        credential = self._credential(request)
        if credential is None:
            raise HttpError(
                401, "Requires authentication" if not request.header("authorization") else "Bad credentials"
            )
        if looks_like_jwt(credential):
            try:
                app_id = verify_jwt(credential, {key: app.public_key_pem for key, app in self.apps.items()})
            except JwtError as exc:
                raise HttpError(401, str(exc)) from None
            if not jwt:
                raise HttpError(403, "Resource not accessible by integration")
            return Caller(app=self.apps[app_id])
        token = self.tokens.get(credential)
        if token is None or (token.expires is not None and token.expires <= time.time()):
            raise HttpError(401, "Bad credentials")
        if jwt:
            raise HttpError(401, "A JSON web token could not be decoded")
        return Caller(token=token)

    def _rate_key(self, credential: str | None) -> str:
        return f"cred:{credential}" if credential else "anonymous"

    def _rate_headers(self, key: str, used: int, start: float, limit: int) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(limit - used, 0)),
            "x-ratelimit-reset": str(int(start + self.rate_window)),
            "x-ratelimit-used": str(used),
            "x-ratelimit-resource": "core",
        }

    def _peek_rate_headers(self, request: Request) -> dict[str, str]:
        with self.lock:
            key = self._rate_key(self._credential(request))
            start, used = self._usage.get(key, (time.time(), 0))
            return self._rate_headers(key, used, start, self.rate_limit)

    def _count(self, request: Request, caller: Caller) -> None:
        key = self._rate_key(self._credential(request))
        now = time.time()
        start, used = self._usage.get(key, (now, 0))
        if now >= start + self.rate_window:
            start, used = now, 0
        if used >= self.rate_limit:
            headers = self._rate_headers(key, used, start, self.rate_limit)
            self._local.rate_headers = headers
            if caller.app is not None:
                who = f"app ID {caller.app.app_id}"
            elif caller.token is not None and caller.token.kind == "installation":
                who = f"installation ID {caller.token.installation_id}"
            else:
                who = "user ID 1"
            raise HttpError(403, f"API rate limit exceeded for {who}.", headers=headers)
        used += 1
        self._usage[key] = (start, used)
        self._local.rate_headers = self._rate_headers(key, used, start, self.rate_limit)


def _version_message(version: str, supported: tuple[str, ...]) -> str:
    """GitHub's answer to an unsupported ``X-GitHub-Api-Version`` (wording as observed from api.github.com)."""
    newest_first = sorted(supported, reverse=True)
    listed = ", ".join(f'"{v}"' + (" (most recent)" if i == 0 else "") for i, v in enumerate(newest_first))
    return (
        f'The version you specified in the "X-GitHub-Api-Version" request header, "{version}", is not a supported '
        f"version. The following versions are currently supported: {listed}."
    )
