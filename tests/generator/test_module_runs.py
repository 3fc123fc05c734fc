"""The reference module on each path meshStack's runner takes, driven at the module level with real terraform.

What the runner gives a module (``../shared/reference/meshstack-runner.md``): ``meshstack_building_block_id``
always; ``..._run_id``/``..._run_b64`` only on a fresh APPLY or DESTROY, never on a DETECT nor on an APPLY that
replays the plan a DETECT saved; the definition's pre-run script on every run, which stores the run in the working
directory for the dispatcher. The runner emulation (``meshpipe.fakes.runner``) drives whole runs through meshStack;
these tests pin the module's own part with the fewest moving pieces.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from meshpipe.fakes.github import FakeGitHub
from meshpipe.generator.prerun import PRE_RUN_SCRIPT, RUN_FILE
from tests.generator.support import REPO, TOKEN, Module, b64, copy_module, run_object, run_url

pytestmark = pytest.mark.terraform

BUILDING_BLOCK = "a3f0e9d2-5c41-4b7e-8e21-6d0c9b7a5f33"
RUN_TOKEN = "RUN-TOKEN-CANARY-5f1e0c9a7b"
INPUTS = {
    name: {"type": "string", "required": False}
    for name in ("name", "buildingBlockRunUrl", "correlation_id", "workspace")
}


def workflows(fake: FakeGitHub) -> None:
    fake.add_token(TOKEN)
    for workflow in ("apply.yml", "destroy.yml"):
        fake.add_workflow(REPO, workflow, inputs=INPUTS, run_name="run ${{ inputs.correlation_id }}", duration=0.2)


def module(fake: FakeGitHub, tmp_path: Path, **variables: Any) -> Module:
    built = Module(copy_module("github-workflow-trigger", tmp_path), env={"GITHUB_TOKEN": TOKEN})
    return built.set(
        github_api_url=fake.api_url,
        github_repository=REPO,
        apply_workflow="apply.yml",
        destroy_workflow="destroy.yml",
        workflow_inputs={"name": "team-bucket"},
        correlation_input="correlation_id",
        meshstack_building_block_id=BUILDING_BLOCK,
        **variables,
    )


def meshstack_run(behavior: str) -> dict[str, Any]:
    run = run_object(behavior, building_block=BUILDING_BLOCK)
    run["spec"]["runToken"] = RUN_TOKEN
    return run


def pre_run(target: Module, run: dict[str, Any], mode: str) -> str:
    """The definition's pre-run script, run as meshStack's runner runs it (bash flags, stdin, $1, cwd)."""
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", PRE_RUN_SCRIPT, "pre-run", mode],
        input=json.dumps(run),
        capture_output=True,
        text=True,
        cwd=target.tf.workdir,
        timeout=30,
        check=True,
    )
    return result.stdout


def fresh(target: Module, run: dict[str, Any]) -> None:
    """Variables of a fresh APPLY or DESTROY run: the deprecated run variables are set."""
    target.set(meshstack_building_block_run_b64=b64(run), meshstack_building_block_run_id=run["metadata"]["uuid"])


def fresh_run(target: Module, behavior: str) -> dict[str, Any]:
    """A fresh APPLY or DESTROY run up to terraform: its run variables set, its pre-run script run; returns the run."""
    run = meshstack_run(behavior)
    fresh(target, run)
    pre_run(target, run, behavior)
    return run


def without_run_variables(target: Module) -> None:
    """Variables of a DETECT run (and of the APPLY replaying its plan): no run variables."""
    target.variables.pop("meshstack_building_block_run_b64", None)
    target.variables.pop("meshstack_building_block_run_id", None)
    target.set()


def detect(target: Module) -> tuple[Path, int]:
    """A DETECT run: the pre-run script, then ``plan -out -detailed-exitcode``; returns the plan and the exit code."""
    without_run_variables(target)
    pre_run(target, meshstack_run("DETECT"), "DETECT")
    plan = target.tf.workdir / "detect.tfplan"
    result = target.tf.run("plan", "-input=false", "-no-color", f"-out={plan}", "-detailed-exitcode", check=False)
    assert result.returncode in (0, 2), result.output
    return plan, result.returncode


def replay(target: Module, plan: Path, run: dict[str, Any]) -> str:
    """The APPLY run approving a DETECT: the pre-run script with the APPLY run, then ``apply <plan>``."""
    pre_run(target, run, "APPLY")
    return target.tf.run("apply", "-input=false", "-no-color", str(plan)).output


def run_urls(fake: FakeGitHub, workflow: str) -> list[str]:
    return [d.inputs.get("buildingBlockRunUrl", "") for d in fake.dispatches_for(workflow=workflow)]


def test_detect_fires_nothing_and_the_apply_replaying_its_plan_fires_once_with_the_apply_runs_url(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """Reproduction (issue 7): the replay had no run variables, so it dispatched without buildingBlockRunUrl and the
    workflow could not report; under every_run it dispatched nothing at all after an unchanged DETECT."""
    workflows(fake_github)
    target = module(fake_github, tmp_path)
    first = fresh_run(target, "APPLY")
    target.apply()
    plan, code = detect(target)
    assert code == 2  # every_run: a DETECT always plans the next APPLY's dispatch (changesDetected)
    assert run_urls(fake_github, "apply.yml") == [run_url(first)]
    approved = meshstack_run("APPLY")
    output = replay(target, plan, approved)
    assert run_urls(fake_github, "apply.yml") == [run_url(first), run_url(approved)], output
    assert fake_github.dispatches_for(workflow="destroy.yml") == []


def test_two_detect_apply_cycles_in_a_row_dispatch_once_each(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """No run id exists at plan time in either cycle; each replay must still fire exactly once, with its run."""
    workflows(fake_github)
    target = module(fake_github, tmp_path)
    approved = []
    for _ in range(2):
        plan, _code = detect(target)
        approved.append(meshstack_run("APPLY"))
        replay(target, plan, approved[-1])
    assert run_urls(fake_github, "apply.yml") == [run_url(run) for run in approved]


def test_on_change_replay_of_an_unchanged_plan_fires_nothing(fake_github: FakeGitHub, tmp_path: Path) -> None:
    workflows(fake_github)
    target = module(fake_github, tmp_path, redispatch="on_change")
    first = fresh_run(target, "APPLY")
    target.apply()
    plan, _code = detect(target)
    output = replay(target, plan, meshstack_run("APPLY"))
    assert run_urls(fake_github, "apply.yml") == [run_url(first)], output


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_destroy_carries_the_destroy_runs_url(fake_github: FakeGitHub, tmp_path: Path, mode: str) -> None:
    """Sync: the runner destroys at once, and the stored configuration holds the last applied run; the pre-run
    file names the DESTROY run. Async: the runner applies with the DESTROY run first (no apply dispatch), then
    destroys."""
    workflows(fake_github)
    target = module(fake_github, tmp_path)
    first = fresh_run(target, "APPLY")
    target.apply()
    deletion = fresh_run(target, "DESTROY")
    if mode == "async":
        output = target.apply()
        assert "behavior DESTROY: not dispatching the apply workflow" in output
    target.destroy()
    assert run_urls(fake_github, "apply.yml") == [run_url(first)]
    assert run_urls(fake_github, "destroy.yml") == [run_url(deletion)]


def test_a_future_behavior_is_treated_like_apply_and_the_block_stays_destroyable(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """Reproduction (issue 8): a run object with behavior IMPORT failed the apply and stored a configuration every
    later destroy refused."""
    workflows(fake_github)
    target = module(fake_github, tmp_path)
    future = meshstack_run("IMPORT")
    fresh(target, future)
    output = target.apply()
    assert "IMPORT" in output
    assert run_urls(fake_github, "apply.yml") == [run_url(future)]
    target.destroy()
    assert len(fake_github.dispatches_for(workflow="destroy.yml")) == 1


def test_the_run_token_lands_in_no_file_state_plan_or_log(fake_github: FakeGitHub, tmp_path: Path) -> None:
    workflows(fake_github)
    target = module(fake_github, tmp_path)
    first = meshstack_run("APPLY")
    fresh(target, first)
    logs = pre_run(target, first, "APPLY") + target.apply()
    plan, _code = detect(target)
    logs += replay(target, plan, meshstack_run("APPLY"))
    logs += target.tf.run("show", "-no-color", str(plan)).output
    stored = json.loads((target.tf.workdir / RUN_FILE).read_text())
    assert RUN_TOKEN not in json.dumps(stored)
    for path in target.tf.workdir.rglob("*"):
        if path.is_file() and path.name != "meshpipe.auto.tfvars.json":  # the run variables, as meshStack writes them
            assert RUN_TOKEN.encode() not in path.read_bytes(), path
    assert RUN_TOKEN not in logs
    assert all(RUN_TOKEN not in json.dumps(d.body) for d in fake_github.dispatches)


def test_the_input_limit_counts_the_run_url_that_only_the_run_file_provides(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """A DETECT plan has no run object, yet the APPLY replaying it sends the run URL from the run file: the plan-time
    check must count it, or the dispatch exceeds GitHub's 25 inputs and fails with 422 only after approval."""
    workflows(fake_github)
    target = module(fake_github, tmp_path)
    target.set(workflow_inputs={f"input_{i}": "v" for i in range(24)})
    without_run_variables(target)
    result = target.tf.run("plan", "-input=false", "-no-color", check=False)
    assert result.returncode == 1
    assert "more inputs than GitHub accepts" in " ".join(result.output.split())
    assert fake_github.log() == []
