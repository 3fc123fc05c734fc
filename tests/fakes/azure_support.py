"""Shared setup for the fake Azure DevOps tests: a project with a pipeline whose parameters cover every type."""

from __future__ import annotations

import base64
from typing import Any

import requests

from meshpipe.fakes.azure_devops import FakeAzureDevOps

PAT = "azdopat0000000000000000000000000000000000000000000001"
PROJECT = "Platform Team"
PARAMETERS: dict[str, dict[str, Any]] = {
    "correlation_id": {"type": "string"},
    "environment": {"type": "string", "default": "dev", "values": ["dev", "prod"]},
    "dry_run": {"type": "boolean", "default": False},
    "replicas": {"type": "number", "default": 1},
    "settings": {"type": "object", "default": {}},
}


def basic(pat: str, user: str = "") -> str:
    """The Authorization header value for a PAT."""
    return "Basic " + base64.b64encode(f"{user}:{pat}".encode()).decode()


def setup_pipeline(fake: FakeAzureDevOps, **kw: Any) -> int:
    """A PAT that may run pipelines and a pipeline ``deploy`` named after its correlation id; returns its id."""
    fake.add_pat(PAT, scopes=["vso.build_execute"])
    kw.setdefault("parameters", PARAMETERS)
    kw.setdefault("name_template", "deploy ${{ parameters.correlation_id }}")
    kw.setdefault("branches", ["main", "dev"])
    return fake.add_pipeline(PROJECT, "deploy", **kw)


def call(
    fake: FakeAzureDevOps,
    method: str,
    path: str,
    *,
    pat: str | None = PAT,
    version: str | None = "7.1",
    headers: dict[str, str] | None = None,
    **kw: Any,
) -> requests.Response:
    """One request below the organization URL (``path`` starts with the project), api-version as query."""
    merged = {"Accept": "application/json"}
    if pat is not None:
        merged["Authorization"] = basic(pat)
    merged.update(headers or {})
    params = dict(kw.pop("params", {}))
    if version is not None:
        params["api-version"] = version
    return requests.request(
        method, f"{fake.org_url}/{path}", headers=merged, params=params, timeout=10, allow_redirects=False, **kw
    )


def runs_path(pipeline_id: int) -> str:
    return f"{PROJECT}/_apis/pipelines/{pipeline_id}/runs"


def error(response: requests.Response) -> str:
    """The message of an Azure JSON error, after checking the shape."""
    body = response.json()
    assert set(body) == {"$id", "innerException", "message", "typeName", "typeKey", "errorCode", "eventId"}
    assert body["typeName"].split(",")[0].endswith("." + body["typeKey"])
    return str(body["message"])
