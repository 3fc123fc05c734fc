"""How the runner emulation turns a run's inputs into the tfvars file, the environment and the backend
(``../shared/reference/meshstack-run-api.md`` §6.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshpipe.fakes.runner.workdir import BACKEND_FILE, TFVARS_FILE, clean_environment, hcl_value, write_inputs

TOKEN = "run-token-canary"


def run_object(behavior: str, inputs: list[dict[str, Any]], *, replay: bool = False) -> dict[str, Any]:
    links: dict[str, Any] = {"self": {"href": "http://ms/run/r1"}, "meshstackBaseUrl": {"href": "http://ms"}}
    if replay:
        links["planArtifact"] = {"href": "http://ms/run/d1/planArtifact"}
    return {
        "metadata": {"uuid": "r1"},
        "spec": {
            "behavior": behavior,
            "runToken": TOKEN,
            "buildingBlock": {"uuid": "bb1", "spec": {"workspaceIdentifier": "ws", "inputs": inputs}},
        },
        "_links": links,
    }


def item(key: str, value: Any, kind: str = "STRING", *, env: bool = False) -> dict[str, Any]:
    return {"key": key, "value": value, "type": kind, "isSensitive": False, "isEnvironment": env}


def module(tmp_path: Path, declared: tuple[str, ...] = ()) -> Path:
    workdir = tmp_path / "module"
    workdir.mkdir(parents=True)
    (workdir / "main.tf").write_text("".join(f'variable "{name}" {{}}\n' for name in declared), encoding="utf-8")
    return workdir


def test_inputs_split_into_tfvars_raw_code_and_environment(tmp_path: Path) -> None:
    workdir = module(tmp_path)
    inputs = [
        item("name", "a ${not.interpolated} %{x}"),
        item("size", 3, "INTEGER"),
        item("tags", ["a", "b"], "MULTI_SELECT", env=True),
        item("settings", "{ a = 1 }", "CODE"),
        item("TF_VAR_region", "eu", env=True),
        item("TF_VAR_name", "loses", env=True),
        item("GITHUB_TOKEN", "ghp_x", env=True),
        item("ENABLED", True, "BOOLEAN", env=True),
    ]
    env, lines = write_inputs(run_object("DETECT", inputs), {}, workdir, {"PATH": "/bin", "SECRET": "no"})
    tfvars = (workdir / TFVARS_FILE).read_text(encoding="utf-8")
    assert 'name = "a $${not.interpolated} %%{x}"' in tfvars
    assert "size = 3" in tfvars and 'region = "eu"' in tfvars and "settings = { a = 1 }" in tfvars
    assert "loses" not in tfvars and "GITHUB_TOKEN" not in tfvars and "tags" not in tfvars
    assert 'meshstack_building_block_id = "bb1"' in tfvars and "run_b64" not in tfvars
    assert env["GITHUB_TOKEN"] == "ghp_x" and env["tags"] == '["a", "b"]' and env["ENABLED"] == "true"
    assert "SECRET" not in env and env["PATH"] == "/bin" and env["PWD"] == str(workdir)
    assert (env["TF_HTTP_USERNAME"], env["TF_HTTP_PASSWORD"]) == ("x", TOKEN)
    backend = (workdir / BACKEND_FILE).read_text(encoding="utf-8")
    assert 'address        = "http://ms/api/terraform/state/workspace/ws/buildingBlock/bb1"' in backend
    assert all(TOKEN not in path.read_text(encoding="utf-8") for path in workdir.iterdir())
    assert "ghp_x" not in "\n".join(lines)
    # the module lacks the run variables: the runner declares them
    assert 'variable "meshstack_building_block_run_b64"' in (workdir / "meshStack_run_vars.tf").read_text()


def test_run_variables_only_on_a_fresh_apply_or_destroy(tmp_path: Path) -> None:
    declared = ("meshstack_building_block_id", "meshstack_building_block_run_id", "meshstack_building_block_run_b64")
    for index, (behavior, replay, expected) in enumerate(
        [("APPLY", False, True), ("DESTROY", False, True), ("DETECT", False, False), ("APPLY", True, False)]
    ):
        workdir = module(tmp_path / str(index), declared)
        write_inputs(run_object(behavior, [], replay=replay), {}, workdir, {})
        tfvars = (workdir / TFVARS_FILE).read_text(encoding="utf-8")
        assert ('meshstack_building_block_run_id = "r1"' in tfvars) is expected, (behavior, replay)
        assert ("meshstack_building_block_run_b64" in tfvars) is expected
        assert not (workdir / "meshStack_run_vars.tf").exists()


def test_no_backend_without_the_fallback_or_when_the_module_has_one(tmp_path: Path) -> None:
    workdir = module(tmp_path)
    env, _ = write_inputs(run_object("APPLY", []), {"useMeshHttpBackendFallback": False}, workdir, {})
    assert not (workdir / BACKEND_FILE).exists() and "TF_HTTP_PASSWORD" not in env
    own = module(tmp_path / "own")
    (own / "backend.tf").write_text('terraform {\n  backend "local" {}\n}\n', encoding="utf-8")
    env, _ = write_inputs(run_object("APPLY", []), {}, own, {})
    assert not (own / BACKEND_FILE).exists() and "TF_HTTP_PASSWORD" not in env


def test_clean_environment_keeps_the_allow_list_and_prefixes() -> None:
    source = {"HOME": "/h", "TMPDIR": "/t", "TF_LOG": "x", "HTTPS_PROXY": "p", "NO_PROXY": "n", "AWS_SECRET": "s"}
    env = clean_environment(source, {"HTTPS_PROXY": "declared"})
    assert env == {"HOME": "/h", "TMPDIR": "/t", "TF_LOG": "x", "PATH": env["PATH"], "HTTPS_PROXY": "declared"}


def test_tfvars_strings_escape_control_characters_the_way_hcl_reads_them() -> None:
    """Reproduction: strings were JSON-escaped, and JSON's ``\\b`` and ``\\f`` are no HCL escapes (terraform
    rejects the tfvars file); HCL reads ``\\uNNNN``."""
    assert hcl_value(["a\bb", {"k": "\f${x}"}]) == '["a\\u0008b", {"k" = "\\u000c$${x}"}]'
