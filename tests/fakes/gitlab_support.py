"""Shared set-up of the fake GitLab tests and the check of every answer against GitLab's description."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import requests

from meshpipe.fakes.gitlab import FakeGitLab

SPEC_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "specs" / "gitlab-pipelines-openapi.json"
PROJECT = "acme/platform/deploy"
ENCODED = "acme%2Fplatform%2Fdeploy"
TOKEN = "glpat-writer0000000000001"
READER = "glpat-reader0000000000001"
INPUTS: dict[str, Any] = {
    "correlation_id": {"type": "string"},
    "note": {"type": "string", "default": ""},
    "size": {"type": "number", "default": 1, "options": [1, 2, 3]},
    "env": {"type": "string", "default": "dev", "options": ["dev", "prod"]},
    "flag": {"type": "boolean", "default": False},
    "tags": {"type": "array", "default": []},
    "slug": {"type": "string", "default": "a", "regex": "^[a-z]+$"},
}
NAME = "meshpipe $[[ inputs.correlation_id ]] on $CI_COMMIT_REF_NAME"


def setup_project(fake: FakeGitLab, **overrides: Any) -> None:
    """The project the tests use, a writer and a reader token."""
    options: dict[str, Any] = {"ci_inputs": INPUTS, "name_template": NAME, "duration": 0.3, "tags": ("v1",)}
    options.update(overrides)
    fake.add_project(PROJECT, **options)
    fake.add_access_token(TOKEN, projects=[PROJECT], scopes=["api"])
    fake.add_access_token(READER, projects=[PROJECT], scopes=["read_api"], role="reporter")


def api(fake: FakeGitLab, method: str, path: str, token: str | None = TOKEN, **kwargs: Any) -> requests.Response:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers.setdefault("PRIVATE-TOKEN", token)
    return requests.request(method, fake.api_url + path, headers=headers, timeout=10, **kwargs)


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _nullable(node: Any) -> Any:
    """Swagger 2.0 has no ``nullable``; GitLab answers null for unset fields (yaml_errors, finished_at, ...)."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable(value) for key, value in node.items() if key not in ("example", "format")}
    if isinstance(converted.get("type"), str) and converted["type"] not in ("object", "array"):
        converted["type"] = [converted["type"], "null"]
    if converted.get("type") == "object" and "properties" in converted:
        converted["required"] = sorted(set(converted.get("required", [])) | set(converted["properties"]))
    return converted


def schema_for(ref_or_schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema for a response schema of the description; every exposed property must be present."""
    definitions = {name: _nullable(value) for name, value in spec()["definitions"].items()}
    for name in ("postApiV4ProjectsIdPipeline", "postApiV4ProjectsId(refRef)triggerPipeline"):
        definitions[name] = spec()["definitions"][name]  # request bodies keep their own required list
    return {**_nullable(ref_or_schema), "definitions": definitions}


#: Answers GitLab gives on any route before the endpoint runs, which Grape's failure lists leave out: 400 (Grape's
#: parameter checks), 401 (the token guard), 404 (``user_project``: a project the caller cannot see), 415 (Grape's
#: content types), 429 (Rack::Attack).
_ANY_ROUTE = ("400", "401", "404", "415", "429")


def _template(path: str) -> re.Pattern[str]:
    pattern = re.escape(path).replace(r"\(ref/\{ref\}/\)", "(?:ref/.+/)?").replace(r"\{id\}", "[^/]+")
    return re.compile(re.sub(r"\\\{[a-z_]+\\\}", r"\\d+", pattern) + r"\Z")


def check_every_answer(fake: FakeGitLab) -> int:
    """Hold every logged API answer against the operation's documented statuses and response schema."""
    checked = 0
    for record in fake.log():
        if not record.path.startswith("/api/v4/") or record.status == 405:
            continue  # outside the API, or a method no operation has
        for path, item in spec()["paths"].items():
            operation = item.get(record.method.lower())
            if operation is None or not _template(path).match(record.path):
                continue
            status = str(record.status)
            if status in _ANY_ROUTE or record.status >= 500:
                break  # answered before the endpoint ran (guard, Grape, Rack::Attack) or a scripted fault
            assert status in operation["responses"], f"{record.method} {record.path}: undocumented status {status}"
            schema = operation["responses"].get(status, {}).get("schema")
            if schema is not None:
                jsonschema.Draft7Validator(schema_for(schema)).validate(json.loads(record.response_body))
                checked += 1
            break
        else:
            raise AssertionError(f"{record.method} {record.path} matches no operation of {SPEC_FILE.name}")
    return checked
