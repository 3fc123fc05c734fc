"""The rendered Building Block Definition read back by an HCL parser and held against the provider's schema facts.

The meshcloud/meshstack provider cannot be downloaded here, so ``terraform validate`` cannot check the file. These
facts come from ``../shared/reference/meshstack-runner.md`` ("The provider", terraform-provider-meshstack v0.25.0)
and the provider's example ``examples/resources/meshstack_building_block_definition/resource_01_terraform.tf``
(attribute names, ``secret_value``/``secret_version`` side by side).
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import hcl2
import pytest

from meshpipe.generator.definition import build_definition, parse_output_option, render_definition
from meshpipe.generator.prerun import RUN_FILE, STORED_FIELDS
from meshpipe.generator.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
TEAM_BUCKET = ROOT / "examples" / "team-bucket"
COMMITTED = TEAM_BUCKET / "publish" / "definition.tf"

#: version_spec.implementation.terraform attributes the provider knows (required: the first two)
TERRAFORM_IMPLEMENTATION = {
    "terraform_version",
    "repository_url",
    "repository_path",
    "ref_name",
    "async",
    "use_mesh_http_backend_fallback",
    "ssh_private_key",
    "ssh_known_host",
    "pre_run_script",
}
INPUT_ATTRIBUTES = {
    "display_name",
    "description",
    "type",
    "assignment_type",
    "argument",
    "default_value",
    "selectable_values",
    "value_validation_regex",
    "validation_regex_error_message",
    "is_environment",
    "updateable_by_consumer",
    "sensitive",
}
INPUT_TYPES = {"STRING", "INTEGER", "BOOLEAN", "CODE", "SINGLE_SELECT", "MULTI_SELECT", "FILE", "LIST"}
ASSIGNMENTS = {"USER_INPUT", "STATIC", "PLATFORM_OPERATOR_MANUAL_INPUT", "BUILDING_BLOCK_OUTPUT"}
OUTPUT_ATTRIBUTES = {"display_name", "type", "assignment_type"}


def _value(raw: Any) -> Any:
    """A python-hcl2 value as the string it denotes (quoted literals and indented heredocs unwrapped)."""
    if isinstance(raw, str) and raw.startswith('"<<-EOT\n') and raw.endswith('EOT"'):
        body = raw[len('"<<-EOT\n') : -len('EOT"')]
        return textwrap.dedent(body.rstrip(" "))
    if isinstance(raw, str) and len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return json.loads(raw)
    return raw


def _parse(text: str) -> dict[str, Any]:
    return dict(hcl2.loads(text))


def _definition_resource(document: dict[str, Any]) -> dict[str, Any]:
    (resources,) = document["resource"]
    (by_name,) = resources.values()
    (body,) = by_name.values()
    return dict(body)


def _rendered(tmp_path: Path, **options: Any) -> str:
    spec = load_spec(TEAM_BUCKET / "spec.yaml")
    definition = build_definition(
        spec,
        spec_path="spec.yaml",
        outputs=(parse_output_option("bucket_url=STRING:RESOURCE_URL"),),
        **options,
    )
    return render_definition(definition)


@pytest.mark.parametrize("source", ["committed", "sync", "async"])
def test_definition_declares_the_meshcloud_provider_and_terraform_1_11(source: str, tmp_path: Path) -> None:
    """Without required_providers Terraform resolves meshstack_* to hashicorp/meshstack, which does not exist."""
    text = COMMITTED.read_text() if source == "committed" else _rendered(tmp_path, is_async=source == "async")
    (terraform,) = _parse(text)["terraform"]
    (providers,) = terraform["required_providers"]
    assert _value(providers["meshstack"]["source"]) == "meshcloud/meshstack"
    assert _value(providers["meshstack"]["version"]).startswith(">= ")
    assert _value(terraform["required_version"]) == ">= 1.11.0"


@pytest.mark.parametrize("is_async", [True, False])
def test_definition_uses_only_attributes_the_provider_knows(is_async: bool, tmp_path: Path) -> None:
    body = _definition_resource(_parse(_rendered(tmp_path, is_async=is_async)))
    implementation = body["version_spec"]["implementation"]["terraform"]
    assert set(implementation) <= TERRAFORM_IMPLEMENTATION
    assert {"terraform_version", "repository_url"} <= set(implementation)
    assert implementation["async"] is is_async
    assert body["spec"]["target_type"] in ('"WORKSPACE_LEVEL"', '"TENANT_LEVEL"')
    for name, item in body["version_spec"]["inputs"].items():
        assert set(item) <= INPUT_ATTRIBUTES, name
        assert _value(item["type"]) in INPUT_TYPES, name
        assert _value(item["assignment_type"]) in ASSIGNMENTS, name
    for name, item in body["version_spec"]["outputs"].items():
        assert set(item) == OUTPUT_ATTRIBUTES, name


def test_every_write_only_secret_has_a_secret_version_derived_from_its_value(tmp_path: Path) -> None:
    """secret_value is write-only: the provider re-sends it only when secret_version changes (a rotated token)."""
    body = _definition_resource(_parse(_rendered(tmp_path)))
    secrets = {name: item for name, item in body["version_spec"]["inputs"].items() if "sensitive" in item}
    assert set(secrets) == {"GITHUB_TOKEN"}
    argument = secrets["GITHUB_TOKEN"]["sensitive"]["argument"]
    assert set(argument) == {"secret_value", "secret_version"}
    assert argument["secret_value"] == "${var.github_token}"
    assert argument["secret_version"] == "${nonsensitive(sha256(var.github_token))}"
    assert secrets["GITHUB_TOKEN"]["is_environment"] is True


def test_the_pre_run_script_stores_the_run_but_never_its_token_or_inputs(tmp_path: Path) -> None:
    """The script as the runner runs it (bash flags, run JSON on stdin, mode as $1, in the working directory)."""
    body = _definition_resource(_parse(COMMITTED.read_text()))
    script = _value(body["version_spec"]["implementation"]["terraform"]["pre_run_script"])
    canary = "RUN-TOKEN-CANARY-0123456789"
    run = {
        "metadata": {"uuid": "5f0c3c52-2b6f-4f7e-9d55-1c3a7e0b9a11"},
        "spec": {
            "behavior": "DETECT",
            "runToken": canary,
            "buildingBlock": {
                "uuid": "b1",
                "spec": {
                    "workspaceIdentifier": "team-alpha",
                    "projectIdentifier": "alpha-dev",
                    "inputs": [{"key": "password", "value": canary + "-input", "isSensitive": True}],
                },
            },
        },
        "_links": {"self": {"href": "https://meshstack.example.com/api/meshobjects/meshbuildingblockruns/5f0c"}},
    }
    (tmp_path / "script.sh").write_text(script)
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", str(tmp_path / "script.sh"), "APPLY"],
        input=json.dumps(run),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    stored_path = tmp_path / RUN_FILE
    stored = json.loads(stored_path.read_text())
    assert stored == {
        "version": 1,
        "mode": "APPLY",
        "url": run["_links"]["self"]["href"],
        "uuid": run["metadata"]["uuid"],
        "behavior": "DETECT",
        "buildingBlockUuid": "b1",
        "workspace": "team-alpha",
        "project": "alpha-dev",
    }
    assert set(stored) == {"version", "mode", *STORED_FIELDS}
    assert stored_path.stat().st_mode & 0o777 == 0o600
    assert canary not in stored_path.read_text() + result.stdout + result.stderr
    assert "stored run 5f0c3c52-2b6f-4f7e-9d55-1c3a7e0b9a11 DETECT" in result.stdout


def test_the_readme_shows_the_pre_run_script_to_paste_verbatim() -> None:
    """Platform teams who click through meshStack copy the script from the README: it must be the current one."""
    from meshpipe.generator.prerun import PRE_RUN_SCRIPT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```bash\n{PRE_RUN_SCRIPT}```\n" in readme
