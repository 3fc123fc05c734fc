"""Every rendered module stays in the HCL subset that Terraform >= 1.6 and OpenTofu >= 1.6 both accept.

meshStack runs building blocks with OpenTofu for every terraform_version above 1.5.5, and no ``tofu`` binary can be
installed here, so the rules in ``src/meshpipe/generator/templates/OPENTOFU.md`` are enforced by reading every
rendered file back with an HCL parser (python-hcl2).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import hcl2
import pytest

from meshpipe.generator.render import render_module
from meshpipe.generator.spec import load_spec, parse_spec
from tests.generator.support import MODULES, ROOT, SPECS, TARGET_SPECS

TOP_LEVEL = {"terraform", "variable", "locals", "resource", "output"}
TEST_TOP_LEVEL = {"variables", "run"}
RESOURCE_TYPES = {"terraform_data"}
RESOURCE_ARGUMENTS = {"input", "triggers_replace", "provisioner", "lifecycle", "depends_on", "count", "for_each"}
LIFECYCLE = {
    "precondition",
    "postcondition",
    "create_before_destroy",
    "prevent_destroy",
    "ignore_changes",
    "replace_triggered_by",
}
LOCAL_EXEC = {"command", "interpreter", "environment", "working_dir", "when", "on_failure"}
TERRAFORM_BLOCK = {"required_version"}
VARIABLE = {"description", "type", "default", "nullable", "sensitive", "validation"}
OUTPUT = {"description", "value", "sensitive", "precondition", "depends_on"}
RUN = {"command", "variables", "assert", "expect_failures"}
#: functions both Terraform 1.6 and OpenTofu 1.6 have
FUNCTIONS = {
    "abs", "alltrue", "anytrue", "base64decode", "base64encode", "can", "ceil", "coalesce", "compact", "concat",
    "contains", "distinct", "endswith", "fileexists", "flatten", "floor", "format", "join", "jsondecode",
    "jsonencode", "keys", "length", "lookup", "lower", "max", "merge", "min", "nonsensitive", "plantimestamp",
    "range", "regex", "regexall", "replace", "sha256", "sort", "split", "startswith", "substr", "timestamp",
    "tobool", "tolist", "tomap", "tonumber", "toset", "tostring", "trimprefix", "trimspace", "trimsuffix", "try",
    "upper", "urlencode", "values",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_CALL = re.compile(r"(?<![\w.])([A-Za-z_][\w:]*)\s*\(")

INLINE_SPECS: dict[str, dict[str, Any]] = {
    "every-feature": {
        "name": "every-feature",
        "description": "Typed, static, secret and meshStack inputs, waiting, GHES.",
        "github": {"flavour": "ghes", "api_url": {"default": "https://ghe.example.com/api/v3"}, "repository": "o/r"},
        "workflows": {"apply": "apply.yml", "destroy": {"default": "destroy.yml"}},
        "inputs": [
            {"name": "size", "type": "number", "allowed": [1, 2], "default": 1},
            {"name": "name", "type": "string", "regex": "^[a-z]+$", "example": "abc"},
            {"name": "tags", "type": "map", "default": {}},
            {"name": "fixed", "value": "x"},
            {"name": "secret", "sensitive": True, "env": "SECRET_VALUE"},
            {"name": "workspace", "meshstack": "workspace"},
            {"name": "run_id", "meshstack": "run_id"},
        ],
        "correlation_input": "correlation_id",
    },
    "repository-dispatch": {
        "name": "repository-dispatch",
        "description": "repository_dispatch with event types.",
        "github": {"repository": "o/r"},
        "event": "repository_dispatch",
        "event_types": {"apply": "deploy", "destroy": "teardown"},
    },
}


def _rendered_files() -> Iterator[tuple[str, str]]:
    for module in sorted([*MODULES.iterdir(), ROOT / "examples" / "team-bucket" / "module"]):
        for path in sorted(module.rglob("*.tf")) + sorted(module.rglob("*.tftest.hcl")):
            yield f"{module.name}/{path.relative_to(module)}", path.read_text(encoding="utf-8")
    # Every reference spec, also one whose module is not rendered to modules/ yet (its target's client is missing).
    for path in sorted(SPECS.glob("*.yaml")):
        files = render_module(load_spec(path), spec_path=path.name, dispatcher=False)
        for name, text in sorted(files.items()):
            if name.endswith((".tf", ".tftest.hcl")):
                yield f"spec {path.stem}/{name}", text
    for name, spec in {**INLINE_SPECS, **TARGET_SPECS}.items():
        files = render_module(parse_spec(spec, f"{name}.yaml"), spec_path=f"{name}.yaml", dispatcher=False)
        for path, text in sorted(files.items()):
            if path.endswith((".tf", ".tftest.hcl")):
                yield f"inline {name}/{path}", text


FILES = dict(_rendered_files())


def _blocks(value: Any) -> list[dict[str, Any]]:
    return [item for item in (value if isinstance(value, list) else [value]) if isinstance(item, dict)]


def _named(value: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """``{"\\"name\\"": body}`` entries of a labelled block list."""
    for block in _blocks(value):
        for label, body in block.items():
            yield label.strip('"'), body


def _keys(body: dict[str, Any]) -> set[str]:
    return {key for key in body if not key.startswith("__")}


def _expressions(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if not key.startswith("__"):
                yield from _expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from _expressions(item)


def _functions(document: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for expression in _expressions(document):
        if expression.startswith("${"):
            names.update(_CALL.findall(_STRING.sub('""', expression)))
    return names


def test_every_reference_module_and_the_example_are_covered() -> None:
    covered = {name.split("/")[0] for name in FILES}
    assert {"github-workflow-trigger", "ghes-app-deployment", "module"} <= covered
    specs = {f"spec {name}" for name in ("gitlab-pipeline-trigger", "azure-pipelines-trigger", "webhook-trigger")}
    assert specs <= covered


@pytest.mark.parametrize("name", sorted(FILES))
def test_rendered_file_stays_in_the_terraform_and_opentofu_1_6_subset(name: str) -> None:
    document = {key: value for key, value in hcl2.loads(FILES[name]).items() if not key.startswith("__")}
    if name.endswith(".tftest.hcl"):
        assert set(document) <= TEST_TOP_LEVEL, name
        for run_name, body in _named(document.get("run", [])):
            assert _keys(body) <= RUN, f"{name}: run {run_name}: {_keys(body) - RUN}"
    else:
        assert set(document) <= TOP_LEVEL, f"{name}: {set(document) - TOP_LEVEL}"
    for terraform in _blocks(document.get("terraform", [])):
        assert _keys(terraform) <= TERRAFORM_BLOCK, name
        assert terraform["required_version"] == '">= 1.6.0"', name
    for resource_type, resources in _named(document.get("resource", [])):
        assert resource_type in RESOURCE_TYPES, f"{name}: resource type {resource_type}"
        for resource_name, body in _named(resources):
            assert _keys(body) <= RESOURCE_ARGUMENTS, f"{name}: {resource_name}: {_keys(body) - RESOURCE_ARGUMENTS}"
            for lifecycle in _blocks(body.get("lifecycle", [])):
                assert _keys(lifecycle) <= LIFECYCLE, f"{name}: {resource_name}: lifecycle {_keys(lifecycle)}"
            for kind, provisioner in _named(body.get("provisioner", [])):
                assert kind == "local-exec", name
                assert _keys(provisioner) <= LOCAL_EXEC, f"{name}: {resource_name}: {_keys(provisioner)}"
    for variable, body in _named(document.get("variable", [])):
        assert _keys(body) <= VARIABLE, f"{name}: variable {variable}: {_keys(body) - VARIABLE}"
        for validation in _blocks(body.get("validation", [])):
            referenced = set(re.findall(r"\bvar\.([A-Za-z_][\w-]*)", validation["condition"]))
            assert referenced == {variable}, f"{name}: variable {variable}'s validation refers to {referenced}"
    for output, body in _named(document.get("output", [])):
        assert _keys(body) <= OUTPUT, f"{name}: output {output}: {_keys(body) - OUTPUT}"
    # Type constraints (list(string), map(string)) are not function calls.
    variables = [
        {key: item for key, item in body.items() if key != "type"} for _, body in _named(document.get("variable", []))
    ]
    unknown = _functions({**document, "variable": variables}) - FUNCTIONS
    assert not unknown, f"{name}: functions outside the Terraform/OpenTofu 1.6 subset: {sorted(unknown)}"


@pytest.mark.parametrize(
    ("snippet", "problem"),
    [
        ('locals {\n  x = templatestring("a", {})\n}\n', "templatestring"),
        ('locals {\n  x = provider::meshstack::load_image_file("a")\n}\n', "provider::meshstack::load_image_file"),
        ("locals {\n  x = issensitive(var.a)\n}\n", "issensitive"),
    ],
)
def test_the_function_check_sees_calls_outside_the_subset(snippet: str, problem: str) -> None:
    assert problem in _functions(dict(hcl2.loads(snippet)))


def test_the_function_check_ignores_text_inside_string_literals() -> None:
    assert _functions(dict(hcl2.loads('locals {\n  x = lower("templatestring(a)")\n}\n'))) == {"lower"}
