"""Each run type through the runner emulation, with real terraform against the fakes, judged by the fake GitHub's
request log and the fake meshStack's record of the run (issue 7, "Done when")."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpipe.fakes.meshstack_runs import FakeRun
from meshpipe.fakes.runner import DEFAULT_RUNNER_UUID
from meshpipe.sandbox import Sandbox
from meshpipe.sandbox_runs import BlockRuns
from tests.runner_support import INPUTS, block_runs, dispatches, run_urls

pytestmark = pytest.mark.terraform

SYNC_STEPS = ["sources", "input", "init_tf", "pre_run_script", "execute_tf", "output"]


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


def sources(box: Sandbox, run_uuid: str) -> dict[str, dict[str, object]]:
    with box.meshstack.lock:
        return {key: dict(value) for key, value in box.meshstack.run(run_uuid).sources.items()}


def step_ids(box: Sandbox, run_uuid: str, source: str = DEFAULT_RUNNER_UUID) -> list[str]:
    return [str(step["id"]) for step in sources(box, run_uuid)[source]["steps"]]  # type: ignore[attr-defined]


def applied(runs: BlockRuns) -> FakeRun:
    """A fresh APPLY run, executed and concluded SUCCEEDED in meshStack (sync: by the runner itself; async: by the
    workflow's report), for the tests that destroy the block afterwards."""
    apply = runs.create_run("APPLY", INPUTS)
    outcome = runs.execute(apply)
    assert runs.wait_terminal(apply) == "SUCCEEDED", outcome.log
    return apply


def test_detect_fires_nothing_uploads_its_plan_and_hands_over_in_async_mode(box: Sandbox, tmp_path: Path) -> None:
    runs = block_runs(box, tmp_path)
    detect = runs.create_run("DETECT", INPUTS)
    outcome = runs.execute(detect)
    assert outcome.status == "IN_PROGRESS", outcome.log
    assert outcome.changes_detected is True
    assert box.github.log("POST", r"/dispatches$") == []
    assert detect.uuid in box.meshstack.runner_api.artifacts
    assert list(sources(box, detect.uuid)) == [DEFAULT_RUNNER_UUID]
    assert step_ids(box, detect.uuid) == ["trigger"]
    assert box.meshstack.run(detect.uuid).updates[-1]["changesDetected"] is True
    # DETECT never gets the deprecated run variables
    assert "meshstack_building_block_run_b64" not in "\n".join(outcome.log)


def test_sync_detect_reports_the_fixed_steps_without_output(box: Sandbox, tmp_path: Path) -> None:
    runs = block_runs(box, tmp_path, is_async=False)
    detect = runs.create_run("DETECT", INPUTS)
    outcome = runs.execute(detect)
    assert outcome.status == "SUCCEEDED", outcome.log
    assert step_ids(box, detect.uuid) == SYNC_STEPS[:-1]
    steps = {s["id"]: s for s in sources(box, detect.uuid)[DEFAULT_RUNNER_UUID]["steps"]}  # type: ignore[attr-defined]
    assert "stored run" in steps["pre_run_script"]["systemMessage"]
    assert "terraform plan -out=plan.tfplan -detailed-exitcode" in steps["execute_tf"]["systemMessage"]
    assert all(step["status"] == "SUCCEEDED" for step in steps.values())
    assert box.github.log("POST", r"/dispatches$") == []


def test_fresh_apply_dispatches_once_with_its_run_url_and_both_sources_report(box: Sandbox, tmp_path: Path) -> None:
    runs = block_runs(box, tmp_path)
    apply = runs.create_run("APPLY", INPUTS)
    outcome = runs.execute(apply)
    assert outcome.status == "IN_PROGRESS", outcome.log
    assert runs.wait_terminal(apply) == "SUCCEEDED"
    assert run_urls(box, "apply.yml") == [apply.url]
    assert dispatches(box, "destroy.yml") == []
    assert set(sources(box, apply.uuid)) == {DEFAULT_RUNNER_UUID, "github"}
    assert "No plan artifact linked to this run; running a fresh terraform apply." in outcome.log


def test_apply_replaying_a_detect_plan_dispatches_once_with_the_apply_runs_url(box: Sandbox, tmp_path: Path) -> None:
    runs = block_runs(box, tmp_path)
    detect = runs.create_run("DETECT", INPUTS)
    runs.execute(detect)
    apply = runs.approve(detect)
    outcome = runs.execute(apply)
    assert "Using the provided plan artifact from the dry-run; applying it verbatim." in outcome.log
    assert outcome.status == "IN_PROGRESS", outcome.log
    assert runs.wait_terminal(apply) == "SUCCEEDED"
    assert run_urls(box, "apply.yml") == [apply.url]
    assert set(sources(box, apply.uuid)) == {DEFAULT_RUNNER_UUID, "github"}


def test_two_detect_apply_cycles_in_a_row_dispatch_once_per_apply(box: Sandbox, tmp_path: Path) -> None:
    runs = block_runs(box, tmp_path)
    applies = []
    block = None
    for _ in range(2):
        detect = runs.create_run("DETECT", INPUTS, building_block_uuid=block)
        block = detect.building_block_uuid
        assert runs.execute(detect).changes_detected is True
        apply = runs.approve(detect)
        outcome = runs.execute(apply)
        assert outcome.status == "IN_PROGRESS", outcome.log
        assert runs.wait_terminal(apply) == "SUCCEEDED"
        applies.append(apply.url)
    assert run_urls(box, "apply.yml") == applies


def test_async_destroy_applies_with_the_destroy_run_then_fires_the_destroy_workflow_once(
    box: Sandbox, tmp_path: Path
) -> None:
    runs = block_runs(box, tmp_path)
    apply = applied(runs)
    destroy = runs.create_run("DESTROY", INPUTS, building_block_uuid=apply.building_block_uuid)
    outcome = runs.execute(destroy)
    assert outcome.status == "IN_PROGRESS", outcome.log
    assert runs.wait_terminal(destroy) == "SUCCEEDED"
    log = "\n".join(outcome.log)
    assert log.index("$ terraform apply") < log.index("$ terraform destroy")
    assert run_urls(box, "apply.yml") == [apply.url]
    assert run_urls(box, "destroy.yml") == [destroy.url]
    assert set(sources(box, destroy.uuid)) == {DEFAULT_RUNNER_UUID, "github"}
    runner = sources(box, destroy.uuid)[DEFAULT_RUNNER_UUID]
    assert runner["status"] == "IN_PROGRESS" and step_ids(box, destroy.uuid) == ["trigger"]
    # state went through meshStack's HTTP backend with Basic auth, locked and unlocked around each command
    api = box.meshstack.runner_api
    assert api.state_of(apply.building_block_uuid)["resources"] == []  # type: ignore[index]
    state_requests = box.meshstack.log(path=r"^/api/terraform/state/")
    assert {(r.method, r.path.endswith("/lock")) for r in state_requests} >= {("POST", True), ("DELETE", True)}
    assert all((r.headers.get("authorization") or "").startswith("Basic ") for r in state_requests)
    assert api.locks == {}


def test_sync_destroy_fires_the_destroy_workflow_with_the_destroy_runs_url(box: Sandbox, tmp_path: Path) -> None:
    runs = block_runs(box, tmp_path, is_async=False)
    apply = applied(runs)
    destroy = runs.create_run("DESTROY", INPUTS, building_block_uuid=apply.building_block_uuid)
    outcome = runs.execute(destroy)
    assert outcome.status == "SUCCEEDED", outcome.log
    assert "$ terraform apply" not in "\n".join(outcome.log)
    assert step_ids(box, destroy.uuid) == SYNC_STEPS
    assert runs.wait_terminal(destroy) == "SUCCEEDED"
    assert run_urls(box, "destroy.yml") == [destroy.url]
    assert set(sources(box, destroy.uuid)) == {DEFAULT_RUNNER_UUID, "github"}


def test_sync_destroy_fires_the_destroy_workflow_exactly_once(box: Sandbox, tmp_path: Path) -> None:
    runs = block_runs(box, tmp_path, is_async=False)
    apply = applied(runs)
    destroy = runs.create_run("DESTROY", INPUTS, building_block_uuid=apply.building_block_uuid)
    assert runs.execute(destroy).status == "SUCCEEDED"
    assert len(dispatches(box, "destroy.yml")) == 1
    assert len(dispatches(box, "apply.yml")) == 1


def test_a_failing_pre_run_script_fails_its_step_and_the_later_ones(box: Sandbox, tmp_path: Path) -> None:
    script = 'echo "no deployment today" > "$MESHSTACK_USER_MESSAGE"\necho "checked $1"\nexit 3'
    runs = block_runs(box, tmp_path, is_async=False, pre_run_script=script)
    apply = runs.create_run("APPLY", INPUTS)
    outcome = runs.execute(apply)
    assert outcome.status == "FAILED"
    steps = {s["id"]: s for s in sources(box, apply.uuid)[DEFAULT_RUNNER_UUID]["steps"]}  # type: ignore[attr-defined]
    assert steps["pre_run_script"]["status"] == "FAILED"
    assert steps["pre_run_script"]["userMessage"] == "no deployment today"
    assert "checked APPLY" in steps["pre_run_script"]["systemMessage"]
    assert steps["execute_tf"]["systemMessage"] == "Aborted due to failure in an earlier step"
    assert box.meshstack.run(apply.uuid).status == "FAILED"
    assert box.github.log("POST", r"/dispatches$") == []


def test_run_aborted_in_a_liveness_answer_cancels_the_run(box: Sandbox, tmp_path: Path) -> None:
    runs = block_runs(box, tmp_path, is_async=False, pre_run_script="sleep 60", liveness_seconds=0.2)
    apply = runs.create_run("APPLY", INPUTS)

    def abort_when_the_script_runs() -> None:
        for _ in range(300):
            with box.meshstack.lock:
                steps = (apply.sources.get(DEFAULT_RUNNER_UUID) or {}).get("steps") or []
                running = any(s["id"] == "pre_run_script" and s["status"] == "IN_PROGRESS" for s in steps)
            if running:
                box.meshstack.set_aborted(apply.uuid)
                return
            threading.Event().wait(0.1)

    aborter = threading.Thread(target=abort_when_the_script_runs, daemon=True)
    aborter.start()
    outcome = runs.execute(apply)
    aborter.join(5)
    assert outcome.status == "ABORTED"
    assert "pre-run script cancelled: meshStack aborted the run" in outcome.log
    steps = {s["id"]: s["status"] for s in sources(box, apply.uuid)[DEFAULT_RUNNER_UUID]["steps"]}  # type: ignore[attr-defined]
    assert steps["pre_run_script"] == "ABORTED" and steps["execute_tf"] == "ABORTED"
    assert box.github.log("POST", r"/dispatches$") == []
