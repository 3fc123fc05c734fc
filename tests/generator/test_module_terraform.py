"""Every committed module and modules rendered from inline specs pass init, validate, fmt -check and their own tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from meshpipe.terraform import Terraform
from tests.generator.support import MODULES, copy_module, render_inline

pytestmark = pytest.mark.terraform

HOSTILE_STATIC = 'say "hi" \\ ${var.nope} %{ if x } `rm -rf /` $(touch MARKER)\nnext line äö'

INLINE_SPECS: dict[str, dict[str, Any]] = {
    "fixed-repository-dispatch": {
        "name": "fixed-repository-dispatch",
        "description": "Everything fixed; repository_dispatch with event types per phase.",
        "github": {"api_url": "https://ghe.example.com/api/v3", "repository": "acme/infra", "ref": "release"},
        "event": "repository_dispatch",
        "event_types": {"apply": "deploy", "destroy": "teardown"},
        "auth": {"mode": "token", "token_env": "DEPLOY_TOKEN"},
        "workflow_inputs": False,
        "forward_run_url": False,
        "correlation_input": None,
        "wait": {"enabled": True, "timeout_seconds": 60, "poll_interval_seconds": 1},
        "redispatch": "on_change",
        "python": "python3",
        "inputs": [
            {"name": "motto", "value": HOSTILE_STATIC, "description": 'Hostile "static" ${value}'},
            {"name": "count", "value": 3},
            {"name": "bb", "meshstack": "building_block_id"},
            {"name": "run", "meshstack": "run_id"},
        ],
    },
    "no-destroy-phase": {
        "name": "no-destroy-phase",
        "description": "A fixed apply workflow and no destroy phase: the destroy hook exists and fires nothing.",
        "github": {"repository": "acme/infra"},
        "workflows": {"apply": "apply.yml", "destroy": None},
    },
    "typed-optional-inputs": {
        "name": "typed-optional-inputs",
        "description": "Typed inputs, required and optional (null), with allowed values and regexes.",
        "github": {"repository": {"required": True}},
        "workflows": {"apply": {"required": True}, "destroy": "destroy.yml"},
        "correlation_input": {"default": "correlation_id"},
        "inputs": [
            {"name": "service-name", "type": "string", "regex": "^[a-z]+$", "example": "billing"},
            {"name": "tier", "type": "string", "allowed": ["gold", "silver"], "regex": "^[a-z]+$", "default": None},
            {"name": "size", "type": "number", "allowed": [1, 2, 4]},
            {"name": "ratio", "type": "number", "default": None},
            {"name": "debug", "type": "bool", "default": None},
            {"name": "zones", "type": "list", "default": None},
            {"name": "tags", "type": "map", "default": {"team": "a"}},
            {"name": "api_key", "sensitive": True, "env": "SERVICE_API_KEY"},
            {"name": "ws", "meshstack": "workspace"},
            {
                "name": "quoted",
                "type": "string",
                "description": 'A "quoted" ${description} %{ if x } \\ with\nnewline',
                "allowed": ['say "hi"', "${x}", "%{y}", "back\\slash"],
                "default": "${x}",
            },
        ],
    },
}


def check_module(workdir: Path) -> str:
    tf = Terraform(workdir)
    tf.init()
    tf.run("validate", "-no-color")
    tf.run("fmt", "-check", "-recursive", "-diff", "-no-color")
    result = tf.run("test", "-no-color")
    assert " 0 failed" in result.output
    return result.output


@pytest.mark.parametrize("name", sorted(p.name for p in MODULES.iterdir() if p.is_dir()))
def test_committed_module_validates_is_fmt_clean_and_passes_its_tests(name: str, tmp_path: Path) -> None:
    output = check_module(copy_module(name, tmp_path))
    assert "rejects_invalid_" in output and "reads_the_meshstack_run_object" in output


@pytest.mark.parametrize("name", sorted(INLINE_SPECS))
def test_inline_spec_module_validates_is_fmt_clean_and_passes_its_tests(name: str, tmp_path: Path) -> None:
    check_module(render_inline(INLINE_SPECS[name], tmp_path))


def test_hostile_spec_values_render_as_literals_that_terraform_reads_back(tmp_path: Path) -> None:
    workdir = render_inline(INLINE_SPECS["typed-optional-inputs"], tmp_path)
    tf = Terraform(workdir)
    tf.init()
    tf.write_vars({"github_repository": "a/b", "apply_workflow": "apply.yml", "service_name": "svc", "size": 1})
    tf.run("plan", "-no-color", "-input=false", "-out=tfplan")
    plan = json.loads(tf.run("show", "-json", "-no-color", "tfplan").stdout)
    assert plan["variables"]["quoted"]["value"] == "${x}"
    variables = plan["configuration"]["root_module"]["variables"]
    assert variables["quoted"]["description"] == 'A "quoted" ${description} %{ if x } \\ with\nnewline'


def test_fixed_settings_become_literals_not_variables(tmp_path: Path) -> None:
    workdir = render_inline(INLINE_SPECS["fixed-repository-dispatch"], tmp_path)
    variables = (workdir / "variables.tf").read_text()
    assert variables.count('variable "') == 3  # only the meshStack variables
    main = (workdir / "main.tf").read_text()
    assert 'repository            = "acme/infra"' in main
    assert '"say \\"hi\\" \\\\ $${var.nope} %%{ if x } `rm -rf /` $(touch MARKER)\\nnext line äö"' in main
    assert re.search(r"\n  input_limit\s+= 10\n", main)


def test_correlation_input_cannot_take_over_a_secret_input(tmp_path: Path) -> None:
    # The dispatcher writes the correlation id last, so it would silently replace the secret's value.
    workdir = render_inline(INLINE_SPECS["typed-optional-inputs"], tmp_path)
    tf = Terraform(workdir)
    tf.init()
    variables = {"github_repository": "a/b", "apply_workflow": "apply.yml", "service_name": "svc", "size": 1}
    tf.write_vars({**variables, "correlation_input": "API_KEY"})
    result = tf.run("plan", "-no-color", "-input=false", check=False)
    assert result.returncode != 0
    assert "correlation_input names an input that already has a value" in result.output
