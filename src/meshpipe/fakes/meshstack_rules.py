"""The body rules of the fake meshStack's run API: enums, limits and required fields of the register
(``POST .../status/source``) and update (``PATCH .../status/source/{sourceId}``) calls.

Facts: ``../shared/reference/meshstack-run-api.md`` §3–§5 and the official description. Violations answer 400 with
a message naming the field (``steps[2].status: must be one of ...``). Unknown properties are ignored, as the
meshObject API does. Stricter than the description where real servers are: ``source.id`` is required; looser where
real clients need it: ``externalRunId`` may be a number (coerced to a string).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from meshpipe.fakes._http import HttpError

__all__ = [
    "BEHAVIORS",
    "INPUT_TYPES",
    "MAX_STEPS",
    "OUTPUT_TYPES",
    "REGISTER_STEP_STATUSES",
    "RUN_STATUSES",
    "TERMINAL",
    "UPDATE_STEP_STATUSES",
    "validate_register",
    "validate_update",
]

BEHAVIORS = ("APPLY", "DESTROY", "DETECT")
REGISTER_STEP_STATUSES = ("PENDING", "IN_PROGRESS", "SUCCEEDED", "FAILED")
UPDATE_STEP_STATUSES = ("PENDING", "IN_PROGRESS", "SUCCEEDED", "ABORTED", "FAILED")
RUN_STATUSES = UPDATE_STEP_STATUSES
TERMINAL = ("SUCCEEDED", "ABORTED", "FAILED")
OUTPUT_TYPES = ("STRING", "CODE", "INTEGER", "BOOLEAN")
INPUT_TYPES = ("STRING", "CODE", "INTEGER", "BOOLEAN", "FILE", "LIST", "SINGLE_SELECT", "MULTI_SELECT")
MAX_STEPS = 50


def _bad(message: str) -> HttpError:
    return HttpError(400, message)


def _enum(value: Any, allowed: tuple[str, ...], where: str) -> None:
    if value is not None and value not in allowed:
        raise _bad(f"{where}: must be one of {', '.join(allowed)} (or null), got {json.dumps(value)}")


def _optional_string(value: Any, where: str) -> None:
    if value is not None and not isinstance(value, str):
        raise _bad(f"{where}: must be a string or null, got {json.dumps(value)}")


def _required_string(item: Mapping[str, Any], key: str, where: str) -> None:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise _bad(f"{where}.{key}: required, a non-empty string")


def validate_register(body: Any) -> dict[str, Any]:
    """Check a register-source body (400 with a readable message) and return it with ``externalRunId`` coerced."""
    if not isinstance(body, dict):
        raise _bad("request body: a JSON object with 'source' and 'steps' is required")
    source = body.get("source")
    if not isinstance(source, dict):
        raise _bad("source: required, an object with a non-empty string 'id'")
    _required_string(source, "id", "source")
    external_id = source.get("externalRunId")
    if isinstance(external_id, bool) or not isinstance(external_id, (str, int, float, type(None))):
        raise _bad(f"source.externalRunId: must be a string or number, got {json.dumps(external_id)}")
    if isinstance(external_id, (int, float)):
        external_id = str(external_id)
    _optional_string(source.get("externalRunUrl"), "source.externalRunUrl")
    steps = body.get("steps")
    if not isinstance(steps, list):
        raise _bad("steps: required, an array of {id, displayName, status}")
    if len(steps) > MAX_STEPS:
        raise _bad(f"steps: at most {MAX_STEPS} steps per source, got {len(steps)}")
    seen: set[str] = set()
    for index, step in enumerate(steps):
        where = f"steps[{index}]"
        if not isinstance(step, dict):
            raise _bad(f"{where}: must be an object")
        _required_string(step, "id", where)
        if not isinstance(step.get("displayName"), str):
            raise _bad(f"{where}.displayName: required, a string")
        _enum(step.get("status"), REGISTER_STEP_STATUSES, f"{where}.status")
        if step["id"] in seen:
            raise _bad(f"{where}.id: duplicate step id '{step['id']}'")
        seen.add(step["id"])
    return {**body, "source": {**source, "externalRunId": external_id}}


def validate_update(body: Any) -> dict[str, Any]:
    """Check an update-source body; 400 with a readable message on the first violation."""
    if not isinstance(body, dict):
        raise _bad("request body: a JSON object is required")
    _enum(body.get("status"), RUN_STATUSES, "status")
    _optional_string(body.get("summary"), "summary")
    steps = body.get("steps")
    if steps is None:
        return body
    if not isinstance(steps, list):
        raise _bad("steps: must be an array")
    for index, step in enumerate(steps):
        where = f"steps[{index}]"
        if not isinstance(step, dict):
            raise _bad(f"{where}: must be an object")
        _required_string(step, "id", where)
        _enum(step.get("status"), UPDATE_STEP_STATUSES, f"{where}.status")
        for key in ("displayName", "userMessage", "systemMessage"):
            _optional_string(step.get(key), f"{where}.{key}")
        outputs = step.get("outputs")
        if outputs is None:
            continue
        if not isinstance(outputs, dict):
            raise _bad(f"{where}.outputs: must be an object keyed by output name")
        for name, output in outputs.items():
            out = f"{where}.outputs.{name}"
            if not isinstance(output, dict) or "value" not in output:
                raise _bad(f"{out}: must be an object with 'value', 'type' and optional 'isSensitive'")
            if output.get("type") not in OUTPUT_TYPES:
                raise _bad(
                    f"{out}.type: must be one of {', '.join(OUTPUT_TYPES)}, got {json.dumps(output.get('type'))}"
                )
            if output.get("isSensitive") is not None and not isinstance(output["isSensitive"], bool):
                raise _bad(f"{out}.isSensitive: must be a boolean")
    return body
