"""The run object, statuses, outputs and message limits: plain data, no I/O.

The run object is meshStack's ``meshBuildingBlockRun`` (``GET {runUrl}``, or the base64 ``buildingBlockRun``
workflow input). Only what a pipeline needs is read; unknown fields are ignored like meshStack ignores them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from meshpipe.contract import BEHAVIORS
from meshpipe.report.errors import ConfigurationError

__all__ = [
    "BEHAVIORS",
    "OUTPUT_TYPES",
    "RUN_STATUSES",
    "STEP_STATUSES",
    "SYSTEM_MESSAGE_LIMIT",
    "TERMINAL_STATUSES",
    "USER_MESSAGE_LIMIT",
    "Input",
    "Output",
    "RunObject",
    "cap_system_message",
    "cap_user_message",
    "decode_run_b64",
    "parse_output_flag",
    "parse_outputs_json",
]

RUN_STATUSES = ("PENDING", "IN_PROGRESS", "SUCCEEDED", "ABORTED", "FAILED")
STEP_STATUSES = RUN_STATUSES
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "ABORTED", "FAILED"})
OUTPUT_TYPES = ("STRING", "CODE", "INTEGER", "BOOLEAN")

#: meshStack's documented limit for user messages; longer ones are cut with a visible marker.
USER_MESSAGE_LIMIT = 500
#: System messages are operator-only logs; meshStack accepts long ones, but a log tail of this size is enough.
SYSTEM_MESSAGE_LIMIT = 4000
_USER_MARKER = "… [truncated]"
_SYSTEM_MARKER = "[… truncated, last part follows]\n"


def cap_user_message(text: str, limit: int = USER_MESSAGE_LIMIT) -> str:
    """Keep ``text`` within ``limit`` characters, ending with ``… [truncated]`` when it was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(_USER_MARKER)] + _USER_MARKER


def cap_system_message(text: str, limit: int = SYSTEM_MESSAGE_LIMIT) -> str:
    """Keep the *tail* of ``text`` within ``limit`` characters (a log's end says why it failed), marker first."""
    if len(text) <= limit:
        return text
    return _SYSTEM_MARKER + text[len(text) - (limit - len(_SYSTEM_MARKER)) :]


@dataclass(frozen=True)
class Output:
    """A step output as meshStack expects it: ``{"value", "type", "isSensitive": false}``."""

    value: str | int | bool
    type: str

    @classmethod
    def infer(cls, value: Any, type_: str | None = None) -> Output:
        """Type a Python value: bool → BOOLEAN, int → INTEGER, str → STRING, anything else → CODE (JSON text).

        With an explicit ``type_`` the value is converted to it, e.g. ``Output.infer("3", "INTEGER")``.
        """
        if type_ is not None:
            return cls._convert(value, type_.upper())
        if isinstance(value, Output):
            return value
        if isinstance(value, bool):
            return cls(value, "BOOLEAN")
        if isinstance(value, int):
            return cls(value, "INTEGER")
        if isinstance(value, str):
            return cls(value, "STRING")
        return cls(_json_text(value), "CODE")

    @classmethod
    def _convert(cls, value: Any, type_: str) -> Output:
        if type_ not in OUTPUT_TYPES:
            raise ConfigurationError(f"output type {type_!r} is not one of {', '.join(OUTPUT_TYPES)}")
        if type_ == "STRING":
            return cls(value if isinstance(value, str) else _json_text(value), type_)
        if type_ == "INTEGER":
            try:
                return cls(int(value), type_)
            except (TypeError, ValueError):
                raise ConfigurationError(f"output value {value!r} is not an INTEGER") from None
        if type_ == "BOOLEAN":
            if isinstance(value, bool):
                return cls(value, type_)
            if str(value).lower() in ("true", "false"):
                return cls(str(value).lower() == "true", type_)
            raise ConfigurationError(f"output value {value!r} is not a BOOLEAN (true or false)")
        if isinstance(value, str):
            try:
                json.loads(value)
            except json.JSONDecodeError as exc:
                raise ConfigurationError(f"output value for type CODE is not JSON text: {exc}") from None
            return cls(value, type_)
        return cls(_json_text(value), type_)

    def to_wire(self) -> dict[str, Any]:
        """The JSON object meshStack documents for an output."""
        return {"value": self.value, "type": self.type, "isSensitive": False}


def _json_text(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"output value of type {type(value).__name__} cannot be sent as JSON: {exc}") from None


def parse_output_flag(flag: str) -> tuple[str, Output]:
    """Parse ``NAME=VALUE[:TYPE]``; ``:TYPE`` counts only when it names an output type (URLs keep their colons)."""
    name, sep, rest = flag.partition("=")
    if not sep or not name:
        raise ConfigurationError(f"--output {flag!r}: expected NAME=VALUE[:TYPE]")
    value, colon, type_ = rest.rpartition(":")
    if colon and type_.upper() in OUTPUT_TYPES:
        return name, Output.infer(value, type_)
    return name, Output(rest, "STRING")


def parse_outputs_json(text: str) -> dict[str, Output]:
    """Parse ``--outputs-json``: ``{"name": value}`` (type inferred) or ``{"name": {"value": v, "type": T}}``.

    The second form is what meshcloud/actions-send-status takes as ``outputs_json``, so workflows can switch over.
    """
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"--outputs-json is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError("--outputs-json must be a JSON object keyed by output name")
    outputs: dict[str, Output] = {}
    for name, value in data.items():
        if isinstance(value, dict) and "value" in value and set(value) <= {"value", "type", "isSensitive"}:
            if value.get("isSensitive"):
                raise ConfigurationError(f"output {name!r}: meshStack does not support sensitive outputs")
            outputs[name] = Output.infer(value["value"], value.get("type"))
        else:
            outputs[name] = Output.infer(value)
    return outputs


@dataclass(frozen=True, repr=False)
class Input:
    """One building block input as the run object carries it."""

    key: str
    value: Any
    type: str
    is_sensitive: bool = False
    is_environment: bool = False

    def __repr__(self) -> str:
        # A base64 run object carries sensitive values decrypted; a repr (a traceback, a log line) must not.
        value = "***" if self.is_sensitive else repr(self.value)
        return (
            f"Input(key={self.key!r}, value={value}, type={self.type!r}, is_sensitive={self.is_sensitive}, "
            f"is_environment={self.is_environment})"
        )

    def as_text(self) -> str:
        """The value as a workflow would want it in a string: JSON for booleans, numbers and lists."""
        if isinstance(self.value, str):
            return self.value
        if self.value is None:
            return ""
        return json.dumps(self.value)


@dataclass(frozen=True)
class RunObject:
    """The parts of a ``meshBuildingBlockRun`` a pipeline needs."""

    url: str
    uuid: str = ""
    behavior: str = "APPLY"
    status: str = ""
    inputs: dict[str, Input] = field(default_factory=dict)
    register_source_href: str | None = None
    update_source_href: str | None = None
    base_url: str | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, url: str | None = None) -> RunObject:
        """Read a run object; ``url`` is where it was fetched (else ``_links.self.href``)."""
        if not isinstance(data, Mapping):
            raise ConfigurationError("run object is not a JSON object")
        links = _mapping(data.get("_links"))
        spec = _mapping(data.get("spec"))
        run_url = url or _href(links, "self")
        if not run_url:
            raise ConfigurationError("run object has no _links.self.href, so the run URL is unknown")
        behavior = str(spec.get("behavior") or "APPLY")
        if behavior not in BEHAVIORS:
            raise ConfigurationError(f"run object has unknown behavior {behavior!r}")
        inputs: dict[str, Input] = {}
        block_spec = _mapping(_mapping(spec.get("buildingBlock")).get("spec"))
        items = block_spec.get("inputs")
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping) and "key" in item:
                inputs[str(item["key"])] = Input(
                    key=str(item["key"]),
                    value=_input_value(item.get("value"), str(item.get("type") or "STRING")),
                    type=str(item.get("type") or "STRING"),
                    is_sensitive=bool(item.get("isSensitive")),
                    is_environment=bool(item.get("isEnvironment")),
                )
        return cls(
            url=run_url.rstrip("/"),
            uuid=str(_mapping(data.get("metadata")).get("uuid") or ""),
            behavior=behavior,
            status=str(data.get("status") or ""),
            inputs=inputs,
            register_source_href=_href(links, "registerSource"),
            update_source_href=_href(links, "updateSource"),
            base_url=_href(links, "meshstackBaseUrl"),
        )

    def register_url(self) -> str:
        """``_links.registerSource``, else ``{runUrl}/status/source``."""
        return self.register_source_href or f"{self.url}/status/source"

    def update_url(self, source_id: str) -> str:
        """``_links.updateSource`` with ``{sourceId}`` expanded, else ``{runUrl}/status/source/{id}``."""
        sid = quote(source_id, safe="")
        if self.update_source_href and "{sourceId}" in self.update_source_href:
            return self.update_source_href.replace("{sourceId}", sid)
        return f"{self.url}/status/source/{sid}"


def _mapping(value: Any) -> Mapping[str, Any]:
    # The run object can come from a workflow input: a wrong shape is ignored like a missing part, never a crash.
    return value if isinstance(value, Mapping) else {}


def _input_value(value: Any, type_: str) -> Any:
    """An input's value typed by its IO type, whether meshStack sent it as a string or as JSON.

    The API description types ``value`` as a string (``"30"``, ``"true"``, ``'["a", "b"]'``); real run objects have
    carried INTEGER and BOOLEAN values as JSON numbers and booleans. Both read the same here. A string that does not
    parse as its type is kept as it is (a sensitive value can be encrypted text).
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if type_ == "INTEGER":
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return value
            if number != number or abs(number) == float("inf"):  # NaN and infinities are no INTEGER
                return value
            return int(number) if number.is_integer() else number
    if type_ == "BOOLEAN" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if type_ in ("MULTI_SELECT", "LIST") and text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            return value
        return parsed if isinstance(parsed, list) else value
    return value


def _href(links: Any, name: str) -> str | None:
    # Kotlin serialises "templated": null; only href matters here.
    link = links.get(name) if isinstance(links, Mapping) else None
    href = link.get("href") if isinstance(link, Mapping) else None
    return str(href) if href else None


def decode_run_b64(text: str) -> dict[str, Any]:
    """Decode the base64 run object (standard alphabet, padding optional)."""
    import base64  # only for a base64 run object; most steps locate the run by URL
    import binascii

    cleaned = "".join(text.split())
    try:
        raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
        data = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(f"the base64 run object cannot be decoded: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError("the base64 run object is not a JSON object")
    return data
