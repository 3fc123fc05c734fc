"""TriggerModule for every target: each output of a GitLab, Azure DevOps or webhook module is a property (a token
referencing the module's output), and a property of another target's output is a one-line error naming the
module's own outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meshpipe.cdk import ConstructError, TriggerModule
from meshpipe.cdk._lib import cdk

ROOT = Path(__file__).resolve().parents[2]
#: target -> (the example's spec, a value for each required input, outputs only that target has)
EXAMPLES: dict[str, tuple[Path, dict[str, Any], set[str]]] = {
    "gitlab": (
        ROOT / "examples" / "gitlab-namespace" / "spec.yaml",
        {"namespace_name": "alpha-dev"},
        {"project", "apply_ref", "destroy_ref", "pipelines_url"},
    ),
    "azure_devops": (
        ROOT / "examples" / "azure-sql-database" / "spec.yaml",
        {"database_name": "alpha-orders"},
        {"project", "ref", "apply_pipeline_id", "destroy_pipeline_id", "apply_pipeline_url", "destroy_pipeline_url"},
    ),
    "webhook": (
        ROOT / "examples" / "webhook-jenkins-job" / "spec.yaml",
        {"job_name": "alpha-build"},
        {"webhook_url", "apply_event", "destroy_event"},
    ),
}
PROPERTIES = {name for name, value in vars(TriggerModule).items() if isinstance(value, property)}


def module(target: str) -> tuple[cdk.TerraformStack, TriggerModule]:
    spec, inputs, _ = EXAMPLES[target]
    root = cdk.TerraformStack(cdk.App(outdir="unused"), "test")
    return root, TriggerModule(root, "block", spec=spec, **inputs)


@pytest.mark.parametrize("target", list(EXAMPLES))
def test_every_output_of_the_targets_module_is_a_property_with_a_docstring(target: str) -> None:
    root, block = module(target)
    assert block.spec.target == target
    assert EXAMPLES[target][2] <= set(block.output_names)
    missing = set(block.output_names) - PROPERTIES
    assert not missing, f"TriggerModule has no property for the {target} outputs {sorted(missing)}"
    for name in block.output_names:
        assert (getattr(TriggerModule, name).__doc__ or "").strip(), name
        cdk.TerraformOutput(root, f"out-{name}", value=getattr(block, name))
    outputs = json.loads(cdk.Testing.synth(root))["output"]
    assert {key: value["value"] for key, value in outputs.items()} == {
        f"out-{name}": f"${{module.block.{name}}}" for name in block.output_names
    }


@pytest.mark.parametrize(("target", "foreign"), [("gitlab", "apply_workflow_url"), ("webhook", "pipelines_url")])
def test_another_targets_output_is_an_error_naming_the_modules_outputs(target: str, foreign: str) -> None:
    _, block = module(target)
    with pytest.raises(ConstructError, match=rf"no output '{foreign}' \(its outputs: .*dispatch_fingerprint"):
        getattr(block, foreign)
