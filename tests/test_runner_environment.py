"""What the runner emulation gives a run: the cleaned environment plus environment inputs, the tfvars file with
the run variables only on a fresh APPLY or DESTROY, and the pre-run script's calling convention."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpipe.fakes.runner import DEFAULT_RUNNER_UUID
from meshpipe.fakes.runner.workdir import ALLOWED_ENV
from meshpipe.sandbox import Sandbox
from tests.runner_support import INPUTS, block_runs

pytestmark = pytest.mark.terraform

# Names only: values (the run token among them) must not reach a message.
SCRIPT = """env | cut -d= -f1 | sort | tr '\\n' ' ' > "$MESHSTACK_USER_MESSAGE"
echo "mode: $1 cwd: $(basename "$PWD") stdin-kind: $(python3 -c 'import json,sys; print(json.load(sys.stdin)["kind"])')"
echo "tfvars: $(cut -d' ' -f1 aaaaaa_meshstack-*.auto.tfvars | sort | tr '\\n' ' ')"
echo "files: $(ls | sort | tr '\\n' ' ')"
"""


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


def pre_run_step(box: Sandbox, run_uuid: str) -> dict[str, str]:
    with box.meshstack.lock:
        steps = box.meshstack.run(run_uuid).sources[DEFAULT_RUNNER_UUID]["steps"]
        return dict(next(step for step in steps if step["id"] == "pre_run_script"))


def test_environment_is_cleaned_and_run_variables_follow_the_behavior(box: Sandbox, tmp_path: Path) -> None:
    runs = block_runs(box, tmp_path, is_async=False, pre_run_script=SCRIPT)
    runs.runner.environ.update(LEAKY_VARIABLE="x", HTTPS_PROXY="http://proxy.invalid:3128", TMPDIR="/tmp")
    detect = runs.create_run("DETECT", INPUTS)
    runs.execute(detect)
    step = pre_run_step(box, detect.uuid)
    names = set(step["userMessage"].split())
    bash_own = {"PWD", "SHLVL", "_", "OLDPWD"}
    runner_own = {"MESHSTACK_USER_MESSAGE", "TF_HTTP_USERNAME", "TF_HTTP_PASSWORD"}
    assert names - bash_own - runner_own - {"GITHUB_TOKEN"} <= set(ALLOWED_ENV) | {"TMPDIR"}
    assert {"GITHUB_TOKEN", "TF_HTTP_PASSWORD", "PATH", "HOME", "TMPDIR"} <= names
    assert "LEAKY_VARIABLE" not in names and "HTTPS_PROXY" not in names
    system = step["systemMessage"]
    assert "mode: DETECT cwd: module stdin-kind: meshBuildingBlockRun" in system
    assert "meshstack_building_block_id" in system and "meshstack_building_block_run_b64" not in system
    assert "meshStack_backend.tf" in system and "meshstack-pre-run.sh" in system
    assert "bucket_name github_api_url" in system  # non-environment inputs go to the tfvars file
    assert "GITHUB_TOKEN" not in system.split("tfvars:")[1].split("\n")[0]

    fresh = runs.create_run("APPLY", INPUTS, building_block_uuid=detect.building_block_uuid)
    replay = runs.approve(detect)
    runs.execute(fresh)
    fresh_vars = pre_run_step(box, fresh.uuid)["systemMessage"]
    assert "mode: APPLY" in fresh_vars
    assert "meshstack_building_block_run_b64 meshstack_building_block_run_id" in fresh_vars
    runs.wait_terminal(fresh)
    runs.execute(replay)
    replay_vars = pre_run_step(box, replay.uuid)["systemMessage"]
    assert "mode: APPLY" in replay_vars
    assert "meshstack_building_block_run_id" not in replay_vars
