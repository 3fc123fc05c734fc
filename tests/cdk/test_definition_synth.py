"""The synthesized Building Block Definition is what ``meshpipe definition render`` writes for the same spec: the
provider cannot be downloaded, so the two are compared as data (the HCL read back with python-hcl2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2

from meshpipe.cdk.values import template_json
from meshpipe.generator.definition import build_definition, parse_output_option, render_definition, resource_attributes
from meshpipe.generator.spec import load_spec
from tests.cdk.support import ROOT, SPEC, SPEC_LABEL, Synth, canonical, hcl_value, without_metadata

STACK = "team-bucket-definition"
MODULE_PATH = "examples/cdk/cdktf.out/stacks/team-bucket"
OPTIONS = ["--repository-url", "https://github.com/acme/team-bucket.git", "--path", MODULE_PATH]
OUTPUT = "bucket_url=STRING:RESOURCE_URL"


def rendered_document() -> dict[str, Any]:
    """``meshpipe definition render`` for the example's options, parsed into Terraform JSON terms."""
    result = subprocess.run(
        [sys.executable, "-m", "meshpipe", "definition", "render", SPEC_LABEL, *OPTIONS, "--output", OUTPUT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(hcl_value(hcl2.loads(result.stdout)))


def test_synthesized_definition_equals_definition_render(synthesized: Synth) -> None:
    hcl = rendered_document()
    cdk = synthesized.document(STACK)
    ((rendered_name, rendered_body),) = hcl["resource"][0]["meshstack_building_block_definition"].items()
    (synthesized_body,) = cdk["resource"]["meshstack_building_block_definition"].values()
    assert canonical(without_metadata(synthesized_body)) == canonical(rendered_body)
    assert rendered_name == "team_bucket"
    assert cdk["variable"] == {name: body for item in hcl["variable"] for name, body in item.items()}
    (terraform,) = hcl["terraform"]
    assert cdk["terraform"]["required_version"] == terraform["required_version"]
    assert cdk["terraform"]["required_providers"] == terraform["required_providers"][0]
    assert cdk["provider"] == {"meshstack": [{}]}  # declared, configured by MESHSTACK_* in the environment


def test_secret_reaches_the_definition_only_as_a_sensitive_variable(synthesized: Synth) -> None:
    cdk = synthesized.document(STACK)
    (body,) = cdk["resource"]["meshstack_building_block_definition"].values()
    token = body["version_spec"]["inputs"]["GITHUB_TOKEN"]
    assert token["sensitive"]["argument"] == {
        "secret_value": "${var.github_token}",
        "secret_version": "${nonsensitive(sha256(var.github_token))}",
    }
    assert cdk["variable"]["github_token"]["sensitive"] is True


def test_resource_attributes_are_what_the_template_writes(tmp_path: Path) -> None:
    """The template spells the resource out with its comments; resource_attributes is what the CDK uses."""
    definition = build_definition(
        load_spec(SPEC),
        spec_path=SPEC_LABEL,
        repository_url="https://example.com/x.git",
        path="modules/x",
        is_async=False,
        outputs=(parse_output_option(OUTPUT),),
    )
    document = hcl_value(hcl2.loads(render_definition(definition)))
    (body,) = document["resource"][0]["meshstack_building_block_definition"].values()
    assert canonical(body) == canonical(template_json(resource_attributes(definition)))
