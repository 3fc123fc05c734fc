"""GitLab's rules for what a pipeline request may carry: ``spec:inputs`` values, CI/CD variable keys, and how the
``workflow:name`` template renders.

Sources (``gitlabhq/gitlabhq``): ``lib/ci/inputs/{base,string,number,boolean,array}_input.rb`` and
``lib/gitlab/ci/config/interpolation/{inputs,interpolator}.rb`` (the messages below are theirs, word for word: an
input error reads ``\\`name\\` input: ...``, unknown inputs ``unknown input arguments: a, b``, at most three errors
joined with ``, ``); ``app/models/concerns/ci/has_variable.rb`` (a variable key: 1..255 characters of
``[a-zA-Z0-9_]``, stripped). Values given as strings are read as JSON first, as ``BaseInput#coerced_value`` does, so
``"3"`` is a number and ``"true"`` a boolean.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "INPUT_TYPES",
    "MAX_NAME_LENGTH",
    "check_ci_inputs",
    "input_errors",
    "input_text",
    "render_name",
    "resolve_inputs",
    "variable_key_error",
]

INPUT_TYPES = ("array", "boolean", "number", "string")
#: ``workflow:name`` is cut at 255 characters (``Ci::PipelineMetadata`` validates ``name`` length 255).
MAX_NAME_LENGTH = 255
_VARIABLE_KEY = re.compile(r"[a-zA-Z0-9_]+")
_INPUT_REFERENCE = re.compile(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]")
_VARIABLE_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_MAX_ERRORS = 3
#: GitLab's runbook "CI Inputs", known limitations: at most 20 inputs per pipeline, a string input at most 1 KB,
#: all input content at most 1 MB (the messages below are the fake's: GitLab's wording is unverified).
MAX_INPUTS = 20
MAX_INPUT_BYTES = 1024
MAX_INPUTS_BYTES = 1024 * 1024


def check_ci_inputs(spec: dict[str, Any]) -> None:
    """Refuse a ``spec:inputs`` header the fake cannot interpret (ValueError naming the input)."""
    for name, entry in spec.items():
        entry = entry or {}
        if not isinstance(entry, dict):
            raise ValueError(f"spec:inputs {name!r}: expected a mapping")
        kind = entry.get("type", "string")
        if kind not in INPUT_TYPES:
            raise ValueError(f"spec:inputs {name!r}: unknown type {kind!r} (valid types: {', '.join(INPUT_TYPES)})")
        if "rules" in entry:
            raise ValueError(f"spec:inputs {name!r}: the fake GitLab does not evaluate inputs rules")
        unknown = set(entry) - {"type", "default", "options", "regex", "description"}
        if unknown:
            raise ValueError(f"spec:inputs {name!r}: unknown keys {sorted(unknown)}")
        if "regex" in entry:
            re.compile(entry["regex"])


def _coerced(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _check_value(name: str, entry: dict[str, Any], value: Any, *, default: bool) -> list[str]:
    kind = entry.get("type", "string")
    which = "default" if default else "provided"
    prefix = f"`{name}` input: "
    options = entry.get("options")
    if kind == "string":
        text = input_text(value) if not isinstance(value, str) else value
        if options is not None and text not in [input_text(o) for o in options]:
            return [prefix + f"`{text}` cannot be used because it is not in the list of allowed options"]
        if "regex" in entry and not re.search(entry["regex"], text):
            return [prefix + f"{which} value does not match required RegEx pattern"]
        return []
    coerced = _coerced(value)
    if kind == "number":
        if not isinstance(coerced, (int, float)) or isinstance(coerced, bool):
            return [prefix + f"{which} value is not a number"]
        if options is not None and coerced not in options:
            return [prefix + f"`{coerced}` cannot be used because it is not in the list of the allowed options"]
    elif kind == "boolean":
        if not isinstance(coerced, bool):
            return [prefix + f"{which} value is not a boolean"]
    elif kind == "array":
        if not isinstance(coerced, list):
            return [prefix + f"{which} value is not an array"]
        invalid = [item for item in coerced if options is not None and item not in options]
        if invalid:
            listed = ", ".join(str(item) for item in invalid)
            return [prefix + f"{listed} cannot be used because it is not in the list of allowed options"]
    if kind != "string" and "regex" in entry:
        return [prefix + "RegEx validation can only be used with string inputs"]
    return []


def input_errors(spec: dict[str, Any] | None, given: dict[str, Any]) -> str | None:
    """The pipeline's configuration error for ``given`` inputs against ``spec`` (None when they pass).

    Inputs sent to a configuration without a ``spec:`` header fail as ``unknown input arguments``
    (``Interpolator#inputs_without_header?``).
    """
    if spec is None:
        return "unknown input arguments" if given else None
    errors: list[str] = []
    if len(given) > MAX_INPUTS:
        errors.append(f"too many inputs: {len(given)} given, at most {MAX_INPUTS} per pipeline")
    if len(json.dumps(given).encode("utf-8")) > MAX_INPUTS_BYTES:
        errors.append(f"the inputs exceed {MAX_INPUTS_BYTES >> 20} MB")
    for name, value in given.items():
        if isinstance(value, str) and len(value.encode("utf-8")) > MAX_INPUT_BYTES:
            errors.append(f"`{name}` input: the value exceeds {MAX_INPUT_BYTES} bytes")
    unknown = [name for name in given if name not in spec]
    if unknown:
        errors.append(f"unknown input arguments: {', '.join(unknown)}")
    for name, entry in spec.items():
        entry = entry or {}
        value = given.get(name)
        if value is None:
            if "default" not in entry:
                errors.append(f"`{name}` input: required value has not been provided")
                continue
            errors.extend(_check_value(name, entry, entry["default"], default=True))
            continue
        errors.extend(_check_value(name, entry, value, default=False))
    return ", ".join(errors[:_MAX_ERRORS]) or None


def resolve_inputs(spec: dict[str, Any] | None, given: dict[str, Any]) -> dict[str, Any]:
    """The inputs a valid pipeline runs with: the given values (typed as their input's type) and the defaults."""
    resolved: dict[str, Any] = {}
    for name, entry in (spec or {}).items():
        entry = entry or {}
        value = given.get(name, entry.get("default"))
        kind = entry.get("type", "string")
        resolved[name] = (
            (input_text(value) if not isinstance(value, str) else value) if kind == "string" else _coerced(value)
        )
    return resolved


def input_text(value: Any) -> str:
    """An input value as interpolation writes it into the configuration (arrays as JSON, booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def variable_key_error(key: Any) -> str | None:
    """Why a CI/CD variable key is refused (``Ci::HasVariable``), or None."""
    if not isinstance(key, str) or not key.strip():
        return "can't be blank"
    key = key.strip()
    if len(key) > 255:
        return "is too long (maximum is 255 characters)"
    if not _VARIABLE_KEY.fullmatch(key):
        return "can contain only letters, digits and '_'."
    return None


def render_name(template: str, inputs: dict[str, Any], variables: dict[str, str]) -> str:
    """Render ``workflow:name``: ``$[[ inputs.X ]]`` at configuration time, then ``$VAR`` / ``${VAR}`` from the
    pipeline's variables (unknown variables render empty, as GitLab's expansion does); cut at 255 characters."""
    with_inputs = _INPUT_REFERENCE.sub(lambda m: input_text(inputs.get(m.group(1))), template)
    expanded = _VARIABLE_REFERENCE.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), with_inputs)
    return expanded[:MAX_NAME_LENGTH]
