"""The reference module applied and destroyed by real terraform against the fake GitHub over 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from meshpipe.fakes.github import FakeGitHub
from tests.generator.support import REPO, TOKEN, Module, b64, copy_module, render_inline, run_object, run_url

pytestmark = pytest.mark.terraform

INPUTS = {
    "name": {"type": "string", "required": False},
    "size": {"type": "string", "required": False},
    "buildingBlockRunUrl": {"type": "string", "required": False},
    "correlation_id": {"type": "string", "required": False},
}
RUN_NAME = "deploy ${{ inputs.correlation_id }}"


def workflows(fake: FakeGitHub, **options: Any) -> None:
    fake.add_token(TOKEN)
    settings: dict[str, Any] = {"inputs": INPUTS, "run_name": RUN_NAME, "duration": 0.3, **options}
    fake.add_workflow(REPO, "apply.yml", **settings)
    fake.add_workflow(REPO, "destroy.yml", **settings)


def reference(fake: FakeGitHub, tmp_path: Path, **variables: Any) -> Module:
    module = Module(copy_module("github-workflow-trigger", tmp_path), env={"GITHUB_TOKEN": TOKEN})
    defaults: dict[str, Any] = {
        "github_api_url": fake.api_url,
        "github_repository": REPO,
        "apply_workflow": "apply.yml",
        "destroy_workflow": "destroy.yml",
        "workflow_inputs": {"name": "team-bucket"},
        "poll_interval_seconds": 0.2,
    }
    return module.set(**{**defaults, **variables})


def count(fake: FakeGitHub, workflow: str) -> int:
    return len(fake.dispatches_for(workflow=workflow))


def test_apply_dispatches_the_apply_workflow_once_with_ref_inputs_and_headers(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    workflows(fake_github)
    run = run_object()
    module = reference(fake_github, tmp_path, github_ref="main", meshstack_building_block_run_b64=b64(run))
    output = module.apply()
    (dispatch,) = fake_github.dispatches
    assert (dispatch.workflow, dispatch.ref, dispatch.event) == ("apply.yml", "main", "workflow_dispatch")
    assert dispatch.inputs == {"name": "team-bucket", "buildingBlockRunUrl": run_url(run)}
    assert dispatch.headers["authorization"] == f"Bearer {TOKEN}"
    assert dispatch.headers["x-github-api-version"] == "2022-11-28"
    assert dispatch.headers["accept"] == "application/vnd.github+json"
    assert "github-workflow-trigger" in dispatch.headers["user-agent"]
    assert "[github-workflow-trigger]" in output
    assert "RUN-OBJECT-SECRET" not in str(dispatch.body) and "RUN-OBJECT-SECRET" not in module.state
    outputs = module.tf.outputs()
    assert outputs["apply_workflow_url"] == f"{fake_github.html_url}/{REPO}/actions/workflows/apply.yml"
    assert outputs["repository"] == REPO and outputs["destroy_workflow"] == "destroy.yml"


def test_new_meshstack_runs_under_on_change_dispatch_nothing(fake_github: FakeGitHub, tmp_path: Path) -> None:
    workflows(fake_github)
    module = reference(fake_github, tmp_path, redispatch="on_change")
    module.apply()
    module.set(meshstack_building_block_run_b64=b64(run_object()))
    module.apply()
    module.set(meshstack_building_block_run_b64=b64(run_object()))
    module.apply()
    assert count(fake_github, "apply.yml") == 1  # the run URL is per-run context, not a change
    assert count(fake_github, "destroy.yml") == 0


def test_reapply_unchanged_dispatches_nothing(fake_github: FakeGitHub, tmp_path: Path) -> None:
    workflows(fake_github)
    module = reference(fake_github, tmp_path, redispatch="on_change")
    module.apply()
    module.apply()
    assert count(fake_github, "apply.yml") == 1
    assert count(fake_github, "destroy.yml") == 0


def test_new_meshstack_run_with_every_run_dispatches_apply_once_and_no_destroy(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    workflows(fake_github)
    module = reference(fake_github, tmp_path, meshstack_building_block_run_b64=b64(run_object()))
    module.apply()
    second = run_object()
    module.set(meshstack_building_block_run_b64=b64(second))
    module.apply()
    assert count(fake_github, "apply.yml") == 2
    assert count(fake_github, "destroy.yml") == 0
    assert fake_github.dispatches[-1].inputs["buildingBlockRunUrl"] == run_url(second)


def test_run_id_variable_alone_drives_every_run(fake_github: FakeGitHub, tmp_path: Path) -> None:
    workflows(fake_github)
    module = reference(fake_github, tmp_path, meshstack_building_block_run_id="run-1")
    module.apply()
    module.apply()
    module.set(meshstack_building_block_run_id="run-2")
    module.apply()
    assert count(fake_github, "apply.yml") == 2
    assert count(fake_github, "destroy.yml") == 0


def test_changed_inputs_dispatch_apply_once_and_no_destroy(fake_github: FakeGitHub, tmp_path: Path) -> None:
    workflows(fake_github)
    module = reference(fake_github, tmp_path, redispatch="on_change")
    module.apply()
    module.set(workflow_inputs={"name": "team-bucket", "size": "large"})
    module.apply()
    assert count(fake_github, "apply.yml") == 2
    assert count(fake_github, "destroy.yml") == 0
    assert fake_github.dispatches[-1].inputs == {"name": "team-bucket", "size": "large"}


def test_destroy_fires_the_destroy_workflow_once_with_the_latest_inputs(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    workflows(fake_github)
    module = reference(fake_github, tmp_path)
    module.apply()
    module.set(workflow_inputs={"name": "renamed"})
    module.apply()
    module.destroy()
    (destroy,) = fake_github.dispatches_for(workflow="destroy.yml")
    assert destroy.inputs == {"name": "renamed"}
    assert destroy.ref == "main"
    assert count(fake_github, "apply.yml") == 2


def test_without_destroy_workflow_destroy_calls_nothing(fake_github: FakeGitHub, tmp_path: Path) -> None:
    workflows(fake_github)
    module = reference(fake_github, tmp_path, destroy_workflow=None)
    module.apply()
    calls = len(fake_github.log())
    module.destroy()
    assert len(fake_github.log()) == calls
    assert count(fake_github, "destroy.yml") == 0


def test_removing_the_destroy_workflow_in_a_later_version_disables_teardown_without_firing_it(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    # A platform team publishes a version whose destroy workflow is null: meshStack's next apply of every existing
    # building block must not fire the old destroy workflow, and neither may a later destroy.
    workflows(fake_github)
    module = reference(fake_github, tmp_path, destroy_workflow="destroy.yml", redispatch="on_change")
    module.apply()
    module.set(destroy_workflow=None)
    output = module.apply()
    assert count(fake_github, "destroy.yml") == 0, output
    assert count(fake_github, "apply.yml") == 1
    calls = len(fake_github.log())
    output = module.destroy()
    assert len(fake_github.log()) == calls, output
    assert count(fake_github, "destroy.yml") == 0
    assert "[github-workflow-trigger] no destroy workflow configured: nothing to fire" in output


def test_repository_dispatch_without_a_destroy_event_type_sends_nothing_on_destroy(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    fake_github.add_token(TOKEN)
    fake_github.add_repository(REPO)
    spec = {
        "name": "events-without-teardown",
        "description": "repository_dispatch whose destroy event type can be switched off.",
        "github": {"api_url": fake_github.api_url, "repository": REPO},
        "event": "repository_dispatch",
        "event_types": {"apply": "deploy", "destroy": {"default": "teardown"}},
        "auth": {"mode": "token"},
        "redispatch": "on_change",
    }
    module = Module(render_inline(spec, tmp_path), env={"GITHUB_TOKEN": TOKEN})
    module.apply()
    module.set(destroy_event_type=None)
    module.apply()
    calls = len(fake_github.log())
    output = module.destroy()
    assert len(fake_github.log()) == calls, output
    assert [d.event_type for d in fake_github.dispatches] == ["deploy"]
    assert "[events-without-teardown] no destroy event type configured: nothing to fire" in output


def test_failed_apply_dispatch_fails_the_apply_and_a_later_destroy_still_fires(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    workflows(fake_github)
    module = reference(fake_github, tmp_path, apply_workflow="missing.yml")
    output = module.apply(check=False)
    assert "meshpipe-dispatch: error: POST " in output
    assert "missing.yml/dispatches -> 404" in output
    assert fake_github.dispatches == []
    module.destroy()
    assert count(fake_github, "destroy.yml") == 1


def test_destroy_run_object_fires_no_apply_dispatch_then_destroy_fires_once(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    workflows(fake_github)
    module = reference(fake_github, tmp_path, meshstack_building_block_run_b64=b64(run_object("DESTROY")))
    module.apply()
    assert fake_github.dispatches == []
    module.destroy()
    assert count(fake_github, "destroy.yml") == 1
    assert count(fake_github, "apply.yml") == 0


def test_a_detect_run_object_applied_fires_nothing(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """meshStack only plans a DETECT run; were one applied anyway, the module must still fire nothing.

    Reproduction (issue 8): the old test only planned, and plan never runs provisioners, so a module that fired the
    apply workflow on DETECT passed it.
    """
    workflows(fake_github)
    module = reference(fake_github, tmp_path, meshstack_building_block_run_b64=b64(run_object("DETECT")))
    output = module.apply()
    assert fake_github.dispatches == [], output
    assert "behavior DETECT: not dispatching the apply workflow" in output
    module.destroy()
    assert count(fake_github, "destroy.yml") == 1 and count(fake_github, "apply.yml") == 0


def test_an_input_of_25000_angle_brackets_applies_and_destroys_byte_exact(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """Any input GitHub accepts must apply and destroy.

    Reproduction (issue 8): jsonencode writes each `<` as `\\u003c`, so 25,000 of them made the configuration longer
    than one environment variable may be (128 KiB): apply failed with "argument list too long", destroy forever.
    """
    workflows(fake_github)
    value = "<" * 25000
    module = reference(fake_github, tmp_path, workflow_inputs={"name": value})
    module.apply()
    module.destroy()
    assert [d.workflow for d in fake_github.dispatches] == ["apply.yml", "destroy.yml"]
    assert all(d.inputs["name"] == value for d in fake_github.dispatches)


def test_ghes_dispatches_with_one_post_and_waits_for_the_run_found_by_correlation_id(
    fake_ghes: FakeGitHub, tmp_path: Path
) -> None:
    """Reproduction (issue 10): every GHES dispatch first sent return_run_details, was rejected with 400, and was sent
    again: two POSTs where one does."""
    workflows(fake_ghes)
    module = reference(fake_ghes, tmp_path, correlation_input="correlation_id", wait_for_completion=True)
    output = module.apply()
    (dispatch,) = fake_ghes.dispatches
    assert [r.method for r in fake_ghes.log() if r.path.endswith("/dispatches")] == ["POST"]
    assert "return_run_details" not in dispatch.body
    (run,) = fake_ghes.runs
    assert dispatch.inputs["correlation_id"] in run.display_title
    assert run.status == "completed" and f"run {run.id} completed: success" in output
    assert module.tf.outputs()["apply_workflow_url"] == f"{fake_ghes.html_url}/{REPO}/actions/workflows/apply.yml"


def test_waiting_succeeds_when_the_run_concludes_success(fake_github: FakeGitHub, tmp_path: Path) -> None:
    workflows(fake_github, duration=0.5)
    module = reference(fake_github, tmp_path, wait_for_completion=True)
    output = module.apply()
    (run,) = fake_github.runs
    assert fake_github.run(run.id).status == "completed"
    assert f"run {run.id} completed: success {run.html_url}" in output


def test_waiting_fails_the_apply_with_the_run_url_when_the_run_fails(fake_github: FakeGitHub, tmp_path: Path) -> None:
    workflows(fake_github, conclusion="failure")
    module = reference(fake_github, tmp_path, wait_for_completion=True)
    output = module.apply(check=False)
    (run,) = fake_github.runs
    assert f"meshpipe-dispatch: error: workflow run {run.id} concluded failure: {run.html_url}" in output
    assert "Error: local-exec provisioner error" in output


def test_waiting_times_out_within_its_bound(fake_github: FakeGitHub, tmp_path: Path) -> None:
    workflows(fake_github, duration=None)
    module = reference(fake_github, tmp_path, wait_for_completion=True, wait_timeout_seconds=1)
    started = time.monotonic()
    output = module.apply(check=False)
    elapsed = time.monotonic() - started
    assert "timed out after 1 s waiting for" in output
    assert elapsed < 30


def test_429_with_retry_after_then_success_starts_exactly_one_run(fake_github: FakeGitHub, tmp_path: Path) -> None:
    workflows(fake_github)
    fake_github.add_fault(status=429, times=1, method="POST", path=r".*/dispatches", retry_after=0.2)
    output = reference(fake_github, tmp_path, correlation_input="correlation_id").apply()
    assert len(fake_github.runs) == 1, output
    assert [r.status for r in fake_github.log(method="POST")] == [429, 200]


def test_502_on_the_dispatch_still_starts_exactly_one_run(fake_github: FakeGitHub, tmp_path: Path) -> None:
    workflows(fake_github)
    fake_github.add_fault(status=502, times=1, method="POST", path=r".*/dispatches", after=True)
    output = reference(fake_github, tmp_path, correlation_input="correlation_id").apply()
    assert len(fake_github.runs) == 1, output
