"""A GitLab Trigger Module (rendered from a spec with target ``gitlab``) applied and destroyed by real terraform
against the fake GitLab over 127.0.0.1: exactly one pipeline per APPLY run (also after a lost answer, a 429 and a
503), none on DETECT, the destroy pipeline exactly once with the latest inputs, waiting on success, failure and a
timeout, hostile values byte-exact in the pipeline's inputs, the canary token and secret in no state, plan or log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshpipe.fakes.gitlab import FakeGitLab
from tests.generator.support import Module, b64, render_inline, run_object, run_url

pytestmark = pytest.mark.terraform

PROJECT = "acme/platform/deploy"
TOKEN = "glpat-CANARY0module0token0never0shown"
SECRET = "s3cret-input-CANARY-module-value"
HOSTILE = "a'b\"c $(touch /tmp/pwned) `id` ; rm -rf / \\ \n\t ünïcødé ${x} %{ y } $[[ inputs.y ]]"
SPEC: dict[str, Any] = {
    "name": "gitlab-e2e",
    "description": "GitLab pipeline inputs against the fake GitLab.",
    "target": "gitlab",
    "gitlab": {"api_url": {"required": True}, "project": PROJECT, "values": "inputs", "allow_secret_inputs": True},
    "pipelines": {"apply": {"default": "main"}, "destroy": {"default": "main"}},
    "auth": {"mode": "auto"},
    "forward_run_url": True,
    "correlation_input": "meshpipe_correlation_id",
    "phase_input": "meshpipe_phase",
    "wait": {
        "enabled": {"default": False},
        "timeout_seconds": {"default": 30},
        "poll_interval_seconds": {"default": 1},
    },
    "redispatch": {"default": "every_run"},
    "inputs": [
        {"name": "name", "type": "string"},
        {"name": "note", "type": "string", "default": ""},
        {"name": "api_key", "sensitive": True, "env": "MY_API_KEY"},
    ],
}
CI_INPUTS: dict[str, Any] = {
    "name": {"type": "string"},
    "note": {"type": "string", "default": ""},
    "api_key": {"type": "string"},
    "buildingBlockRunUrl": {"type": "string", "default": ""},
    "meshpipe_correlation_id": {"type": "string"},
    "meshpipe_phase": {"type": "string", "options": ["apply", "destroy"]},
}
NAME = "meshpipe $[[ inputs.meshpipe_phase ]] $[[ inputs.meshpipe_correlation_id ]]"


def project(fake: FakeGitLab, **options: Any) -> None:
    settings: dict[str, Any] = {"ci_inputs": CI_INPUTS, "name_template": NAME, "duration": 0.3, **options}
    fake.add_project(PROJECT, **settings)
    fake.add_access_token(TOKEN, projects=[PROJECT], scopes=["api"])


def module(fake: FakeGitLab, tmp_path: Path, **variables: Any) -> Module:
    rendered = render_inline(SPEC, tmp_path)
    env = {"GITLAB_TOKEN": TOKEN, "MY_API_KEY": SECRET}
    return Module(rendered, env=env).set(gitlab_api_url=fake.api_url, name="team-bucket", **variables)


def phases(fake: FakeGitLab) -> list[str]:
    return [str(p.inputs["meshpipe_phase"]) for p in fake.pipelines_for(PROJECT)]


def test_one_pipeline_per_apply_run_none_on_detect_hostile_values_byte_exact(
    fake_gitlab: FakeGitLab, tmp_path: Path
) -> None:
    project(fake_gitlab)
    run = run_object()
    trigger = module(fake_gitlab, tmp_path, note=HOSTILE, meshstack_building_block_run_b64=b64(run))
    plan = trigger.tf.run("plan", "-no-color", "-input=false", "-out=tfplan").output
    shown = trigger.tf.run("show", "-json", "-no-color", "tfplan").stdout
    output = plan + trigger.apply()
    (pipeline,) = fake_gitlab.pipelines_for(PROJECT)
    assert pipeline.inputs["name"] == "team-bucket" and pipeline.inputs["note"] == HOSTILE
    assert pipeline.inputs["api_key"] == SECRET and pipeline.inputs["buildingBlockRunUrl"] == run_url(run)
    assert pipeline.inputs["meshpipe_phase"] == "apply"
    assert pipeline.name == f"meshpipe apply {pipeline.inputs['meshpipe_correlation_id']}"
    assert "RUN-OBJECT-SECRET" not in str(pipeline.inputs)
    trigger.set(meshstack_building_block_run_b64=b64(run_object("DETECT")))
    output += trigger.apply()
    assert len(fake_gitlab.pipelines_for(PROJECT)) == 1  # DETECT fires nothing
    trigger.set(meshstack_building_block_run_b64=b64(run_object()))
    output += trigger.apply()
    assert phases(fake_gitlab) == ["apply", "apply"]  # a new APPLY run fires once more
    output += trigger.destroy()
    for text in (output, shown, trigger.state, (trigger.tf.workdir / "terraform.tfstate.backup").read_text()):
        assert TOKEN not in text and SECRET not in text


@pytest.mark.parametrize(
    "fault",
    [
        {"method": "POST", "path": r"/pipeline$", "drop": True, "after": True},
        {"method": "POST", "status": 429, "retry_after": 1},
        {"method": "POST", "path": r"/pipeline$", "status": 503, "after": True},
    ],
    ids=["lost-answer", "429", "503-after-creating"],
)
def test_exactly_one_pipeline_after_a_fault(fake_gitlab: FakeGitLab, tmp_path: Path, fault: dict[str, Any]) -> None:
    project(fake_gitlab)
    trigger = module(fake_gitlab, tmp_path, meshstack_building_block_run_b64=b64(run_object()))
    fake_gitlab.add_fault(**fault)
    trigger.apply()
    assert phases(fake_gitlab) == ["apply"]


def test_destroy_fires_once_with_the_latest_inputs(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    project(fake_gitlab)
    trigger = module(fake_gitlab, tmp_path, note="first", meshstack_building_block_run_b64=b64(run_object()))
    trigger.apply()
    trigger.set(note="latest", meshstack_building_block_run_b64=b64(run_object()))
    trigger.apply()
    trigger.set(meshstack_building_block_run_b64=b64(run_object("DESTROY")))
    trigger.destroy()
    assert phases(fake_gitlab) == ["apply", "apply", "destroy"]
    destroyed = fake_gitlab.pipelines_for(PROJECT)[-1]
    assert destroyed.inputs["note"] == "latest" and destroyed.name.startswith("meshpipe destroy ")


@pytest.mark.parametrize(
    ("options", "ok", "expected"),
    [
        ({"conclusion": "success"}, True, "completed: success"),
        ({"conclusion": "failed"}, False, "concluded failed"),
        ({"duration": None}, False, "timed out after 3 s"),
    ],
    ids=["success", "failed", "timeout"],
)
def test_waiting_fails_the_apply_unless_the_pipeline_succeeds(
    fake_gitlab: FakeGitLab, tmp_path: Path, options: dict[str, Any], ok: bool, expected: str
) -> None:
    project(fake_gitlab, **options)
    trigger = module(
        fake_gitlab,
        tmp_path,
        wait_for_completion=True,
        wait_timeout_seconds=3,
        meshstack_building_block_run_b64=b64(run_object()),
    )
    output = trigger.apply(check=False)
    assert expected in output
    assert ("Apply complete!" in output) is ok
    assert phases(fake_gitlab) == ["apply"]
    assert TOKEN not in output and SECRET not in output


def test_variables_through_a_trigger_token_byte_exact_and_awaited_with_the_access_token(
    fake_gitlab: FakeGitLab, tmp_path: Path
) -> None:
    fake_gitlab.add_project(PROJECT, name_template="meshpipe $meshpipe_phase $meshpipe_correlation_id", duration=0.3)
    fake_gitlab.add_access_token(TOKEN, projects=[PROJECT], scopes=["read_api"], role="reporter")  # reads only
    trigger_token = fake_gitlab.add_trigger_token(PROJECT)
    spec = {**SPEC, "name": "gitlab-e2e-variables", "gitlab": {**SPEC["gitlab"], "values": "variables"}}
    rendered = render_inline(spec, tmp_path)
    env = {"GITLAB_TOKEN": TOKEN, "GITLAB_TRIGGER_TOKEN": trigger_token, "MY_API_KEY": SECRET}
    hostile = HOSTILE.replace("$", "")  # '$' is refused in variables mode (test_dispatch_target_review.py)
    trigger = Module(rendered, env=env).set(
        gitlab_api_url=fake_gitlab.api_url,
        name="team-bucket",
        note=hostile,
        wait_for_completion=True,
        meshstack_building_block_run_b64=b64(run_object()),
    )
    output = trigger.apply() + trigger.destroy()
    applied, destroyed = fake_gitlab.pipelines_for(PROJECT)
    variables = {v["key"]: v["value"] for v in applied.variables}
    assert variables["note"] == hostile and variables["api_key"] == SECRET and variables["meshpipe_phase"] == "apply"
    assert applied.source == "trigger" and applied.status == "success"
    assert {v["key"]: v["value"] for v in destroyed.variables}["meshpipe_phase"] == "destroy"
    assert all(r.headers["private-token"] == TOKEN for r in fake_gitlab.log(method="GET"))
    for text in (output, trigger.state):
        assert TOKEN not in text and SECRET not in text and trigger_token not in text
