"""The dispatcher learns its meshStack run at execution time: the run file, precedence, the behavior gate, chunks.

Each test runs the bundled dispatcher as a subprocess in a working directory holding the run file the definition's
pre-run script writes (``.meshpipe-run.json``), against the fake GitHub over 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meshpipe.fakes.github import FakeGitHub
from tests.generator.test_dispatch_integration import REPO, WORKFLOW_INPUTS, one_error_line, run_dispatcher

MESHSTACK = "https://meshstack.example.com/api/meshobjects/meshbuildingblockruns"
BLOCK = "a3f0e9d2-5c41-4b7e-8e21-6d0c9b7a5f33"
INPUTS = {
    **WORKFLOW_INPUTS,
    "buildingBlockRunUrl": {"type": "string", "required": False},
    "workspace": {"type": "string", "required": False},
    "run_behavior": {"type": "string", "required": False},
    "run_uuid": {"type": "string", "required": False},
}
CONTEXT = {
    "run_file": ".meshpipe-run.json",
    "run_url_input": "buildingBlockRunUrl",
    "context_inputs": {"workspace": "workspace", "run_behavior": "behavior", "run_uuid": "run_id"},
    "building_block_id": BLOCK,
}


def setup(fake: FakeGitHub) -> None:
    fake.add_token("ghp_CANARY0token0never0printed0123456789")
    fake.add_workflow(REPO, "apply.yml", inputs=INPUTS, run_name="deploy ${{ inputs.correlation_id }}", duration=0.2)
    fake.add_workflow(REPO, "destroy.yml", inputs=INPUTS, run_name="destroy ${{ inputs.correlation_id }}")


def write_run_file(workdir: Path, mode: str = "APPLY", **fields: Any) -> str:
    """The run file as the pre-run script writes it; returns the run's URL."""
    uuid = fields.pop("uuid", "run-from-file")
    data = {
        "version": 1,
        "mode": mode,
        "url": f"{MESHSTACK}/{uuid}",
        "uuid": uuid,
        "behavior": mode,
        "buildingBlockUuid": BLOCK,
        "workspace": "team-from-file",
        "project": "project-from-file",
    }
    data.update(fields)
    (workdir / ".meshpipe-run.json").write_text(json.dumps(data), encoding="utf-8")
    return str(data["url"])


def stale_terraform_values(**overrides: Any) -> dict[str, Any]:
    """What a configuration frozen in an earlier plan (or stored by the destroy hook) says about the run."""
    values: dict[str, Any] = {
        **CONTEXT,
        "inputs": {"name": "x", "buildingBlockRunUrl": f"{MESHSTACK}/stale-run", "workspace": "team-from-terraform"},
        "behavior": "APPLY",
        "run_id": "stale-run",
    }
    values.update(overrides)
    return values


def test_a_replayed_plan_dispatches_with_the_run_file_values_not_the_frozen_ones(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """A saved-plan replay re-uses the DETECT run's configuration: the run file must win (issue 7 item 2)."""
    setup(fake_github)
    url = write_run_file(tmp_path, uuid="apply-run-2")
    result = run_dispatcher(fake_github, tmp_path, **stale_terraform_values(behavior=None, run_id=None))
    assert result.returncode == 0, result.stderr
    (dispatch,) = fake_github.dispatches
    assert dispatch.inputs["buildingBlockRunUrl"] == url
    assert dispatch.inputs["workspace"] == "team-from-file"
    assert dispatch.inputs["run_behavior"] == "APPLY"
    assert dispatch.inputs["run_uuid"] == "apply-run-2"
    assert dispatch.inputs["name"] == "x"


def test_without_a_run_file_the_terraform_values_are_sent_as_before(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup(fake_github)
    result = run_dispatcher(fake_github, tmp_path, **stale_terraform_values())
    assert result.returncode == 0, result.stderr
    (dispatch,) = fake_github.dispatches
    assert dispatch.inputs["buildingBlockRunUrl"] == f"{MESHSTACK}/stale-run"
    assert dispatch.inputs["workspace"] == "team-from-terraform"
    assert "run_behavior" not in dispatch.inputs


def test_without_run_url_input_the_run_url_is_not_forwarded(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup(fake_github)
    write_run_file(tmp_path)
    values = stale_terraform_values(run_url_input=None, inputs={"name": "x"})
    result = run_dispatcher(fake_github, tmp_path, **values)
    assert result.returncode == 0, result.stderr
    (dispatch,) = fake_github.dispatches
    assert "buildingBlockRunUrl" not in dispatch.inputs


@pytest.mark.parametrize("mode", ["DETECT", "DESTROY"])
def test_the_run_file_behavior_gates_the_apply_phase(fake_github: FakeGitHub, tmp_path: Path, mode: str) -> None:
    """Terraform's configuration says APPLY (frozen), the run file says DETECT/DESTROY: nothing fires."""
    setup(fake_github)
    write_run_file(tmp_path, mode)
    result = run_dispatcher(fake_github, tmp_path, **stale_terraform_values())
    assert result.returncode == 0, result.stderr
    assert f"behavior {mode}: not dispatching" in result.stdout
    assert fake_github.log() == []


@pytest.mark.parametrize("source", ["configuration", "run file"])
def test_an_unknown_behavior_is_treated_like_apply_with_a_warning(
    fake_github: FakeGitHub, tmp_path: Path, source: str
) -> None:
    """Reproduction (old code): behavior IMPORT -> 'MESHPIPE_DISPATCH.behavior: expected one of ...', exit 1."""
    setup(fake_github)
    if source == "run file":
        write_run_file(tmp_path, "APPLY", behavior="IMPORT")
        values = stale_terraform_values(behavior=None)
    else:
        values = stale_terraform_values(behavior="IMPORT", run_file=None)
    result = run_dispatcher(fake_github, tmp_path, **values)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "meshpipe-dispatch: warning: unknown behavior 'IMPORT': treated like APPLY\n"
    assert len(fake_github.dispatches) == 1


def test_destroy_sends_the_destroy_runs_url_from_the_run_file(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """Sync DESTROY: the stored configuration holds the last applied run's URL; the file names the DESTROY run."""
    setup(fake_github)
    url = write_run_file(tmp_path, "DESTROY", uuid="destroy-run")
    result = run_dispatcher(fake_github, tmp_path, "destroy", workflow="destroy.yml", **stale_terraform_values())
    assert result.returncode == 0, result.stderr
    (dispatch,) = fake_github.dispatches
    assert dispatch.workflow == "destroy.yml"
    assert dispatch.inputs["buildingBlockRunUrl"] == url
    assert dispatch.inputs["run_behavior"] == "DESTROY"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "Expecting property name"),
        ("[]", "expected a JSON object"),
        ('{"version": 2}', "version: expected 1, got 2"),
        ('{"version": 1, "url": 5}', "url: expected a string or null, got int"),
    ],
)
def test_a_malformed_run_file_fails_an_apply_with_one_line(
    fake_github: FakeGitHub, tmp_path: Path, content: str, problem: str
) -> None:
    setup(fake_github)
    (tmp_path / ".meshpipe-run.json").write_text(content, encoding="utf-8")
    line = one_error_line(run_dispatcher(fake_github, tmp_path, **stale_terraform_values()))
    assert line.startswith("meshpipe-dispatch: error: run file .meshpipe-run.json: ")
    assert problem in line
    assert fake_github.log() == []


def test_a_malformed_run_file_only_warns_in_destroy_and_the_stored_values_are_used(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    setup(fake_github)
    (tmp_path / ".meshpipe-run.json").write_text("{not json", encoding="utf-8")
    result = run_dispatcher(fake_github, tmp_path, "destroy", workflow="destroy.yml", **stale_terraform_values())
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("meshpipe-dispatch: warning: run file .meshpipe-run.json: ")
    assert result.stderr.rstrip("\n").endswith("using the stored configuration instead")
    (dispatch,) = fake_github.dispatches
    assert dispatch.inputs["buildingBlockRunUrl"] == f"{MESHSTACK}/stale-run"


def test_a_run_file_of_another_building_block_is_ignored(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup(fake_github)
    write_run_file(tmp_path, buildingBlockUuid="someone-else")
    result = run_dispatcher(fake_github, tmp_path, **stale_terraform_values())
    assert result.returncode == 0, result.stderr
    assert "belongs to building block someone-else, not a3f0e9d2" in result.stderr
    (dispatch,) = fake_github.dispatches
    assert dispatch.inputs["buildingBlockRunUrl"] == f"{MESHSTACK}/stale-run"


def test_an_unknown_configuration_key_fails_an_apply_but_only_warns_in_destroy(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    setup(fake_github)
    line = one_error_line(run_dispatcher(fake_github, tmp_path, from_the_future=1))
    assert "MESHPIPE_DISPATCH: unknown key 'from_the_future'" in line
    result = run_dispatcher(fake_github, tmp_path, "destroy", workflow="destroy.yml", from_the_future=1)
    assert result.returncode == 0, result.stderr
    assert "unknown key 'from_the_future'" in result.stderr and "ignored" in result.stderr
    assert [d.workflow for d in fake_github.dispatches] == ["destroy.yml"]


def chunks(config: dict[str, Any], size: int = 30_000) -> dict[str, str]:
    """The configuration as the templates pass it: jsonencode escapes '<', cut into 30,000-character pieces."""
    text = json.dumps(config).replace("<", "\\u003c")
    return {f"MESHPIPE_DISPATCH_{i}": text[start : start + size] for i, start in enumerate(range(0, len(text), size))}


def test_a_configuration_in_chunks_is_joined_in_index_order(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """25,000 '<' escape to 150,000 characters, more than one variable may hold (issue 8 item 12)."""
    setup(fake_github)
    fake_github.add_workflow(REPO, "big.yml", inputs={"big": {"type": "string", "required": True}})
    config = {"repository": REPO, "workflow": "big.yml", "api_url": fake_github.api_url}
    config["inputs"] = {"big": "<" * 25_000}
    parts = chunks(config)
    assert len(parts) == 6
    # A stale single variable and a chunk after a gap are both ignored.
    env = {**parts, "MESHPIPE_DISPATCH": "{broken", f"MESHPIPE_DISPATCH_{len(parts) + 1}": "garbage"}
    result = run_dispatcher(fake_github, tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    (dispatch,) = fake_github.dispatches
    assert dispatch.workflow == "big.yml"
    assert dispatch.inputs == {"big": "<" * 25_000}


def test_a_broken_chunked_configuration_names_the_chunks(fake_github: FakeGitHub, tmp_path: Path) -> None:
    env = {"MESHPIPE_DISPATCH_0": '{"repository": ', "MESHPIPE_DISPATCH_2": '"acme/infra"}'}
    line = one_error_line(run_dispatcher(fake_github, tmp_path, env=env))
    assert line.startswith("meshpipe-dispatch: error: MESHPIPE_DISPATCH_0..0 is not valid JSON")
