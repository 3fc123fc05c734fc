"""An Azure Pipelines Trigger Module applied and destroyed by real terraform against the fake Azure DevOps over
127.0.0.1: one run per APPLY run (also after lost answers, 429 and 503), none on DETECT, the destroy pipeline once
with the latest inputs, waiting, hostile values byte-exact and no secret in state, plan or log."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from meshpipe.fakes.azure_devops import FakeAzureDevOps
from meshpipe.fakes.azure_devops_runs import PipelineRun
from tests.generator.support import Module, b64, copy_module, render_inline, run_object, run_url
from tests.generator.test_module_security import hostile_corpus

pytestmark = pytest.mark.terraform

PAT = "azdoCANARYmodulepat000000000000000000000000000000001"
PAT_BASIC = base64.b64encode(f":{PAT}".encode()).decode()
SECRET = "db-CANARY-password-0123456789"
PROJECT = "Platform Team"
CORRELATION = "meshpipe_correlation_id"
PHASE = "meshpipe_phase"
RUNS = r"/_apis/pipelines/1/runs$"


def pipelines(fake: FakeAzureDevOps, inputs: list[str], **options: Any) -> tuple[int, int]:
    """The apply and the destroy pipeline (ids 1 and 2), declaring the module's inputs as parameters."""
    fake.add_pat(PAT, scopes=["vso.build_execute"])
    parameters: dict[str, dict[str, Any]] = {name: {"type": "string", "default": ""} for name in inputs}
    parameters.update(
        {
            "buildingBlockRunUrl": {"type": "string", "default": ""},
            CORRELATION: {"type": "string", "default": ""},
            PHASE: {"type": "string", "values": ["apply", "destroy"]},
        }
    )
    settings: dict[str, Any] = {
        "parameters": parameters,
        "name_template": "deploy ${{ parameters.meshpipe_correlation_id }}",
        "duration": 0.3,
        **options,
    }
    return fake.add_pipeline(PROJECT, "apply", **settings), fake.add_pipeline(PROJECT, "destroy", **settings)


def azure_module(fake: FakeAzureDevOps, tmp_path: Path, inputs: list[dict[str, Any]], **spec: Any) -> Module:
    """An inline spec of target azure_devops rendered, initialised and pointed at the fake."""
    names = [item["name"] for item in inputs]
    apply_id, destroy_id = pipelines(fake, names, **spec.pop("pipeline_options", {}))
    definition: dict[str, Any] = {
        "name": "azure-trigger-under-test",
        "description": "Azure Pipelines against the fake Azure DevOps.",
        "target": "azure_devops",
        "azure_devops": {
            "org_url": fake.org_url,
            "project": PROJECT,
            "ref": "refs/heads/main",
            "allow_secret_inputs": True,
        },
        "pipelines": {"apply": apply_id, "destroy": destroy_id},
        "auth": {"mode": "pat", "pat_env": "AZURE_DEVOPS_PAT"},
        "correlation_input": CORRELATION,
        "phase_input": PHASE,
        "wait": {
            "enabled": {"default": False},
            "timeout_seconds": {"default": 30},
            "poll_interval_seconds": {"default": 0.2},
        },
        "inputs": inputs,
        **spec,
    }
    return Module(render_inline(definition, tmp_path), env={"AZURE_DEVOPS_PAT": PAT, "DB_PASSWORD": SECRET})


def simple(fake: FakeAzureDevOps, tmp_path: Path, **spec: Any) -> Module:
    inputs = [{"name": "name", "type": "string"}, {"name": "db_password", "sensitive": True, "env": "DB_PASSWORD"}]
    return azure_module(fake, tmp_path, inputs, **spec).set(name="team-bucket")


def runs(fake: FakeAzureDevOps, pipeline_id: int) -> list[PipelineRun]:
    return fake.runs_for(PROJECT, pipeline_id)


def test_one_run_per_apply_run_and_the_destroy_pipeline_once_with_the_latest_inputs(
    fake_azure_devops: FakeAzureDevOps, tmp_path: Path
) -> None:
    module = simple(fake_azure_devops, tmp_path)
    first = run_object()
    module.set(meshstack_building_block_run_b64=b64(first))
    output = module.apply()
    module.apply()  # the same meshStack run again: nothing new
    assert len(runs(fake_azure_devops, 1)) == 1, output
    (run,) = runs(fake_azure_devops, 1)
    assert run.template_parameters == {
        "name": "team-bucket",
        "db_password": SECRET,
        "buildingBlockRunUrl": run_url(first),
        CORRELATION: run.template_parameters[CORRELATION],
        PHASE: "apply",
    }
    assert run.name == f"deploy {run.template_parameters[CORRELATION]}"
    (post,) = fake_azure_devops.log(method="POST")
    assert post.headers["authorization"] == f"Basic {PAT_BASIC}"
    assert f"[azure-trigger-under-test] dispatched pipeline 1 on refs/heads/main of project {PROJECT}" in output
    second = run_object()
    module.set(meshstack_building_block_run_b64=b64(second), name="renamed")
    module.apply()
    assert [r.template_parameters["name"] for r in runs(fake_azure_devops, 1)] == ["team-bucket", "renamed"]
    assert runs(fake_azure_devops, 2) == []
    module.destroy()
    (destroyed,) = runs(fake_azure_devops, 2)
    assert destroyed.template_parameters["name"] == "renamed"
    assert destroyed.template_parameters[PHASE] == "destroy"
    assert len(runs(fake_azure_devops, 1)) == 2


def test_a_detect_run_fires_nothing_and_destroy_still_fires_once(
    fake_azure_devops: FakeAzureDevOps, tmp_path: Path
) -> None:
    module = simple(fake_azure_devops, tmp_path)
    module.set(meshstack_building_block_run_b64=b64(run_object("DETECT")))
    output = module.apply()
    assert "behavior DETECT: not dispatching the apply pipeline" in output
    assert fake_azure_devops.runs == []
    module.destroy()
    assert len(runs(fake_azure_devops, 2)) == 1 and runs(fake_azure_devops, 1) == []


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 429, "retry_after": 0.2},
        {"status": 503},
        {"status": 503, "after": True},
        {"drop": True, "after": True},
    ],
    ids=["429", "503-before", "503-after", "lost-answer"],
)
def test_exactly_one_run_after_rate_limits_server_errors_and_lost_answers(
    fake_azure_devops: FakeAzureDevOps, tmp_path: Path, fault: dict[str, Any]
) -> None:
    module = simple(fake_azure_devops, tmp_path)
    fake_azure_devops.add_fault(method="POST", path=RUNS, **fault)
    module.set(meshstack_building_block_run_b64=b64(run_object()))
    output = module.apply()
    assert len(runs(fake_azure_devops, 1)) == 1, output
    module.apply()
    assert len(runs(fake_azure_devops, 1)) == 1


@pytest.mark.parametrize(
    ("options", "outcome"),
    [({"duration": 0.5}, "succeeded"), ({"result": "failed"}, "failed"), ({"duration": None}, "timeout")],
)
def test_waiting_on_the_run(
    fake_azure_devops: FakeAzureDevOps, tmp_path: Path, options: dict[str, Any], outcome: str
) -> None:
    module = simple(fake_azure_devops, tmp_path, pipeline_options=options)
    module.set(wait_for_completion=True, wait_timeout_seconds=2)
    started = time.monotonic()
    output = module.apply(check=outcome == "succeeded")
    (run,) = runs(fake_azure_devops, 1)
    if outcome == "succeeded":
        assert f"run {run.id} completed: succeeded {run.web_url}" in output
    elif outcome == "failed":
        assert f"meshpipe-dispatch: error: pipeline run {run.id} concluded failed: {run.web_url}" in output
    else:
        assert "timed out after 2 s waiting for" in output and run.state == "inProgress"
        assert time.monotonic() - started < 60


def test_hostile_values_arrive_byte_exact_in_apply_and_destroy(
    fake_azure_devops: FakeAzureDevOps, tmp_path: Path
) -> None:
    marker = tmp_path / "MARKER"
    # '$(' is refused before sending (a macro in the pipeline's variables: test_dispatch_target_review.py)
    corpus = {name: value.replace("$(", "$ (") for name, value in hostile_corpus(marker).items()}
    module = azure_module(fake_azure_devops, tmp_path, [{"name": name, "type": "string"} for name in corpus])
    module.set(**corpus)
    module.apply()
    module.destroy()
    (applied,) = runs(fake_azure_devops, 1)
    (destroyed,) = runs(fake_azure_devops, 2)
    for run in (applied, destroyed):
        assert {name: run.template_parameters[name] for name in corpus} == corpus
    assert not marker.exists()


def test_no_secret_in_state_plan_or_log(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    module = simple(fake_azure_devops, tmp_path)
    module.set(meshstack_building_block_run_b64=b64(run_object()), wait_for_completion=True)
    plan = module.tf.run("plan", "-no-color", "-input=false", "-out=tfplan").output
    shown = module.tf.run("show", "-json", "-no-color", "tfplan").stdout
    output = plan + module.apply()
    applied = module.state
    assert json.loads(applied)["resources"]
    output += module.destroy()
    assert len(fake_azure_devops.runs) == 2
    assert all(r.template_parameters["db_password"] == SECRET for r in fake_azure_devops.runs)
    files = [p.read_text(errors="replace") for p in module.tf.workdir.rglob("*") if p.is_file() and p.suffix != ".py"]
    for text in (shown, output, applied, *files):
        for secret in (PAT, PAT_BASIC, SECRET, "RUN-OBJECT-SECRET"):
            assert secret not in text


def test_the_reference_module_applies_and_destroys(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    apply_id, destroy_id = pipelines(fake_azure_devops, [])
    module = Module(copy_module("azure-pipelines-trigger", tmp_path), env={"AZURE_DEVOPS_PAT": PAT})
    module.set(
        azure_devops_org_url=fake_azure_devops.org_url,
        azure_devops_project=PROJECT,
        apply_pipeline_id=apply_id,
        destroy_pipeline_id=destroy_id,
        poll_interval_seconds=0.2,
        wait_for_completion=True,
        meshstack_building_block_run_b64=b64(run_object()),
    )
    output = module.apply()
    assert "completed: succeeded" in output
    module.destroy()
    assert [len(runs(fake_azure_devops, i)) for i in (apply_id, destroy_id)] == [1, 1]
