"""Find the run to report on, and the origins that matter for it.

Run locator, first found wins: ``--run-url``; ``MESHSTACK_RUN_URL``; the workflow_dispatch input
``buildingBlockRunUrl`` in ``$GITHUB_EVENT_PATH``; a base64 run object (``--run-b64``, ``MESHSTACK_RUN_B64``, input
``buildingBlockRun``); the state a previous ``meshpipe run`` step left behind.

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

__all__ = ["Located", "endpoint_url", "locate_run", "origin"]


@dataclass(frozen=True)
class Located:
    """Where the run came from (``locator``: the flag, variable or input that named it) and what it is."""

    locator: str = "none"
    url: str | None = None
    #: the decoded run object when the run was given in base64
    run_object: RunObject | None = None


def locate_run(
    env: Mapping[str, str],
    *,
    run_url: str | None = None,
    run_b64: str | None = None,
    state_run_url: str | None = None,
) -> Located:
    """The first run locator found in the flags, ``env`` (empty values already dropped) and the event's inputs."""
    event_inputs = _event_inputs(env.get("GITHUB_EVENT_PATH"))
    candidates: list[tuple[str, str | None, str]] = [
        ("--run-url", run_url, "url"),
        ("MESHSTACK_RUN_URL", env.get("MESHSTACK_RUN_URL"), "url"),
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
