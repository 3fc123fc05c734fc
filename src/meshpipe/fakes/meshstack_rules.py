"""The body rules of the fake meshStack's run API: enums, limits and required fields of the register
(``POST .../status/source``) and update (``PATCH .../status/source/{sourceId}``) calls, and how the fake reads the
points the official description leaves open.

Facts: ``../shared/reference/meshstack-run-api.md`` §3–§5 and the official description. Violations answer 400 with
a message naming the field (``steps[2].status: must be one of ...``). Unknown properties are ignored, as the
meshObject API does. Always lenient where real clients need it: ``externalRunId`` may be a number (coerced to a
string; actions-register-source sends GitHub's numeric run id, ``src/index.ts`` ``buildRequestPayload``).

Choices nobody has verified against the real service are tabled in ``unverified.md`` next to this module (rule,
the description's wording, the strict and the lenient reading). :class:`Readings` holds the reading of each;
``POST /_fake/readings`` (``{"mode": "strict" | "lenient" | "default"}`` or ``{"rules": {"empty_status":
"lenient"}}``) or :meth:`Readings.set` switches them and ``reset`` restores the defaults, so a pipeline can be
tested against both. ``tests/fakes/test_meshstack_readings.py`` sends the official actions' request shapes under
both readings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from meshpipe.fakes._http import HttpError

if TYPE_CHECKING:
    from meshpipe.fakes.meshstack_runs import FakeRun

__all__ = [
    "BEHAVIORS",
    "INPUT_TYPES",
    "MAX_STEPS",
    "OUTPUT_TYPES",
    "REGISTER_STEP_STATUSES",
    "RUN_STATUSES",
    "TERMINAL",
    "UPDATE_STEP_STATUSES",
    "Readings",
    "apply_update",
    "input_value_text",
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
MESSAGE_LIMIT = 500
READING_MODES = ("strict", "lenient")
#: The source id a lenient register without ``source`` reports under (an invention of the fake).
DEFAULT_SOURCE = "default"


@dataclass
class Readings:
    """How the fake reads each point the description leaves open (the table in the module docstring)."""

    after_terminal: str = "strict"
    register_without_source: str = "strict"
    output_is_sensitive: str = "lenient"
    empty_status: str = "strict"
    unregistered_source: str = "strict"
    message_limit: str = "lenient"

    def set(self, mode: str | None = None, **rules: str) -> None:
        """``set("strict")``/``set("lenient")`` for every rule, ``set("default")`` for the defaults, or per rule
        (``set(empty_status="lenient")``); ValueError on an unknown mode or rule."""
        known = {f.name: f.default for f in fields(self)}
        unknown = sorted(set(rules) - set(known))
        if unknown:
            raise ValueError(f"unknown rules {unknown}; known: {sorted(known)}")
        if mode is not None and mode not in (*READING_MODES, "default"):
            raise ValueError(f"mode must be strict, lenient or default, not {mode!r}")
        for name, reading in rules.items():
            if reading not in READING_MODES:
                raise ValueError(f"rule {name!r}: must be strict or lenient, not {reading!r}")
        if mode is not None:
            for name, default in known.items():
                setattr(self, name, default if mode == "default" else mode)
        for name, reading in rules.items():
            setattr(self, name, reading)

    def to_dict(self) -> dict[str, str]:
        """The current reading of every rule."""
        return asdict(self)

    def strict(self, rule: str) -> bool:
        """Whether ``rule`` is read strictly now."""
        return bool(getattr(self, rule) == "strict")


def input_value_text(value: Any) -> str:
    """A run input's ``value`` as the description types it (a string): ``true``, ``3``, ``["a","b"]``."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value)


def _bad(message: str) -> HttpError:
    return HttpError(400, message)


def _enum(value: Any, allowed: tuple[str, ...], where: str) -> None:
    if value is not None and value not in allowed:
        raise _bad(f"{where}: must be one of {', '.join(allowed)} (or null), got {json.dumps(value)}")


def _optional_string(value: Any, where: str) -> None:
    if value is not None and not isinstance(value, str):
        raise _bad(f"{where}: must be a string or null, got {json.dumps(value)}")


def _copy(body: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(body))
    return copied


def _message(value: Any, where: str, readings: Readings) -> None:
    _optional_string(value, where)
    if isinstance(value, str) and len(value) > MESSAGE_LIMIT and readings.strict("message_limit"):
        raise _bad(f"{where}: at most {MESSAGE_LIMIT} characters, got {len(value)}")


def _status(item: dict[str, Any], allowed: tuple[str, ...], where: str, readings: Readings) -> None:
    if item.get("status") == "" and not readings.strict("empty_status"):
        item["status"] = None  # read as "not sent"
    _enum(item.get("status"), allowed, where)


def _required_string(item: Mapping[str, Any], key: str, where: str) -> None:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise _bad(f"{where}.{key}: required, a non-empty string")


def validate_register(body: Any, readings: Readings | None = None) -> dict[str, Any]:
    """Check a register-source body (400 with a readable message) and return it with ``externalRunId`` coerced."""
    readings = readings or Readings()
    if not isinstance(body, dict):
        raise _bad("request body: a JSON object with 'source' and 'steps' is required")
    body = _copy(body)  # the lenient readings normalise a copy
    source = body.get("source")
    if source is None and not readings.strict("register_without_source"):
        source = {"id": DEFAULT_SOURCE}
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
        _status(step, REGISTER_STEP_STATUSES, f"{where}.status", readings)
        if step["id"] in seen:
            raise _bad(f"{where}.id: duplicate step id '{step['id']}'")
        seen.add(step["id"])
    return {**body, "source": {**source, "externalRunId": external_id}}


def validate_update(raw: Any, readings: Readings | None = None) -> dict[str, Any]:
    """Check an update-source body; 400 with a readable message on the first violation. Returns the body as the
    fake reads it (under a lenient ``empty_status``, ``""`` statuses become null)."""
    readings = readings or Readings()
    if not isinstance(raw, dict):
        raise _bad("request body: a JSON object is required")
    body = _copy(raw)  # the lenient readings normalise a copy
    _status(body, RUN_STATUSES, "status", readings)
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
        _status(step, UPDATE_STEP_STATUSES, f"{where}.status", readings)
        _optional_string(step.get("displayName"), f"{where}.displayName")
        for key in ("userMessage", "systemMessage"):
            _message(step.get(key), f"{where}.{key}", readings)
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
            if "isSensitive" not in output and readings.strict("output_is_sensitive"):
                raise _bad(f"{out}.isSensitive: required (the description lists isSensitive, type and value)")
    return body


def apply_update(run: FakeRun, source_id: str, body: dict[str, Any], readings: Readings) -> None:
    """Apply a validated update to ``run`` under ``readings``: a lenient ``unregistered_source`` registers the
    source first, a lenient ``after_terminal`` turns the 409 into an ignored update with a warning."""
    if source_id not in run.sources and not readings.strict("unregistered_source"):
        run.register({"source": {"id": source_id}, "steps": []})
    try:
        run.update(source_id, body)
    except HttpError as exc:
        if exc.status != 409 or readings.strict("after_terminal"):
            raise
        warning = f"Ignored an update from source '{source_id}' after its terminal run status (lenient reading)"
        if warning not in run.warnings:
            run.warnings.append(warning)
