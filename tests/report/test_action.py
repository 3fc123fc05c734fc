"""The composite action: inputs reach the script only through the environment, and its script drives the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.report.conftest import Job

ACTION = Path(__file__).parents[2] / "action.yml"


def _action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text())


def _script(job: Job, **inputs: str) -> subprocess.CompletedProcess[str]:
    """Run the action's reporting step the way the runner would, with meshpipe preinstalled in RUNNER_TEMP."""
    action = _action()
    (step,) = [s for s in action["runs"]["steps"] if s.get("id") == "run"]
    env = dict(job.env)
    for name, spec in action["inputs"].items():
        env[f"INPUT_{name.upper().replace('-', '_')}"] = inputs.get(name, spec.get("default", ""))
    venv_bin = job.temp / "meshpipe-venv" / "bin"
    venv_bin.mkdir(parents=True, exist_ok=True)
    shim = venv_bin / "meshpipe"
    if not shim.exists():
        shim.symlink_to(Path(sys.executable).parent / "meshpipe")
    return subprocess.run(["bash", "-c", step["run"]], env=env, capture_output=True, text=True, check=False)


def test_inputs_are_never_interpolated_into_scripts() -> None:
    action = _action()
    for step in action["runs"]["steps"]:
        assert "${{" not in step["run"], step["name"]
        for value in step.get("env", {}).values():
            assert re.fullmatch(r"\$\{\{ (inputs|github)\.[a-z_-]+ \}\}", value)
    used = {v.split(".")[1].rstrip(" }") for s in action["runs"]["steps"] for v in s.get("env", {}).values()}
    assert set(action["inputs"]) <= used


def test_every_input_has_a_description() -> None:
    for name, spec in _action()["inputs"].items():
        assert spec.get("description"), name


def test_action_script_registers_reports_and_finishes(job: Job) -> None:
    steps = "plan=Terraform plan\n  apply=Terraform apply\n"
    assert _script(job, command="register", steps=steps).returncode == 0
    result = _script(
        job,
        command="step",
        **{
            "step-id": "plan",
            "step-status": "SUCCEEDED",
            "user-message": 'it\'s $(rm -rf ~) `fine`; "quoted"',
            "outputs": '{"url": {"value": "https://x.example", "type": "STRING"}, "n": 3}',
        },
    )
    assert result.returncode == 0, result.stderr
    assert _script(job, command="step", **{"step-id": "apply", "step-status": "FAILED"}).returncode == 0
    assert _script(job, command="finish", **{"job-status": "failure"}).returncode == 0
    run = job.fake.run(job.run.uuid)
    source = run.sources["github"]
    assert [(s["id"], s["displayName"], s["status"]) for s in source["steps"]] == [
        ("plan", "Terraform plan", "SUCCEEDED"),
        ("apply", "Terraform apply", "FAILED"),
    ]
    assert source["steps"][0]["userMessage"] == 'it\'s $(rm -rf ~) `fine`; "quoted"'
    assert run.outputs["n"] == {"value": 3, "type": "INTEGER", "isSensitive": False}
    assert source["status"] == "FAILED"


def test_action_step_with_run_status_finishes_the_run(job: Job) -> None:
    result = _script(job, command="step", **{"step-id": "only", "step-status": "SUCCEEDED", "run-status": "SUCCEEDED"})
    assert result.returncode == 0, result.stderr
    assert job.fake.run(job.run.uuid).sources["github"]["status"] == "SUCCEEDED"


def test_action_show_exports_behavior(job: Job) -> None:
    assert _script(job, command="show").returncode == 0
    assert re.search(r"^behavior<<(ghadelimiter_\S+)\nAPPLY\n\1$", job.output.read_text(), re.MULTILINE)
    assert json.loads(json.dumps(_action()["outputs"]))["behavior"]["value"] == "${{ steps.run.outputs.behavior }}"


def test_action_rejects_an_unknown_command(job: Job) -> None:
    result = _script(job, command="explode")
    assert result.returncode == 2
    assert "::error title=meshpipe::unknown command input" in result.stdout


def test_example_workflow_uses_only_real_inputs_and_always_finishes() -> None:
    workflow = yaml.safe_load((ACTION.parent / "examples" / "workflows" / "reporting.yml").read_text())
    dispatch = workflow[True]["workflow_dispatch"]["inputs"]  # YAML 1.1 reads `on` as true
    assert dispatch["buildingBlockRunUrl"]["required"] is True
    assert "correlation_id" in dispatch and "inputs.correlation_id" in workflow["run-name"]
    inputs = set(_action()["inputs"])
    steps = workflow["jobs"]["apply"]["steps"]
    for step in steps:
        if str(step.get("uses", "")).endswith("/meshpipe@v0"):
            assert set(step.get("with", {})) <= inputs, step["name"]
    last = steps[-1]
    assert last["if"] == "always()"
    assert last["with"] == {"command": "finish", "job-status": "${{ job.status }}"}


def _readme_workflow() -> dict[str, Any]:
    section = (ACTION.parent / "README.md").read_text().split("<!-- reporter-section -->")[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    return yaml.safe_load(block.group(1))


def test_example_workflows_never_put_a_dispatch_input_token_into_env() -> None:
    # Dispatch inputs are not secrets, and the runner prints every step's env in its log header before the step
    # runs, so `env: MESHSTACK_RUN_TOKEN: ${{ inputs.MESHSTACK_RUN_TOKEN }}` shows the token in clear text before
    # meshpipe can mask it. The token must be read from the event file and masked before it reaches $GITHUB_ENV.
    examples = yaml.safe_load((ACTION.parent / "examples" / "workflows" / "reporting.yml").read_text())
    for workflow in (examples, _readme_workflow()):
        (job,) = workflow["jobs"].values()
        envs = [workflow.get("env") or {}, job.get("env") or {}] + [s.get("env") or {} for s in job["steps"]]
        assert not [v for env in envs for v in env.values() if "inputs.MESHSTACK_" in str(v)]
        steps = [s for s in job["steps"] if "MESHSTACK_RUN_TOKEN" in s.get("run", "")]
        assert steps and steps[0] is job["steps"][0], "the token is masked before any other step runs"
        script = steps[0]["run"]
        assert "GITHUB_EVENT_PATH" in script and "${{" not in script
        assert script.index("::add-mask::") < script.index("GITHUB_ENV")
