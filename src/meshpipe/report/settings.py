"""Resolve the run locator, the credentials and the runner paths once, from a mapping.

Run locator, first found wins: ``--run-url``; ``MESHSTACK_RUN_URL``; the workflow_dispatch input
``buildingBlockRunUrl`` in ``$GITHUB_EVENT_PATH``; a base64 run object (``--run-b64``, ``MESHSTACK_RUN_B64``, input
``buildingBlockRun``); the state a previous ``meshpipe run`` step left in ``$RUNNER_TEMP``.

Credentials, first found wins: ``MESHSTACK_RUN_TOKEN``; ``MESHSTACK_API_TOKEN``; ``MESHSTACK_CLIENT_ID`` +
``MESHSTACK_CLIENT_SECRET`` (login at ``{base}/api/login``); the token file ``$RUNNER_TEMP/meshstack_token.json``.

Tuning for tests and impatient pipelines: ``MESHPIPE_RETRY_BASE_DELAY`` (seconds, default 1),
``MESHPIPE_RETRY_ATTEMPTS`` (default 5), ``MESHPIPE_TIMEOUT`` (seconds per request, default 30).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from meshpipe.report.errors import ConfigurationError
from meshpipe.report.model import RunObject, decode_run_b64

__all__ = ["DEFAULT_RETRY_ATTEMPTS", "DEFAULT_RETRY_BASE_DELAY", "DEFAULT_TIMEOUT", "Credentials", "Settings"]

#: seconds for connect and read of one request; a hung meshStack must not hang the pipeline.
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRY_BASE_DELAY = 1.0
DEFAULT_RETRY_ATTEMPTS = 5

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

    @property
    def state_path(self) -> Path | None:
        """Where job-local state lives (``$RUNNER_TEMP/meshpipe_run_state.json``), if on a runner."""
        return self.runner_temp / STATE_FILE_NAME if self.runner_temp else None

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
    ) -> Settings:
        """Resolve from ``environ`` (a plain dict in tests) and the command-line flags.

        ``state_run_url`` is the run URL recorded by an earlier step (read by the caller from the state file).
        """
        env = {k: v for k, v in environ.items() if v != ""}
        runner_temp = _path(env.get("RUNNER_TEMP"))
        if state_run_url is None and runner_temp is not None:
            state_run_url = _read_state_run_url(runner_temp / STATE_FILE_NAME)
        event_inputs = _event_inputs(env.get("GITHUB_EVENT_PATH"))
        obj: RunObject | None = None
        candidates: list[tuple[str, str | None, str]] = [
            ("--run-url", run_url, "url"),
            ("MESHSTACK_RUN_URL", env.get("MESHSTACK_RUN_URL"), "url"),
            ("input buildingBlockRunUrl", event_inputs.get("buildingBlockRunUrl"), "url"),
            ("--run-b64", run_b64, "b64"),
            ("MESHSTACK_RUN_B64", env.get("MESHSTACK_RUN_B64"), "b64"),
            ("input buildingBlockRun", event_inputs.get("buildingBlockRun"), "b64"),
            ("state in $RUNNER_TEMP", state_run_url, "url"),
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
            credentials=_credentials(env, runner_temp, obj, url),
            runner_temp=runner_temp,
            github_output=_path(env.get("GITHUB_OUTPUT")),
            github_step_summary=_path(env.get("GITHUB_STEP_SUMMARY")),
            on_github_actions=env.get("GITHUB_ACTIONS") == "true",
            external_run_id=gh_run_id,
            external_run_url=f"{github_server}/{repo}/actions/runs/{gh_run_id}" if gh_run_id and repo else None,
            timeout=_number(env, "MESHPIPE_TIMEOUT", DEFAULT_TIMEOUT),
            retry_base_delay=_number(env, "MESHPIPE_RETRY_BASE_DELAY", DEFAULT_RETRY_BASE_DELAY),
            retry_attempts=int(_number(env, "MESHPIPE_RETRY_ATTEMPTS", DEFAULT_RETRY_ATTEMPTS)),
        )

    def require_run_url(self) -> str:
        """The run URL, or a configuration error that lists every place it is looked for."""
        if not self.run_url:
            raise ConfigurationError(
                "no meshStack run given: pass --run-url or --run-b64, set MESHSTACK_RUN_URL or MESHSTACK_RUN_B64, "
                "or declare the workflow_dispatch input buildingBlockRunUrl"
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


def _credentials(
    env: Mapping[str, str], runner_temp: Path | None, obj: RunObject | None, run_url: str | None
) -> Credentials | None:
    # Tokens in the environment usually come from workflow_dispatch inputs, which GitHub does not mask.
    if env.get("MESHSTACK_RUN_TOKEN"):
        return Credentials("run_token", token=env["MESHSTACK_RUN_TOKEN"], needs_mask=True)
    if env.get("MESHSTACK_API_TOKEN"):
        return Credentials("api_token", token=env["MESHSTACK_API_TOKEN"], needs_mask=True)
    client_id, secret = env.get("MESHSTACK_CLIENT_ID"), env.get("MESHSTACK_CLIENT_SECRET")
    if client_id or secret:
        if not (client_id and secret):
            raise ConfigurationError("MESHSTACK_CLIENT_ID and MESHSTACK_CLIENT_SECRET must be set together")
        base = (obj.base_url if obj else None) or env.get("MESHSTACK_ENDPOINT") or _origin(run_url)
        return Credentials("api_key", client_id=client_id, client_secret=secret, login_base=base)
    if runner_temp is not None:
        token = read_token_file(runner_temp / TOKEN_FILE_NAME)
        if token:
            return Credentials("token_file", token=token, needs_mask=True)
    return None


def read_token_file(path: Path) -> str | None:
    """The ``token`` of the official auth action's file, or None when there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    token = data.get("token") if isinstance(data, dict) else None
    return token if isinstance(token, str) and token else None


def _read_state_run_url(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = data.get("run_url") if isinstance(data, dict) else None
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
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


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
