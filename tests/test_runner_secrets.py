"""Canary secrets through the runner emulation: the run token from the run JSON and the sensitive GitHub token input
reach terraform and the pre-run script, and land in no state, plan, log, argv or file the runs leave behind."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshpipe.fakes.runner import process as runner_process
from meshpipe.sandbox import Sandbox
from tests.runner_support import EXAMPLE, INPUTS, block_runs

pytestmark = pytest.mark.terraform


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


def files_under(directory: Path) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def test_run_tokens_and_the_github_token_appear_in_no_state_plan_log_argv_or_leftover_file(
    box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv: list[list[str]] = []
    popen = subprocess.Popen

    def recording_popen(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        argv.append(list(args))
        return popen(args, **kwargs)

    monkeypatch.setattr(runner_process.subprocess, "Popen", recording_popen)
    module_before = files_under(EXAMPLE / "module")
    runs = block_runs(box, tmp_path)
    detect = runs.create_run("DETECT", INPUTS)
    outcomes = [runs.execute(detect)]
    apply = runs.approve(detect)
    outcomes.append(runs.execute(apply))
    runs.wait_terminal(apply)
    destroy = runs.create_run("DESTROY", INPUTS, building_block_uuid=detect.building_block_uuid)
    outcomes.append(runs.execute(destroy))
    runs.wait_terminal(destroy)

    all_runs = (detect, apply, destroy)
    canaries = {run.run_token for run in all_runs} | {box.credentials.github_token}
    # the canaries really were handed to the runner, so their absence below means something
    assert all(run.run_token in str(run.runner_object) for run in all_runs)
    assert any(item["isSensitive"] and item["value"] == box.credentials.github_token for item in detect.inputs)

    api = box.meshstack.runner_api
    places: dict[str, bytes] = {}
    places.update({f"state {block}": raw for block, raw in api.states.items()})
    places.update({f"plan of {run}": raw for run, raw in api.artifacts.items()})
    for run in all_runs:
        for source in run.sources.values():
            for step in source["steps"]:
                places[f"{run.uuid} {source['id']}/{step['id']}"] = str(step).encode()
    places.update({f"runner log {o.run_uuid}": "\n".join(o.log).encode() for o in outcomes})
    places.update({f"meshStack request {i}": r.body for i, r in enumerate(box.meshstack.log("PATCH"))})
    places.update({f"dispatch {i}": r.body for i, r in enumerate(box.github.log("POST", r"/dispatches$"))})
    places.update({f"argv {i}": " ".join(args).encode() for i, args in enumerate(argv)})
    leftovers = files_under(tmp_path / "runner-work")
    places.update(leftovers)
    places.update({k: v for k, v in files_under(EXAMPLE / "module").items() if module_before.get(k) != v})

    assert api.states and api.artifacts and argv and box.meshstack.log("PATCH")
    assert leftovers == {}, "every run's working directory is removed when the run ends"
    leaks = [name for name, data in places.items() if any(canary.encode() in data for canary in canaries)]
    assert leaks == []
