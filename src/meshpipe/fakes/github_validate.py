"""Request validation of the fake GitHub: dispatch bodies, workflow inputs and the ``created`` search filter.

Messages follow GitHub's: schema errors read ``Invalid request.\\n\\n...``, workflow-level errors use the texts the
Actions service returns (``Unexpected inputs provided: [...]``, ``Required input 'x' not provided``, ...).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from meshpipe.fakes._http import HttpError
from meshpipe.fakes.github_models import Workflow

__all__ = [
    "MAX_INPUTS",
    "MAX_INPUTS_PAYLOAD",
    "check_body_keys",
    "parse_created",
    "resolve_inputs",
    "validate_repository_dispatch",
    "validate_workflow_dispatch",
]

#: Top-level inputs a workflow_dispatch body may carry (OpenAPI ``maxProperties``): github.com 25, GHES 3.19 10.
MAX_INPUTS = {"github": 25, "ghes": 10}
#: Total characters of the inputs payload (names + values) GitHub accepts.
MAX_INPUTS_PAYLOAD = 65_535
MAX_CLIENT_PAYLOAD_KEYS = 10
MAX_CLIENT_PAYLOAD_BYTES = 64 * 1024
INPUT_TYPES = ("string", "boolean", "number", "choice", "environment")


def _invalid(detail: str, status: int = 422) -> HttpError:
    return HttpError(status, f"Invalid request.\n\n{detail}")


def _json_literal(value: Any) -> str:
    return json.dumps(value)


def check_body_keys(body: Any, permitted: tuple[str, ...], *, status: int = 422) -> dict[str, Any]:
    """The body as an object; schema errors for a non-object body or keys the endpoint does not permit."""
    if not isinstance(body, dict):
        raise _invalid(f"For 'links/0/schema', {_json_literal(body)} is not an object.")
    unknown = [key for key in body if key not in permitted]
    if len(unknown) == 1:
        raise _invalid(f'"{unknown[0]}" is not a permitted key.', status)
    if unknown:
        raise _invalid(f"{', '.join(json.dumps(k) for k in sorted(unknown))} are not permitted keys.", status)
    return body


def validate_workflow_dispatch(body: Any, flavour: str, *, api_version: str) -> dict[str, Any]:
    """Schema checks of a workflow_dispatch body (request body schema of the flavour's OpenAPI description)."""
    permitted = ("ref", "inputs", "return_run_details") if flavour == "github" else ("ref", "inputs")
    # Unknown keys: api.github.com answers 422 ('"target", "version" are not permitted keys.', erlang/otp#8807);
    # GHES <= 3.20 answers 400 for return_run_details (cli/cli#12672), which is how clients detect it.
    data = check_body_keys(body, permitted, status=400 if flavour == "ghes" else 422)
    if "ref" not in data:
        raise _invalid('"ref" wasn\'t supplied.')
    if not isinstance(data["ref"], str):
        raise _invalid(f"For 'properties/ref', {_json_literal(data['ref'])} is not a string.")
    inputs = data.get("inputs", {})
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise _invalid(f"For 'properties/inputs', {_json_literal(inputs)} is not an object.")
    limit = MAX_INPUTS[flavour]
    if len(inputs) > limit:
        raise _invalid(
            f"For 'properties/inputs', no more than {limit} properties are allowed; {len(inputs)} were supplied."
        )
    details = data.get("return_run_details")
    if details is not None and not isinstance(details, bool) and api_version != "2026-03-10":
        raise _invalid(f"For 'properties/return_run_details', {_json_literal(details)} is not a boolean.")
    return data


def validate_repository_dispatch(body: Any) -> dict[str, Any]:
    """Schema checks of a repository_dispatch body."""
    data = check_body_keys(body, ("event_type", "client_payload"))
    if "event_type" not in data:
        raise _invalid('"event_type" wasn\'t supplied.')
    event_type = data["event_type"]
    if not isinstance(event_type, str):
        raise _invalid(f"For 'properties/event_type', {_json_literal(event_type)} is not a string.")
    if not 1 <= len(event_type) <= 100:
        raise _invalid(f"For 'properties/event_type', {_json_literal(event_type)} must be 1 to 100 characters long.")
    payload = data.get("client_payload", {})
    if not isinstance(payload, dict):
        raise _invalid(f"For 'properties/client_payload', {_json_literal(payload)} is not an object.")
    if len(payload) > MAX_CLIENT_PAYLOAD_KEYS:
        raise _invalid(
            f"For 'properties/client_payload', no more than {MAX_CLIENT_PAYLOAD_KEYS} properties are allowed; "
            f"{len(payload)} were supplied."
        )
    if len(json.dumps(payload).encode("utf-8")) >= MAX_CLIENT_PAYLOAD_BYTES:
        raise _invalid("client_payload is too large: the total size of the JSON payload must be less than 64KB.")
    return data


def _as_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve_inputs(workflow: Workflow, sent: dict[str, Any]) -> dict[str, Any]:
    """Check ``sent`` against the workflow's declared inputs; the inputs context of the run (defaults applied).

    Raises 422 with GitHub's message for undeclared inputs, missing required inputs, values that are not scalars,
    booleans other than true/false, choices outside the options, non-numeric numbers and oversized payloads.
    """
    declared = workflow.inputs
    unexpected = [name for name in sent if name not in declared]
    if unexpected:
        raise HttpError(422, f"Unexpected inputs provided: {json.dumps(unexpected)}")
    size = sum(len(name) + len(_as_string(value)) for name, value in sent.items())
    if size > MAX_INPUTS_PAYLOAD:
        raise HttpError(
            422, f"Inputs payload is too large: {size} characters, at most {MAX_INPUTS_PAYLOAD} are allowed"
        )
    resolved: dict[str, Any] = {}
    for name, spec in declared.items():
        kind = spec.get("type", "string")
        if name not in sent:
            if "default" in spec:
                value: Any = spec["default"]
            elif spec.get("required"):
                raise HttpError(422, f"Required input '{name}' not provided")
            else:  # optional and omitted: the inputs context holds an empty value, nothing to validate
                resolved[name] = False if kind == "boolean" else ""
                continue
        else:
            value = sent[name]
            if isinstance(value, (dict, list)) or value is None:
                raise HttpError(422, f"Provided value for input '{name}' must be a string, number or boolean")
        text = _as_string(value)
        if kind == "boolean":
            if text not in ("true", "false"):
                raise HttpError(422, f"Provided value '{text}' for input '{name}' is not a valid boolean")
            resolved[name] = text == "true"
        elif kind == "choice":
            options = [str(option) for option in spec.get("options", [])]
            if text not in options:
                raise HttpError(422, f"Provided value '{text}' for input '{name}' not in the list of allowed values")
            resolved[name] = text
        elif kind == "number":
            try:
                number = float(text)
            except ValueError:
                raise HttpError(422, f"Provided value '{text}' for input '{name}' is not a valid number") from None
            resolved[name] = int(number) if number.is_integer() else number
        else:
            resolved[name] = text
    return resolved


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


def _parse_moment(text: str, *, end: bool) -> datetime:
    """A search-syntax date or date-time; a bare date means the day's start (or its end when ``end``)."""
    text = text.strip()
    if _DATE_ONLY.match(text):
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        return day + timedelta(days=1) - timedelta(microseconds=1) if end else day
    normalized = text[:-1] + "+00:00" if text.endswith("Z") else text
    moment = datetime.fromisoformat(normalized)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_created(expression: str) -> tuple[datetime | None, bool, datetime | None, bool]:
    """Parse GitHub's date search syntax: ``>=X``, ``>X``, ``<=X``, ``<X``, ``X..Y``, ``X..*``, ``*..Y``, ``X``.

    Returns (lower bound, lower inclusive, upper bound, upper inclusive); raises 422 when it cannot be parsed.
    """
    try:
        if ".." in expression:
            low, high = expression.split("..", 1)
            lower = None if low.strip() == "*" else _parse_moment(low, end=False)
            upper = None if high.strip() == "*" else _parse_moment(high, end=True)
            return lower, True, upper, True
        for operator in (">=", "<=", ">", "<"):
            if expression.startswith(operator):
                value = expression[len(operator) :]
                if operator == ">=":
                    return _parse_moment(value, end=False), True, None, True
                if operator == ">":
                    return _parse_moment(value, end=True), False, None, True
                if operator == "<=":
                    return None, True, _parse_moment(value, end=True), True
                return None, True, _parse_moment(value, end=False), False
        return _parse_moment(expression, end=False), True, _parse_moment(expression, end=True), True
    except ValueError:
        raise HttpError(422, f"Invalid value for 'created': {expression!r} is not a date or date range") from None
