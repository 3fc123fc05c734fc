"""``meshpipe workflow render/check``: the workflow side takes exactly what the module sends."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshpipe.fakes.github import FakeGitHub
from meshpipe.generator.spec import load_spec, parse_spec
from meshpipe.generator.workflow import number_text, render_inputs, render_workflow
from meshpipe.generator.workflow_check import check_workflow
from tests.generator.support import REPO, ROOT, SPECS, TOKEN, Module, b64, render_inline, run_object, run_url

EVERY_KIND: dict[str, Any] = {
    "name": "every-kind",
    "description": "Every kind of input.",
    "github": {"api_url": {"default": "https://api.github.com"}, "repository": REPO},
    "workflows": {"apply": "apply.yml", "destroy": "destroy.yml"},
    "auth": {"mode": "token"},
    "inputs": [
        {"name": "db_name", "type": "string", "regex": "^[a-z][a-z0-9_]*$", "example": "orders"},
        {"name": "tier", "type": "string", "allowed": ["small", "large"], "default": "small"},
        {"name": "replicas", "type": "number", "allowed": [1, 2.0, 3.5], "default": 2},
        {"name": "size_gb", "type": "number", "default": 10},
        {"name": "public", "type": "bool", "default": False},
        {"name": "zones", "type": "list", "default": ["a", "b"]},
        {"name": "labels", "type": "map", "default": {"team": "alpha"}},
        {"name": "note", "type": "string", "default": None},
        {"name": "engine", "value": "postgres"},
        {"name": "workspace", "meshstack": "workspace"},
        {"name": "db_password", "sensitive": True, "env": "DB_PASSWORD"},
    ],
    "workflow_inputs": False,
    "forward_run_url": True,
    "correlation_input": "correlation_id",
    "wait": {"enabled": {"default": False}},
    "python": {"default": "python3"},
}


def declared(text: str) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(text)
    return dict(data[True]["workflow_dispatch"]["inputs"])


def test_rendered_inputs_have_the_types_options_and_required_flags_the_module_sends() -> None:
    inputs = declared(render_inputs(parse_spec(EVERY_KIND, "every.yaml")))
    assert list(inputs) == [
        "buildingBlockRunUrl", "correlation_id", "db_name", "tier", "replicas", "size_gb", "public", "zones",
        "labels", "note", "engine", "workspace", "db_password",
    ]  # fmt: skip
    assert inputs["tier"] == {"type": "choice", "required": True, "options": ["small", "large"], "default": "small"}
    assert inputs["replicas"]["options"] == ["1", "2", "3.5"] and inputs["replicas"]["default"] == "2"
    assert (inputs["size_gb"]["type"], inputs["size_gb"]["default"]) == ("number", 10)
    assert (inputs["public"]["type"], inputs["public"]["default"]) == ("boolean", False)
    assert (inputs["zones"]["type"], inputs["zones"]["default"]) == ("string", '["a","b"]')
    assert inputs["labels"]["default"] == '{"team":"alpha"}'
    assert inputs["db_name"]["required"] is True and "default" not in inputs["db_name"]
    for optional in ("buildingBlockRunUrl", "correlation_id", "note", "workspace"):
        assert inputs[optional]["required"] is False, optional
    assert inputs["engine"] == {"type": "string", "required": True, "default": "postgres"}
    assert inputs["db_password"]["required"] is True


def test_numbers_are_written_as_terraform_jsonencode_writes_them() -> None:
    assert [number_text(v) for v in (1, 2.0, 3.5, 1e-7, -4)] == ["1", "2", "3.5", "0.0000001", "-4"]


def test_the_skeleton_shows_the_correlation_id_in_its_run_name_and_passes_its_own_check() -> None:
    spec = parse_spec(EVERY_KIND, "every.yaml")
    text = render_workflow(spec, phase="apply", header="# skeleton")
    data = yaml.safe_load(text)
    assert data["run-name"] == "every-kind apply [${{ inputs.correlation_id }}]"
    assert "${{ inputs." not in text.split("steps:", 1)[1].replace("${{ inputs.* }}", "")  # never in a shell line
    assert check_workflow(spec, data) == []


@pytest.mark.parametrize("path", [*sorted(SPECS.glob("*.yaml")), ROOT / "examples" / "team-bucket" / "spec.yaml"])
def test_every_committed_spec_renders_a_workflow_without_errors(path: Path) -> None:
    spec = load_spec(path)
    findings = check_workflow(spec, yaml.safe_load(render_workflow(spec, phase="apply", header="# x")))
    assert [f for f in findings if f.level != "note"] == []


def mutated(change: Any) -> dict[str, Any]:
    spec = parse_spec(EVERY_KIND, "every.yaml")
    data = yaml.safe_load(render_workflow(spec, phase="apply", header="# x"))
    change(data[True]["workflow_dispatch"]["inputs"], data)
    return data


@pytest.mark.parametrize(
    ("change", "level", "where", "message"),
    [
        (lambda i, d: i.pop("workspace"), "error", "inputs.workspace", "'Unexpected inputs provided'"),
        (lambda i, d: i.__setitem__("Tier", i.pop("tier")), "error", "inputs.tier", "declared as 'Tier'"),
        (
            lambda i, d: i.__setitem__("approver", {"type": "string", "required": True}),
            "error",
            "inputs.approver",
            "Required input 'approver' not provided",
        ),
        (lambda i, d: i["tier"].__setitem__("options", ["small"]), "error", "inputs.tier", "lack large"),
        (lambda i, d: i["db_name"].update(type="choice", options=["a"]), "error", "inputs.db_name", "any value"),
        (lambda i, d: i["db_name"].update(type="boolean"), "warning", "inputs.db_name", "type boolean"),
        (lambda i, d: i["workspace"].update(required=True), "warning", "inputs.workspace", "only sometimes"),
        (lambda i, d: d.__setitem__("run-name", "deploy"), "warning", "run-name", "inputs.correlation_id"),
        (lambda i, d: d.__setitem__(True, {"push": None}), "error", "on", "no workflow_dispatch trigger"),
    ],
)
def test_check_reports_a_workflow_that_declares_other_inputs(change: Any, level: str, where: str, message: str) -> None:
    findings = check_workflow(parse_spec(EVERY_KIND, "every.yaml"), mutated(change))
    assert any(f.level == level and f.where.endswith(where) and message in f.message for f in findings), findings


def meshpipe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "meshpipe", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_renders_then_checks_and_fails_with_one_line_per_finding(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(EVERY_KIND, sort_keys=False))
    out = tmp_path / ".github" / "workflows" / "apply.yml"
    rendered = meshpipe("workflow", "render", "spec.yaml", "-o", str(out.relative_to(tmp_path)), cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    first = out.read_text().splitlines()[0]
    assert first.endswith("run in this file's directory: meshpipe workflow check ../../spec.yaml apply.yml")
    again = meshpipe("workflow", "render", "spec.yaml", "-o", str(out), cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr  # an edited skeleton is never replaced silently
    ok = meshpipe("workflow", "check", "../../spec.yaml", "apply.yml", cwd=out.parent)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "apply.yml: takes what the module sends"
    out.write_text(out.read_text().replace("      workspace:\n", "      workspace_id:\n"))
    bad = meshpipe("workflow", "check", "spec.yaml", str(out), cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert f"{out}: error: on.workflow_dispatch.inputs.workspace: not declared" in lines[0]
    assert lines[-1].startswith(f"meshpipe: error: {out} (1 errors): the workflow would refuse")


@pytest.mark.terraform
def test_the_rendered_workflow_accepts_the_real_module_dispatch_and_a_mismatch_is_the_422_check_names(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """The whole loop: real terraform applies the module against the fake GitHub, which enforces the declared
    inputs the way GitHub does (undeclared -> 422, booleans, numbers, choices)."""
    # A host other than api.github.com counts as GitHub Enterprise Server: 10 inputs, run URL and correlation included.
    kinds = {
        **EVERY_KIND,
        "inputs": [i for i in EVERY_KIND["inputs"] if i["name"] not in ("size_gb", "labels", "note")],
    }
    spec = parse_spec(kinds, "every.yaml")
    data = yaml.safe_load(render_workflow(spec, phase="apply", header="# x"))
    fake_github.add_token(TOKEN)
    fake_github.add_workflow(
        REPO, "apply.yml", inputs=data[True]["workflow_dispatch"]["inputs"], run_name=data["run-name"]
    )
    module = Module(render_inline(kinds, tmp_path), env={"GITHUB_TOKEN": TOKEN, "DB_PASSWORD": "pw"})
    run = run_object()
    module.set(github_api_url=fake_github.api_url, db_name="orders", replicas=3.5, public=True,
               meshstack_building_block_run_b64=b64(run))  # fmt: skip
    module.apply()
    (dispatch,) = fake_github.dispatches
    assert dispatch.inputs["replicas"] == "3.5" and dispatch.inputs["public"] == "true"
    assert dispatch.inputs["buildingBlockRunUrl"] == run_url(run) and dispatch.inputs["workspace"] == "team-alpha"
    broken = copy.deepcopy(data)
    broken[True]["workflow_dispatch"]["inputs"].pop("workspace")
    assert any("workspace" in f.where and f.level == "error" for f in check_workflow(spec, broken))
    fake_github.add_workflow(REPO, "apply.yml", inputs=broken[True]["workflow_dispatch"]["inputs"])
    other = Module(render_inline(kinds, tmp_path / "second"), env={"GITHUB_TOKEN": TOKEN, "DB_PASSWORD": "pw"})
    other.set(github_api_url=fake_github.api_url, db_name="orders", meshstack_building_block_run_b64=b64(run_object()))
    output = other.apply(check=False)
    assert "Unexpected inputs provided" in output and '"workspace"' in output


def test_the_examples_committed_workflows_take_what_its_module_sends() -> None:
    spec = load_spec(ROOT / "examples" / "team-bucket" / "spec.yaml")
    for name in ("apply.yml", "destroy.yml"):
        data = yaml.safe_load((ROOT / "examples" / "team-bucket" / ".github" / "workflows" / name).read_text())
        assert [f for f in check_workflow(spec, data) if f.level == "error"] == [], name
