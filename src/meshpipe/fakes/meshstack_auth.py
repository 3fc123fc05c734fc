"""Credentials of the fake meshStack: API keys (client id + secret, login at ``POST /api/login``), ready API
tokens (``MESHSTACK_API_TOKEN`` style), run tokens scoped to one run, and token expiry.

Facts: ``../shared/reference/meshstack-run-api.md`` §1. Tokens look like JWTs (three base64url parts, a Keycloak-like
payload) but the fake only ever looks them up; nothing verifies a signature.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["ApiKey", "TokenInfo", "TokenStore"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(issuer: str, subject: str, expires_at: float | None, **claims: Any) -> str:
    """A JWT-shaped opaque token (random signature, never verified)."""
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": "meshpipe-fake"}
    payload = {"iss": issuer, "sub": subject, "iat": now, "jti": secrets.token_hex(8), **claims}
    if expires_at is not None:
        payload["exp"] = int(expires_at)
    parts = [json.dumps(header).encode(), json.dumps(payload).encode(), secrets.token_bytes(32)]
    return ".".join(_b64url(p) for p in parts)


@dataclass
class ApiKey:
    """A workspace-scoped API key."""

    client_id: str
    client_secret: str
    workspace: str
    expires_in: int = 300


@dataclass
class TokenInfo:
    """What a bearer token stands for. ``run_uuid`` is set for run tokens; ``expires_at`` None = never expires."""

    kind: str  # "login" | "api" | "run"
    workspace: str | None
    run_uuid: str | None = None
    expires_at: float | None = None
    client_id: str | None = None

    def expired(self, now: float) -> bool:
        """Whether the token is past its lifetime."""
        return self.expires_at is not None and now >= self.expires_at


class TokenStore:
    """All API keys and issued tokens of one fake."""

    def __init__(self) -> None:
        self.api_keys: dict[str, ApiKey] = {}
        self.tokens: dict[str, TokenInfo] = {}

    def clear(self) -> None:
        """Forget every key and token."""
        self.api_keys.clear()
        self.tokens.clear()

    def add_api_key(self, client_id: str, client_secret: str, *, workspace: str, expires_in: int = 300) -> ApiKey:
        """Register an API key that can log in."""
        key = ApiKey(client_id, client_secret, workspace, int(expires_in))
        self.api_keys[client_id] = key
        return key

    def add_api_token(self, token: str, *, workspace: str) -> None:
        """Register a ready bearer token that never expires."""
        self.tokens[token] = TokenInfo("api", workspace)

    def add_run_token(self, token: str, run_uuid: str) -> None:
        """Register a token that may act only on one run."""
        self.tokens[token] = TokenInfo("run", None, run_uuid=run_uuid)

    def check_key(self, client_id: str, client_secret: str) -> ApiKey | None:
        """The API key for these credentials, or None."""
        key = self.api_keys.get(client_id)
        if key is None or not secrets.compare_digest(key.client_secret, client_secret):
            return None
        return key

    def login(self, key: ApiKey, issuer: str) -> dict[str, Any]:
        """Issue a login token for an API key and return the token document (schema ``apiKeyLoginResponse``)."""
        expires_at = time.time() + key.expires_in
        token = make_jwt(issuer, key.client_id, expires_at, azp=key.client_id, typ="Bearer", scope="profile email")
        self.tokens[token] = TokenInfo("login", key.workspace, expires_at=expires_at, client_id=key.client_id)
        return {
            "access_token": token,
            "expires_in": key.expires_in,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": "profile email",
        }

    def expire_logins(self) -> None:
        """Let every issued login token expire now."""
        now = time.time()
        for info in self.tokens.values():
            if info.kind == "login":
                info.expires_at = now - 1

    def lookup(self, token: str) -> TokenInfo | None:
        """The token's info, or None when unknown."""
        return self.tokens.get(token)
