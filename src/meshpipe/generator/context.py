"""The template context: the values the templates lay out (names, literals, lists); the HCL lives in the templates."""

from __future__ import annotations

import json
from typing import Any

from meshpipe.generator import hcl, tftests
from meshpipe.generator.prerun import RUN_FILE
from meshpipe.generator.spec import (
    GITHUB_COM_API,
    INPUT_TYPES,
    LIMIT_GHES,
    LIMIT_GITHUB_COM,
    REDISPATCH,
    RUN_URL_INPUT,
    ModuleSpec,
    Setting,
)
from meshpipe.generator.variables import Variable

#: GitLab.com's cap on one CI/CD variable's value (plan limit ``ci_variable_value_size``, 120 KiB; self-managed
#: instances default to 360 KiB): checked at plan time for every value the module knows then
GITLAB_VALUE_LIMIT = 120 * 1024

__all__ = ["CONFIG_CHUNK", "SYSTEM_PYTHON", "build_context"]

#: Environment variables carry the dispatcher's configuration base64-encoded in chunks of this many characters: one
#: variable may hold at most 128 KiB (MAX_ARG_STRLEN) and base64 keeps every character a single byte.
CONFIG_CHUNK = 100000
#: The interpreter meshStack's runner image (Alpine) and Debian-like systems have; preferred over a ``python3`` found
#: through ``PATH``, which may be a version manager's shim costing 100 ms and more per start.
SYSTEM_PYTHON = "/usr/bin/python3"


def _example(variable: Variable, spec: ModuleSpec) -> Any:
    """A valid value for a required variable, used by the README usage snippet and the module's tests."""
    fixed = {
        "github_repository": "octo-org/platform",
        "apply_workflow": "apply.yml",
        "apply_event_type": "deploy",
        "gitlab_project": "platform/deployments",
        "apply_ref": "main",
        "azure_devops_org_url": "https://dev.azure.com/octo-org",
        "azure_devops_project": "Platform",
        "apply_pipeline_id": 12,
        "webhook_url": "https://ci.example.com/generic-webhook-trigger/invoke",
        "apply_event": "apply",
    }
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


#: target -> (the apply/destroy item: its config key and local suffix, what it is called, what a run is called)
TARGET_PHASES = {
    "gitlab": ("ref", "ref", "pipeline"),
    "azure_devops": ("pipeline_id", "pipeline id", "pipeline"),
    "webhook": ("event", "event", "webhook delivery"),
}


def _expression(setting: Setting) -> str:
    """A setting as an HCL expression: its variable when exposed, else its literal."""
    return f"var.{setting.variable}" if setting.exposed else hcl.literal(setting.value)


def target_locals(spec: ModuleSpec) -> list[tuple[str, str, str]]:
    """(local, configuration key, expression) of a non-GitHub target's service settings.

    The project is ``local.target_project``: ``local.project`` is the meshStack project of the run.
    """
    url = f'trimsuffix({_expression(spec.api_url)}, "/")'
    if spec.target == "gitlab" and spec.repository is not None:
        return [("api_url", "api_url", url), ("target_project", "project", _expression(spec.repository))]
    if spec.target == "azure_devops" and spec.repository is not None and spec.ref is not None:
        return [
            ("org_url", "org_url", url),
            ("target_project", "project", _expression(spec.repository)),
            ("ref", "ref", _expression(spec.ref)),
        ]
    return [("url", "url", _expression(spec.api_url))]


def service_items(spec: ModuleSpec) -> list[tuple[str, Any]]:
    """The non-GitHub target's nested configuration object (without the phase item): key -> HCL value."""
    items: list[tuple[str, Any]] = [(key, hcl.Raw(f"local.{name}")) for name, key, _ in target_locals(spec)]
    if spec.values is not None:
        items.append(("values", spec.values))
    items.append(("auth", spec.auth_settings))
    return items


def _target_context(spec: ModuleSpec) -> dict[str, Any]:
    if spec.target == "github":
        return {"run_noun": "workflow", "raw_types": [], "typed_inputs": False}
    item, noun, run_noun = TARGET_PHASES[spec.target]
    return {
        "phase": item,
        "other_phase": None,
        "phase_noun": noun,
        "run_noun": run_noun,
        "raw_types": [kind for kind in INPUT_TYPES if spec.sends_json_value(kind)],
        "typed_inputs": any(spec.sends_json_value(kind) for kind in INPUT_TYPES),
        "gitlab_value_limit": GITLAB_VALUE_LIMIT,
        "target_locals": [(name, expression) for name, _, expression in target_locals(spec)],
        "service": hcl.literal(dict(service_items(spec)), 2),
        "identity": [(key, name) for name, key, _ in target_locals(spec)],
    }


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
        "target_urls": tftests.target_urls(spec),
        "checked_inputs": tftests.checked_inputs(spec),
        "redispatch_policies": list(REDISPATCH) if spec.redispatch.exposed else [spec.redispatch.value],
        "rejections": tftests.rejections(spec, variables),
        "input_values": tftests.input_values(spec),
        "input_room": tftests.input_room(spec),
        "json": lambda value: json.dumps(value, ensure_ascii=False),
        **_target_context(spec),
    }
