"""The runner emulation reads the definition file `meshpipe definition render` writes (python-hcl2 + a small
evaluator for the expressions such a file uses)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from meshpipe.fakes.runner import DefinitionError, load_definition

ROOT = Path(__file__).resolve().parents[2]

DEFINITION = """
terraform {
  required_providers {
    meshstack = {
      source  = "meshcloud/meshstack"
      version = ">= 0.25.0"
    }
  }
}

variable "github_token" {
  type      = string
  sensitive = true
}

resource "meshstack_building_block_definition" "demo" {
  metadata = { owned_by_workspace = "platform-team" }
  version_spec = {
    draft = true
    implementation = {
      terraform = {
        terraform_version = "1.9.0"
        repository_url    = "https://example.com/blocks.git"
        repository_path   = "blocks/demo"
        ref_name          = "v1"
        async             = true
        pre_run_script    = <<-EOT
          set -u
          echo "mode=$1 home=$${HOME} literal=%%{x}" "a\\n"
        EOT
      }
    }
    inputs = {
      api_url = {
        display_name    = "API"
        type            = "STRING"
        assignment_type = "STATIC"
        argument        = jsonencode("https://api.github.com")
      }
      settings = {
        display_name    = "Settings"
        type            = "CODE"
        assignment_type = "STATIC"
        argument        = jsonencode({ tags = ["a", "b\\"q"], on = true })
      }
      size = {
        display_name    = "Size"
        type            = "INTEGER"
        assignment_type = "USER_INPUT"
        default_value   = jsonencode(3)
      }
      name = {
        display_name    = "Name"
        type            = "STRING"
        assignment_type = "USER_INPUT"
      }
      workspace = {
        display_name    = "Workspace"
        type            = "STRING"
        assignment_type = "WORKSPACE_IDENTIFIER"
      }
      GITHUB_TOKEN = {
        display_name    = "GITHUB_TOKEN"
        type            = "STRING"
        assignment_type = "STATIC"
        is_environment  = true
        sensitive = {
          argument = {
            secret_value   = var.github_token
            secret_version = nonsensitive(sha256(var.github_token))
          }
        }
      }
    }
  }
}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "definition.tf"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_implementation_inputs_and_heredoc_pre_run_script(tmp_path: Path) -> None:
    definition = load_definition(write(tmp_path, DEFINITION), {"github_token": "ghp_canary"})
    assert definition.implementation() == {
        "type": "TERRAFORM",
        "terraformVersion": "1.9.0",
        "repositoryUrl": "https://example.com/blocks.git",
        "repositoryPath": "blocks/demo",
        "refName": "v1",
        "async": True,
        "useMeshHttpBackendFallback": True,
        "preRunScript": 'set -u\necho "mode=$1 home=${HOME} literal=%{x}" "a\\n"\n',
    }
    assert definition.required_providers == {"meshstack": {"source": "meshcloud/meshstack", "version": ">= 0.25.0"}}
    assert definition.inputs["api_url"].value == "https://api.github.com"
    assert definition.inputs["settings"].value == {"tags": ["a", 'b"q'], "on": True}
    assert definition.inputs["size"].default == 3
    token = definition.inputs["GITHUB_TOKEN"]
    assert (token.value, token.sensitive, token.is_environment) == ("ghp_canary", True, True)


def test_run_inputs_apply_user_values_defaults_context_and_sandbox_wiring(tmp_path: Path) -> None:
    definition = load_definition(write(tmp_path, DEFINITION), {"github_token": "ghp_canary"})
    inputs = definition.run_inputs(
        {"name": "data"}, context={"workspace": "team-alpha"}, overrides={"api_url": "http://127.0.0.1:1"}
    )
    by_key = {item["key"]: item for item in inputs}
    assert by_key["api_url"]["value"] == "http://127.0.0.1:1"
    size = {"key": "size", "value": 3, "type": "INTEGER", "isSensitive": False, "isEnvironment": False}
    assert by_key["size"] == size
    assert by_key["workspace"]["value"] == "team-alpha"
    assert by_key["GITHUB_TOKEN"]["isSensitive"] and by_key["GITHUB_TOKEN"]["isEnvironment"]
    with pytest.raises(DefinitionError, match=r"input 'name' .* needs a value"):
        definition.run_inputs({})
    with pytest.raises(DefinitionError, match="sandbox wiring names no STATIC input: size"):
        definition.run_inputs({"name": "x"}, overrides={"size": 1})


def test_a_definition_variable_without_value_is_named_with_its_key_path(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition(write(tmp_path, DEFINITION))
    message = str(caught.value)
    assert "inputs.GITHUB_TOKEN.sensitive.argument.secret_value" in message
    assert "definition variable 'github_token' has no value" in message


def test_an_expression_outside_the_supported_set_is_an_error(tmp_path: Path) -> None:
    text = DEFINITION.replace('jsonencode("https://api.github.com")', 'jsonencode(upper("x"))')
    with pytest.raises(DefinitionError, match=r"inputs\.api_url\.argument: cannot evaluate"):
        load_definition(write(tmp_path, text), {"github_token": "t"})


def test_an_unescaped_interpolation_in_the_script_is_refused(tmp_path: Path) -> None:
    text = DEFINITION.replace("$${HOME}", "${var.github_token}")
    with pytest.raises(DefinitionError, match="pre_run_script: template interpolations are not evaluated"):
        load_definition(write(tmp_path, text), {"github_token": "t"})


def test_sha256_and_nonsensitive_evaluate_like_terraform(tmp_path: Path) -> None:
    expression = "jsonencode(nonsensitive(sha256(var.github_token)))"
    text = DEFINITION.replace('jsonencode("https://api.github.com")', expression)
    definition = load_definition(write(tmp_path, text), {"github_token": "abc"})
    assert definition.inputs["api_url"].value == hashlib.sha256(b"abc").hexdigest()


def test_reads_the_published_team_bucket_definition() -> None:
    definition = load_definition(ROOT / "examples/team-bucket/publish/definition.tf", {"github_token": "t"})
    assert definition.repository_path == "examples/team-bucket/module"
    assert definition.is_async
    assert {"bucket_name", "GITHUB_TOKEN", "github_api_url", "python"} <= set(definition.inputs)
    assert definition.required_providers["meshstack"]["source"] == "meshcloud/meshstack"
    assert definition.pre_run_script is not None and ".meshpipe-run.json" in definition.pre_run_script
    assert "${" not in definition.pre_run_script.replace("$1", "")  # no unresolved template left for bash
