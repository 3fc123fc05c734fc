"""Find the meshStack credentials in the environment (the auth schemes that use them live in ``credentials``).

First found wins: ``MESHSTACK_RUN_TOKEN``; ``MESHSTACK_API_TOKEN``; ``MESHSTACK_CLIENT_ID`` +
``MESHSTACK_CLIENT_SECRET`` (login at ``{MESHSTACK_ENDPOINT}/api/login``); the token file
``$RUNNER_TEMP/meshstack_token.json``. Each is stripped of surrounding whitespace and must be header-safe.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshpipe.contract import (
    MESHSTACK_API_TOKEN_ENV,
    MESHSTACK_CLIENT_ID_ENV,
    MESHSTACK_CLIENT_SECRET_ENV,
    MESHSTACK_ENDPOINT_ENV,
    MESHSTACK_RUN_TOKEN_ENV,
)
from meshpipe.report.errors import ConfigurationError
from meshpipe.report.locator import endpoint_url, origin

__all__ = ["CREDENTIAL_LABELS", "TOKEN_FILE_NAME", "Credentials", "check_token", "find_credentials", "read_token_file"]

#: the official auth action's token file in ``$RUNNER_TEMP``
TOKEN_FILE_NAME = "meshstack_token.json"


@dataclass(frozen=True)
class Credentials:
    """How to authenticate. ``kind`` is ``run_token``, ``api_token``, ``api_key`` or ``token_file``."""

    kind: str
    token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    login_base: str | None = None
    #: True when GitHub may not mask the token on its own (dispatch inputs, a file); a login is masked separately.
    needs_mask: bool = False

    @property
    def label(self) -> str:
        """Which credential this is, for error messages (never the value)."""
        return CREDENTIAL_LABELS[self.kind]


#: credential kind -> what a user set, for error messages (a 401 names which credential was rejected)
CREDENTIAL_LABELS = {
    "run_token": f"the run token ({MESHSTACK_RUN_TOKEN_ENV})",
    "api_token": f"the API token ({MESHSTACK_API_TOKEN_ENV})",
    "api_key": f"the API key ({MESHSTACK_CLIENT_ID_ENV}/{MESHSTACK_CLIENT_SECRET_ENV})",
    "token_file": "the token file ($RUNNER_TEMP/meshstack_token.json)",
}


def find_credentials(env: Mapping[str, str], runner_temp: Path | None, run_url: str | None) -> Credentials | None:
    """The first credentials found in ``env`` (empty values already dropped) or the token file, else None."""
    # Tokens in the environment usually come from workflow_dispatch inputs, which GitHub does not mask.
    run_token = _secret(env, MESHSTACK_RUN_TOKEN_ENV)
    if run_token:
        return Credentials("run_token", token=run_token, needs_mask=True)
    api_token = _secret(env, MESHSTACK_API_TOKEN_ENV)
    if api_token:
        return Credentials("api_token", token=api_token, needs_mask=True)
    client_id = _secret(env, MESHSTACK_CLIENT_ID_ENV, header=False)
    secret = _secret(env, MESHSTACK_CLIENT_SECRET_ENV, header=False)
    if client_id or secret:
        if not (client_id and secret):
            both = f"{MESHSTACK_CLIENT_ID_ENV} and {MESHSTACK_CLIENT_SECRET_ENV}"
            raise ConfigurationError(f"{both} must be set together")
        # Never the run object's _links.meshstackBaseUrl: whoever dispatches the workflow writes that.
        # Without an endpoint the run URL's origin is trusted, and the same origin check covers every request.
        base = endpoint_url(env.get(MESHSTACK_ENDPOINT_ENV)) or origin(run_url)
        return Credentials("api_key", client_id=client_id, client_secret=secret, login_base=base)
    if runner_temp is not None:
        token = read_token_file(runner_temp / TOKEN_FILE_NAME)
        if token:
            return Credentials("token_file", token=token, needs_mask=True)
    return None


def check_token(name: str, value: str, *, header: bool = True) -> str:
    """``value`` without surrounding whitespace, or a one-line error naming ``name`` (never the value).

    A bearer token (``header``) must be visible ASCII: a line break or a non-Latin-1 character would end in a
    traceback from the HTTP layer that prints the token. Other secrets (sent in a JSON body) must be printable.
    """
    value = value.strip()
    for position, char in enumerate(value, start=1):
        if header and not "!" <= char <= "~":
            what = "a space" if char == " " else "a non-ASCII character" if ord(char) > 127 else "a control character"
        elif not header and not char.isprintable():
            what = "a control character"
        else:
            continue
        raise ConfigurationError(
            f"{name} contains {what} at position {position}; it cannot be sent to meshStack (check how the value "
            "was copied; the value is not shown)"
        )
    return value


def _secret(env: Mapping[str, str], name: str, *, header: bool = True) -> str | None:
    raw = env.get(name)
    return check_token(name, raw, header=header) or None if raw is not None else None


def read_token_file(path: Path) -> str | None:
    """The ``token`` of the official auth action's file, or None when there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token.strip():
        return None
    return check_token(f"the token in {path}", token)
