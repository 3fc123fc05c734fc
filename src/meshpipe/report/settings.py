"""Resolve the run locator, the credentials and the runner paths once, from a mapping.

Run locator, first found wins: ``--run-url``; ``MESHSTACK_RUN_URL``; the workflow_dispatch input
``buildingBlockRunUrl`` in ``$GITHUB_EVENT_PATH``; a base64 run object (``--run-b64``, ``MESHSTACK_RUN_B64``, input
``buildingBlockRun``); the state a previous ``meshpipe run`` step left in ``$RUNNER_TEMP``.

Credentials, first found wins: ``MESHSTACK_RUN_TOKEN``; ``MESHSTACK_API_TOKEN``; ``MESHSTACK_CLIENT_ID`` +
``MESHSTACK_CLIENT_SECRET`` (login at ``{MESHSTACK_ENDPOINT}/api/login``); the token file
``$RUNNER_TEMP/meshstack_token.json``. Each is stripped of surrounding whitespace and must be header-safe.

Where credentials may go: only to the configured endpoint, ``MESHSTACK_ENDPOINT``, or -- when none is configured --
to the run URL's origin. ``_links.meshstackBaseUrl`` and the other links of a run object never widen that: the run
object is a workflow input that anyone who may dispatch the workflow controls. A run URL on another origin than
``MESHSTACK_ENDPOINT`` is refused unless ``--allow-foreign-run-url`` / ``MESHPIPE_ALLOW_FOREIGN_RUN_URL=true``.

State between steps: ``$MESHPIPE_STATE_DIR`` or ``$RUNNER_TEMP`` (one file, so later steps need no flags); else a
per-user directory (``$XDG_RUNTIME_DIR/meshpipe`` or ``$TMPDIR/meshpipe-<uid>``) with one file per run URL.

Tuning for tests and impatient pipelines: ``MESHPIPE_RETRY_BASE_DELAY`` (seconds, default 1),
``MESHPIPE_RETRY_ATTEMPTS`` (default 5), ``MESHPIPE_TIMEOUT`` (total seconds per request, default 30).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from meshpipe.contract import (
    MESHSTACK_API_TOKEN_ENV,
    MESHSTACK_CLIENT_ID_ENV,
    MESHSTACK_CLIENT_SECRET_ENV,
    MESHSTACK_ENDPOINT_ENV,
    MESHSTACK_RUN_TOKEN_ENV,
    RUN_URL_INPUT,
)
from meshpipe.report.errors import ConfigurationError
from meshpipe.report.model import RunObject, decode_run_b64

__all__ = [
    "DEFAULT_RETRY_ATTEMPTS",
    "DEFAULT_RETRY_BASE_DELAY",
    "DEFAULT_TIMEOUT",
    "Credentials",
    "Settings",
    "check_token",
    "on_github_actions",
    "origin",
]

#: total seconds for one request (connect, send, answer); a hung or dripping meshStack must not hang the pipeline.
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRY_BASE_DELAY = 1.0
DEFAULT_RETRY_ATTEMPTS = 5

#: the proxy variables the transport honours (lower or upper case)
_PROXY_VARIABLES = ("https_proxy", "http_proxy", "no_proxy")
TOKEN_FILE_NAME = "meshstack_token.json"
STATE_FILE_NAME = "meshpipe_run_state.json"


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


@dataclass(frozen=True)
class Settings:
    """Everything the reporter needs from its environment, resolved once."""

    run_url: str | None
    run_object: RunObject | None
    locator: str
    credentials: Credentials | None
    runner_temp: Path | None
    github_output: Path | None
    github_step_summary: Path | None
    on_github_actions: bool
    external_run_id: str | None
    external_run_url: str | None
    timeout: float = DEFAULT_TIMEOUT
    retry_base_delay: float = DEFAULT_RETRY_BASE_DELAY
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    #: ``MESHSTACK_ENDPOINT`` without a trailing slash: the only place credentials go (see the module docstring)
    endpoint: str | None = None
    allow_foreign_run_url: bool = False
    #: ``--source-id`` or ``MESHSTACK_SOURCE_ID``; None = what an earlier step recorded, else ``github``
    source_id: str | None = None
    #: ``$MESHPIPE_STATE_DIR`` or ``$RUNNER_TEMP``: a job-wide state file that also locates the run
    state_dir: Path | None = None
    #: where per-run state files live when there is no ``state_dir`` (a laptop, another CI)
    user_state_dir: Path | None = None
    #: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (either case) for the transport; a proxy URL can hold a password
    proxy_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def state_path(self) -> Path | None:
        """Where the state of this run lives: ``{state_dir}/meshpipe_run_state.json``, else a per-run file.

        Off GitHub Actions (no ``$RUNNER_TEMP``) the guard rails still work: the state goes to a per-user directory,
        one file per run URL, so two runs on one machine never share it.
        """
        if self.state_dir is not None:
            return self.state_dir / STATE_FILE_NAME
        if self.user_state_dir is None or not self.run_url:
            return None
        import hashlib  # only off the runner

        key = hashlib.sha256(self.run_url.encode()).hexdigest()[:32]
        return self.user_state_dir / f"run-{key}.json"

    def trusted_origins(self) -> frozenset[str]:
        """The origins credentials may be sent to; refuses a run URL on a foreign origin (one line, both named)."""
        run_origin = _origin(self.run_url)
        if self.endpoint is None:
            return frozenset({run_origin} if run_origin else ())
        endpoint_origin = _origin(self.endpoint)
        assert endpoint_origin is not None
        if run_origin and run_origin != endpoint_origin:
            if not self.allow_foreign_run_url:
                raise ConfigurationError(
                    f"the run URL is on {run_origin}, not on the configured meshStack endpoint {endpoint_origin} "
                    "(MESHSTACK_ENDPOINT); refusing to send credentials there (allow it with --allow-foreign-run-url "
                    "or MESHPIPE_ALLOW_FOREIGN_RUN_URL=true)"
                )
            return frozenset({endpoint_origin, run_origin})
        return frozenset({endpoint_origin})

    @property
    def token_file(self) -> Path | None:
        """The official auth action's token file, ``$RUNNER_TEMP/meshstack_token.json``."""
        return self.runner_temp / TOKEN_FILE_NAME if self.runner_temp else None

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str],
        *,
        run_url: str | None = None,
        run_b64: str | None = None,
        state_run_url: str | None = None,
        source_id: str | None = None,
        allow_foreign_run_url: bool = False,
    ) -> Settings:
        """Resolve from ``environ`` (a plain dict in tests) and the command-line flags.

        ``state_run_url`` is the run URL recorded by an earlier step (read by the caller from the state file).
        """
        env = {k: v for k, v in environ.items() if v != ""}
        runner_temp = _path(env.get("RUNNER_TEMP"))
        state_dir = _path(env.get("MESHPIPE_STATE_DIR")) or runner_temp
        if state_run_url is None and state_dir is not None:
            state_run_url = _read_state_run_url(state_dir / STATE_FILE_NAME)
        event_inputs = _event_inputs(env.get("GITHUB_EVENT_PATH"))
        obj: RunObject | None = None
        candidates: list[tuple[str, str | None, str]] = [
            ("--run-url", run_url, "url"),
            ("MESHSTACK_RUN_URL", env.get("MESHSTACK_RUN_URL"), "url"),
            (f"input {RUN_URL_INPUT}", event_inputs.get(RUN_URL_INPUT), "url"),
            ("--run-b64", run_b64, "b64"),
            ("MESHSTACK_RUN_B64", env.get("MESHSTACK_RUN_B64"), "b64"),
            ("input buildingBlockRun", event_inputs.get("buildingBlockRun"), "b64"),
            ("the state of an earlier step", state_run_url, "url"),
        ]
        locator, url = "none", None
        for name, value, kind in candidates:
            if not value:
                continue
            locator = name
            if kind == "b64":
                obj = RunObject.parse(decode_run_b64(value))
                url = obj.url
            else:
                url = _check_url(name, value)
            break
        github_server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        gh_run_id = env.get("GITHUB_RUN_ID")
        repo = env.get("GITHUB_REPOSITORY")
        return cls(
            run_url=url,
            run_object=obj,
            locator=locator,
            credentials=_credentials(env, runner_temp, url),
            runner_temp=runner_temp,
            github_output=_path(env.get("GITHUB_OUTPUT")),
            github_step_summary=_path(env.get("GITHUB_STEP_SUMMARY")),
            on_github_actions=on_github_actions(env),
            external_run_id=gh_run_id,
            external_run_url=f"{github_server}/{repo}/actions/runs/{gh_run_id}" if gh_run_id and repo else None,
            timeout=_number(env, "MESHPIPE_TIMEOUT", DEFAULT_TIMEOUT),
            retry_base_delay=_number(env, "MESHPIPE_RETRY_BASE_DELAY", DEFAULT_RETRY_BASE_DELAY),
            retry_attempts=int(_number(env, "MESHPIPE_RETRY_ATTEMPTS", DEFAULT_RETRY_ATTEMPTS)),
            endpoint=_endpoint(env.get(MESHSTACK_ENDPOINT_ENV)),
            allow_foreign_run_url=allow_foreign_run_url or _flag(env, "MESHPIPE_ALLOW_FOREIGN_RUN_URL"),
            source_id=_source_id(source_id, env.get("MESHSTACK_SOURCE_ID")),
            state_dir=state_dir,
            user_state_dir=None if state_dir else _user_state_dir(env),
            proxy_env={key: value for key, value in env.items() if key.lower() in _PROXY_VARIABLES},
        )

    def require_run_url(self) -> str:
        """The run URL, or a configuration error that lists every place it is looked for."""
        if not self.run_url:
            raise ConfigurationError(
                "no meshStack run given: pass --run-url or --run-b64, set MESHSTACK_RUN_URL or MESHSTACK_RUN_B64, "
                f"or declare the workflow_dispatch input {RUN_URL_INPUT}"
            )
        return self.run_url

    def require_credentials(self) -> Credentials:
        """The credentials, or a configuration error naming where they are looked for."""
        if self.credentials is None:
            raise ConfigurationError(
                "no meshStack credentials: set MESHSTACK_RUN_TOKEN, MESHSTACK_API_TOKEN, or MESHSTACK_CLIENT_ID and "
                "MESHSTACK_CLIENT_SECRET, or run meshcloud/actions-meshstack-auth first"
            )
        return self.credentials


def on_github_actions(environ: Mapping[str, str]) -> bool:
    """Whether this process runs as a GitHub Actions step (``GITHUB_ACTIONS=true``): workflow commands are obeyed."""
    return environ.get("GITHUB_ACTIONS") == "true"


def _credentials(env: Mapping[str, str], runner_temp: Path | None, run_url: str | None) -> Credentials | None:
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
        base = _endpoint(env.get(MESHSTACK_ENDPOINT_ENV)) or _origin(run_url)
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


def _read_state_run_url(path: Path) -> str | None:
    from meshpipe.report.state import read_state_file

    data = read_state_file(path)
    url = data.get("run_url") if data else None
    return url if isinstance(url, str) and url else None


def _event_inputs(event_path: str | None) -> dict[str, str]:
    if not event_path:
        return {}
    try:
        event: Any = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    inputs = event.get("inputs") if isinstance(event, dict) else None
    if not isinstance(inputs, dict):
        return {}
    return {str(k): v for k, v in inputs.items() if isinstance(v, str) and v}


def _check_url(name: str, value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{name}: {value!r} is not an http(s) URL of a meshStack run")
    return value.strip().rstrip("/")


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def origin(url: str | None) -> str | None:
    """``scheme://host[:port]`` of ``url``, lower-cased, default port dropped (what "same origin" compares)."""
    return _origin(url)


def _endpoint(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"MESHSTACK_ENDPOINT={value!r} is not an http(s) URL")
    return value.strip().rstrip("/")


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ConfigurationError(f"{name}={raw!r} is not true or false")


def _source_id(flag: str | None, env_value: str | None) -> str | None:
    value = flag if flag is not None else env_value
    if value is None:
        return None
    value = value.strip()
    if not value or not all(c.isprintable() for c in value):
        name = "--source-id" if flag is not None else "MESHSTACK_SOURCE_ID"
        raise ConfigurationError(f"{name} must be a non-empty, printable source id")
    return value


def _user_state_dir(env: Mapping[str, str]) -> Path:
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "meshpipe"
    getuid = getattr(os, "getuid", None)
    user = str(getuid()) if getuid else env.get("USERNAME", "user")
    # Not tempfile.gettempdir(): it costs milliseconds at every start-up for the same answer.
    return Path(env.get("TMPDIR") or "/tmp") / f"meshpipe-{user}"


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        number = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    if number < 0:
        raise ConfigurationError(f"{name} must not be negative")
    return number
