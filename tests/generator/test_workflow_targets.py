"""``meshpipe workflow render|check`` for GitLab CI, Azure Pipelines and the webhook: the pipeline definition declares
exactly what the module sends, names the correlation id and the phase, and the check finds what the service would
refuse."""

from __future__ import annotations

import ast
import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshpipe.generator.spec import parse_spec
from meshpipe.generator.workflow_check_ci import check_azure_pipeline, check_gitlab_pipeline
from meshpipe.generator.workflow_targets import render_inputs_block, render_skeleton

#: a description no YAML writer may trip over
HOSTILE = 'say "hi": #not-a-comment\n$[[ inputs.x ]] ${{ parameters.y }} \u2028 done'

INPUTS: list[dict[str, Any]] = [
    {"name": "db_name", "type": "string", "regex": "^[a-z][a-z0-9_]*$", "example": "orders", "description": HOSTILE},
    {"name": "tier", "type": "string", "allowed": ["small", "large"], "default": "small"},
    {"name": "replicas", "type": "number", "allowed": [1, 2.0, 3.5], "default": 2},
    {"name": "public", "type": "bool", "default": False},
    {"name": "zones", "type": "list", "default": ["a", "b"]},
    {"name": "labels", "type": "map", "default": {"team": "alpha"}},
    {"name": "engine", "value": "postgres"},
    {"name": "workspace", "meshstack": "workspace"},
    {"name": "db_password", "sensitive": True, "env": "DB_PASSWORD"},
]
COMMON: dict[str, Any] = {
    "name": "every-kind",
    "description": "Every kind of input.",
    "inputs": INPUTS,
    "forward_run_url": True,
    "correlation_input": "correlation_id",
    "wait": {"enabled": {"default": False}},
    "python": {"default": "python3"},
}
SPECS: dict[str, dict[str, Any]] = {
    "gitlab": {
        **COMMON,
        "target": "gitlab",
        "gitlab": {
            "api_url": {"default": "https://gitlab.com/api/v4"},
            "project": "acme/db",
            "values": "inputs",
            "allow_secret_inputs": True,
        },
        "pipelines": {"apply": "main", "destroy": "main"},
        "phase_input": "meshpipe_phase",
    },
    "azure_devops": {
        **COMMON,
        "target": "azure_devops",
        "azure_devops": {
            "org_url": {"default": "https://dev.azure.com/acme"},
            "project": "Data",
            "allow_secret_inputs": True,
        },
        "pipelines": {"apply": 7, "destroy": 7},
        "phase_input": "meshpipe_phase",
    },
}
SENT = {"buildingBlockRunUrl", "correlation_id", "meshpipe_phase", *(item["name"] for item in INPUTS)}


def spec(target: str, change: Any = None) -> Any:
    data = copy.deepcopy(SPECS[target])
    if change is not None:
        change(data)
    return parse_spec(data, f"{target}.yaml")


def gitlab_documents(text: str) -> list[Any]:
    return list(yaml.safe_load_all(text))


def test_gitlab_spec_inputs_are_typed_as_the_module_sends_them() -> None:
    header, config = gitlab_documents(render_skeleton(spec("gitlab"), phase="apply", header="# h"))
    inputs = header["spec"]["inputs"]
    assert set(inputs) == SENT
    described = " ".join(HOSTILE.split()).replace("$[[", "$ [[")  # no interpolation syntax in the header
    assert inputs["db_name"] == {"description": described, "regex": "^[a-z][a-z0-9_]*$"}
    assert inputs["replicas"] == {"type": "number", "options": [1, 2, 3.5], "default": 2}
    assert inputs["public"] == {"type": "boolean", "default": False}
    assert inputs["zones"]["type"] == "array" and inputs["zones"]["default"] == ["a", "b"]
    assert "type" not in inputs["labels"] and inputs["labels"]["default"] == '{"team":"alpha"}'  # maps as JSON text
    assert inputs["meshpipe_phase"]["options"] == ["apply", "destroy"] and "default" not in inputs["meshpipe_phase"]
    assert inputs["buildingBlockRunUrl"]["default"] == "" and inputs["workspace"]["default"] == ""
    assert config["workflow"]["name"] == "every-kind $[[ inputs.meshpipe_phase ]] [$[[ inputs.correlation_id ]]]"
    # every input reaches the jobs as a variable GitLab never expands; the run URL goes to the reporter template
    assert config["variables"]["db_name"] == {"value": "$[[ inputs.db_name ]]", "expand": False}
    (include,) = config["include"]
    assert include["remote"].endswith("/action/gitlab/meshpipe.yml")
    assert include["inputs"]["run-url"] == "$[[ inputs.buildingBlockRunUrl ]]"
    for phase in ("apply", "destroy"):
        assert config[phase]["extends"] == ".meshpipe"
        assert config[phase]["rules"] == [{"if": f'"$[[ inputs.meshpipe_phase ]]" == "{phase}"'}]


def test_gitlab_variables_mode_declares_no_inputs_and_names_pipelines_by_variables() -> None:
    def variables(data: dict[str, Any]) -> None:
        data["gitlab"]["values"] = "variables"

    (config,) = gitlab_documents(render_skeleton(spec("gitlab", variables), phase="apply", header="# h"))
    assert set(config["variables"]) == SENT
    assert config["workflow"]["name"] == "every-kind $meshpipe_phase [$correlation_id]"
    assert config["include"][0]["inputs"]["run-url"] == ""  # the reporter reads the variable buildingBlockRunUrl
    assert check_gitlab_pipeline(spec("gitlab", variables), [config]) == []


def test_azure_parameters_match_the_module_and_the_run_name_shows_the_phase_and_correlation_id() -> None:
    config = yaml.safe_load(render_skeleton(spec("azure_devops"), phase="apply", header="# h"))
    parameters = {entry["name"]: entry for entry in config["parameters"]}
    assert set(parameters) == SENT
    assert parameters["replicas"] == {"name": "replicas", "type": "number", "default": 2, "values": ["1", "2", "3.5"]}
    assert parameters["public"]["type"] == "boolean" and parameters["zones"]["type"] == "string"
    assert "default" not in parameters["db_name"] and parameters["workspace"]["default"] == ""
    assert config["name"] == "every-kind ${{ parameters.meshpipe_phase }} ${{ parameters.correlation_id }}"
    assert (config["trigger"], config["pr"]) == ("none", "none")
    assert config["variables"]["db_name"] == "${{ parameters.db_name }}"
    jobs = [next(iter(entry.items())) for entry in config["jobs"]]
    assert [condition for condition, _ in jobs] == [
        "${{ if eq(parameters.meshpipe_phase, 'apply') }}",
        "${{ if eq(parameters.meshpipe_phase, 'destroy') }}",
    ]
    steps = jobs[0][1][0]["steps"]
    assert steps[1]["template"] == "action/azure-pipelines/meshpipe-steps.yml@meshpipe"
    assert steps[1]["parameters"]["runUrl"] == "${{ parameters.buildingBlockRunUrl }}"


@pytest.mark.parametrize("target", ["gitlab", "azure_devops"])
def test_a_rendered_pipeline_passes_its_own_check(target: str) -> None:
    parsed = spec(target)
    text = render_skeleton(parsed, phase="apply", header="# h", run="python3 job.py", reporter_sha256="ab" * 32)
    findings = (
        check_gitlab_pipeline(parsed, gitlab_documents(text))
        if target == "gitlab"
        else check_azure_pipeline(parsed, yaml.safe_load(text))
    )
    assert findings == []
    assert '"python3 job.py"' in text and f'"{"ab" * 32}"' in text


def _gitlab_inputs(change: Any) -> list[str]:
    parsed = spec("gitlab")
    header, config = gitlab_documents(render_skeleton(parsed, phase="apply", header="# h"))
    change(header["spec"]["inputs"], config)
    return [
        f"{finding.level}: {finding.where}: {finding.message}"
        for finding in check_gitlab_pipeline(parsed, [header, config])
    ]


def _azure_parameters(change: Any) -> list[str]:
    parsed = spec("azure_devops")
    config = yaml.safe_load(render_skeleton(parsed, phase="apply", header="# h"))
    change({entry["name"]: entry for entry in config["parameters"]}, config)
    config["parameters"] = [entry for entry in config["parameters"] if not entry.get("drop")]
    return [f"{finding.level}: {finding.where}: {finding.message}" for finding in check_azure_pipeline(parsed, config)]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda inputs, _: inputs.pop("tier"), "error: spec.inputs.tier: not declared, but the module sends it"),
        (lambda inputs, _: inputs.update(extra={}), "error: spec.inputs.extra: required without a default"),
        (lambda inputs, _: inputs["tier"].update(options=["small"]), "error: spec.inputs.tier: options lack large"),
        (lambda inputs, _: inputs["replicas"].update(type="string"), "error: spec.inputs.replicas: type string"),
        (lambda inputs, _: inputs["db_name"].update(options=["a"]), "error: spec.inputs.db_name: options restrict"),
        (
            lambda _, config: config["workflow"].update(name="x"),
            "warning: workflow.name: does not show the correlation",
        ),
    ],
)
def test_gitlab_check_finds_what_gitlab_would_refuse(change: Any, expected: str) -> None:
    assert any(line.startswith(expected) for line in _gitlab_inputs(change)), _gitlab_inputs(change)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda params, _: params["tier"].update(drop=True), "error: parameters.tier: not declared"),
        (lambda params, _: None, None),
        (lambda params, _: params["public"].update(type="number"), "error: parameters.public: type number"),
        (
            lambda params, _: params["meshpipe_phase"].update(values=["apply"]),
            "error: parameters.meshpipe_phase: values lack destroy",
        ),
        (lambda _, config: config.update(name="$(Date:yyyyMMdd)"), "warning: name: does not show the correlation id"),
    ],
)
def test_azure_check_finds_what_azure_pipelines_would_refuse(change: Any, expected: str | None) -> None:
    lines = _azure_parameters(change)
    assert (lines == []) if expected is None else any(line.startswith(expected) for line in lines), lines


def test_the_webhook_receiver_sketch_accepts_exactly_the_modules_inputs_and_its_secret_variable() -> None:
    data = copy.deepcopy(SPECS["gitlab"])
    for key in ("gitlab", "pipelines", "phase_input"):
        data.pop(key)
    data.update(
        target="webhook", webhook={"url": "https://hooks.example.com/x"}, events={"apply": "up", "destroy": "down"}
    )
    data["auth"] = {"secret_env": "HOOK_SECRET", "token_env": ""}
    text = render_skeleton(parse_spec(data, "webhook.yaml"), phase="apply", header="# h")
    compile(text, "receiver.py", "exec")
    assert 'SECRET = os.environb.pop(b"HOOK_SECRET")' in text
    assert "EVENTS = ('up', 'down')" in text
    inputs = ast.literal_eval(text.split("INPUTS = ", 1)[1].splitlines()[0])
    assert set(inputs) == SENT - {"meshpipe_phase"}


def test_render_refuses_options_that_do_not_fit_the_target(tmp_path: Path) -> None:
    path = tmp_path / "azure.yaml"
    path.write_text(yaml.safe_dump(SPECS["azure_devops"]), encoding="utf-8")

    def render(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "meshpipe", "workflow", "render", str(path), *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    assert render("--inputs-only").stdout == render_inputs_block(spec("azure_devops"), str(path))
    bad = render("--run", "a\nb")
    assert bad.returncode != 0 and "--run: the value contains the control character U+000A" in bad.stderr
    written = render("--run", "python3 job.py", "-o", str(tmp_path / "azure-pipelines.yml"))
    assert written.returncode == 0, written.stderr
    first = (tmp_path / "azure-pipelines.yml").read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# Generated by meshpipe from azure.yaml") and "--run 'python3 job.py'" in first
