"""Every request body the reporter sends validates against meshStack's official API description.

The fixture copy of the description (``tests/fixtures/specs/meshstack-bbrun-openapi.json``) documents ``outputs``
with a literal property called ``outputName`` and types its fields as ``object``; its own example and meshcloud's
clients show what is meant: a map from output name to ``{"value", "type", "isSensitive"}`` with a boolean flag and
an IO type. The schema is read from the file and only that one node is replaced by the documented shape.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema

from tests.report.conftest import Job

SPEC = Path(__file__).parents[1] / "fixtures" / "specs" / "meshstack-bbrun-openapi.json"
RUNS = "/api/meshobjects/meshbuildingblockruns/{blockRunUuid}"
MEDIA = "application/vnd.meshcloud.api.meshbuildingblockrun.v1.hal+json"


def _schema(path: str, method: str) -> dict[str, Any]:
    spec = json.loads(SPEC.read_text())
    ref = spec["paths"][path][method]["requestBody"]["content"][MEDIA]["schema"]["$ref"]
    schema = copy.deepcopy(spec["components"]["schemas"][ref.rsplit("/", 1)[1]])
    for step in (schema["properties"]["steps"]["items"],):
        outputs = step["properties"].get("outputs")
        if outputs:
            documented = outputs["properties"]["outputName"]
            assert set(documented["required"]) == {"isSensitive", "type", "value"}
            step["properties"]["outputs"] = {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": documented["required"],
                    "properties": {
                        "value": {"type": ["string", "integer", "boolean"]},
                        "type": {"enum": ["STRING", "CODE", "INTEGER", "BOOLEAN"]},
                        "isSensitive": {"const": False},
                    },
                    "additionalProperties": False,
                },
            }
    for step_status in _status_nodes(schema):
        step_status["enum"] = _enum_from_description(step_status["description"])
    return schema


def _status_nodes(schema: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [schema["properties"]["steps"]["items"]["properties"]["status"]]
    if "status" in schema["properties"]:
        nodes.append(schema["properties"]["status"])
    return nodes


def _enum_from_description(text: str) -> list[str | None]:
    # The description lists the allowed values in backticks; null is allowed ("nullable").
    return [*[part for part in text.split("`")[1::2]], None]


def _no_empty_strings(value: Any, where: str = "body") -> None:
    if isinstance(value, str):
        assert value != "", f"{where} is an empty string"
    elif isinstance(value, dict):
        for key, item in value.items():
            assert item is not None, f"{where}.{key} is null (unset fields are omitted)"
            _no_empty_strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_empty_strings(item, f"{where}[{index}]")


def test_every_request_body_matches_the_official_description(job: Job) -> None:
    commands = [
        ("register", "--step", "plan=Terraform plan", "--step", "apply=Terraform apply", "--step", "check=Check"),
        ("step", "plan", "--status", "IN_PROGRESS"),
        (
            "step",
            "plan",
            "--status",
            "SUCCEEDED",
            "--user-message",
            "u" * 800,
            "--system-message",
            "s",
            "--output",
            "url=https://x.example",
            "--output",
            "n=3:INTEGER",
            "--output",
            "ok=true:BOOLEAN",
            "--output",
            'cfg={"a": [1]}:CODE',
        ),
        ("exec", "apply", "--", sys.executable, "-c", "print('hi')"),
        ("exec", "check", "--", sys.executable, "-c", "raise SystemExit(1)"),
        ("step", "extra", "--status", "ABORTED", "--display-name", "Created on the fly"),
        ("finish", "--job-status", "failure"),
    ]
    for args in commands:
        job(*args)
    register = _schema(f"{RUNS}/status/source", "post")
    update = _schema(f"{RUNS}/status/source/{{sourceId}}", "patch")
    sent = [r for r in job.fake.log() if r.method in ("POST", "PATCH")]
    assert [r.method for r in sent] == ["POST"] + ["PATCH"] * 8
    for request in sent:
        body = request.json()
        jsonschema.validate(body, register if request.method == "POST" else update)
        _no_empty_strings(body)
        assert request.headers["content-type"] == MEDIA
        assert request.headers["accept"] == MEDIA
        assert request.status == 200
    user_messages = [s.get("userMessage") for r in sent[1:] for s in r.json().get("steps", [])]
    assert all(m is None or len(m) <= 500 for m in user_messages)


def test_the_gets_send_the_versioned_accept_header_and_no_content_type(job: Job) -> None:
    job("show")
    (request,) = job.fake.log(method="GET")
    assert request.headers["accept"] == MEDIA
    assert "content-type" not in request.headers
