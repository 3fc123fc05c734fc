"""The fake meshStack held against meshStack's official OpenAPI description (fixture copy in tests/fixtures/specs).

What the fake accepts must validate against the description's request schemas, what it answers must validate
against the response schemas, and what the description forbids must be rejected. The description's enums live only
in prose ("Can be `PENDING`, ..."), so the tests read them from there and compare them with the fake's constants.

Known looseness of the description (see tests/fixtures/specs/README.md and ../shared/specs/README.md):
* the PATCH ``outputs`` schema is one example key (``outputName``) typing every field as ``object``; the tests
  replace it by the shape real clients send (reference §4.2) after checking it is still the loose one;
* ``source.externalRunId`` is a string, but actions-register-source sends a number, which the fake coerces;
* run input ``value`` is a string: the GET answers strings; only the runner's copy keeps JSON types.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from meshpipe.fakes.meshstack import MEDIA_TYPE, FakeMeshStack, FakeRun
from meshpipe.fakes.meshstack_rules import OUTPUT_TYPES, REGISTER_STEP_STATUSES, RUN_STATUSES, UPDATE_STEP_STATUSES

SPEC_PATH = Path(__file__).parents[1] / "fixtures" / "specs" / "meshstack-bbrun-openapi.json"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
RUN_PATH = "/api/meshobjects/meshbuildingblockruns/{blockRunUuid}"
TOKEN = "api-token"

DOCUMENTED_OUTPUTS = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "required": ["value", "type"],
        "properties": {
            "value": {},
            "type": {"type": "string", "enum": list(OUTPUT_TYPES)},
            "isSensitive": {"type": "boolean"},
        },
    },
}


def _openapi_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> JSON Schema: ``nullable: true`` becomes a ``null`` type."""
    if isinstance(node, list):
        return [_openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_json_schema(v) for k, v in node.items() if k not in ("nullable", "example", "examples")}
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _validator(schema: dict[str, Any], spec: dict[str, Any] = SPEC) -> jsonschema.Draft202012Validator:
    root = {**_openapi_to_json_schema(schema), "components": _openapi_to_json_schema(spec["components"])}
    return jsonschema.Draft202012Validator(root)


def _request_schema(path: str, method: str, media_type: str = MEDIA_TYPE) -> dict[str, Any]:
    return SPEC["paths"][path][method]["requestBody"]["content"][media_type]["schema"]  # type: ignore[no-any-return]


def _response_schema(path: str, method: str, status: str) -> dict[str, Any]:
    content = SPEC["paths"][path][method]["responses"][status]["content"]
    return next(iter(content.values()))["schema"]  # type: ignore[no-any-return]


def _update_validator() -> jsonschema.Draft202012Validator:
    spec = copy.deepcopy(SPEC)
    name = _request_schema(RUN_PATH + "/status/source/{sourceId}", "patch")["$ref"].rsplit("/", 1)[1]
    step = spec["components"]["schemas"][name]["properties"]["steps"]["items"]
    step["properties"]["outputs"] = DOCUMENTED_OUTPUTS
    return _validator(_request_schema(RUN_PATH + "/status/source/{sourceId}", "patch"), spec)


REGISTER = _validator(_request_schema(RUN_PATH + "/status/source", "post"))
UPDATE = _update_validator()


def _example(path: str, method: str) -> Any:
    examples = SPEC["paths"][path][method]["requestBody"]["content"][MEDIA_TYPE]["examples"]
    return json.loads(next(iter(examples.values()))["value"])


def _enum_in_prose(description: str) -> tuple[str, ...]:
    return tuple(re.findall(r"`([A-Z_]+)`", description))


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}


@pytest.fixture
def run(fake_meshstack: FakeMeshStack) -> FakeRun:
    fake_meshstack.add_api_token(TOKEN)
    return fake_meshstack.create_run(inputs={"bucket_name": "alpha-data", "region": "eu-central-1"})


ACCEPTED_REGISTER_BODIES: list[Any] = [
    {"source": {"id": "github"}, "steps": []},
    {
        "source": {"id": "github", "externalRunId": "9876543210", "externalRunUrl": "https://github.com/a/b/runs/1"},
        "steps": [{"id": "plan", "displayName": "Plan", "status": "PENDING"}, {"id": "apply", "displayName": "Apply"}],
    },
    {
        "source": {"id": "runner", "externalRunId": None, "externalRunUrl": None},
        "steps": [{"id": f"s{i}", "displayName": f"Step {i}", "status": None} for i in range(50)],
    },
    {"source": {"id": "x", "unknown": 1}, "steps": [{"id": "a", "displayName": "", "status": "FAILED"}], "extra": {}},
]

ACCEPTED_UPDATE_BODIES: list[Any] = [
    {},
    {"status": "IN_PROGRESS"},
    {"status": None, "steps": [{"id": "plan", "status": None, "userMessage": None, "systemMessage": None}]},
    {"steps": [{"id": "plan", "status": "SUCCEEDED", "userMessage": "done", "systemMessage": "exit 0"}]},
    {"steps": [{"id": "new-step", "displayName": "On the fly", "status": "ABORTED"}]},
    {
        "steps": [
            {
                "id": "apply",
                "outputs": {
                    "url": {"value": "https://b", "type": "STRING", "isSensitive": False},
                    "count": {"value": 3, "type": "INTEGER"},
                    "flag": {"value": True, "type": "BOOLEAN", "isSensitive": False},
                    "doc": {"value": '{"a": 1}', "type": "CODE"},
                },
            }
        ]
    },
    {"status": "FAILED", "summary": "legacy text", "steps": [{"id": "apply", "status": "FAILED"}]},
]


@pytest.mark.parametrize("body", ACCEPTED_REGISTER_BODIES, ids=range(len(ACCEPTED_REGISTER_BODIES)))
def test_register_bodies_the_fake_accepts_validate_against_the_description(run: FakeRun, body: Any) -> None:
    REGISTER.validate(body)
    assert requests.post(f"{run.url}/status/source", json=body, headers=_headers(), timeout=5).status_code == 200


@pytest.mark.parametrize("body", ACCEPTED_UPDATE_BODIES, ids=range(len(ACCEPTED_UPDATE_BODIES)))
def test_update_bodies_the_fake_accepts_validate_against_the_description(run: FakeRun, body: Any) -> None:
    UPDATE.validate(body)
    register = {"source": {"id": "github"}, "steps": [{"id": "plan", "displayName": "P"}]}
    requests.post(f"{run.url}/status/source", json=register, headers=_headers(), timeout=5)
    response = requests.patch(f"{run.url}/status/source/github", json=body, headers=_headers(), timeout=5)
    assert response.status_code == 200, response.text
    _validator(_response_schema(RUN_PATH + "/status/source/{sourceId}", "patch", "200")).validate(response.json())


def test_the_descriptions_own_examples_are_accepted(run: FakeRun) -> None:
    register, update = (
        _example(RUN_PATH + "/status/source", "post"),
        _example(RUN_PATH + "/status/source/{sourceId}", "patch"),
    )
    REGISTER.validate(register)
    UPDATE.validate(update)
    assert requests.post(f"{run.url}/status/source", json=register, headers=_headers(), timeout=5).status_code == 200
    source = register["source"]["id"]
    response = requests.patch(f"{run.url}/status/source/{source}", json=update, headers=_headers(), timeout=5)
    assert response.status_code == 200
    assert run.outputs["outputName"]["value"] == "hello-world"


FORBIDDEN_REGISTER_BODIES: list[Any] = [
    {"source": {"id": "github"}},
    {"source": {"id": "github"}, "steps": {"id": "a"}},
    {"source": {"id": "github"}, "steps": [{"id": "a"}]},
    {"source": {"id": "github"}, "steps": [{"displayName": "A"}]},
    {"source": {"id": "github"}, "steps": [{"id": 1, "displayName": "A"}]},
    {"source": {"id": "github"}, "steps": [{"id": "a", "displayName": "A", "status": 3}]},
    {"source": {"id": "github", "externalRunUrl": 7}, "steps": []},
    {"source": {}, "steps": []},
]

FORBIDDEN_UPDATE_BODIES: list[Any] = [
    {"status": 3},
    {"steps": {"id": "plan"}},
    {"steps": [{"status": "SUCCEEDED"}]},
    {"steps": [{"id": 5}]},
    {"steps": [{"id": "plan", "userMessage": ["x"]}]},
    {"steps": [{"id": "plan", "systemMessage": 1}]},
    {"steps": [{"id": "plan", "outputs": {"o": {"type": "STRING"}}}]},
    {"steps": [{"id": "plan", "outputs": {"o": {"value": "x", "type": "FILE"}}}]},
]


@pytest.mark.parametrize("body", FORBIDDEN_REGISTER_BODIES, ids=range(len(FORBIDDEN_REGISTER_BODIES)))
def test_register_bodies_the_description_forbids_are_rejected(run: FakeRun, body: Any) -> None:
    assert not REGISTER.is_valid(body)
    assert requests.post(f"{run.url}/status/source", json=body, headers=_headers(), timeout=5).status_code == 400


@pytest.mark.parametrize("body", FORBIDDEN_UPDATE_BODIES, ids=range(len(FORBIDDEN_UPDATE_BODIES)))
def test_update_bodies_the_description_forbids_are_rejected(run: FakeRun, body: Any) -> None:
    assert not UPDATE.is_valid(body)
    register = {"source": {"id": "github"}, "steps": [{"id": "plan", "displayName": "P"}]}
    requests.post(f"{run.url}/status/source", json=register, headers=_headers(), timeout=5)
    response = requests.patch(f"{run.url}/status/source/github", json=body, headers=_headers(), timeout=5)
    assert response.status_code == 400


def test_status_enums_match_the_descriptions_prose() -> None:
    schemas = SPEC["components"]["schemas"]
    register = schemas["api-meshobjects-meshbuildingblockruns-blockRunUuid-status-source-1604577785"]
    update = schemas["api-meshobjects-meshbuildingblockruns-blockRunUuid-status-source-sourceId845226106"]
    assert _enum_in_prose(register["properties"]["steps"]["items"]["properties"]["status"]["description"]) == (
        REGISTER_STEP_STATUSES
    )
    assert _enum_in_prose(update["properties"]["status"]["description"]) == RUN_STATUSES
    assert _enum_in_prose(update["properties"]["steps"]["items"]["properties"]["status"]["description"]) == (
        UPDATE_STEP_STATUSES
    )


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"status": "DONE"}, "run status"),
        ({"steps": [{"id": "plan", "status": "SUCCESS"}]}, "step status"),
    ],
)
def test_values_outside_the_prose_enums_are_rejected(run: FakeRun, body: Any, where: str) -> None:
    register = {"source": {"id": "github"}, "steps": [{"id": "plan", "displayName": "P", "status": "ABORTED"}]}
    assert requests.post(f"{run.url}/status/source", json=register, headers=_headers(), timeout=5).status_code == 400
    register["steps"][0]["status"] = None  # type: ignore[index]
    requests.post(f"{run.url}/status/source", json=register, headers=_headers(), timeout=5)
    assert requests.patch(f"{run.url}/status/source/github", json=body, headers=_headers()).status_code == 400, where


def test_the_outputs_schema_is_still_the_loose_one_the_tests_replace() -> None:
    name = "api-meshobjects-meshbuildingblockruns-blockRunUuid-status-source-sourceId845226106"
    outputs = SPEC["components"]["schemas"][name]["properties"]["steps"]["items"]["properties"]["outputs"]
    assert list(outputs["properties"]) == ["outputName"]
    assert {p["type"] for p in outputs["properties"]["outputName"]["properties"].values()} == {"object"}


def test_numeric_external_run_id_is_a_deliberate_leniency(run: FakeRun) -> None:
    body = {"source": {"id": "github", "externalRunId": 12345}, "steps": []}
    assert not REGISTER.is_valid(body)  # the description says string ...
    response = requests.post(f"{run.url}/status/source", json=body, headers=_headers(), timeout=5)
    assert response.status_code == 200  # ... but actions-register-source sends GitHub's numeric run_id
    assert run.sources["github"]["externalRunId"] == "12345"


def test_get_run_response_validates_against_the_description(run: FakeRun) -> None:
    response = requests.get(run.url, headers=_headers(), timeout=5)
    _validator(_response_schema(RUN_PATH, "get", "200")).validate(response.json())


def test_get_run_answers_typed_input_values_as_strings_as_the_description_says(fake_meshstack: FakeMeshStack) -> None:
    """Issue 14.1: the GET answered INTEGER and BOOLEAN values as JSON numbers/booleans; the description's ``value``
    is a string. The runner's copy (claim, base64) keeps the JSON types runners read."""
    fake_meshstack.add_api_token(TOKEN)
    inputs = {"name": "x", "versioning": True, "days": 30, "zones": ["a", "b"]}
    run = fake_meshstack.create_run(inputs=inputs)
    body = requests.get(run.url, headers=_headers(), timeout=5).json()
    _validator(_response_schema(RUN_PATH, "get", "200")).validate(body)
    values = {item["key"]: item["value"] for item in body["spec"]["buildingBlock"]["spec"]["inputs"]}
    assert values == {"name": "x", "versioning": "true", "days": "30", "zones": '["a", "b"]'}
    runner = {i["key"]: i["value"] for i in run.runner_object["spec"]["buildingBlock"]["spec"]["inputs"]}
    assert runner == inputs


def test_runner_claim_response_validates_against_the_description(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    url = f"{fake_meshstack.url}/api/meshobjects/meshbuildingblockruns/create?forRunnerUuid=r"
    response = requests.post(url, headers=_headers(), timeout=5)
    assert response.status_code == 201
    schema = _response_schema("/api/meshobjects/meshbuildingblockruns/create", "post", "201")
    _validator(schema).validate(response.json())


def test_login_requests_and_response_validate_against_the_description(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_key("cid", "csecret")
    body = {"clientId": "cid", "clientSecret": "csecret"}
    _validator(_request_schema("/api/login", "post", "application/json")).validate(body)
    form = {"client_id": "cid", "client_secret": "csecret", "grant_type": "client_credentials"}
    _validator(_request_schema("/api/login", "post", "application/x-www-form-urlencoded")).validate(form)
    response_schema = _validator(_response_schema("/api/login", "post", "200"))
    for response in (
        requests.post(f"{fake_meshstack.url}/api/login", json=body, timeout=5),
        requests.post(f"{fake_meshstack.url}/api/login", data=form, timeout=5),
    ):
        assert response.status_code == 200
        response_schema.validate(response.json())


def test_login_bodies_the_description_forbids_are_rejected(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_key("cid", "csecret")
    json_schema = _validator(_request_schema("/api/login", "post", "application/json"))
    for body in ({"clientId": "cid"}, {"clientSecret": "csecret"}, {"clientId": 1, "clientSecret": "csecret"}):
        assert not json_schema.is_valid(body)
        assert requests.post(f"{fake_meshstack.url}/api/login", json=body, timeout=5).status_code == 400
    form_schema = _validator(_request_schema("/api/login", "post", "application/x-www-form-urlencoded"))
    form = {"client_id": "cid", "client_secret": "csecret"}
    assert not form_schema.is_valid(form)
    assert requests.post(f"{fake_meshstack.url}/api/login", data=form, timeout=5).status_code == 400
