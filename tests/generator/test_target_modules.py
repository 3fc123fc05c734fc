"""GitLab, Azure DevOps and webhook Trigger Modules: terraform validate/fmt/test, and the dispatcher configuration
they hand over (contract12 section 1) as terraform itself evaluates it.

The modules are rendered without their dispatcher (``render_module(dispatcher=False)``): plans never run a
provisioner, and each target's client is its own helper's work (real applies against the fakes live with it).
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from meshpipe.generator.render import render_module, write_module
from meshpipe.generator.spec import load_spec
from meshpipe.terraform import Terraform
from tests.generator.support import MESHSTACK, SPECS, TARGET_SPECS, b64, render_inline, run_object
from tests.generator.test_module_terraform import check_module

pytestmark = pytest.mark.terraform

REFERENCE_SPECS = ("gitlab-pipeline-trigger", "azure-pipelines-trigger", "webhook-trigger")
#: the keys every target's configuration has (contract12 section 1); the GitHub-only flat keys never appear
COMMON_KEYS = {
    "version",
    "module",
    "target",
    "inputs",
    "secret_inputs",
    "correlation_input",
    "phase_input",
    "behavior",
    "run_id",
    "building_block_id",
    "run_file",
    "run_url_input",
    "context_inputs",
    "wait",
    "wait_timeout_seconds",
    "poll_interval_seconds",
}
GITHUB_KEYS = {"api_url", "repository", "ref", "event", "workflow", "event_type", "return_run_details", "auth"}
RUN_UUID = "7d1c2a4e-0b5f-4e8a-9c3d-2f6a1b8e4c10"
RUN_URL = f"{MESHSTACK}/api/meshobjects/meshbuildingblockruns/{RUN_UUID}"


def render_reference(name: str, tmp_path: Path) -> Path:
    spec = load_spec(SPECS / f"{name}.yaml")
    target = tmp_path / name
    write_module(render_module(spec, spec_path=f"../../generator/specs/{name}.yaml", dispatcher=False), target)
    return target


def evaluate(tf: Terraform, expression: str) -> Any:
    """The JSON value of ``expression`` as ``terraform console`` evaluates it (base64 keeps the quoting simple)."""
    result = subprocess.run(
        [tf.binary, "console", "-no-color"],
        cwd=tf.workdir,
        input=f"base64encode(jsonencode({expression}))\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(base64.b64decode(result.stdout.strip().strip('"')))


def configs(workdir: Path, variables: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    tf = Terraform(workdir)
    tf.init()
    tf.write_vars(variables)
    return evaluate(tf, "local.apply_config"), evaluate(tf, "local.destroy_config")


@pytest.mark.parametrize("name", REFERENCE_SPECS)
def test_reference_module_validates_is_fmt_clean_and_passes_its_tests(name: str, tmp_path: Path) -> None:
    output = check_module(render_reference(name, tmp_path))
    assert "rejects_invalid_" in output and "configures_the_" in output


@pytest.mark.parametrize("name", sorted(TARGET_SPECS))
def test_inline_target_module_validates_is_fmt_clean_and_passes_its_tests(name: str, tmp_path: Path) -> None:
    check_module(render_inline(TARGET_SPECS[name], tmp_path, dispatcher=False))


def test_gitlab_configuration_has_the_nested_object_and_typed_inputs(tmp_path: Path) -> None:
    workdir = render_inline(TARGET_SPECS["gitlab-inputs-typed"], tmp_path, dispatcher=False)
    apply, destroy = configs(
        workdir,
        {
            "bucket_name": "abc",
            "meshstack_building_block_run_b64": b64(run_object(run_uuid=RUN_UUID)),
            "destroy_ref": "teardown",
        },
    )
    assert set(apply) == COMMON_KEYS | {"gitlab"} and not set(apply) & GITHUB_KEYS
    assert apply["target"] == "gitlab" and apply["phase_input"] == "meshpipe_phase"
    assert apply["gitlab"] == {
        "api_url": "https://gitlab.com/api/v4",
        "project": "4711",
        "ref": "main",
        "values": "inputs",
        "auth": {"mode": "auto", "trigger_token_env": "GITLAB_TRIGGER_TOKEN", "token_env": "GITLAB_TOKEN"},
    }
    assert destroy == {**apply, "gitlab": {**apply["gitlab"], "ref": "teardown"}}
    inputs = apply["inputs"]
    # spec:inputs keep number, boolean and array types; a map has no GitLab type and goes as its JSON text
    assert inputs["replicas"] == 2 and inputs["public"] is False and inputs["zones"] == ["a", "b"]
    assert inputs["labels"] == '{"team":"alpha"}'
    assert inputs["motto"] == 'say "hi" ${x} %{ y } `rm -rf /` $(touch MARKER)'
    assert inputs["workspace"] == "team-alpha" and inputs["buildingBlockRunUrl"] == RUN_URL
    assert "ratio" not in inputs and "debug" not in inputs and "extra_zones" not in inputs  # null: left out
    assert "db_password" not in inputs and apply["secret_inputs"] == {"db_password": "DB_PASSWORD"}


def test_gitlab_variables_azure_and_webhook_configurations(tmp_path: Path) -> None:
    gitlab, gitlab_destroy = configs(
        render_inline(TARGET_SPECS["gitlab-variables-fixed"], tmp_path, dispatcher=False), {"bucket_name": "abc"}
    )
    assert gitlab["gitlab"] == {
        "api_url": "https://git.example.com/api/v4",
        "project": "platform/sub/infra",
        "ref": "release",
        "values": "variables",
        "auth": {"mode": "trigger_token", "trigger_token_env": "DEPLOY_TRIGGER", "token_env": "DEPLOY_READER"},
    }
    assert gitlab_destroy["gitlab"]["ref"] == "teardown" and gitlab["phase_input"] is None
    assert gitlab["inputs"]["replicas"] == "2" and gitlab["inputs"]["zones"] == '["a","b"]'  # CI/CD variables: text

    azure, azure_destroy = configs(
        render_inline(TARGET_SPECS["azure-fixed"], tmp_path, dispatcher=False), {"bucket_name": "abc"}
    )
    assert set(azure) == COMMON_KEYS | {"azure_devops"}
    assert azure["azure_devops"] == {
        "org_url": "https://dev.azure.com/octo",
        "project": "Platform Team",
        "ref": "refs/heads/release",
        "pipeline_id": 12,
        "auth": {"mode": "pat", "pat_env": "ADO_PAT", "token_env": "AZURE_DEVOPS_TOKEN"},
    }
    assert azure_destroy["azure_devops"]["pipeline_id"] == 13 and azure["phase_input"] == "phase"
    assert azure["inputs"]["public"] == "false" and azure["inputs"]["labels"] == '{"team":"alpha"}'  # parameters

    webhook, webhook_destroy = configs(
        render_inline(TARGET_SPECS["webhook-local-token"], tmp_path, dispatcher=False), {"bucket_name": "abc"}
    )
    assert set(webhook) == COMMON_KEYS | {"webhook"} and webhook["phase_input"] is None
    assert webhook["webhook"] == {
        "url": "http://127.0.0.1:8080/hook",
        "event": "deploy",
        "auth": {"secret_env": "HOOK_SECRET", "token_env": "HOOK_TOKEN"},
    }
    assert webhook_destroy["webhook"]["event"] == "teardown"
    assert webhook["inputs"]["labels"] == {"team": "alpha"} and webhook["inputs"]["replicas"] == 2  # JSON values


@pytest.mark.parametrize(
    ("name", "variable", "item"),
    [
        ("gitlab-pipeline-trigger", "destroy_ref", ("gitlab", "ref")),
        ("azure-pipelines-trigger", "destroy_pipeline_id", ("azure_devops", "pipeline_id")),
        ("webhook-trigger", "destroy_event", ("webhook", "event")),
    ],
)
def test_without_a_destroy_item_the_destroy_configuration_names_none(
    name: str, variable: str, item: tuple[str, str], tmp_path: Path
) -> None:
    required = {
        "gitlab-pipeline-trigger": {"gitlab_project": "group/project"},
        "azure-pipelines-trigger": {
            "azure_devops_org_url": "https://dev.azure.com/o",
            "azure_devops_project": "p",
            "apply_pipeline_id": 3,
        },
        "webhook-trigger": {"webhook_url": "https://hooks.example.com/x"},
    }[name]
    apply, destroy = configs(render_reference(name, tmp_path), {**required, variable: None})
    block, key = item
    assert destroy[block][key] is None and apply[block][key] is not None
    assert {k: v for k, v in destroy[block].items() if k != key} == {k: v for k, v in apply[block].items() if k != key}


def test_gitlab_refuses_a_value_longer_than_a_ci_cd_variable_may_be(tmp_path: Path) -> None:
    workdir = render_inline(TARGET_SPECS["gitlab-inputs-typed"], tmp_path, dispatcher=False)
    tf = Terraform(workdir)
    tf.init()
    tf.write_vars({"bucket_name": "a" * (120 * 1024)})
    result = tf.run("plan", "-no-color", "-input=false", check=False)
    assert result.returncode != 0
    assert "An input value is longer than GitLab accepts" in " ".join(result.output.split())
    tf.write_vars({"bucket_name": "a" * (120 * 1024 - 2)})  # its JSON form has the two quotes
    tf.run("plan", "-no-color", "-input=false")


@pytest.mark.parametrize(
    ("name", "variables", "message"),
    [
        (
            "gitlab-pipeline-trigger",
            {"gitlab_project": "g/p", "correlation_input": "same", "phase_input": "same"},
            "phase_input names an input that already has a value",
        ),
        (
            "azure-pipelines-trigger",
            {
                "azure_devops_org_url": "https://dev.azure.com/o",
                "azure_devops_project": "p",
                "apply_pipeline_id": 3,
                "correlation_input": "buildingBlockRunUrl",
            },
            "correlation_input names an input that already has a value",
        ),
        (
            "webhook-trigger",
            {"webhook_url": "https://user:secret@hooks.example.com/x"},
            "webhook_url must be an https:// URL without credentials",
        ),
        (
            "gitlab-pipeline-trigger",
            {"gitlab_project": "g/p", "apply_ref": "main..x"},
            "apply_ref must be a branch or tag name",
        ),
    ],
)
def test_plan_time_checks_stop_a_bad_configuration_with_one_clear_message(
    name: str, variables: dict[str, Any], message: str, tmp_path: Path
) -> None:
    tf = Terraform(render_reference(name, tmp_path))
    tf.init()
    tf.write_vars({**variables, "meshstack_building_block_run_b64": b64(run_object())})
    result = tf.run("plan", "-no-color", "-input=false", check=False)
    assert result.returncode != 0
    assert message in " ".join(result.output.split())
