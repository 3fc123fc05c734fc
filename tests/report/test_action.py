"""The composite action: inputs reach the script only through the environment, and its script drives the CLI."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from meshpipe.report._bundle import BUNDLE, differences
from tests.report.conftest import Job

ACTION = Path(__file__).parents[2] / "action.yml"


def _action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text())


def _bare_python(directory: Path) -> str:
    """A ``python3`` that sees no installed package (``-I -S``): what a fresh runner's interpreter offers."""
    path = directory / "bare-python3"
    if not path.exists():
        path.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -I -S "$@"\n')
        path.chmod(0o755)
    return str(path)


def _script(job: Job, **inputs: str) -> subprocess.CompletedProcess[str]:
    """Run the action's reporting step the way the runner would: the committed bundle, a bare interpreter."""
    action = _action()
    (step,) = [s for s in action["runs"]["steps"] if s.get("id") == "run"]
    env = dict(job.env, ACTION_PATH=str(ACTION.parent))
    for name, spec in action["inputs"].items():
        env[f"INPUT_{name.upper().replace('-', '_')}"] = inputs.get(name, spec.get("default", ""))
    env["PYTHON"] = inputs.get("python", _bare_python(job.temp))
    env["GITHUB_PATH"] = str(job.temp / "github_path")
    return subprocess.run(["bash", "-c", step["run"]], env=env, capture_output=True, text=True, check=False)


def test_the_committed_bundle_is_current() -> None:
    """Issue 10 item 4: the action runs ``action/meshpipe.pyz``; it must hold today's reporter."""
    assert differences(ACTION.parent / BUNDLE) == []


def test_the_action_puts_a_meshpipe_on_path_that_runs_the_bundle(job: Job) -> None:
    """Later workflow steps call ``meshpipe run exec ...`` with nothing installed (it was a 5 s pip install per job);
    the bundle is unpacked once per job, so its bytecode is cached after the first call."""
    assert _script(job, command="register", steps="a=A").returncode == 0
    assert _script(job, command="step", **{"step-id": "a", "step-status": "IN_PROGRESS"}).returncode == 0
    (bin_dir,) = (job.temp / "github_path").read_text().splitlines()
    result = subprocess.run(
        [f"{bin_dir}/meshpipe", "run", "exec", "a", "--", "sh", "-c", "echo bundled"],
        env=job.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert job.steps()[0]["systemMessage"] == "bundled"
    (lib,) = job.temp.glob("meshpipe-*/__main__.py")
    assert list(lib.parent.glob("meshpipe/report/__pycache__/*.pyc"))


def test_the_bundle_runs_only_meshpipe_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [_bare_python(tmp_path), str(ACTION.parent / BUNDLE), "module", "render", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "meshpipe: error: this bundle only runs `meshpipe run ...`; install meshpipe for the other commands\n"
    )


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
