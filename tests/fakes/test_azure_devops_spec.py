"""Fake Azure DevOps against the official description (``pipelines.json`` 7.1, Swagger 2.0, fixture copy).

Every route the fake serves is an operation of the description with the same path parameters; each request the
tests send carries the description's required parameters; Run Pipeline bodies the schema rejects are rejected; every
200 answer validates against the operation's response schema. Two readings of the description are made explicit:
list answers arrive wrapped as ``{"count", "value"}`` (the service's ``VssJsonCollectionWrapper``, which the official
clients unwrap; the description types the payload as the bare array), and ``{"type": "object"}`` without properties
is .NET's ``object``, i.e. any JSON value (``Run.templateParameters`` values are the strings that were sent).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import pytest

from meshpipe.fakes._wire import RecordedRequest
from meshpipe.fakes.azure_devops import FakeAzureDevOps
from meshpipe.fakes.azure_devops_api import LOCATIONS
from tests.fakes.azure_support import PROJECT, call, runs_path, setup_pipeline

SPEC_FILE = Path(__file__).parents[1] / "fixtures" / "specs" / "azure-devops-pipelines-7.1.json"


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _any_object(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("type") == "object" and not ({"properties", "additionalProperties", "allOf", "$ref"} & set(node)):
            return {}
        return {key: _any_object(value) for key, value in node.items() if not key.startswith("x-ms-")}
    if isinstance(node, list):
        return [_any_object(item) for item in node]
    return node


def schema(node: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema of a Swagger schema node, its ``#/definitions/`` references resolvable."""
    return {**_any_object(node), "definitions": _any_object(spec()["definitions"])}


def operation(path: str, method: str) -> dict[str, Any]:
    return spec()["paths"][path][method.lower()]  # type: ignore[no-any-return]


def spec_path(recorded: RecordedRequest, organization: str) -> str:
    """The description's path template that a recorded request's path matches (AssertionError if none)."""
    for template in spec()["paths"]:
        pattern = re.sub(r"\\\{[A-Za-z]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, recorded.path):
            return template
    raise AssertionError(f"{recorded.method} {recorded.path} is not an operation of the description")


def exercise(fake: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake, duration=0.05)
    body = {
        "templateParameters": {"correlation_id": "c-1", "dry_run": "false"},
        "resources": {"repositories": {"self": {"refName": "refs/heads/dev"}}},
    }
    created = call(fake, "POST", runs_path(pipeline_id), json=body).json()
    call(fake, "GET", runs_path(pipeline_id))
    call(fake, "GET", f"{runs_path(pipeline_id)}/{created['id']}")
    call(fake, "GET", f"{PROJECT}/_apis/pipelines/{pipeline_id}")
    call(fake, "GET", f"{PROJECT}/_apis/pipelines", params={"$top": "5", "orderBy": "name desc"})


def test_every_route_is_an_operation_of_the_description(fake_azure_devops: FakeAzureDevOps) -> None:
    exercise(fake_azure_devops)
    seen = set()
    for recorded in fake_azure_devops.log():
        template = spec_path(recorded, fake_azure_devops.organization)
        assert recorded.method.lower() in spec()["paths"][template]
        seen.add((recorded.method, template))
    assert len(seen) == 5


def test_the_client_locations_name_the_descriptions_paths() -> None:
    for _, _, template in LOCATIONS:
        full = "/{organization}/" + template
        while full not in spec()["paths"]:
            assert full.endswith("}"), full
            full = full.rsplit("/", 1)[0]
        assert full in spec()["paths"]


def test_requests_carry_the_required_parameters(fake_azure_devops: FakeAzureDevOps) -> None:
    exercise(fake_azure_devops)
    for recorded in fake_azure_devops.log():
        template = spec_path(recorded, fake_azure_devops.organization)
        op = operation(template, recorded.method)
        for parameter in op["parameters"]:
            parameter = spec()["parameters"]["api-Version"] if "$ref" in parameter else parameter
            if not parameter.get("required"):
                continue
            if parameter["in"] == "query":
                assert parameter["name"] in recorded.query, (recorded.path, parameter["name"])
            elif parameter["in"] == "body":
                body = recorded.json()
                jsonschema.Draft7Validator(schema(parameter["schema"])).validate(body)
            elif parameter["in"] == "path" and parameter.get("type") == "integer":
                index = template.split("/").index("{" + parameter["name"] + "}")
                assert unquote(recorded.path.split("/")[index]).isdigit()


def test_every_answer_validates_against_the_response_schema(fake_azure_devops: FakeAzureDevOps) -> None:
    exercise(fake_azure_devops)
    checked = 0
    for recorded in fake_azure_devops.log():
        assert recorded.status == 200, recorded.response_body
        op = operation(spec_path(recorded, fake_azure_devops.organization), recorded.method)
        answer = json.loads(recorded.response_body)
        response_schema = op["responses"]["200"]["schema"]
        if response_schema.get("type") == "array":
            assert set(answer) == {"count", "value"} and answer["count"] == len(answer["value"])
            answer = answer["value"]
        jsonschema.Draft7Validator(schema(response_schema)).validate(answer)
        checked += 1
    assert checked == 5


def test_run_answers_use_the_descriptions_enums(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops, duration=0.0, result="canceled")
    answer = call(
        fake_azure_devops, "POST", runs_path(pipeline_id), json={"templateParameters": {"correlation_id": "x"}}
    )
    run = spec()["definitions"]["Run"]["properties"]
    body = call(fake_azure_devops, "GET", f"{runs_path(pipeline_id)}/{answer.json()['id']}").json()
    assert body["state"] in run["state"]["enum"] and body["result"] in run["result"]["enum"]


@pytest.mark.parametrize(
    "body",
    [
        {"templateParameters": {"correlation_id": 1}},
        {"templateParameters": {"correlation_id": "c"}, "previewRun": "no"},
        {"templateParameters": {"correlation_id": "c"}, "stagesToSkip": [1]},
        {"templateParameters": {"correlation_id": "c"}, "variables": {"v": {"value": 1}}},
        {"templateParameters": {"correlation_id": "c"}, "variables": {"v": {"isSecret": "yes"}}},
        {"templateParameters": {"correlation_id": "c"}, "resources": {"repositories": {"self": {"refName": []}}}},
    ],
)
def test_bodies_the_schema_rejects_are_rejected(fake_azure_devops: FakeAzureDevOps, body: dict[str, Any]) -> None:
    parameters = operation("/{organization}/{project}/_apis/pipelines/{pipelineId}/runs", "post")["parameters"]
    request_schema = schema(next(p for p in parameters if p.get("in") == "body")["schema"])
    assert not jsonschema.Draft7Validator(request_schema).is_valid(body)
    pipeline_id = setup_pipeline(fake_azure_devops, settable_variables=["v"])
    answer = call(fake_azure_devops, "POST", runs_path(pipeline_id), json=body)
    assert answer.status_code == 400, answer.text
    assert fake_azure_devops.runs == []
