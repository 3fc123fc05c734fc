"""The values the module's plan-level ``terraform test`` runs check (``templates/tests/*.tftest.hcl.j2``).

The runs themselves are written out in the templates; this module picks the cases a spec needs: which API URLs to
derive web URLs from, which inputs to check, which redispatch policies to compare, and a value each validation
rejects. Provisioners do not run at plan, so these runs never dispatch anything; the integration tests in meshpipe's
own suite cover the dispatches with real applies against the fake GitHub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshpipe.generator.regex import searcher
from meshpipe.generator.spec import Input, ModuleSpec
from meshpipe.generator.variables import Variable

__all__ = [
    "BUILDING_BLOCK_ID",
    "RUN_ID",
    "RUN_URL_BASE",
    "Rejection",
    "checked_inputs",
    "input_room",
    "input_values",
    "rejections",
    "target_urls",
    "web_urls",
]

#: The run objects of the tests are meshStack runs under this URL, each named by its uuid.
RUN_URL_BASE = "https://meshstack.example.com/api/meshobjects/meshbuildingblockruns"
#: The uuids of the run object most runs pass and of its building block
RUN_ID, BUILDING_BLOCK_ID = "7d1c2a4e-0b5f-4e8a-9c3d-2f6a1b8e4c10", "a3f0e9d2-5c41-4b7e-8e21-6d0c9b7a5f33"

#: API URL -> web UI base URL the outputs derive from it
WEB_URLS = {
    "https://api.github.com": "https://github.com",
    "https://ghe.example.com/api/v3": "https://ghe.example.com",
    "https://api.example.org/": "https://example.org",
    "http://127.0.0.1:8080": "http://127.0.0.1:8080",
}


def web_urls(spec: ModuleSpec) -> list[tuple[str, str]]:
    """(API URL, expected web URL): every known case when the API URL is a variable, else the spec's, if known.

    GitHub only: the other targets' outputs are checked by :func:`target_urls`.
    """
    if spec.target != "github":
        return []
    if spec.api_url.exposed:
        return list(WEB_URLS.items())
    api_url = str(spec.api_url.value)
    web = WEB_URLS.get(api_url) or WEB_URLS.get(api_url.rstrip("/"))
    return [] if web is None else [(api_url, web)]


#: target -> (variable values, output, expected value): the page URLs a non-GitHub module derives
TARGET_URLS: dict[str, list[tuple[dict[str, Any], str, str]]] = {
    "gitlab": [
        (
            {"gitlab_api_url": "https://gitlab.com/api/v4", "gitlab_project": "platform/sub/deploy"},
            "pipelines_url",
            "https://gitlab.com/platform/sub/deploy/-/pipelines",
        ),
        (
            {"gitlab_api_url": "https://git.example.com/api/v4/", "gitlab_project": "4711"},
            "pipelines_url",
            "https://git.example.com/projects/4711",
        ),
    ],
    "azure_devops": [
        (
            {
                "azure_devops_org_url": "https://dev.azure.com/octo/",
                "azure_devops_project": "Platform Team",
                "apply_pipeline_id": 12,
            },
            "apply_pipeline_url",
            "https://dev.azure.com/octo/Platform%20Team/_build?definitionId=12",
        ),
    ],
    "webhook": [
        (
            {"webhook_url": "https://ci.example.com/generic-webhook-trigger/invoke"},
            "webhook_url",
            "https://ci.example.com/generic-webhook-trigger/invoke",
        ),
    ],
}


def target_urls(spec: ModuleSpec) -> list[tuple[dict[str, Any], str, str]]:
    """Runs that check a non-GitHub module's page URLs: only those whose variables the module exposes."""
    exposed = {variable.name for variable in spec.variables}
    return [case for case in TARGET_URLS.get(spec.target, []) if set(case[0]) <= exposed]


def checked_inputs(spec: ModuleSpec) -> list[Input]:
    """The declared inputs whose value a plan knows: static ones, variables with a value, and secrets (by name)."""
    return [
        item
        for item in spec.inputs
        if item.kind in ("static", "secret")
        or (item.kind == "variable" and (item.required or item.default is not None))
    ]


@dataclass(frozen=True)
class Rejection:
    """A run that sets ``variable`` to a value its ``number``-th validation rejects.

    ``input_count``: the value is that many generated workflow inputs (``value`` unused).
    """

    variable: str
    number: int
    message: str
    value: Any = None
    input_count: int | None = None


_BAD_STRINGS = ("", " ", "!!not-valid!!", "x" * 300, "UPPER lower", "0")
#: variable -> a value its (first) validation rejects
_BAD_VALUES: dict[str, Any] = {
    "github_api_url": "ftp://example.com",
    "github_repository": "not-a-repository",
    "github_ref": " ",
    "python": "",
    "apply_workflow": "workflows/apply.sh",
    "destroy_workflow": "destroy.json",
    "apply_event_type": "has spaces",
    "destroy_event_type": "has spaces",
    "correlation_input": "not valid",
    "phase_input": "not valid",
    "gitlab_api_url": "https://gitlab.example.com",
    "gitlab_project": "no-namespace",
    "apply_ref": "main..feature",
    "destroy_ref": "has space",
    "azure_devops_org_url": "dev.azure.com/org",
    "azure_devops_project": "_underscore-first",
    "azure_devops_ref": "main",
    "apply_pipeline_id": 0,
    "destroy_pipeline_id": 1.5,
    "webhook_url": "http://ci.example.com/hook",
    "apply_event": "has space",
    "destroy_event": "",
    "redispatch": "sometimes",
    "wait_timeout_seconds": 0,
    "poll_interval_seconds": 0,
    "meshstack_building_block_run_b64": "not base64 json!",
}
_NONE = object()
_PLACEHOLDERS: dict[str, Any] = {"string": "example", "number": 1, "bool": True, "list": ["a"], "map": {"key": "value"}}


def rejections(spec: ModuleSpec, variables: tuple[Variable, ...]) -> list[Rejection]:
    """One run per validation that some value can fail."""
    runs: list[Rejection] = []
    for variable in variables:
        for index, check in enumerate(variable.validations):
            if variable.name == "workflow_inputs" and index == 0:
                # one more than fits next to the declared inputs
                runs.append(Rejection(variable.name, 1, check.error_message, input_count=input_room(spec) + 1))
                continue
            value = _bad_value(spec, variable, index)
            if value is not _NONE:
                runs.append(Rejection(variable.name, index + 1, check.error_message, value))
    return runs


def input_room(spec: ModuleSpec) -> int:
    """How many workflow_inputs fit next to the declared inputs (GitHub; 0 for targets without workflow_inputs)."""
    return 0 if spec.input_limit is None else spec.input_limit - len(spec.inputs)


def input_values(spec: ModuleSpec) -> list[tuple[str, Any]]:
    """Variables that give every declared input a value (the meshStack context comes from a run object)."""
    values: list[tuple[str, Any]] = []
    for item in spec.inputs:
        if item.kind == "variable" and item.variable:
            value = item.example if item.example is not None else item.default
            if value is None:
                value = item.allowed[0] if item.allowed else _PLACEHOLDERS[item.type]
            values.append((item.variable, value))
    return values


def _bad_value(spec: ModuleSpec, variable: Variable, index: int) -> Any:
    if variable.name in _BAD_VALUES:
        return _BAD_VALUES[variable.name]
    if variable.name == "workflow_inputs":
        return {"bad name": "x"}
    item = next((i for i in spec.inputs if i.variable == variable.name), None)
    if item is None:
        return _NONE
    if item.allowed is not None and index == 0:
        if item.type == "number":
            return max(item.allowed) + 1
        return next(v for v in ("not-allowed", "not-allowed-2") if v not in item.allowed)
    if item.regex is not None:
        matches = searcher(item.regex)  # RE2, like Terraform: the spec may use RE2-only syntax such as \z
        return next((v for v in _BAD_STRINGS if not matches(v)), _NONE)
    return _NONE
