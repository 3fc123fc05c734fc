"""The example CDK app's module stack, synthesized with the real CDK library, applied and destroyed by real
terraform against the fake GitHub over 127.0.0.1, as meshStack's runner would (inputs as root variables)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from meshpipe.fakes.github import FakeGitHub
from meshpipe.generator.definition import module_outputs
from meshpipe.generator.render import render_module
from meshpipe.generator.spec import RUN_URL_INPUT, load_spec
from meshpipe.sandbox import load_workflow
from meshpipe.terraform import Terraform
from tests.cdk.support import SPEC, SPEC_LABEL, Synth, without_metadata
from tests.generator.support import BASE_ENV, b64, run_object, run_url

TOKEN = "ghp_CANARY0cdk0stack0token0never0shown01234"
REPOSITORY = "acme/team-bucket"
WORKFLOWS = SPEC.parent / ".github" / "workflows"
STACK = "team-bucket"
INPUTS = {"bucket_name": "alpha-dev-data", "versioning": True, "retention_days": 30}


def stack_copy(synthesized: Synth, tmp_path: Path) -> Terraform:
    """A private copy of the synthesized module stack (the session's synth output stays untouched)."""
    target = tmp_path / STACK
    shutil.copytree(synthesized.stack(STACK), target)
    return Terraform(target, env={**BASE_ENV, "GITHUB_TOKEN": TOKEN})


def workflows(fake: FakeGitHub) -> None:
    fake.add_token(TOKEN)
    for phase in ("apply", "destroy"):
        workflow = load_workflow(WORKFLOWS / f"{phase}.yml")
        fake.add_workflow(REPOSITORY, workflow.file, inputs=workflow.inputs, name=workflow.name, duration=0.2)


def files_under(directory: Path) -> dict[str, str]:
    return {
        path.relative_to(directory).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.mark.terraform
def test_synthesized_stack_applies_once_and_destroys_once_against_the_fake(
    synthesized: Synth, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    workflows(fake_github)
    tf = stack_copy(synthesized, tmp_path)
    run = run_object()
    variables: dict[str, Any] = {
        **INPUTS,
        "github_api_url": fake_github.api_url,
        "python": sys.executable,
        "meshstack_building_block_id": run["spec"]["buildingBlock"]["uuid"],
        "meshstack_building_block_run_id": run["metadata"]["uuid"],
        "meshstack_building_block_run_b64": b64(run),
    }
    tf.write_vars(variables)
    tf.init()
    applied = tf.apply().output

    (dispatch,) = fake_github.dispatches
    assert (dispatch.workflow, dispatch.ref) == ("apply.yml", "main")
    assert dispatch.inputs["bucket_name"] == "alpha-dev-data"
    assert dispatch.inputs["retention_days"] == "30" and dispatch.inputs["versioning"] == "true"
    assert dispatch.inputs["workspace"] == "team-alpha"
    assert dispatch.inputs[RUN_URL_INPUT] == run_url(run)
    assert dispatch.headers["authorization"] == f"Bearer {TOKEN}"
    outputs = tf.outputs()
    assert outputs["apply_workflow_url"] == f"{fake_github.html_url}/{REPOSITORY}/actions/workflows/apply.yml"
    assert outputs["repository"] == REPOSITORY

    destroy_run = run_object("DESTROY")
    tf.write_vars({**variables, "meshstack_building_block_run_b64": b64(destroy_run)})
    destroyed = tf.destroy().output
    assert TOKEN not in applied + destroyed
    assert [d.workflow for d in fake_github.dispatches] == ["apply.yml", "destroy.yml"]
    assert len(fake_github.dispatches_for(workflow="apply.yml")) == 1
    (destroy,) = fake_github.dispatches_for(workflow="destroy.yml")
    assert destroy.inputs["bucket_name"] == "alpha-dev-data"
    state = (tf.workdir / "terraform.tfstate").read_text(encoding="utf-8")
    assert TOKEN not in state and "RUN-OBJECT-SECRET" not in state


@pytest.mark.terraform
def test_synthesized_stack_inits_offline_without_providers_or_backend(synthesized: Synth, tmp_path: Path) -> None:
    tf = stack_copy(synthesized, tmp_path)
    output = tf.init().output
    assert "Installing" not in output  # no provider download: the module uses only terraform_data
    document = synthesized.document(STACK)
    assert "backend" not in document["terraform"]  # meshStack's runner supplies its HTTP backend
    assert "provider" not in document


def test_module_asset_is_exactly_what_module_render_writes_there(synthesized: Synth) -> None:
    (module,) = synthesized.document(STACK)["module"].values()
    source = module["source"]
    assert source == "./assets/team-bucket-files/module"
    directory = synthesized.stack(STACK) / source
    result = subprocess.run(
        [sys.executable, "-m", "meshpipe", "module", "check", str(SPEC), "-o", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout
    label = os.path.relpath(SPEC, directory)
    assert set(files_under(directory)) == set(render_module(load_spec(SPEC), spec_path=label))


def test_root_interface_mirrors_the_module_variables_and_outputs(synthesized: Synth) -> None:
    document = synthesized.document(STACK)
    spec = load_spec(SPEC)
    (module,) = without_metadata(document["module"]).values()
    names = [variable.name for variable in spec.variables]
    assert sorted(document["variable"]) == sorted(names)
    assert {name: module[name] for name in names} == {name: f"${{var.{name}}}" for name in names}
    for variable in spec.variables:
        declared = document["variable"][variable.name]
        assert declared["type"] == variable.type
        assert declared.get("default") == variable.default
        assert ("default" in declared) != variable.required
    module_name = next(iter(document["module"]))
    assert {name: item["value"] for name, item in document["output"].items()} == {
        name: f"${{module.{module_name}.{name}}}" for name in module_outputs(spec, SPEC_LABEL)
    }
    assert "apply_workflow_url" in document["output"]


@pytest.mark.parametrize("stack", [STACK, "team-bucket-definition"])
def test_synthesized_stacks_hold_no_machine_specific_path(synthesized: Synth, stack: str) -> None:
    text = json.dumps(synthesized.document(stack))
    assert str(synthesized.outdir.parent) not in text and "/tmp/" not in text and "meshpipe-cdk-" not in text
