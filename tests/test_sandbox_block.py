"""Hosting a user's block: what the sandbox reads from the block directory, its state file, and the one-line
errors that name the fix."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from meshpipe.errors import MeshpipeError
from meshpipe.sandbox_block import DEFAULT_BODY, body_command, stage_block
from meshpipe.sandbox_control import error_summary, remove_state, state_path, write_state

SPEC = """\
name: tiny-block
description: A tiny block.
github:
  repository: acme/tiny
workflows:
  apply: apply.yml
  destroy: destroy.yml
inputs:
  - name: size
    type: string
    allowed: [small, large]
    default: small
"""


def block_dir(tmp_path: Path, *, workflows: tuple[str, ...] = ("apply.yml", "destroy.yml")) -> Path:
    block = tmp_path / "tiny"
    (block / ".github" / "workflows").mkdir(parents=True)
    (block / "spec.yaml").write_text(SPEC, encoding="utf-8")
    (block / "pipeline.py").write_text("print('work')\n", encoding="utf-8")
    for name in workflows:
        (block / ".github" / "workflows" / name).write_text(
            "on:\n  workflow_dispatch:\n    inputs:\n      size: {type: string}\n", encoding="utf-8"
        )
    return block


def test_stage_renders_module_and_definition_and_leaves_the_block_alone(tmp_path: Path) -> None:
    block = block_dir(tmp_path)
    before = sorted(str(p.relative_to(block)) for p in block.rglob("*"))
    stage = tmp_path / "stage"
    stage.mkdir()
    hosted = stage_block(block, stage)
    assert hosted.repository == "acme/tiny"
    assert [p.name for p in hosted.workflows] == ["apply.yml", "destroy.yml"]
    assert (stage / "module" / "main.tf").is_file()
    assert "meshstack_building_block_definition" in (stage / "publish" / "definition.tf").read_text(encoding="utf-8")
    assert hosted.body == (sys.executable, "pipeline.py", "job", "{workflow}")
    assert sorted(str(p.relative_to(block)) for p in block.rglob("*")) == before


def test_a_workflow_the_spec_names_but_the_block_lacks_is_one_line_naming_the_render_command(tmp_path: Path) -> None:
    block = block_dir(tmp_path, workflows=("apply.yml",))
    with pytest.raises(MeshpipeError, match=r"workflows.destroy is destroy.yml .* meshpipe workflow render .* --phase"):
        stage_block(block, tmp_path / "stage")


def test_a_block_without_pipeline_py_needs_a_body(tmp_path: Path) -> None:
    block = block_dir(tmp_path)
    (block / "pipeline.py").unlink()
    with pytest.raises(MeshpipeError, match="--body"):
        stage_block(block, tmp_path / "stage")
    assert body_command("./run.sh {workflow}", block) == ("./run.sh", "{workflow}")
    assert DEFAULT_BODY.startswith("python pipeline.py")


def test_the_state_file_is_private_and_only_its_owner_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHPIPE_SANDBOX_STATE", str(tmp_path / "run" / "sandbox.json"))
    path = write_state({"pid": 4242, "meshstack_url": "http://127.0.0.1:1", "control_token": "secret"})
    assert path == state_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    remove_state(1)  # another sandbox's pid: left alone
    assert path.exists()
    remove_state(4242)
    assert not path.exists()


def test_state_path_prefers_the_runtime_directory() -> None:
    assert state_path({"XDG_RUNTIME_DIR": "/run/user/7"}) == Path("/run/user/7/meshpipe/sandbox.json")
    assert state_path({}).name == "sandbox.json"


def test_block_options_without_block_are_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "meshpipe", "sandbox", "--body", "true"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MESHPIPE_SANDBOX_STATE": str(tmp_path / "s.json")},
    )
    assert done.returncode == 2
    assert "--body needs --block DIR" in done.stderr and "Traceback" not in done.stderr


def test_a_failed_runs_error_is_terraforms_title_and_message_on_one_line() -> None:
    log = "\n".join(
        [
            "$ terraform apply -auto-approve -no-color -input=false",
            "│ Error: Invalid value for variable",
            "│ ",
            "│   on aaaaaa_meshstack-e4.auto.tfvars line 3:",
            '│    3: db_name = "Orders"',
            "│     ├────────────────",
            '│     │ var.db_name is "Orders"',
            "│ ",
            "│ db_name must match the regular expression ^[a-z][a-z0-9_]{2,62}$.",
            "│ ",
            "│ This was checked by the validation rule at variables.tf:49,3-13.",
            "Error: terraform apply exited with 1",
        ]
    )
    assert error_summary(log) == (
        "Invalid value for variable: db_name must match the regular expression ^[a-z][a-z0-9_]{2,62}$."
    )
    assert error_summary("no error here") == ""
