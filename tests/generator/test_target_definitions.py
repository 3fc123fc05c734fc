"""``meshpipe definition render`` for GitLab, Azure DevOps and webhook modules: the target's credentials are sensitive
environment inputs behind write-only values, and every attribute is one the meshStack provider knows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from meshpipe.generator.definition import build_definition, render_definition
from meshpipe.generator.spec import load_spec, parse_spec
from tests.generator.support import SPECS
from tests.test_definition_schema import (
    ASSIGNMENTS,
    INPUT_ATTRIBUTES,
    INPUT_TYPES,
    _definition_resource,
    _parse,
    _value,
)


def rendered(spec_name: str, **options: Any) -> dict[str, Any]:
    spec = load_spec(SPECS / f"{spec_name}.yaml")
    return _parse(render_definition(build_definition(spec, spec_path=f"{spec_name}.yaml", **options)))


@pytest.mark.parametrize(
    ("spec_name", "secrets"),
    [
        ("gitlab-pipeline-trigger", {"GITLAB_TOKEN"}),
        ("azure-pipelines-trigger", {"AZURE_DEVOPS_PAT"}),
        ("webhook-trigger", {"MESHPIPE_WEBHOOK_SECRET"}),
    ],
)
def test_the_targets_credential_is_a_write_only_environment_input(spec_name: str, secrets: set[str]) -> None:
    document = rendered(spec_name)
    body = _definition_resource(document)
    inputs = body["version_spec"]["inputs"]
    for name, item in inputs.items():
        assert set(item) <= INPUT_ATTRIBUTES, name
        assert _value(item["type"]) in INPUT_TYPES, name
        assert _value(item["assignment_type"]) in ASSIGNMENTS, name
    found = {name: item for name, item in inputs.items() if "sensitive" in item}
    assert set(found) == secrets
    for name, item in found.items():
        variable = name.lower()
        assert item["is_environment"] is True
        assert item["sensitive"]["argument"]["secret_value"] == f"${{var.{variable}}}"
        declared = {key.strip('"') for block in document["variable"] for key in block}
        assert variable in declared


def test_a_pipeline_id_is_an_integer_input_fed_by_a_number_variable() -> None:
    document = rendered("azure-pipelines-trigger")
    inputs = _definition_resource(document)["version_spec"]["inputs"]
    assert _value(inputs["apply_pipeline_id"]["type"]) == "INTEGER"
    assert inputs["apply_pipeline_id"]["argument"] == "${jsonencode(var.apply_pipeline_id)}"
    variables = {key.strip('"'): body for block in document["variable"] for key, body in block.items()}
    assert variables["apply_pipeline_id"]["type"] == "number"
    assert variables["azure_devops_project"]["type"] == "string"


@pytest.mark.parametrize(
    ("auth", "wait", "secrets"),
    [
        ({"mode": "trigger_token"}, False, {"GITLAB_TRIGGER_TOKEN"}),
        ({"mode": "trigger_token"}, True, {"GITLAB_TRIGGER_TOKEN", "GITLAB_TOKEN"}),
        ({"mode": "access_token", "token_env": "GL_API"}, False, {"GL_API"}),
    ],
)
def test_gitlab_publishes_the_tokens_its_mode_needs(auth: dict[str, str], wait: bool, secrets: set[str]) -> None:
    spec = parse_spec(
        {
            "name": "gl",
            "description": "d",
            "target": "gitlab",
            "gitlab": {"project": "a/b"},
            "auth": auth,
            "wait": {"enabled": wait},
        },
        "gl.yaml",
    )
    definition = build_definition(spec, spec_path="gl.yaml", is_async=True)
    assert {item.name for item in definition.inputs if item.is_environment} == secrets


def test_definition_render_warns_when_the_module_repository_is_a_placeholder(tmp_path: Path) -> None:
    """Reproduction: a GitLab spec's definition silently pointed at https://github.com/OWNER/REPOSITORY.git."""
    spec = SPECS / "gitlab-pipeline-trigger.yaml"

    def render(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "meshpipe", "definition", "render", str(spec), *extra]
        return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=tmp_path)

    bare = render()
    assert bare.returncode == 0, bare.stderr
    assert "https://github.com/OWNER/REPOSITORY.git" in bare.stdout
    assert "meshpipe: warning: the definition points at the placeholder" in bare.stderr
    assert "--repository-url" in bare.stderr
    named = render("--repository-url", "https://gitlab.com/acme/blocks.git")
    assert named.returncode == 0 and "warning" not in named.stderr, named.stderr
