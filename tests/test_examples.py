"""The team-bucket example stays honest: its module is what its spec renders, its workflows declare exactly the
inputs the module sends, its pipeline does what the workflows do, and the whole thing runs on the sandbox."""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from meshpipe.demo import DEMO_INPUTS, expected_steps
from meshpipe.generator.spec import RUN_URL_INPUT, load_spec
from meshpipe.sandbox import Sandbox, load_workflow
from meshpipe.sandbox_runs import BlockRuns
from meshpipe.terraform import Terraform

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "team-bucket"
SPEC_PATH = "examples/team-bucket/spec.yaml"
WORKFLOWS = {phase: EXAMPLE / ".github" / "workflows" / f"{phase}.yml" for phase in ("apply", "destroy")}


def workflow_document(phase: str) -> dict[Any, Any]:
    document = yaml.safe_load(WORKFLOWS[phase].read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def spec_input_names() -> set[str]:
    spec = load_spec(EXAMPLE / "spec.yaml")
    names = {item.name for item in spec.inputs}
    if spec.forward_run_url.value:
        names.add(RUN_URL_INPUT)
    if spec.correlation_input.value:
        names.add(str(spec.correlation_input.value))
    return names


def test_module_is_exactly_what_the_spec_renders() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "meshpipe", "module", "check", SPEC_PATH, "-o", "examples/team-bucket/module"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"run: examples/regenerate.sh\n{result.stdout}{result.stderr}"
    assert "up to date" in result.stdout


def test_module_header_names_the_command_that_regenerates_it_in_place() -> None:
    first_line = (EXAMPLE / "module" / "main.tf").read_text(encoding="utf-8").splitlines()[0]
    assert first_line.endswith("run in the module directory: meshpipe module render ../spec.yaml -o .")


@pytest.mark.parametrize("name", ["team-bucket", "gitlab-namespace", "azure-sql-database", "webhook-jenkins-job"])
def test_readme_lists_only_files_the_example_has(name: str) -> None:
    example = ROOT / "examples" / name
    tree = (example / "README.md").read_text(encoding="utf-8").split("```")[1]
    listed = [line.split()[0] for line in tree.splitlines()[2:] if line.strip()]
    missing = [entry for entry in listed if not (example / entry).exists()]
    assert listed and not missing, missing


@pytest.mark.parametrize("phase", ["apply", "destroy"])
def test_workflow_declares_the_run_url_and_shows_the_correlation_id(phase: str) -> None:
    document = workflow_document(phase)
    inputs = document[True]["workflow_dispatch"]["inputs"]  # YAML 1.1 reads `on` as true
    assert inputs[RUN_URL_INPUT]["required"] is True
    assert "correlation_id" in inputs
    assert "${{ inputs.correlation_id }}" in document["run-name"]


@pytest.mark.parametrize("phase", ["apply", "destroy"])
def test_workflow_declares_exactly_the_inputs_the_spec_sends(phase: str) -> None:
    assert set(load_workflow(WORKFLOWS[phase]).inputs) == spec_input_names()


@pytest.mark.parametrize("phase", ["apply", "destroy"])
def test_workflow_finishes_the_run_always_with_the_job_status(phase: str) -> None:
    steps = next(iter(workflow_document(phase)["jobs"].values()))["steps"]
    last = steps[-1]
    assert last["if"] == "always()"
    assert last["uses"] == "./"  # the composite action at the repository root
    assert last["with"] == {"command": "finish", "job-status": "${{ job.status }}"}
    # No step interpolates an input into its shell line (inputs are untrusted).
    for step in steps:
        assert "inputs." not in str(step.get("run", ""))


def test_the_composite_action_takes_the_inputs_the_workflows_use() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    for phase in ("apply", "destroy"):
        for step in next(iter(workflow_document(phase)["jobs"].values()))["steps"]:
            if step.get("uses") == "./":
                assert set(step["with"]) <= set(action["inputs"]), step["name"]


@pytest.mark.parametrize("phase", ["apply", "destroy"])
def test_pipeline_registers_the_same_steps_as_the_workflow(phase: str) -> None:
    steps = next(iter(workflow_document(phase)["jobs"].values()))["steps"]
    register = next(step for step in steps if step.get("with", {}).get("command") == "register")
    registered = [line.split("=", 1)[0] for line in register["with"]["steps"].splitlines() if line.strip()]
    assert registered == expected_steps(EXAMPLE)[phase]
    for step_id in registered:
        assert any(f"pipeline.py {step_id}" in str(step.get("run", "")) for step in steps), step_id


def _wait_until(condition: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.terraform
def test_module_dispatches_exactly_the_declared_inputs_and_the_example_runs_end_to_end(tmp_path: Path) -> None:
    # meshStack's runner (emulated) runs the published definition: a fresh APPLY, then an async DESTROY.
    with Sandbox() as box:
        runs = BlockRuns(box, work_root=tmp_path, timeout=120)
        apply_run = runs.create_run("APPLY", DEMO_INPUTS)
        assert runs.execute(apply_run).status == "IN_PROGRESS"
        _wait_until(lambda: apply_run.status in ("SUCCEEDED", "FAILED"))
        destroy_run = runs.create_run("DESTROY", DEMO_INPUTS, building_block_uuid=apply_run.building_block_uuid)
        assert runs.execute(destroy_run).status == "IN_PROGRESS"
        _wait_until(lambda: destroy_run.status in ("SUCCEEDED", "FAILED"))

        for phase in ("apply", "destroy"):
            (dispatch,) = box.github.dispatches_for(workflow=f"{phase}.yml")
            assert set(dispatch.inputs) == set(load_workflow(WORKFLOWS[phase]).inputs)
        apply_inputs = box.github.dispatches_for(workflow="apply.yml")[0].inputs
        assert apply_inputs[RUN_URL_INPUT] == apply_run.url
        assert apply_inputs["versioning"] == "true" and apply_inputs["retention_days"] == "30"
        assert apply_inputs["workspace"] == apply_run.object["spec"]["buildingBlock"]["spec"]["workspaceIdentifier"]
        assert box.github.dispatches_for(workflow="destroy.yml")[0].inputs[RUN_URL_INPUT] == destroy_run.url
        assert (apply_run.status, destroy_run.status) == ("SUCCEEDED", "SUCCEEDED")
        steps = apply_run.sources["github"]["steps"]
        assert [step["status"] for step in steps] == ["SUCCEEDED"] * 3
        assert apply_run.outputs["bucket_url"]["value"] == "https://storage.example.com/alpha-dev-data"
        assert not (Path(str(box.state_dir)) / "alpha-dev-data").exists()
        # The token reached terraform only through its environment: not in state or dispatched inputs.
        token = box.credentials.github_token
        for raw in box.meshstack.runner_api.states.values():
            assert token.encode() not in raw
        for dispatch in box.github.dispatches:
            assert token not in str(dispatch.inputs) and box.credentials.client_secret not in str(dispatch.inputs)


def test_pipeline_tells_the_user_why_inputs_are_invalid() -> None:
    with Sandbox() as box:
        run = box.meshstack.create_run(behavior="APPLY", inputs={"bucket_name": "Not_Valid"})
        response = requests.post(
            f"{box.github_api_url}/repos/{box.repository}/actions/workflows/apply.yml/dispatches",
            headers={"Authorization": f"Bearer {box.credentials.github_token}"},
            json={"ref": "main", "inputs": {RUN_URL_INPUT: run.url, "bucket_name": "Not_Valid"}},
            timeout=5,
        )
        assert response.status_code == 204, response.text
        _wait_until(lambda: run.status in ("SUCCEEDED", "FAILED"))
        _wait_until(lambda: box.github.runs[0].conclusion is not None)
        assert run.status == "FAILED"
        validate, provision, _ = run.sources["github"]["steps"]
        assert validate["status"] == "FAILED"
        assert "bucket name 'Not_Valid' must be 3-63 lower-case letters" in validate["userMessage"]
        assert provision["status"] == "PENDING"
        assert box.github.runs[0].conclusion == "failure"


def test_published_definition_is_what_its_command_renders(tmp_path: Path) -> None:
    """The header's command, run in the file's directory (here a copy of the example), renders the file exactly."""
    committed = (EXAMPLE / "publish" / "definition.tf").read_text(encoding="utf-8")
    command = shlex.split(committed.splitlines()[0].split("run in this file's directory: ", 1)[1])
    assert command[:3] == ["meshpipe", "definition", "render"] and command[-2:] == ["-o", "definition.tf"]
    shutil.copy(EXAMPLE / "spec.yaml", tmp_path / "spec.yaml")
    (tmp_path / "publish").mkdir()
    shutil.copy(EXAMPLE / "publish" / "definition.tf", tmp_path / "publish" / "definition.tf")
    result = subprocess.run(
        [sys.executable, "-m", "meshpipe", *command[1:]],
        cwd=tmp_path / "publish",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rendered = (tmp_path / "publish" / "definition.tf").read_text(encoding="utf-8")
    assert rendered == committed, "run: examples/regenerate.sh"
    tmp_path = tmp_path / "publish"
    fmt = Terraform(tmp_path).run("fmt", "-check", "-diff", "definition.tf", check=False)
    assert fmt.returncode == 0, fmt.output


@pytest.mark.terraform
def test_example_module_passes_validate_fmt_and_its_own_terraform_tests(tmp_path: Path) -> None:
    workdir = tmp_path / "module"
    shutil.copytree(EXAMPLE / "module", workdir)
    terraform = Terraform(workdir)
    terraform.init()
    terraform.run("validate", "-no-color")
    terraform.run("fmt", "-check", "-recursive")
    result = terraform.run("test", "-no-color")
    assert re.search(r"Success! \d+ passed, 0 failed", result.stdout), result.output


# -- the examples of the other targets: gitlab-namespace, azure-sql-database, webhook-jenkins-job ----------------------
#: example -> its pipeline definition (GitLab CI, Azure Pipelines) or receiver sketch (webhook): generated files
TARGET_EXAMPLES = {
    "gitlab-namespace": ".gitlab-ci.yml",
    "azure-sql-database": "azure-pipelines.yml",
    "webhook-jenkins-job": "receiver.py",
}


def _header_command(path: Path) -> list[str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    return shlex.split(first.split("run in this file's directory: ", 1)[1])


@pytest.mark.parametrize("name", sorted(TARGET_EXAMPLES))
def test_target_example_module_is_exactly_what_its_spec_renders(name: str) -> None:
    spec, module = f"examples/{name}/spec.yaml", f"examples/{name}/module"
    result = subprocess.run(
        [sys.executable, "-m", "meshpipe", "module", "check", spec, "-o", module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"run: examples/regenerate.sh\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("name", sorted(TARGET_EXAMPLES))
def test_target_example_pipeline_and_definition_are_what_their_headers_render(name: str, tmp_path: Path) -> None:
    """Each generated file's header command, run in a copy of its directory, writes the committed file exactly."""
    source = ROOT / "examples" / name
    shutil.copy(source / "spec.yaml", tmp_path / "spec.yaml")
    (tmp_path / "publish").mkdir()
    for relative in (TARGET_EXAMPLES[name], "publish/definition.tf"):
        committed = (source / relative).read_text(encoding="utf-8")
        shutil.copy(source / relative, tmp_path / relative)
        command = _header_command(source / relative)
        result = subprocess.run(
            [sys.executable, "-m", "meshpipe", *command[1:]],
            cwd=(tmp_path / relative).parent,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert (tmp_path / relative).read_text(encoding="utf-8") == committed, (
            f"run: examples/regenerate.sh ({relative})"
        )


@pytest.mark.parametrize("name", ["gitlab-namespace", "azure-sql-database"])
def test_target_example_pipeline_takes_what_the_module_sends_and_pins_this_reporter_bundle(name: str) -> None:
    import hashlib

    pipeline = ROOT / "examples" / name / TARGET_EXAMPLES[name]
    result = subprocess.run(
        [sys.executable, "-m", "meshpipe", "workflow", "check", f"examples/{name}/spec.yaml", str(pipeline)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "warning" not in result.stderr, result.stdout + result.stderr
    bundle = hashlib.sha256((ROOT / "action" / "meshpipe.pyz").read_bytes()).hexdigest()
    assert f'"{bundle}"' in pipeline.read_text(encoding="utf-8"), "run: make render (the bundle changed)"


@pytest.mark.parametrize("name", sorted(TARGET_EXAMPLES))
def test_target_example_job_registers_the_steps_it_runs(name: str) -> None:
    steps = expected_steps(ROOT / "examples" / name)
    assert set(steps) == {"apply", "destroy"}
    assert steps["apply"][0] == steps["destroy"][0] == "validate"
    pipeline = (ROOT / "examples" / name / "pipeline.py").read_text(encoding="utf-8")
    for step_id in {step for phase in steps.values() for step in phase}:
        assert f'"{step_id}": {step_id}' in pipeline, step_id  # each registered step has its work


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_webhook_receiver_sketch_verifies_signatures_and_starts_one_job_per_idempotency_key(tmp_path: Path) -> None:
    """The generated receiver, run as its docstring says, against deliveries signed like the dispatcher's."""
    import json

    from meshpipe.webhook import sign

    secret, port, out = "s3cret-canary", _free_port(), tmp_path / "jobs"
    out.mkdir()
    job = [sys.executable, "-c", "import json,os,sys,uuid; open(os.path.join(sys.argv[1], uuid.uuid4().hex),'w')"
           ".write(json.dumps({k: v for k, v in os.environ.items() if k.startswith('MESH')}))", str(out)]  # fmt: skip
    receiver = ROOT / "examples" / "webhook-jenkins-job" / "receiver.py"
    env = {"PATH": "/usr/bin:/bin", "MESHPIPE_WEBHOOK_SECRET": secret}
    process = subprocess.Popen([sys.executable, str(receiver), str(port), "--", *job], env=env)
    url = f"http://127.0.0.1:{port}/"
    hostile = "alpha'; $(touch /tmp/x) `id` \"\n$HOME"
    body = json.dumps(
        {"version": 1, "event": "apply", "phase": "apply", "module": "webhook-jenkins-job", "correlation_id": "c1",
         "inputs": {"job_name": hostile, RUN_URL_INPUT: "http://meshstack/run/1"}},
        separators=(",", ":"),
    ).encode()  # fmt: skip

    def deliver(data: bytes, *, key: str = "c1", signature: str | None = None) -> requests.Response:
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Meshpipe-Timestamp": stamp,
            "X-Meshpipe-Signature-256": signature or sign(secret, stamp, data),
            "X-Meshpipe-Event": "apply",
            "Idempotency-Key": key,
        }
        return requests.post(url, data=data, headers=headers, timeout=5)

    try:
        _wait_until(lambda: _answers(url), seconds=10)
        first, again = deliver(body), deliver(body)
        assert (first.status_code, again.status_code) == (202, 202)
        assert again.json() == {"id": first.json()["id"], "duplicate": True}
        assert deliver(body, key="c2", signature="sha256=" + "0" * 64).status_code == 401
        undeclared = body.replace(b'"job_name"', b'"other"')
        assert deliver(undeclared, key="c3").status_code == 422
        _wait_until(lambda: len(list(out.iterdir())) == 1)
        time.sleep(0.2)  # a second job (the bug this guards against) would have started by now
        (started,) = [json.loads(path.read_text()) for path in out.iterdir()]
        assert started["MESHPIPE_INPUT_JOB_NAME"] == hostile
        assert started["MESHSTACK_RUN_URL"] == "http://meshstack/run/1"
        assert secret not in json.dumps(started)
    finally:
        process.terminate()
        process.wait(10)


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
    except requests.ConnectionError:
        return False
    return True


def _declared_names(name: str) -> set[str]:
    """What the example's pipeline definition declares (the webhook receiver: its INPUTS plus nothing else)."""
    from meshpipe.sandbox_pipelines import load_azure_pipeline, load_gitlab_pipeline

    path = ROOT / "examples" / name / TARGET_EXAMPLES[name]
    if name == "gitlab-namespace":
        return set(load_gitlab_pipeline(path).inputs or {})
    if name == "azure-sql-database":
        return set(load_azure_pipeline(path).inputs or {})
    found = re.search(r"^INPUTS = (\(.*\))$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert found is not None
    return set(ast.literal_eval(found.group(1)))  # the sketch's literal tuple of names


@pytest.mark.terraform
@pytest.mark.parametrize("target", ["gitlab", "azure_devops", "webhook"])
def test_target_example_runs_end_to_end_sends_what_its_pipeline_declares_and_keeps_credentials_out(
    target: str, tmp_path: Path
) -> None:
    from meshpipe.demo import DEMO_BLOCKS

    chosen = DEMO_BLOCKS[target]
    with Sandbox(chosen.example) as box:
        runs = BlockRuns(box, work_root=tmp_path, timeout=120)
        apply_run = runs.create_run("APPLY", chosen.inputs)
        assert runs.execute(apply_run).status == "IN_PROGRESS"
        _wait_until(lambda: apply_run.status in ("SUCCEEDED", "FAILED"))
        destroy_run = runs.create_run("DESTROY", chosen.inputs, building_block_uuid=apply_run.building_block_uuid)
        assert runs.execute(destroy_run).status == "IN_PROGRESS"
        _wait_until(lambda: destroy_run.status in ("SUCCEEDED", "FAILED"))
        assert (apply_run.status, destroy_run.status) == ("SUCCEEDED", "SUCCEEDED")

        (applied,) = box.host.dispatched(box.block, "apply")
        (destroyed,) = box.host.dispatched(box.block, "destroy")
        declared = _declared_names(chosen.example)
        assert set(applied) == set(destroyed) == declared
        assert applied[RUN_URL_INPUT] == apply_run.url and destroyed[RUN_URL_INPUT] == destroy_run.url
        assert applied[chosen.resource_input] == chosen.inputs[chosen.resource_input]
        # Typed spec inputs stay typed through terraform and the dispatcher where the target sends JSON values.
        typed = {"gitlab": ("max_members", 20), "webhook": ("clean_build", False)}.get(target)
        if typed is not None:
            name, value = typed
            assert applied[name] == value and type(applied[name]) is type(value)
        assert applied["workspace"] == apply_run.object["spec"]["buildingBlock"]["spec"]["workspaceIdentifier"]
        # The credential reached terraform only through its environment: not in state, logs or what was sent.
        (credential,) = box.module_env().values() if target != "gitlab" else [box.module_env()["GITLAB_TOKEN"]]
        for raw in box.meshstack.runner_api.states.values():
            assert credential.encode() not in raw
        for run in (apply_run, destroy_run):
            assert credential not in str(run.sources)
        assert credential not in str(applied) + str(destroyed)
        assert box.credentials.client_secret not in str(applied) + str(destroyed)


@pytest.mark.terraform
@pytest.mark.parametrize(
    ("target", "completed"),
    [
        ("gitlab", r"\[gitlab-namespace\] pipeline \d+ completed: success "),
        ("azure_devops", r"\[azure-sql-database\] run \d+ completed: succeeded "),
        ("webhook", r"\[webhook-jenkins-job\] job http://127\.0\.0\.1:\d+/jobs/1 completed: succeeded "),
    ],
)
def test_a_module_that_waits_follows_its_pipeline_on_the_sandbox_to_the_end(
    target: str, completed: str, tmp_path: Path
) -> None:
    """wait_for_completion: the module polls what the target offers (the GitLab pipeline, the Azure run, the
    webhook receiver's status URL) until the pipeline that the sandbox runs has ended."""
    from meshpipe.demo import DEMO_BLOCKS

    chosen, lines = DEMO_BLOCKS[target], []
    with Sandbox(chosen.example) as box:
        wiring = {"wait_for_completion": True, "poll_interval_seconds": 1}
        runs = BlockRuns(box, wiring=wiring, work_root=tmp_path, timeout=120, on_line=lines.append)
        run = runs.create_run("APPLY", chosen.inputs)
        assert runs.execute(run).status == "IN_PROGRESS"
        # the module returned only after the pipeline had ended: its steps are in, and the run has its end
        assert any(re.search(completed, line) for line in lines), "\n".join(lines[-20:])
        _wait_until(lambda: run.status in ("SUCCEEDED", "FAILED"))
        assert run.status == "SUCCEEDED"
