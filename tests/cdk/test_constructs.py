"""The constructs built in the test process with the real CDK library: argument checks, tokens, secrets, outputs,
and a definition with every kind of input synthesized equal to ``render_definition``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hcl2
import pytest

from meshpipe.cdk import BuildingBlockDefinition, ConstructError, MeshStackProvider, TriggerModule
from meshpipe.cdk._lib import LIBRARY, cdk
from meshpipe.generator.definition import build_definition, parse_output_option, render_definition
from meshpipe.generator.spec import ModuleSpec, parse_spec
from tests.cdk.support import SPEC, canonical, hcl_value, without_metadata
from tests.generator.support import every_kind_of_input

CANARY = "ghp_CANARY0literal0secret0never0shown0000"


def everything(*, drop: tuple[str, ...] = (), **overrides: Any) -> ModuleSpec:
    """A spec with every kind of input; its repository is a required setting; a description with `${`."""
    data: dict[str, Any] = {
        "name": "everything",
        "description": "Every kind of input; literal ${not.an.expression} and %{ if x } stay text.",
        "github": {"api_url": {"default": "https://ghes.example.com/api/v3"}},
        "workflows": {"apply": "apply.yml", "destroy": "destroy.yml"},
        "inputs": every_kind_of_input(),
        "wait": {"enabled": {"default": True}},
    }
    data.update(overrides)
    for key in drop:
        del data[key]
    return parse_spec(data, "inline-everything.yaml")


def stack() -> tuple[cdk.App, cdk.TerraformStack]:
    app = cdk.App(outdir="unused")
    return app, cdk.TerraformStack(app, "test")


def synth(tree: cdk.TerraformStack) -> dict[str, Any]:
    return dict(json.loads(cdk.Testing.synth(tree)))


def test_unknown_variable_names_the_module_and_its_variables_and_a_corrected_retry_works() -> None:
    _, root = stack()
    with pytest.raises(
        ConstructError, match=r"TriggerModule 'tb' \(.*spec.yaml\): unknown variable 'bucket'.*bucket_name"
    ):
        TriggerModule(root, "tb", spec=SPEC, bucket="x", bucket_name="alpha-data")
    TriggerModule(root, "tb", spec=SPEC, bucket_name="alpha-data")  # the failed attempt left nothing behind
    assert list(synth(root)["module"]) == ["tb"]


def test_missing_required_variable_is_an_error_unless_the_interface_is_exposed() -> None:
    _, root = stack()
    with pytest.raises(ConstructError, match=r"variable 'bucket_name' is required \(a str\)"):
        TriggerModule(root, "tb", spec=SPEC)
    module = TriggerModule(root, "exposed", spec=SPEC, expose_interface=True)
    assert "bucket_name" in synth(root)["variable"] and module.output_names


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("retention_days", "30", r"'retention_days' must be an int or float \(number\), not str"),
        ("versioning", 1, r"'versioning' must be a bool \(bool\), not int"),
        ("retention_days", True, r"'retention_days' must be an int or float"),
        ("bucket_name", None, r"'bucket_name' cannot be None"),
    ],
)
def test_wrong_types_fail_in_python_with_one_line(name: str, value: Any, message: str) -> None:
    _, root = stack()
    variables = {"bucket_name": "alpha-data", name: value}
    with pytest.raises(ConstructError, match=message) as caught:
        TriggerModule(root, "tb", spec=SPEC, variables=variables)
    assert "\n" not in str(caught.value)


def test_tokens_pass_the_type_check_and_reach_the_module_as_references() -> None:
    _, root = stack()
    days = cdk.TerraformVariable(root, "days", type="number")
    name = cdk.TerraformVariable(root, "name", type="string")
    module = TriggerModule(
        root, "tb", spec=SPEC, bucket_name=name.string_value, retention_days=days, meshstack_building_block_run_id=None
    )
    cdk.TerraformOutput(root, "url", value=module.apply_workflow_url)
    document = synth(root)
    body = document["module"]["tb"]
    assert (body["bucket_name"], body["retention_days"]) == ("${var.name}", "${var.days}")
    assert body["meshstack_building_block_run_id"] is None  # explicit null, not left out
    assert document["output"]["url"]["value"] == "${module.tb.apply_workflow_url}"


def test_variables_given_twice_are_an_error() -> None:
    _, root = stack()
    with pytest.raises(ConstructError, match="bucket_name given twice"):
        TriggerModule(root, "tb", spec=SPEC, bucket_name="a", variables={"bucket_name": "b"})


def test_outputs_a_module_lacks_are_an_error_naming_its_outputs() -> None:
    _, root = stack()
    module = TriggerModule(root, "tb", spec=SPEC, bucket_name="alpha-data")
    with pytest.raises(ConstructError, match=r"no output 'actions_url' \(its outputs: repository, ref"):
        _ = module.actions_url


def test_output_properties_cover_the_outputs_of_both_dispatch_kinds() -> None:
    _, root = stack()
    dispatch = {"event": "repository_dispatch", "event_types": {"apply": "bucket-apply", "destroy": "bucket-destroy"}}
    events = everything(drop=("workflows",), **dispatch)
    modules = [
        TriggerModule(root, "workflow", spec=everything(), github_repository="acme/x", bucket_name="abc"),
        TriggerModule(root, "events", spec=events, github_repository="acme/x", bucket_name="abc"),
    ]
    names = {name for module in modules for name in module.output_names}
    properties = {name for name, value in vars(TriggerModule).items() if isinstance(value, property)}
    assert names <= properties
    for module in modules:
        for name in module.output_names:
            cdk.TerraformOutput(root, f"{module.node.id}-{name}", value=getattr(module, name))
    outputs = synth(root)["output"]
    assert outputs["events-actions_url"]["value"] == "${module.events.actions_url}"
    assert outputs["workflow-apply_workflow_url"]["value"] == "${module.workflow.apply_workflow_url}"
    assert len(outputs) == sum(len(module.output_names) for module in modules)


def test_definition_with_every_kind_of_input_synthesizes_what_definition_render_writes(tmp_path: Path) -> None:
    _, root = stack()
    spec = everything()
    BuildingBlockDefinition(
        root, "everything", spec=spec, path="stacks/everything", outputs=["link=STRING:SIGN_IN_URL"]
    )
    document = synth(root)
    definition = build_definition(
        spec, spec_path=spec.source, path="stacks/everything", outputs=(parse_output_option("link=STRING:SIGN_IN_URL"),)
    )
    rendered = hcl_value(hcl2.loads(render_definition(definition)))
    (expected,) = rendered["resource"][0]["meshstack_building_block_definition"].values()
    actual = without_metadata(document["resource"]["meshstack_building_block_definition"]["everything"])
    assert canonical(actual) == canonical(expected)
    assert actual["spec"]["description"].startswith("Every kind of input; literal $${not.an.expression} and %%{")
    assert set(document["variable"]) == {"github_repository", "github_token", "db_password"}
    assert document["variable"]["db_password"]["sensitive"] is True


def test_secret_values_take_tokens_and_refuse_literals_without_echoing_them() -> None:
    _, root = stack()
    vault = cdk.TerraformVariable(root, "vault_token", type="string", sensitive=True)
    BuildingBlockDefinition(
        root, "ok", spec=everything(), values={"github_token": vault, "github_repository": "acme/${x}"}
    )
    document = synth(root)
    inputs = document["resource"]["meshstack_building_block_definition"]["ok"]["version_spec"]["inputs"]
    assert inputs["GITHUB_TOKEN"]["sensitive"]["argument"]["secret_value"] == "${var.vault_token}"
    assert inputs["github_repository"]["argument"] == '${jsonencode("acme/$${x}")}'
    assert "github_token" not in document["variable"]
    with pytest.raises(ConstructError, match="secret 'github_token' must be a token") as caught:
        BuildingBlockDefinition(root, "bad", spec=everything(), values={"github_token": CANARY})
    assert CANARY not in str(caught.value)
    with pytest.raises(ConstructError, match="unknown value"):
        BuildingBlockDefinition(root, "typo", spec=everything(), values={"github_tokn": vault})
    plain = cdk.TerraformVariable(root, "plain_token", type="string")
    with pytest.raises(ConstructError, match="needs a TerraformVariable with sensitive=True"):
        BuildingBlockDefinition(root, "shown", spec=everything(), values={"github_token": plain})


def test_definitions_in_one_stack_share_the_provider_and_the_variables() -> None:
    _, root = stack()
    BuildingBlockDefinition(root, "one", spec=SPEC)
    BuildingBlockDefinition(root, "two", spec=SPEC, display_name="Team Bucket (beta)")
    document = synth(root)
    assert document["provider"] == {"meshstack": [{}]}
    assert list(document["variable"]) == ["github_token"]
    assert isinstance(MeshStackProvider.of(root), MeshStackProvider)
    assert LIBRARY in ("cdktn", "cdktf")
