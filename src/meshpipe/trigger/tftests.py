"""The plan-level ``terraform test`` runs rendered into every module's ``tests/`` (wiring and validations).

Provisioners do not run at plan, so these runs never dispatch anything; the integration tests in meshpipe's own
suite cover the dispatches with real applies against the fake GitHub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshpipe.trigger.hcl import Raw
from meshpipe.trigger.prerun import RUN_FILE
from meshpipe.trigger.regex import searcher
from meshpipe.trigger.spec import RUN_URL_INPUT, ModuleSpec, Setting
from meshpipe.trigger.variables import Variable

__all__ = ["RUN_OBJECT", "TestRun", "validation_runs", "wiring_runs"]

RUN_URL = "https://meshstack.example.com/api/meshobjects/meshbuildingblockruns/7d1c2a4e-0b5f-4e8a-9c3d-2f6a1b8e4c10"
#: A trimmed meshStack run object, as meshStack passes it base64-encoded.
RUN_OBJECT: dict[str, Any] = {
    "kind": "meshBuildingBlockRun",
    "metadata": {"uuid": "7d1c2a4e-0b5f-4e8a-9c3d-2f6a1b8e4c10"},
    "spec": {
        "behavior": "APPLY",
        "buildingBlock": {
            "uuid": "a3f0e9d2-5c41-4b7e-8e21-6d0c9b7a5f33",
            "spec": {"workspaceIdentifier": "team-alpha", "projectIdentifier": "alpha-dev"},
        },
    },
    "_links": {"self": {"href": RUN_URL}},
}


@dataclass
class TestRun:
    """One ``run`` block."""

    name: str
    comment: str
    variables: list[tuple[str, Any]] = field(default_factory=list)
    asserts: list[tuple[str, str]] = field(default_factory=list)
    expect_failures: list[str] = field(default_factory=list)


def _b64(run: dict[str, Any]) -> Raw:
    from meshpipe.trigger.hcl import literal

    return Raw(f"base64encode(jsonencode({literal(run, 4)}))")


def _with_run(uuid: str, url_uuid: str | None = None) -> Raw:
    """The run object of another run: its uuid and its URL change together (``url_uuid`` alone: only the URL)."""
    url = RUN_URL.rsplit("/", 1)[0] + "/" + (url_uuid or uuid)
    return _b64({**RUN_OBJECT, "metadata": {"uuid": uuid}, "_links": {"self": {"href": url}}})


def wiring_runs(spec: ModuleSpec) -> list[TestRun]:
    """Runs that check how variables and the run object flow into the dispatch configuration."""
    phase = "workflow" if spec.event == "workflow_dispatch" else "event_type"
    runs = [
        TestRun(
            "reads_the_meshstack_run_object",
            "The run object's URL, ids, behavior and identifiers reach the dispatch configuration.",
            [("meshstack_building_block_run_b64", _b64(RUN_OBJECT))],
            [
                (f'local.run_url == "{RUN_URL}"', "run URL not read from the run object"),
                ('local.run_id == "7d1c2a4e-0b5f-4e8a-9c3d-2f6a1b8e4c10"', "run id not read from the run object"),
                ('local.building_block_id == "a3f0e9d2-5c41-4b7e-8e21-6d0c9b7a5f33"', "building block id not read"),
                ('local.apply_config.behavior == "APPLY"', "behavior not passed to the dispatcher"),
                ('local.workspace == "team-alpha" && local.project == "alpha-dev"', "identifiers not read"),
                (f'local.apply_config.event == "{spec.event}"', "wrong event"),
                ('local.apply_config.run_id == "7d1c2a4e-0b5f-4e8a-9c3d-2f6a1b8e4c10"', "run id not passed"),
                (f'local.apply_config.run_file == "{RUN_FILE}"', "the dispatcher is not told the pre-run file"),
            ],
        ),
        TestRun(
            "works_without_meshstack_variables",
            "Outside meshStack there is no run object: no run URL input, no behavior.",
            [],
            [
                ("local.run_url == null && local.behavior == null", "run context should be null"),
                (f'!contains(keys(local.inputs), "{RUN_URL_INPUT}")', "run URL input without a run object"),
            ],
        ),
    ]
    forward = spec.forward_run_url
    if forward.exposed or forward.value:
        variables: list[tuple[str, Any]] = [("meshstack_building_block_run_b64", _b64(RUN_OBJECT))]
        if forward.exposed:
            variables.append(("forward_run_url", True))
        runs.append(
            TestRun(
                "forwards_the_run_url",
                f"The run URL is sent as the input {RUN_URL_INPUT}.",
                variables,
                [
                    (f'local.apply_config.inputs["{RUN_URL_INPUT}"] == "{RUN_URL}"', "run URL not forwarded"),
                    (f'local.apply_config.run_url_input == "{RUN_URL_INPUT}"', "the pre-run file's URL not forwarded"),
                ],
            )
        )
    if forward.exposed or not forward.value:
        variables = [("meshstack_building_block_run_b64", _b64(RUN_OBJECT))]
        if forward.exposed:
            variables.append(("forward_run_url", False))
        runs.append(
            TestRun(
                "sends_no_run_url_when_forwarding_is_off",
                "forward_run_url = false sends no run URL, neither from the run object nor from the pre-run file.",
                variables,
                [
                    (f'!contains(keys(local.apply_config.inputs), "{RUN_URL_INPUT}")', "run URL forwarded anyway"),
                    ("local.apply_config.run_url_input == null", "the dispatcher would forward the pre-run file's URL"),
                ],
            )
        )
    runs += _url_runs(spec, phase)
    runs += _destroy_runs(spec.destroy, phase)
    runs += _input_runs(spec)
    runs += _fingerprint_runs(spec.redispatch)
    return runs


#: API URL -> web UI base URL the outputs derive from it
WEB_URLS = {
    "https://api.github.com": "https://github.com",
    "https://ghe.example.com/api/v3": "https://ghe.example.com",
    "https://api.example.org/": "https://example.org",
    "http://127.0.0.1:8080": "http://127.0.0.1:8080",
}


def _url_runs(spec: ModuleSpec, phase: str) -> list[TestRun]:
    api_urls = list(WEB_URLS) if spec.api_url.exposed else [str(spec.api_url.value)]
    runs: list[TestRun] = []
    for index, api_url in enumerate(api_urls):
        web = WEB_URLS.get(api_url) or WEB_URLS.get(api_url.rstrip("/"))
        if web is None:
            continue
        variables: list[tuple[str, Any]] = [("github_api_url", api_url)] if spec.api_url.exposed else []
        repository = "local.repository"
        if phase == "workflow":
            output, expected = (
                "apply_workflow_url",
                f"{web}/${{{repository}}}/actions/workflows/${{local.apply_workflow}}",
            )
        else:
            output, expected = "actions_url", f"{web}/${{{repository}}}/actions"
        runs.append(
            TestRun(
                f"derives_the_web_url_{index + 1}",
                f"{api_url} -> {web}",
                variables,
                [(f'output.{output} == "{expected}"', f"{output} should start with {web}")],
            )
        )
    return runs


def _destroy_runs(destroy: Setting, phase: str) -> list[TestRun]:
    """The destroy hook always exists (a later version without a destroy phase must not destroy it, which would fire
    the old destroy phase); its configuration names the destroy phase, or null to fire nothing."""
    from meshpipe.trigger.hcl import literal

    value = "destroy.yml" if phase == "workflow" else "teardown"
    target = f"jsondecode(terraform_data.destroy_hook.input.config).{phase}"
    if not destroy.exposed:
        return [
            TestRun(
                "destroy_hook_follows_the_spec",
                "The destroy hook always exists; its configuration names the spec's destroy phase (null: none).",
                [],
                [(f"{target} == {literal(destroy.value)}", "destroy hook configured with the wrong target")],
            )
        ]
    return [
        TestRun(
            "configures_the_destroy_hook_for_a_destroy_workflow",
            "A destroy phase is named in the hook's configuration.",
            [(destroy.variable or "", value)],
            [
                (f'{target} == "{value}"', "destroy hook configured with the wrong target"),
                (f'local.destroy_config.{phase} == "{value}"', "destroy configuration has the wrong target"),
            ],
        ),
        TestRun(
            "keeps_the_destroy_hook_without_a_destroy_workflow",
            "Without a destroy phase the hook stays and names no target: the dispatcher fires nothing on destroy.",
            [(destroy.variable or "", None)],
            [(f"{target} == null", "destroy hook configured with a target without a destroy phase")],
        ),
    ]


def _input_runs(spec: ModuleSpec) -> list[TestRun]:
    asserts: list[tuple[str, str]] = []
    for item in spec.inputs:
        key = f'local.apply_config.inputs["{item.name}"]'
        if item.kind == "static":
            from meshpipe.trigger.hcl import string

            asserts.append((f"{key} == {string(item.value or '')}", f"static input {item.name} not sent"))
        elif item.kind == "variable" and (item.required or item.default is not None):
            expected = f"var.{item.variable}" if item.type == "string" else f"jsonencode(var.{item.variable})"
            asserts.append((f"{key} == {expected}", f"input {item.name} not sent as expected"))
        elif item.kind == "secret":
            asserts.append((f'local.secret_inputs["{item.name}"] == "{item.env}"', f"secret {item.name} not mapped"))
            asserts.append((f'!contains(keys(local.inputs), "{item.name}")', f"secret {item.name} became a value"))
    if not asserts:
        return []
    return [
        TestRun("sends_the_declared_inputs", "Declared inputs are sent as strings; secrets only by name.", [], asserts)
    ]


def _fingerprint_runs(redispatch: Setting) -> list[TestRun]:
    """Whether a new meshStack run (new uuid and URL) changes the fingerprint; under on_change a run URL alone never
    does either (it is per-run context, like the uuid)."""
    policies = ["every_run", "on_change"] if redispatch.exposed else [redispatch.value]
    runs: list[TestRun] = []
    for policy in policies:
        extra = [("redispatch", policy)] if redispatch.exposed else []
        first = f"{policy}_baseline_fingerprint"
        same = policy == "on_change"
        verb = "keeps" if same else "changes"
        runs.append(
            TestRun(
                first,
                f"Baseline fingerprint under {policy}.",
                [*extra, ("meshstack_building_block_run_b64", _with_run("11111111-1111-4111-8111-111111111111"))],
            )
        )
        runs.append(
            TestRun(
                f"{policy}_new_run_{verb}_the_fingerprint",
                f"A new meshStack run (uuid and URL) {verb} the fingerprint under {policy}.",
                [*extra, ("meshstack_building_block_run_b64", _with_run("22222222-2222-4222-8222-222222222222"))],
                [
                    (
                        f"output.dispatch_fingerprint {'==' if same else '!='} run.{first}.dispatch_fingerprint",
                        f"{policy}: a new run must {'not ' if same else ''}change the fingerprint",
                    )
                ],
            )
        )
        if same:
            runs.append(
                TestRun(
                    f"{policy}_run_url_alone_keeps_the_fingerprint",
                    "A run whose URL alone differs keeps the fingerprint under on_change.",
                    [
                        *extra,
                        (
                            "meshstack_building_block_run_b64",
                            _with_run("11111111-1111-4111-8111-111111111111", "33333333-3333-4333-8333-333333333333"),
                        ),
                    ],
                    [
                        (
                            f"output.dispatch_fingerprint == run.{first}.dispatch_fingerprint",
                            "on_change: the run URL must not change the fingerprint",
                        )
                    ],
                )
            )
    return runs


_BAD_STRINGS = ("", " ", "!!not-valid!!", "x" * 300, "UPPER lower", "0")


def validation_runs(spec: ModuleSpec, variables: tuple[Variable, ...]) -> list[TestRun]:
    """One failing run per validation (``expect_failures``) and one per precondition."""
    bad_values: dict[str, Any] = {
        "github_api_url": "ftp://example.com",
        "github_repository": "not-a-repository",
        "github_ref": " ",
        "python": "",
        "apply_workflow": "workflows/apply.sh",
        "destroy_workflow": "destroy.json",
        "apply_event_type": "has spaces",
        "destroy_event_type": "has spaces",
        "correlation_input": "not valid",
        "redispatch": "sometimes",
        "wait_timeout_seconds": 0,
        "poll_interval_seconds": 0,
        "meshstack_building_block_run_b64": "not base64 json!",
    }
    runs: list[TestRun] = []
    for variable in variables:
        for index, check in enumerate(variable.validations):
            value = _bad_value(spec, variable, index, bad_values)
            if value is _NONE:
                continue
            runs.append(
                TestRun(
                    f"rejects_invalid_{variable.name}_{index + 1}",
                    check.error_message,
                    [(variable.name, value)],
                    expect_failures=[f"var.{variable.name}"],
                )
            )
    names = {v.name for v in variables}
    # The destroy hook, which always exists, checks the same preconditions first (the apply trigger depends on it),
    # so the failure is expected there.
    failing = "terraform_data.destroy_hook"
    if "correlation_input" in names and "workflow_inputs" in names:
        runs.append(
            TestRun(
                "rejects_a_correlation_input_that_already_has_a_value",
                "The correlation input must be free for the dispatcher to fill.",
                [("workflow_inputs", {"run_tag": "x"}), ("correlation_input", "run_tag")],
                expect_failures=[failing],
            )
        )
        room = spec.input_limit - len(spec.inputs)
        runs.append(
            TestRun(
                "rejects_more_inputs_than_github_accepts",
                "workflow_inputs at its cap plus a correlation input exceed GitHub's limit.",
                [
                    *_all_inputs_present(spec),
                    ("workflow_inputs", Raw(f'{{ for i in range({room}) : "input_${{i}}" => "v" }}')),
                    ("correlation_input", "correlation_id"),
                ],
                expect_failures=[failing],
            )
        )
    return runs


_NONE = object()
_PLACEHOLDERS: dict[str, Any] = {"string": "example", "number": 1, "bool": True, "list": ["a"], "map": {"key": "value"}}


def _all_inputs_present(spec: ModuleSpec) -> list[tuple[str, Any]]:
    """Variables that give every declared input a value (and a run object for the meshStack context)."""
    values: list[tuple[str, Any]] = [("meshstack_building_block_run_b64", _b64(RUN_OBJECT))]
    for item in spec.inputs:
        if item.kind == "variable" and item.variable:
            value = item.example if item.example is not None else item.default
            if value is None:
                value = item.allowed[0] if item.allowed else _PLACEHOLDERS[item.type]
            values.append((item.variable, value))
    return values


def _bad_value(spec: ModuleSpec, variable: Variable, index: int, fixed: dict[str, Any]) -> Any:
    if variable.name in fixed:
        return fixed[variable.name]
    if variable.name == "workflow_inputs":
        room = spec.input_limit - len(spec.inputs)
        return Raw(f'{{ for i in range({room + 1}) : "input_${{i}}" => "v" }}') if index == 0 else {"bad name": "x"}
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
