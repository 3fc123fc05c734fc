"""The template context: the spec turned into HCL expressions and table rows the templates lay out."""

from __future__ import annotations

import json
from typing import Any

from meshpipe.trigger import hcl
from meshpipe.trigger.hcl import Raw
from meshpipe.trigger.prerun import RUN_FILE
from meshpipe.trigger.spec import GITHUB_COM_API, LIMIT_GHES, RUN_URL_INPUT, Input, ModuleSpec, Setting
from meshpipe.trigger.tftests import validation_runs, wiring_runs
from meshpipe.trigger.variables import Variable

__all__ = ["CONTEXT_EXPRESSIONS", "build_context"]

#: meshStack context source -> local that holds it
CONTEXT_EXPRESSIONS: dict[str, str] = {
    "run_url": "local.run_url",
    "run_id": "local.run_id",
    "building_block_id": "local.building_block_id",
    "behavior": "local.behavior",
    "workspace": "local.workspace",
    "project": "local.project",
}
#: Environment variables carry the dispatcher's configuration base64-encoded in chunks of this many characters: one
#: variable may hold at most 128 KiB (MAX_ARG_STRLEN) and base64 keeps every character a single byte.
CONFIG_CHUNK = 100000


def _ref(setting: Setting) -> Any:
    return Raw(f"var.{setting.variable}") if setting.exposed else setting.value


def _input_expression(item: Input) -> Raw | str:
    if item.kind == "static":
        return item.value or ""
    if item.kind == "meshstack":
        return Raw(CONTEXT_EXPRESSIONS[item.context or ""])
    ref = f"var.{item.variable}"
    if item.type == "string":
        return Raw(ref)
    if item.required or item.default is not None:
        return Raw(f"jsonencode({ref})")
    return Raw(f"{ref} == null ? null : jsonencode({ref})")


#: The interpreter meshStack's runner image (Alpine) and Debian-like systems have; preferred over a ``python3`` found
#: through ``PATH``, which may be a version manager's shim costing 100 ms and more per start.
SYSTEM_PYTHON = "/usr/bin/python3"


def _python(setting: Setting) -> Raw:
    """The interpreter: the setting, except that the default ``python3`` means the system interpreter if present."""
    chosen = _ref_text(setting)
    return Raw(f'{chosen} == "python3" && fileexists("{SYSTEM_PYTHON}") ? "{SYSTEM_PYTHON}" : {chosen}')


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


def _locals(spec: ModuleSpec) -> dict[str, list[tuple[str, Any]]]:
    phase = "workflow" if spec.event == "workflow_dispatch" else "event_type"
    settings = [
        ("api_url", Raw(f'trimsuffix({_ref_text(spec.api_url)}, "/")')),
        ("repository", _ref(spec.repository)),
        ("ref", _ref(spec.ref)),
        (f"apply_{phase}", _ref(spec.apply)),
        (f"destroy_{phase}", _ref(spec.destroy)),
        ("forward_run_url", _ref(spec.forward_run_url)),
        ("correlation_input", _ref(spec.correlation_input)),
        ("redispatch", _ref(spec.redispatch)),
        ("wait", _ref(spec.wait)),
        ("wait_timeout_seconds", _ref(spec.wait_timeout_seconds)),
        ("poll_interval_seconds", _ref(spec.poll_interval_seconds)),
        ("python", _python(spec.python)),
    ]
    stable = {i.name: _input_expression(i) for i in spec.inputs if i.kind in ("static", "variable")}
    # meshStack context stays out of the on_change fingerprint: part of it changes with every run, and a DETECT run
    # (whose plan an APPLY may replay) gets no run object at all, so even the workspace is unknown then.
    per_run = {i.name: _input_expression(i) for i in spec.inputs if i.kind == "meshstack"}
    context_inputs = {i.name: i.context for i in spec.inputs if i.kind == "meshstack"}
    if spec.event == "repository_dispatch" or spec.flavour == "ghes":
        limit: Any = LIMIT_GHES
    else:
        limit = Raw(f'local.api_url == "{GITHUB_COM_API}" ? 25 : 10')
    base = "var.workflow_inputs" if spec.workflow_inputs is not None else "{}"
    present = "name => value if value != null"
    inputs = [
        ("declared_inputs", stable),
        ("run_inputs", per_run),
    ]
    assembly = [
        (
            "stable_inputs",
            Raw(f"merge({base}, {{ for name, value in local.declared_inputs : {present} }})"),
        ),
        (
            "run_url_input",
            Raw(
                f"{{ for name, value in {{ {RUN_URL_INPUT} = local.run_url }} : "
                "name => value if local.forward_run_url && value != null }"
            ),
        ),
        (
            "inputs",
            Raw(
                "merge(local.stable_inputs, "
                f"{{ for name, value in local.run_inputs : {present} }}, local.run_url_input)"
            ),
        ),
        ("secret_inputs", spec.secret_inputs),
        ("input_limit", limit),
        (
            "input_count",
            # Every input the dispatcher may send, known at plan time or not: the meshStack context and the run URL
            # may come from the pre-run script's run file only when the dispatcher runs.
            Raw(
                "length(local.stable_inputs) + length(local.run_inputs) + (local.forward_run_url ? 1 : 0) + "
                "length(local.secret_inputs) + (local.correlation_input == null ? 0 : 1)"
            ),
        ),
    ]
    auth = spec.auth
    dispatch = [
        ("version", 1),
        ("module", spec.name),
        ("api_url", Raw("local.api_url")),
        ("repository", Raw("local.repository")),
        ("ref", Raw("local.ref")),
        ("event", spec.event),
        ("inputs", Raw("local.inputs")),
        ("secret_inputs", Raw("local.secret_inputs")),
        ("correlation_input", Raw("local.correlation_input")),
        ("behavior", Raw("local.behavior")),
        ("run_id", Raw("local.run_id")),
        ("building_block_id", Raw("local.building_block_id")),
        ("run_file", RUN_FILE),
        ("run_url_input", Raw(f'local.forward_run_url ? "{RUN_URL_INPUT}" : null')),
        ("context_inputs", context_inputs),
        # GHES (up to 3.20) rejects return_run_details with a 400; asking only github.com saves GHES a second POST.
        ("return_run_details", False if spec.flavour == "ghes" else Raw('!endswith(local.api_url, "/api/v3")')),
        ("wait", Raw("local.wait")),
        ("wait_timeout_seconds", Raw("local.wait_timeout_seconds")),
        ("poll_interval_seconds", Raw("local.poll_interval_seconds")),
        (
            "auth",
            {
                "mode": auth.mode,
                "token_env": auth.token_env,
                "app_id_env": auth.app_id_env,
                "installation_id_env": auth.installation_id_env,
                "private_key_env": auth.private_key_env,
            },
        ),
    ]
    other = "event_type" if phase == "workflow" else "workflow"
    fingerprint = [
        ("api_url", Raw("local.api_url")),
        ("repository", Raw("local.repository")),
        ("ref", Raw("local.ref")),
        ("event", spec.event),
        (phase, Raw(f"local.apply_{phase}")),
        ("inputs", Raw("local.stable_inputs")),
        ("secret_inputs", Raw("local.secret_inputs")),
        (
            "run_id",
            Raw('local.redispatch == "every_run" ? (local.run_id != null ? local.run_id : timestamp()) : null'),
        ),
    ]
    context = [
        ("run_url", Raw("try(tostring(local.run._links.self.href), null)")),
        (
            "run_id",
            Raw(
                "var.meshstack_building_block_run_id != null ? var.meshstack_building_block_run_id : "
                "try(tostring(local.run.metadata.uuid), null)"
            ),
        ),
        (
            "building_block_id",
            Raw(
                "var.meshstack_building_block_id != null ? var.meshstack_building_block_id : "
                "try(tostring(local.run.spec.buildingBlock.uuid), null)"
            ),
        ),
        ("behavior", Raw("try(tostring(local.run.spec.behavior), null)")),
        ("workspace", Raw("try(tostring(local.run.spec.buildingBlock.spec.workspaceIdentifier), null)")),
        ("project", Raw("try(tostring(local.run.spec.buildingBlock.spec.projectIdentifier), null)")),
    ]
    urls = [
        (
            "web_url",
            Raw(
                'endswith(local.api_url, "/api/v3") ? trimsuffix(local.api_url, "/api/v3") : '
                'join("", regex("^(https?://)(?:api\\\\.)?(.*)$", local.api_url))'
            ),
        ),
    ]
    return {
        "context": context,
        "urls": urls,
        "settings": settings,
        "inputs": inputs,
        "assembly": assembly,
        "dispatch": dispatch,
        "phases": [
            ("apply_config", Raw(f"merge(local.dispatch, {{ {phase} = local.apply_{phase}, {other} = null }})")),
            ("destroy_config", Raw(f"merge(local.dispatch, {{ {phase} = local.destroy_{phase}, {other} = null }})")),
        ],
        "fingerprint": fingerprint,
    }


def _preconditions(spec: ModuleSpec) -> list[tuple[str, str]]:
    checks = [
        (
            "local.input_count <= local.input_limit",
            "A dispatch would carry more inputs than GitHub accepts (25 on github.com; 10 on GitHub Enterprise "
            "Server and for repository_dispatch client_payload keys), counting workflow_inputs, declared inputs, "
            "secret inputs, buildingBlockRunUrl and the correlation input.",
        ),
        (
            "length(distinct([for name in keys(local.inputs) : lower(name)])) == length(local.inputs)",
            "Two workflow inputs differ only in case; GitHub treats input names case-insensitively.",
        ),
        (
            "local.correlation_input == null ? true : !contains([for name in concat(keys(local.inputs), "
            "keys(local.secret_inputs)) : lower(name)], lower(local.correlation_input))",
            "correlation_input names an input that already has a value; the dispatcher fills it with the "
            "correlation id, so choose an input that the module does not send already (workflow_inputs, declared "
            "and secret inputs).",
        ),
    ]
    declared = sorted(item.name.lower() for item in spec.inputs)
    if spec.workflow_inputs is not None and declared:
        checks.append(
            (
                f"alltrue([for name in keys(var.workflow_inputs) : !contains({hcl.literal(declared)}, lower(name))])",
                "workflow_inputs must not set inputs the module already sends: " + ", ".join(declared) + ".",
            )
        )
    return checks


def _ref_text(setting: Setting) -> str:
    return f"var.{setting.variable}" if setting.exposed else hcl.literal(setting.value)


def build_context(spec: ModuleSpec, *, header: str, spec_path: str, command: str) -> dict[str, Any]:
    """Everything the templates use; templates do layout only."""
    variables = spec.variables
    examples = {v.name: _example(v, spec) for v in variables if v.required}
    return {
        "header": header,
        "spec": spec,
        "spec_path": spec_path,
        "render_command": command,
        "variables": variables,
        "examples": examples,
        "locals": _locals(spec),
        "preconditions": _preconditions(spec),
        "phase": "workflow" if spec.event == "workflow_dispatch" else "event_type",
        "run_url_input": RUN_URL_INPUT,
        "chunk": CONFIG_CHUNK,
        "wiring_runs": wiring_runs(spec),
        "validation_runs": validation_runs(spec, variables),
        "json": lambda value: json.dumps(value, ensure_ascii=False),
    }
