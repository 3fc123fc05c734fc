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

#: what an input is called in a variable's description, per target
INPUT_NOUNS = {
    "github": "workflow input",
    "gitlab": "pipeline input",
    "azure_devops": "pipeline parameter",
    "webhook": "webhook input",
}

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
    "gitlab_api_url": ("string", "GitLab REST API base URL; for a self-managed instance use https://HOST/api/v4."),
    "gitlab_project": ("string", "GitLab project whose pipelines run: its full path (group/project) or numeric id."),
    "apply_ref": ("string", "Branch or tag the apply pipeline runs on (created on create and whenever one is due)."),
    "destroy_ref": ("string", "Branch or tag the destroy pipeline runs on; null runs no pipeline on destroy."),
    "azure_devops_org_url": (
        "string",
        "Azure DevOps organization URL (https://dev.azure.com/ORG); for Azure DevOps Server https://HOST/COLLECTION.",
    ),
    "azure_devops_project": ("string", "Azure DevOps project holding the pipelines (name or id)."),
    "azure_devops_ref": ("string", "Full ref the pipelines run on (resources.repositories.self.refName)."),
    "apply_pipeline_id": ("number", "Id of the pipeline run on create and whenever a new run is due."),
    "destroy_pipeline_id": ("number", "Id of the pipeline run on destroy; null runs nothing on destroy."),
    "webhook_url": (
        "string",
        "URL the signed webhook is POSTed to: https://, or http:// to 127.0.0.1/localhost only; no credentials.",
    ),
    "apply_event": ("string", "Event name of the delivery sent on create and whenever a new one is due."),
    "destroy_event": ("string", "Event name of the delivery sent on destroy; null sends nothing on destroy."),
    "phase_input": (
        "string",
        "Name of the input that receives the phase (apply or destroy), for a pipeline serving both; null = none.",
    ),
    "python": (
        "string",
        "Python 3 interpreter that runs the bundled dispatcher (standard library only); python3 means /usr/bin/python3 "
        "when it exists, else python3 from PATH.",
    ),
}

#: the descriptions of common settings for GitLab, Azure DevOps and the webhook (the table above says "workflow")
TARGET_DESCRIPTIONS: dict[str, str] = {
    "forward_run_url": (
        "Send the meshStack run's URL as the input buildingBlockRunUrl when meshStack set the run variables."
    ),
    "correlation_input": (
        "Name of an input that receives a per-dispatch correlation id (show it in the pipeline's name, so that a "
        "retry after a lost answer finds the pipeline instead of starting another); null = none."
    ),
    "redispatch": "every_run starts the apply phase on each meshStack run; on_change only when inputs change.",
    "wait_for_completion": "Wait for the started run and fail the apply/destroy unless it succeeds.",
    "wait_timeout_seconds": "Upper bound in seconds for waiting on the started run.",
    "poll_interval_seconds": "Seconds between two polls of the started run while waiting.",
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
NULLABLE_SETTINGS = frozenset(
    {
        "destroy_workflow",
        "destroy_event_type",
        "correlation_input",
        "destroy_ref",
        "destroy_pipeline_id",
        "destroy_event",
        "phase_input",
    }
)


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
        room = (spec.input_limit or 0) - len(spec.inputs)
        names = f"alltrue([for key in keys({ref}) : can(regex({hcl.string(INPUT_NAME_RE)}, key))])"
        return (
            Validation(f"length({ref}) <= {room}", f"workflow_inputs may hold at most {room} inputs (GitHub's limit)."),
            Validation(names, f"workflow_inputs keys must be GitHub input names matching {INPUT_NAME_RE}."),
        )
    if name in ("correlation_input", "phase_input"):
        regex, what = input_name_rule(spec)
        condition = _guard(name, f"can(regex({hcl.string(regex)}, {ref}))", True)
        return (Validation(condition, f"{name} must be null or {what} matching {regex}."),)
    target_checks = target_validations(spec, name, ref, optional)
    if target_checks is not None:
        return target_checks
    if name == "redispatch":
        condition = f"contains({hcl.literal(list(REDISPATCH))}, {ref})"
        return (Validation(condition, "redispatch must be one of: " + ", ".join(REDISPATCH) + "."),)
    if name in ("wait_timeout_seconds", "poll_interval_seconds"):
        return (Validation(f"{ref} > 0", f"{name} must be greater than 0."),)
    return ()


def input_name_rule(spec: ModuleSpec) -> tuple[str, str]:
    """(pattern, what it is) for the target's input names."""
    if spec.target == "github":
        return INPUT_NAME_RE, "an input name"
    from meshpipe.generator.spec_targets import input_name_pattern

    return input_name_pattern(spec.target, spec.values)


def target_validations(spec: ModuleSpec, name: str, ref: str, optional: bool) -> tuple[Validation, ...] | None:
    """The validations of a GitLab, Azure DevOps or webhook setting; ``None`` for other settings."""
    from meshpipe.generator import spec_targets as rules

    def matches(regex: str, message: str) -> tuple[Validation, ...]:
        condition = _guard(name, f"can(regex({hcl.string(regex)}, {ref}))", optional)
        return (Validation(condition, message + (" Use null for none." if optional else "")),)

    def git_ref(regex: str, message: str) -> tuple[Validation, ...]:
        # RE2 has no lookahead, so ".." and the forbidden endings are a second condition.
        ending = f'length(regexall("\\\\.\\\\.|[./]$|\\\\.lock$", {ref})) == 0'
        condition = _guard(name, f"can(regex({hcl.string(regex)}, {ref})) && {ending}", optional)
        return (Validation(condition, message + (" Use null for none." if optional else "")),)

    if name == "gitlab_api_url":
        return matches(
            rules.GITLAB_API_URL_PATTERN,
            "gitlab_api_url must be GitLab's REST API URL ending in /api/v4, without a query, a fragment or "
            "user:password@.",
        )
    if name == "azure_devops_org_url":
        return matches(
            rules.AZURE_ORG_URL_PATTERN,
            "azure_devops_org_url must be an http(s) URL without a query, a fragment or user:password@.",
        )
    if name == "gitlab_project":
        return matches(rules.GITLAB_PROJECT_PATTERN, "gitlab_project must be a full path (group/project) or an id.")
    if name in ("apply_ref", "destroy_ref"):
        return git_ref(rules.GITLAB_REF_PATTERN, f"{name} must be a branch or tag name (git check-ref-format).")
    if name == "azure_devops_project":
        return matches(
            rules.AZURE_PROJECT_PATTERN,
            "azure_devops_project must be a project name of 1-64 characters without /:\\~&%;@'\"?<>|#$*{},+=[] "
            "that does not start with _ or . and does not end with .",
        )
    if name == "azure_devops_ref":
        return git_ref(rules.AZURE_REF_PATTERN, "azure_devops_ref must be a full ref such as refs/heads/main.")
    if name in ("apply_pipeline_id", "destroy_pipeline_id"):
        condition = _guard(name, f"{ref} > 0 && floor({ref}) == {ref} && {ref} < 2147483648", optional)
        return (Validation(condition, f"{name} must be a pipeline id (a positive integer)."),)
    if name == "webhook_url":
        return matches(
            rules.WEBHOOK_URL_PATTERN,
            "webhook_url must be an https:// URL without credentials (http:// only to 127.0.0.1, localhost or [::1]).",
        )
    if name in ("apply_event", "destroy_event"):
        return matches(rules.WEBHOOK_EVENT_PATTERN, f"{name} must be 1-100 letters, digits or _.:- characters.")
    return None


def _setting_variable(spec: ModuleSpec, setting: Setting) -> Variable:
    name = setting.variable or ""
    kind, description = SETTING_VARIABLES[name]
    if spec.target != "github":
        description = TARGET_DESCRIPTIONS.get(name, description)
    return Variable(
        name=name,
        type=kind,
        description=setting.description or description,
        default=setting.value,
        required=setting.required,
        nullable=name in NULLABLE_SETTINGS or (setting.value is None and not setting.required),
        validations=_setting_validations(spec, setting),
    )


def _input_variable(item: Input, noun: str = "workflow input", as_value: bool = False) -> Variable:
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
    description = item.description or f"Value of the {noun} {item.name}."
    if item.type != "string":
        description += " Sent as a JSON value." if as_value else " Sent JSON-encoded as a string."
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
    head = [s for s in (spec.api_url, spec.repository, spec.ref, spec.apply, spec.destroy) if s is not None]
    if spec.workflow_inputs is not None:
        head.append(spec.workflow_inputs)
    phase_input = [] if spec.phase_input is None else [spec.phase_input]
    tail = [
        spec.forward_run_url,
        spec.correlation_input,
        *phase_input,
        spec.redispatch,
        spec.wait,
        spec.wait_timeout_seconds,
        spec.poll_interval_seconds,
        spec.python,
    ]
    result = [_setting_variable(spec, s) for s in head if s.exposed]
    noun = INPUT_NOUNS[spec.target]
    result += [
        _input_variable(item, noun, spec.sends_json_value(item.type)) for item in spec.inputs if item.kind == "variable"
    ]
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
