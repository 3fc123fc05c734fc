"""``meshpipe definition render``: a meshstack_building_block_definition for a spec's module.

The provider cannot be downloaded here, so the rendered file is held to ``terraform fmt -check`` and to structural
assertions on the intermediate :class:`Definition` and on the text.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from meshpipe.generator.definition import Definition, build_definition, parse_output_option, render_definition
from meshpipe.generator.spec import ModuleSpec, parse_spec
from meshpipe.terraform import Terraform
from tests.generator.support import every_kind_of_input

ROOT = Path(__file__).resolve().parents[1]
TEAM_BUCKET_SPEC = ROOT / "examples" / "team-bucket" / "spec.yaml"
MESHSTACK_VARIABLES = {
    "meshstack_building_block_id",
    "meshstack_building_block_run_id",
    "meshstack_building_block_run_b64",
}


def spec(**overrides: Any) -> ModuleSpec:
    data: dict[str, Any] = {
        "name": "everything",
        "description": "A module with every kind of input.",
        "github": {"api_url": {"default": "https://ghes.example.com/api/v3"}},  # repository omitted -> required
        "workflows": {"apply": "apply.yml", "destroy": "destroy.yml"},
        "inputs": [*every_kind_of_input(), {"name": "workspace", "meshstack": "workspace"}],
        "correlation_input": {"default": None},
        "wait": {"enabled": {"default": True}},
    }
    data.update(overrides)
    return parse_spec(data, "inline")


def definition(module_spec: ModuleSpec | None = None, **options: Any) -> Definition:
    return build_definition(
        module_spec or spec(), spec_path="inline.yaml", module_output_names=("repository",), **options
    )


def test_every_module_variable_is_an_input_or_explained() -> None:
    module_spec = spec()
    result = definition(module_spec)
    names = {item.name for item in result.inputs}
    for variable in module_spec.variables:
        assert variable.name in names or variable.name in result.unmapped, variable.name
    assert set(result.unmapped) >= MESHSTACK_VARIABLES
    assert not names & MESHSTACK_VARIABLES
    assert result.unmapped["correlation_input"].startswith("optional")


def test_io_types_follow_the_terraform_types() -> None:
    result = definition()
    assert result.input("replicas").type == "INTEGER"
    assert result.input("public").type == "BOOLEAN"
    assert result.input("zones").type == "CODE"
    assert result.input("labels").type == "CODE"
    assert result.input("bucket_name").type == "STRING"
    size = result.input("size")
    assert (size.type, size.selectable_values) == ("SINGLE_SELECT", ("small", "large"))


def test_user_variables_are_user_inputs_and_settings_are_static() -> None:
    result = definition()
    bucket = result.input("bucket_name")
    assert bucket.assignment_type == "USER_INPUT"
    assert bucket.default_value is None and bucket.argument is None
    assert bucket.validation_regex == "^[a-z]+$"
    assert result.input("replicas").default_value == "jsonencode(2)"
    assert result.input("zones").default_value == 'jsonencode(jsonencode(["a", "b"]))'  # CODE is encoded twice
    api = result.input("github_api_url")
    assert (api.assignment_type, api.argument) == ("STATIC", 'jsonencode("https://ghes.example.com/api/v3")')


def test_a_required_setting_becomes_a_variable_of_the_definition_file() -> None:
    result = definition()
    assert result.input("github_repository").argument == "jsonencode(var.github_repository)"
    assert "github_repository" in {variable.name for variable in result.variables}


def test_secrets_are_sensitive_environment_inputs_read_from_variables() -> None:
    result = definition()
    secrets = {item.name: item for item in result.inputs if item.secret is not None}
    assert set(secrets) == {"GITHUB_TOKEN", "DB_PASSWORD"}
    for name, item in secrets.items():
        assert item.is_environment and item.assignment_type == "STATIC"
        assert item.secret == f"var.{name.lower()}"
        assert item.argument is None
    sensitive = {variable.name for variable in result.variables if variable.sensitive}
    assert sensitive == {"github_token", "db_password"}


def test_app_auth_publishes_the_app_variables_instead_of_a_token() -> None:
    result = definition(spec(auth={"mode": "app"}))
    secrets = {item.name for item in result.inputs if item.secret is not None}
    assert secrets == {"GITHUB_APP_ID", "GITHUB_APP_INSTALLATION_ID", "GITHUB_APP_PEM_FILE", "DB_PASSWORD"}


def test_async_defaults_to_the_specs_wait_setting_and_sync_forces_waiting() -> None:
    assert definition().is_async is False  # the spec waits by default -> sync
    no_wait = spec(wait={"enabled": {"default": False}})
    assert definition(no_wait).is_async is True
    forced = definition(no_wait, is_async=False)
    assert forced.input("wait_for_completion").argument == "jsonencode(true)"


def test_sync_is_refused_when_the_spec_fixes_waiting_off() -> None:
    from meshpipe.errors import MeshpipeError

    with pytest.raises(MeshpipeError, match="sync definition needs a module that waits"):
        definition(spec(wait={"enabled": False}), is_async=False)


def test_extra_outputs_carry_type_and_assignment() -> None:
    result = definition(outputs=(parse_output_option("bucket_url=STRING:RESOURCE_URL"),))
    by_name = {output.name: output for output in result.outputs}
    assert by_name["bucket_url"].assignment_type == "RESOURCE_URL"
    assert by_name["repository"].assignment_type == "NONE"


@pytest.mark.terraform
def test_rendered_file_is_fmt_clean_and_names_every_input(tmp_path: Path) -> None:
    result = definition(outputs=(parse_output_option("bucket_url=STRING:RESOURCE_URL"),))
    text = render_definition(result)
    (tmp_path / "definition.tf").write_text(text, encoding="utf-8")
    fmt = Terraform(tmp_path).run("fmt", "-check", "-diff", "definition.tf", check=False)
    assert fmt.returncode == 0, fmt.output
    assert text.startswith("# Generated by meshpipe from inline.yaml; edit the spec, then run: meshpipe definition")
    assert 'resource "meshstack_building_block_definition" "everything"' in text
    for item in result.inputs:
        assert re.search(rf"^      {item.name} = {{$", text, flags=re.MULTILINE), item.name
    assert re.search(r"secret_value\s+= var.github_token\n", text)
    assert re.search(r'variable "github_token" \{\n[^}]*sensitive\s+= true', text)
    assert "async = false" in text and "the workflow's conclusion decides" in text


def test_cli_renders_the_team_bucket_definition_without_secrets(tmp_path: Path) -> None:
    target = tmp_path / "definition.tf"
    canary = "ghp_canary_must_not_appear_0123456789"
    result = subprocess.run(
        [
            sys.executable, "-m", "meshpipe", "definition", "render", str(TEAM_BUCKET_SPEC),
            "--path", "examples/team-bucket/module", "--ref", "v1.0.0", "--async",
            "--output", "bucket_url=STRING:RESOURCE_URL", "-o", str(target),
        ],
        capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin", "GITHUB_TOKEN": canary},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = target.read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("# Generated by meshpipe from ")
    assert 'repository_path   = "examples/team-bucket/module"' in text
    assert 'ref_name          = "v1.0.0"' in text
    assert "async = true" in text
    assert canary not in text + result.stdout + result.stderr


def test_cli_rejects_a_bad_output_option_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "meshpipe", "definition", "render", str(TEAM_BUCKET_SPEC), "--output", "x=FLOAT"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["meshpipe: error: --output 'x=FLOAT': type must be one of "
                                                  "STRING, CODE, INTEGER, BOOLEAN"]  # fmt: skip


def meshpipe(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshpipe", *args], capture_output=True, text=True, check=False, cwd=cwd
    )


@pytest.mark.parametrize(
    "option",
    ["--ref", "--path", "--repository-url", "--workspace", "--terraform-version", "--display-name", "--output"],
)
def test_cli_rejects_control_characters_in_every_option_with_one_line(option: str, tmp_path: Path) -> None:
    """Reproduction (issue 8 item 6): ``--ref $'main\\nresource "terraform_data" "x" {...}'`` wrote a live resource
    with a local-exec into the definition's header comment."""
    target = tmp_path / "definition.tf"
    value = 'main\nresource "terraform_data" "pwned" {\n  provisioner "local-exec" { command = "id" }\n}\n#'
    result = meshpipe("definition", "render", str(TEAM_BUCKET_SPEC), option, value, "-o", str(target))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"meshpipe: error: {option}{' 1' if option == '--output' else ''}: the value contains the control "
        "character U+000A; give it on one line"
    ]
    assert not target.exists()


def test_the_header_of_a_definition_is_one_line_whatever_reaches_it() -> None:
    hostile = 'x\nresource "terraform_data" "pwned" {}\n#'
    text = render_definition(build_definition(spec(), spec_path=hostile, module_output_names=(), command=hostile))
    lines = text.splitlines()
    assert lines[1] == "#" and 'resource "terraform_data" "pwned" {}' not in lines
    assert "\\x0aresource" in lines[0]


def test_the_header_names_paths_relative_to_the_written_file_from_any_working_directory(tmp_path: Path) -> None:
    """Reproduction (issue 9 item 4): the header named the spec and the output as typed, so the same definition
    rendered from another directory differed and its command only worked from there."""
    publish = tmp_path / "publish"
    first = meshpipe("definition", "render", str(TEAM_BUCKET_SPEC), "-o", str(publish / "a.tf"), cwd=ROOT)
    second = meshpipe("definition", "render", str(TEAM_BUCKET_SPEC), "-o", "b.tf", cwd=publish)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    a = (publish / "a.tf").read_text().splitlines()
    b = (publish / "b.tf").read_text().splitlines()
    assert a[1:] == b[1:] and a[0].replace("-o a.tf", "-o b.tf") == b[0]
    spec = os.path.relpath(TEAM_BUCKET_SPEC, publish)
    assert a[0].startswith(f"# Generated by meshpipe from {spec}; edit the spec, then run in this file's directory:")


def test_out_writes_the_file_and_output_only_declares_outputs(tmp_path: Path) -> None:
    """Reproduction (issue 9 item 5): ``-o`` meant ``--output-file`` while ``--output`` declared an output, so
    ``--output definition.tf`` failed with "the name must be an identifier"."""
    long_form = meshpipe("definition", "render", str(TEAM_BUCKET_SPEC), "--out", "a.tf", cwd=tmp_path)
    short_form = meshpipe("definition", "render", str(TEAM_BUCKET_SPEC), "-o", "b.tf", cwd=tmp_path)
    legacy = meshpipe("definition", "render", str(TEAM_BUCKET_SPEC), "--output-file", "c.tf", cwd=tmp_path)
    assert long_form.returncode == short_form.returncode == legacy.returncode == 0
    texts = [(tmp_path / name).read_text().splitlines()[1:] for name in ("a.tf", "b.tf", "c.tf")]
    assert texts[0] == texts[1] == texts[2]
    mistaken = meshpipe("definition", "render", str(TEAM_BUCKET_SPEC), "--output", "definition.tf", cwd=tmp_path)
    assert mistaken.returncode == 2
    assert mistaken.stderr.strip().splitlines() == [
        "meshpipe: error: --output 'definition.tf' declares an output NAME[=TYPE[:ASSIGNMENT]]; to write the "
        "definition to a file use -o/--out definition.tf"
    ]
    assert not (tmp_path / "definition.tf").exists()
