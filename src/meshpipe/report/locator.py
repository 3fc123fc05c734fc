"""Find the run to report on, and the origins that matter for it.

Run locator, first found wins: ``--run-url``; ``MESHSTACK_RUN_URL``; the CI's own way of passing
``buildingBlockRunUrl`` -- on GitHub Actions the workflow_dispatch input in ``$GITHUB_EVENT_PATH``, on GitLab CI the
CI/CD variable ``buildingBlockRunUrl`` (a pipeline started with variables), on Azure Pipelines the variable
``buildingBlockRunUrl``, which reaches a script as ``BUILDINGBLOCKRUNURL`` (upper-cased, ``.`` -> ``_``); a base64
run object (``--run-b64``, ``MESHSTACK_RUN_B64``, input ``buildingBlockRun``); the state a previous ``meshpipe run``
step left behind. The GitLab and Azure names count only in their CI (``ci``), so a stray variable elsewhere does not.

:func:`origin` is what "same origin" compares when deciding where credentials may go (see
:mod:`meshpipe.report.settings`); :func:`endpoint_url` checks ``MESHSTACK_ENDPOINT``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from meshpipe.contract import MESHSTACK_ENDPOINT_ENV, RUN_URL_INPUT
from meshpipe.report.errors import ConfigurationError
from meshpipe.report.model import RunObject, decode_run_b64

__all__ = ["CI_RUN_URL_VARIABLES", "Located", "endpoint_url", "locate_run", "origin"]


@dataclass(frozen=True)
class Located:
    """Where the run came from (``locator``: the flag, variable or input that named it) and what it is."""

    locator: str = "none"
    url: str | None = None
    #: the decoded run object when the run was given in base64
    run_object: RunObject | None = None


#: the CI -> (how a message names it, the environment variable) of its way to pass ``buildingBlockRunUrl``
CI_RUN_URL_VARIABLES = {
    "gitlab": (f"GitLab variable {RUN_URL_INPUT}", RUN_URL_INPUT),
    "azure": (f"Azure variable {RUN_URL_INPUT} ({RUN_URL_INPUT.upper()})", RUN_URL_INPUT.upper()),
}


def locate_run(
    env: Mapping[str, str],
    *,
    run_url: str | None = None,
    run_b64: str | None = None,
    state_run_url: str | None = None,
    ci: str = "none",
) -> Located:
    """The first run locator found in the flags, ``env`` (empty values already dropped) and the event's inputs."""
    event_inputs = _event_inputs(env.get("GITHUB_EVENT_PATH"))
    ci_name, ci_variable = CI_RUN_URL_VARIABLES.get(ci, ("", ""))
    candidates: list[tuple[str, str | None, str]] = [
        ("--run-url", run_url, "url"),
        ("MESHSTACK_RUN_URL", env.get("MESHSTACK_RUN_URL"), "url"),
        (ci_name, env.get(ci_variable) if ci_variable else None, "url"),
        (f"input {RUN_URL_INPUT}", event_inputs.get(RUN_URL_INPUT), "url"),
        ("--run-b64", run_b64, "b64"),
        ("MESHSTACK_RUN_B64", env.get("MESHSTACK_RUN_B64"), "b64"),
        ("input buildingBlockRun", event_inputs.get("buildingBlockRun"), "b64"),
        ("the state of an earlier step", state_run_url, "url"),
    ]
    for name, value, kind in candidates:
        if not value:
            continue
        if kind == "b64":
            obj = RunObject.parse(decode_run_b64(value))
            return Located(name, obj.url, obj)
        return Located(name, _check_url(name, value))
    return Located()


def read_state_run_url(path: Path) -> str | None:
    """The run URL an earlier step recorded in the state file at ``path``, if any."""
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
    return _http_url(value, f"{name}: {value!r} is not an http(s) URL of a meshStack run")


def _http_url(value: str, problem: str) -> str:
    """``value`` stripped and without a trailing slash; ``problem`` as the error when it is not an http(s) URL."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(problem)
    return value.strip().rstrip("/")


def origin(url: str | None) -> str | None:
    """``scheme://host[:port]`` of ``url``, lower-cased, default port dropped (what "same origin" compares)."""
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


def endpoint_url(value: str | None) -> str | None:
    """``MESHSTACK_ENDPOINT`` without a trailing slash; None when unset; a one-line error when not an http(s) URL."""
    if not value or not value.strip():
        return None
    return _http_url(value, f"{MESHSTACK_ENDPOINT_ENV}={value!r} is not an http(s) URL")
