"""The template context: the values the templates lay out (names, literals, lists); the HCL lives in the templates."""

from __future__ import annotations

import json
from typing import Any

from meshpipe.generator import tftests
from meshpipe.generator.prerun import RUN_FILE
from meshpipe.generator.spec import GITHUB_COM_API, LIMIT_GHES, LIMIT_GITHUB_COM, REDISPATCH, RUN_URL_INPUT, ModuleSpec
from meshpipe.generator.variables import Variable

__all__ = ["CONFIG_CHUNK", "SYSTEM_PYTHON", "build_context"]

#: Environment variables carry the dispatcher's configuration base64-encoded in chunks of this many characters: one
#: variable may hold at most 128 KiB (MAX_ARG_STRLEN) and base64 keeps every character a single byte.
CONFIG_CHUNK = 100000
#: The interpreter meshStack's runner image (Alpine) and Debian-like systems have; preferred over a ``python3`` found
#: through ``PATH``, which may be a version manager's shim costing 100 ms and more per start.
SYSTEM_PYTHON = "/usr/bin/python3"


def _example(variable: Variable, spec: ModuleSpec) -> Any:
    """A valid value for a required variable, used by the README usage snippet and the module's tests."""
    fixed = {"github_repository": "octo-org/platform", "apply_workflow": "apply.yml", "apply_event_type": "deploy"}
    if variable.name in fixed:
        return fixed[variable.name]
    for item in spec.inputs:
        if item.variable == variable.name:
            if item.example is not None:
                return item.example
            if item.allowed:
                return item.allowed[0]
            placeholders = {"string": "example", "number": 1, "bool": True, "list": ["a"], "map": {"key": "value"}}
            return placeholders[item.type]
    return "example"


def build_context(spec: ModuleSpec, *, header: str, spec_path: str, command: str) -> dict[str, Any]:
    """Everything the templates use; the templates hold the HCL."""
    variables = spec.variables
    phase = "workflow" if spec.event == "workflow_dispatch" else "event_type"
    return {
        "header": header,
        "spec": spec,
        "spec_path": spec_path,
        "render_command": command,
        "variables": variables,
        "examples": {v.name: _example(v, spec) for v in variables if v.required},
        "phase": phase,
        "other_phase": "event_type" if phase == "workflow" else "workflow",
        "phase_noun": "workflow" if phase == "workflow" else "event type",
        # meshStack context input -> the context source the dispatcher fills it from (the pre-run file on a replay)
        "context_inputs": {i.name: i.context for i in spec.inputs if i.kind == "meshstack"},
        # checked case-insensitively against workflow_inputs
        "declared_names": sorted(item.name.lower() for item in spec.inputs),
        "run_url_input": RUN_URL_INPUT,
        "run_file": RUN_FILE,
        "github_com_api": GITHUB_COM_API,
        "limit_github_com": LIMIT_GITHUB_COM,
        "limit_ghes": LIMIT_GHES,
        "system_python": SYSTEM_PYTHON,
        "chunk": CONFIG_CHUNK,
        # the values the module's tests check
        "run_url_base": tftests.RUN_URL_BASE,
        "run_id": tftests.RUN_ID,
        "building_block_id": tftests.BUILDING_BLOCK_ID,
        "web_urls": tftests.web_urls(spec),
        "checked_inputs": tftests.checked_inputs(spec),
        "redispatch_policies": list(REDISPATCH) if spec.redispatch.exposed else [spec.redispatch.value],
        "rejections": tftests.rejections(spec, variables),
        "input_values": tftests.input_values(spec),
        "input_room": tftests.input_room(spec),
        "json": lambda value: json.dumps(value, ensure_ascii=False),
    }
