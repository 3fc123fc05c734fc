"""The sandbox hosts a block of any target: it reads the spec's target, seeds that target's fake with what the
block's pipeline definition declares, wires the definition to the fakes and passes the target's credentials."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpipe.errors import MeshpipeError
from meshpipe.sandbox import Sandbox
from meshpipe.sandbox_block import stage_block
from meshpipe.sandbox_host import workflow_warnings
from meshpipe.sandbox_pipelines import load_azure_pipeline, load_gitlab_pipeline
from meshpipe.sandbox_runs import BlockRuns

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def copy_example(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns(".terraform*", "__pycache__"))
    return target


@pytest.mark.parametrize(
    ("name", "target", "pipeline", "after"),
    [
        ("gitlab-namespace", "gitlab", ".gitlab-ci.yml", ("pipeline.py", "finish")),
        ("azure-sql-database", "azure_devops", "azure-pipelines.yml", ("pipeline.py", "finish")),
        ("webhook-jenkins-job", "webhook", None, None),
    ],
)
def test_a_block_is_read_by_its_spec_target(
    name: str, target: str, pipeline: str | None, after: tuple[str, str] | None, tmp_path: Path
) -> None:
    block = stage_block(EXAMPLES / name, tmp_path / "stage")
    assert block.target == target
    assert block.pipeline == (None if pipeline is None else EXAMPLES / name / pipeline)
    assert block.phase_input == (None if target == "webhook" else "meshpipe_phase")
    assert block.body[1:] == ("pipeline.py", "job")
    assert (block.after[1:] if block.after else None) == after
    assert block.root == EXAMPLES / name  # it has publish/definition.tf: used in place


def test_a_gitlab_block_without_its_pipeline_file_names_the_command_that_writes_it(tmp_path: Path) -> None:
    source = copy_example("gitlab-namespace", tmp_path)
    (source / ".gitlab-ci.yml").unlink()
    with pytest.raises(
        MeshpipeError, match=r"no \.gitlab-ci\.yml; write it with: meshpipe workflow render .*spec\.yaml"
    ):
        stage_block(source, tmp_path / "stage")


def test_the_fakes_enforce_what_the_block_declares_and_the_definition_is_wired_to_them() -> None:
    with Sandbox("gitlab-namespace") as gitlab_box:
        project = gitlab_box.gitlab.projects["acme/platform/gitlab-namespace"]
        declared = load_gitlab_pipeline(EXAMPLES / "gitlab-namespace" / ".gitlab-ci.yml")
        assert project.ci_inputs == declared.inputs and project.name_template == declared.name
        assert set(gitlab_box.module_env()) == {"GITLAB_TOKEN", "GITLAB_TRIGGER_TOKEN"}
        runs = BlockRuns(gitlab_box)
        assert runs.wiring["gitlab_api_url"] == gitlab_box.gitlab.api_url
        assert "github_api_url" not in runs.wiring  # only STATIC inputs of the definition are wired
        exports = gitlab_box.exports()
        assert exports["TF_VAR_gitlab_project"] == "acme/platform/gitlab-namespace"
        assert list(exports)[-1] == "MESHSTACK_CLIENT_SECRET"  # the banner's last line, where readers stop
    with Sandbox("azure-sql-database") as azure_box:
        host = azure_box.hosts["azure_devops"]
        declared = load_azure_pipeline(EXAMPLES / "azure-sql-database" / "azure-pipelines.yml")
        (pipeline,) = azure_box.azure.projects["platform"].pipelines.values()
        assert pipeline.parameters == declared.inputs and pipeline.final_command is not None
        runs = BlockRuns(azure_box)
        assert (
            runs.wiring["apply_pipeline_id"]
            == runs.wiring["destroy_pipeline_id"]
            == host.wiring(azure_box.block)["apply_pipeline_id"]
        )
        assert set(azure_box.module_env()) == {"AZURE_DEVOPS_PAT"}


def test_a_pipeline_that_would_refuse_the_module_is_reported_at_start(tmp_path: Path) -> None:
    source = copy_example("azure-sql-database", tmp_path)
    path = source / "azure-pipelines.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("- name: sku\n", "- name: tier\n"), encoding="utf-8")
    with Sandbox(block=stage_block(source, tmp_path / "stage")) as box:
        warnings = workflow_warnings(box)
    assert any(re.search(r"azure-pipelines\.yml: error: parameters\.sku: not declared", line) for line in warnings)


@pytest.fixture
def gitlab_sandbox(tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """`meshpipe sandbox --block examples/gitlab-namespace`: its banner and an environment that finds it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MESHPIPE_SANDBOX_STATE": str(tmp_path / "sandbox.json")}
    process = subprocess.Popen(
        [sys.executable, "-m", "meshpipe", "sandbox", "--block", str(EXAMPLES / "gitlab-namespace")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    banner: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            banner.append(line)
            if line.startswith("runner emulation:"):
                break
        yield banner, env
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=10)


@pytest.mark.terraform
def test_sandbox_hosts_a_gitlab_block_and_orders_and_deletes_it(
    gitlab_sandbox: tuple[list[str], dict[str, str]],
) -> None:
    banner, env = gitlab_sandbox
    text = "".join(banner)
    for line in ("fake GitHub (github):", "fake GitLab:", "fake Azure DevOps:", "webhook receiver:"):
        assert line in text
    assert "hosted block:              gitlab-namespace (target gitlab)" in text
    exports = dict(re.findall(r"^export (\w+)=(\S+)$", text, flags=re.MULTILINE))
    assert {"GITLAB_TOKEN", "GITLAB_TRIGGER_TOKEN", "TF_VAR_gitlab_api_url", "TF_VAR_gitlab_project"} <= set(exports)
    assert {"GITHUB_TOKEN", "AZURE_DEVOPS_PAT", "MESHPIPE_WEBHOOK_SECRET"} <= set(exports)

    def sandbox(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "meshpipe", "sandbox", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=200, check=False)

    ordered = sandbox("order", "--input", "namespace_name=beta-ops", "--input", "visibility=private")
    assert ordered.returncode == 0, ordered.stdout + ordered.stderr
    assert "step gitlab/create: SUCCEEDED - Namespace beta-ops is ready" in ordered.stdout
    assert re.search(r"run [0-9a-f-]{36}: SUCCEEDED", ordered.stdout)
    deleted = sandbox("delete", "latest")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert "step gitlab/delete: SUCCEEDED" in deleted.stdout


@pytest.mark.terraform
def test_a_users_gitlab_block_with_variables_is_staged_rendered_and_run(tmp_path: Path) -> None:
    """A block directory with only spec.yaml, .gitlab-ci.yml and pipeline.py (values: variables, a number input):
    the sandbox renders its module and definition, and the pipeline gets CI/CD variables, numbers as text."""
    import time

    from meshpipe.generator.spec import load_spec

    source = copy_example("gitlab-namespace", tmp_path)
    shutil.rmtree(source / "module")
    shutil.rmtree(source / "publish")
    spec = source / "spec.yaml"
    text = spec.read_text(encoding="utf-8").replace("  values: inputs", "  values: variables")
    spec.write_text(text.replace("inputs:\n", "inputs:\n  - name: members\n    type: number\n    default: 3\n", 1))
    assert load_spec(spec).values == "variables"
    render = [sys.executable, "-m", "meshpipe", "workflow", "render", str(spec), "--run", "python3 pipeline.py job"]
    subprocess.run([*render, "-o", str(source / ".gitlab-ci.yml"), "--force"], check=True, capture_output=True)

    with Sandbox(block=stage_block(source, tmp_path / "stage")) as box:
        assert box.gitlab.projects["acme/platform/gitlab-namespace"].ci_inputs is None  # no spec:inputs header
        (tmp_path / "work").mkdir()
        runs = BlockRuns(box, work_root=tmp_path / "work", timeout=120)
        run = runs.create_run("APPLY", {"namespace_name": "var-mode", "members": 5})
        assert runs.execute(run).status == "IN_PROGRESS"
        deadline = time.monotonic() + 30
        while run.status not in ("SUCCEEDED", "FAILED") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert run.status == "SUCCEEDED"
        (pipeline,) = box.gitlab.pipelines_for()
        variables = {item["key"]: item["value"] for item in pipeline.variables}
        assert pipeline.inputs == {}
        assert variables["members"] == "5" and variables["namespace_name"] == "var-mode"
        assert variables["meshpipe_phase"] == "apply" and variables["buildingBlockRunUrl"] == run.url
        assert pipeline.name == f"gitlab-namespace apply [{variables['correlation_id']}]"
