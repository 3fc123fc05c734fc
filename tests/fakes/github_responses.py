"""Hold every answer the fake GitHub sent against the official description's response schema.

The descriptions are the fixture copies in ``tests/fixtures/specs``: the operations meshpipe uses
(``github-*-openapi.json``) plus the ones other real clients call (``github-*-openapi-clients.json``). Each logged
request is matched to its operation by path template and method; its status must be one the operation documents,
a JSON answer must validate against that status's schema (OpenAPI 3.0 ``nullable`` translated to JSON Schema),
a 302 must carry a ``Location``. Log downloads (``/_downloads/...``, GitHub's signed storage URLs) are outside the
API and only checked for their media type.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from meshpipe.fakes._http import RecordedRequest
from meshpipe.fakes.github import FakeGitHub
from meshpipe.fakes.github_run_control import DOWNLOAD_PREFIX

SPECS = Path(__file__).resolve().parents[1] / "fixtures" / "specs"
FILES = {
    "github": ("github-api.github.com-openapi.json", "github-api.github.com-openapi-clients.json"),
    "ghes": ("github-ghes-3.19-openapi.json", "github-ghes-3.19-openapi-clients.json"),
}


@cache
def operations(flavour: str) -> dict[str, dict[str, Any]]:
    """Path template -> path item, merged from the flavour's description files."""
    merged: dict[str, dict[str, Any]] = {}
    for name in FILES[flavour]:
        for path, item in json.loads((SPECS / name).read_text(encoding="utf-8"))["paths"].items():
            merged.setdefault(path, {}).update(item)
    return merged


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable: true`` becomes 'or null'."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {
        key: to_json_schema(value) for key, value in node.items() if key not in ("nullable", "example", "examples")
    }
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def match_operation(flavour: str, path: str) -> str | None:
    """The description's path template a request path belongs to (the most literal one), or None."""
    found = []
    for template in operations(flavour):
        pattern = "".join(
            "[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]+\})", template)
        )
        if re.fullmatch(pattern, path):
            found.append((template.count("{"), template))
    return min(found)[1] if found else None


#: Answers real GitHub gives that the descriptions do not list, each with its source (``src/meshpipe/fakes/
#: unverified.md``): 401 for a bad credential on any endpoint (GitHub REST docs, "Authenticating"), GHES's 400 for
#: a dispatch body key it does not know (cli/cli#12672), and 422 for inputs the workflow does not accept (the
#: dispatch operation lists only 200/204; "Unexpected inputs provided" is what gh and PyGithub users report).
UNDOCUMENTED = {
    ("/repos/{owner}/{repo}", 401),
    ("/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", 400),
    ("/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", 422),
}


def check_answer(flavour: str, prefix: str, entry: RecordedRequest) -> str:
    """Validate one logged answer; returns the operation it was checked against (raises on a mismatch)."""
    where = f"{entry.method} {entry.path} -> {entry.status}"
    if entry.path.startswith(DOWNLOAD_PREFIX + "/"):
        kind = entry.response_headers["Content-Type"]
        assert kind in ("application/zip", "text/plain; charset=utf-8"), where
        return "download"
    api_path = entry.path.removeprefix(prefix)
    template = match_operation(flavour, api_path)
    assert template is not None, f"{where}: no operation in the description"
    operation = operations(flavour)[template].get(entry.method.lower())
    assert operation is not None, f"{where}: the description has no {entry.method} for {template}"
    documented = operation["responses"]
    if (template, entry.status) in UNDOCUMENTED and str(entry.status) not in documented:
        body = json.loads(entry.response_body)
        assert set(body) >= {"message", "documentation_url"}, f"{where}: not GitHub's error shape"
        return template
    assert str(entry.status) in documented, f"{where}: undocumented status (documented: {sorted(documented)})"
    answer = documented[str(entry.status)]
    if entry.status == 302:
        assert entry.response_headers.get("Location"), f"{where}: a redirect without Location"
        return template
    content = (answer.get("content") or {}).get("application/json")
    if content is None or "schema" not in content:
        assert not entry.response_body, f"{where}: a body the description does not describe"
        return template
    body = json.loads(entry.response_body)
    try:
        jsonschema.Draft7Validator(to_json_schema(content["schema"])).validate(body)
    except jsonschema.ValidationError as exc:
        raise AssertionError(f"{where}: {exc.message} at {list(exc.absolute_path)}") from None
    return template


def check_every_answer(fake: FakeGitHub) -> set[str]:
    """Validate every answer in the fake's request log; returns the operations covered."""
    entries = fake.log()
    assert entries, "nothing was logged"
    return {check_answer(fake.flavour, fake.prefix, entry) for entry in entries}
