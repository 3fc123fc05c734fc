"""The Terraform variables of a module, derived from its spec (names from ARCHITECTURE.md's interface table).

Validations reference only their own variable (OpenTofu has no cross-variable validation); optional variables
tolerate ``null``. Checks that span variables are ``lifecycle.precondition`` blocks in ``main.tf``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshpipe.contract import INPUT_NAME_PATTERN, REPOSITORY_PATTERN, WORKFLOW_FILE_PATTERN
from meshpipe.generator import hcl
from meshpipe.generator.spec import REDISPATCH, Input, ModuleSpec, Setting

__all__ = ["MESHSTACK_VARIABLES", "Validation", "Variable", "module_variables"]

INPUT_NAME_RE = INPUT_NAME_PATTERN
WORKFLOW_FILE_RE = WORKFLOW_FILE_PATTERN
TERRAFORM_TYPES = {"string": "string", "number": "number", "bool": "bool", "list": "list(string)", "map": "map(string)"}

#: setting variable -> (type, standard description)
SETTING_VARIABLES: dict[str, tuple[str, str]] = {
    "github_api_url": ("string", "GitHub REST API base URL; for GitHub Enterprise Server use https://HOST/api/v3."),
    "github_repository": ("string", "Repository holding the workflows, as owner/repo."),
    "github_ref": ("string", "Branch or tag the workflows run on."),
    "apply_workflow": ("string", "Workflow file (e.g. apply.yml) fired on create and whenever a new dispatch is due."),
    "destroy_workflow": ("string", "Workflow file fired on destroy; null fires nothing on destroy."),
    "apply_event_type": ("string", "repository_dispatch event type sent on create and whenever a dispatch is due."),
    "destroy_event_type": ("string", "repository_dispatch event type sent on destroy; null sends nothing."),
    "workflow_inputs": ("map(string)", "Additional inputs sent to both workflows (values are strings)."),
    "forward_run_url": (
        "bool",
        "Send the meshStack run's URL as the workflow input buildingBlockRunUrl when meshStack set the run variables.",
    ),
    "correlation_input": (
        "string",
        "Name of a workflow input that receives a per-dispatch correlation id (show it in the run-name); null = none.",
    ),
    "redispatch": (
        "string",
        "every_run fires the apply workflow on each meshStack run; on_change only when inputs change.",
    ),
    "wait_for_completion": (
        "bool",
        "Wait for the workflow run and fail the apply/destroy unless it concludes success.",
    ),
    "wait_timeout_seconds": ("number", "Upper bound in seconds for waiting on a workflow run."),
    "poll_interval_seconds": ("number", "Seconds between two polls of the workflow run while waiting."),
    "python": (
        "string",
        "Python 3 interpreter that runs the bundled dispatcher (standard library only); python3 means /usr/bin/python3 "
        "when it exists, else python3 from PATH.",
    ),
}

MESHSTACK_VARIABLES: tuple[tuple[str, str], ...] = (
    ("meshstack_building_block_id", "Set by meshStack: UUID of the building block."),
    ("meshstack_building_block_run_id", "Set by meshStack: UUID of the current building block run."),
    (
        "meshstack_building_block_run_b64",
        "Set by meshStack: the building block run object, base64-encoded JSON. Only its URL, id, behavior and "
        "identifiers are used; it is never forwarded.",
    ),
)


@dataclass(frozen=True)
class Validation:
    """A ``validation`` block: an HCL condition over one variable and the message listing what is allowed."""

    condition: str
    error_message: str


@dataclass(frozen=True)
class Variable:
    """One ``variable`` block."""

    name: str
    type: str
    description: str
    default: Any = None
    required: bool = False
    nullable: bool = True
    validations: tuple[Validation, ...] = ()


#: settings whose null means "none" (so null never falls back to the default)
NULLABLE_SETTINGS = frozenset({"destroy_workflow", "destroy_event_type", "correlation_input"})


def _guard(name: str, condition: str, optional: bool) -> str:
    return f"var.{name} == null ? true : {condition}" if optional else condition


def _setting_validations(spec: ModuleSpec, setting: Setting) -> tuple[Validation, ...]:
    name = setting.variable or ""
    ref = f"var.{name}"
    optional = name in NULLABLE_SETTINGS or (setting.value is None and not setting.required)
    if name == "github_api_url":
        return (Validation(f'can(regex("^https?://", {ref}))', "github_api_url must start with http:// or https://."),)
    if name == "github_repository":
        condition = f"can(regex({hcl.string(REPOSITORY_PATTERN)}, {ref}))"
        return (Validation(condition, "github_repository must look like owner/repo."),)
    if name in ("github_ref", "python"):
        return (Validation(f"length(trimspace({ref})) > 0", f"{name} must not be empty."),)
    if name.endswith("_workflow"):
        condition = _guard(name, f"can(regex({hcl.string(WORKFLOW_FILE_RE)}, {ref}))", optional)
        message = f"{name} must be a workflow file name ending in .yml or .yaml, without a path (e.g. apply.yml)."
        return (Validation(condition, message + (" Use null for none." if optional else "")),)
    if name.endswith("_event_type"):
        condition = _guard(name, f'can(regex("^\\\\S{{1,100}}$", {ref}))', optional)
        return (Validation(condition, f"{name} must be 1-100 characters without spaces."),)
    if name == "workflow_inputs":
        room = spec.input_limit - len(spec.inputs)
        names = f"alltrue([for key in keys({ref}) : can(regex({hcl.string(INPUT_NAME_RE)}, key))])"
        return (
            Validation(f"length({ref}) <= {room}", f"workflow_inputs may hold at most {room} inputs (GitHub's limit)."),
            Validation(names, f"workflow_inputs keys must be GitHub input names matching {INPUT_NAME_RE}."),
        )
    if name == "correlation_input":
        condition = _guard(name, f"can(regex({hcl.string(INPUT_NAME_RE)}, {ref}))", True)
        return (Validation(condition, f"correlation_input must be null or an input name matching {INPUT_NAME_RE}."),)
    if name == "redispatch":
        condition = f"contains({hcl.literal(list(REDISPATCH))}, {ref})"
        return (Validation(condition, "redispatch must be one of: " + ", ".join(REDISPATCH) + "."),)
    if name in ("wait_timeout_seconds", "poll_interval_seconds"):
        return (Validation(f"{ref} > 0", f"{name} must be greater than 0."),)
    return ()


def _setting_variable(spec: ModuleSpec, setting: Setting) -> Variable:
    name = setting.variable or ""
    kind, description = SETTING_VARIABLES[name]
    return Variable(
        name=name,
        type=kind,
        description=setting.description or description,
        default=setting.value,
        required=setting.required,
        nullable=name in NULLABLE_SETTINGS or (setting.value is None and not setting.required),
        validations=_setting_validations(spec, setting),
    )


def _input_variable(item: Input) -> Variable:
    name = item.variable or ""
    optional = item.default is None and not item.required
    validations: list[Validation] = []
    if item.allowed is not None:
        options = ", ".join(str(option) for option in item.allowed)
        condition = _guard(name, f"contains({hcl.literal(list(item.allowed))}, var.{name})", optional)
        validations.append(Validation(condition, f"{name} must be one of: {options}."))
    if item.regex is not None:
        condition = _guard(name, f"can(regex({hcl.string(item.regex)}, var.{name}))", optional)
        validations.append(Validation(condition, f"{name} must match the regular expression {item.regex}."))
    description = item.description or f"Value of the workflow input {item.name}."
    if item.type != "string":
        description += " Sent JSON-encoded as a string."
    return Variable(
        name=name,
        type=TERRAFORM_TYPES[item.type],
        description=description,
        default=item.default,
        required=item.required,
        nullable=optional,
        validations=tuple(validations),
    )


def module_variables(spec: ModuleSpec) -> tuple[Variable, ...]:
    """Every variable of the module, in the order of ``variables.tf``."""
    head = [spec.api_url, spec.repository, spec.ref, spec.apply, spec.destroy]
    if spec.workflow_inputs is not None:
        head.append(spec.workflow_inputs)
    tail = [
        spec.forward_run_url,
        spec.correlation_input,
        spec.redispatch,
        spec.wait,
        spec.wait_timeout_seconds,
        spec.poll_interval_seconds,
        spec.python,
    ]
    result = [_setting_variable(spec, s) for s in head if s.exposed]
    result += [_input_variable(item) for item in spec.inputs if item.kind == "variable"]
    result += [_setting_variable(spec, s) for s in tail if s.exposed]
    b64_check = Validation(
        "var.meshstack_building_block_run_b64 == null ? true : "
        "can(jsondecode(base64decode(var.meshstack_building_block_run_b64)))",
        "meshstack_building_block_run_b64 must be null or base64-encoded JSON (the meshStack run object).",
    )
    for name, description in MESHSTACK_VARIABLES:
        checks = (b64_check,) if name.endswith("_b64") else ()
        result.append(Variable(name, "string", description, validations=checks))
    return tuple(result)
