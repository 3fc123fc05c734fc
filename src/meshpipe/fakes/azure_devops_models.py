"""State objects of the fake Azure DevOps (projects, pipelines, credentials) and the JSON shapes of the official
description (``Pipeline``, ``PipelineReference``, the ``_links`` the service adds)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = ["Credential", "Pipeline", "Project", "iso", "pipeline_json", "pipeline_reference"]

#: Scopes a PAT can carry that the pipelines endpoints look at; ``app_token`` is a full-access PAT.
SCOPES = ("vso.build", "vso.build_execute", "app_token")


def iso(epoch: float) -> str:
    """An epoch timestamp as Azure DevOps renders it: ISO-8601 with fractional seconds and ``Z``."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Project:
    """A team project; its pipelines by id."""

    name: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    pipelines: dict[int, Pipeline] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane."""
        return {"name": self.name, "id": self.id, "pipelines": sorted(self.pipelines)}


@dataclass
class Pipeline:
    """A YAML pipeline and how its simulated runs behave.

    ``parameters`` are its runtime ``parameters:`` (``{"name": {"type", "default", "values"}}``); ``name_template``
    its ``name:`` (``${{ parameters.X }}``, ``$(Rev:r)``, ``$(Date:yyyyMMdd)``, ``$(Build.BuildId)``,
    ``$(Build.SourceBranchName)``). The fake's pipelines map every parameter to a variable of the same name (the
    ``variables: {X: ${{ parameters.X }}}`` block the meshpipe templates carry), so a command sees parameters in its
    environment like any variable. ``secrets`` are the pipeline's secret variables; ``secret_env`` is the step's
    ``env:`` mapping (environment name -> secret variable name), the only way a secret reaches a command.
    """

    id: int
    project: str
    name: str
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    name_template: str = "$(Date:yyyyMMdd).$(Rev:r)"
    duration: float | None = 0.3
    command: list[str] | None = None
    final_command: list[str] | None = None
    result: str = "succeeded"
    branches: list[str] = field(default_factory=lambda: ["main"])
    tags: list[str] = field(default_factory=list)
    default_branch: str = "main"
    stages: list[str] = field(default_factory=lambda: ["__default"])
    settable_variables: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)
    folder: str = "\\"
    revision: int = 1
    revisions: dict[str, int] = field(default_factory=dict)  # "Rev:r" counters per rendered prefix
    created: float = field(default_factory=time.time)

    def ref_exists(self, ref: str) -> str | None:
        """The full ref name ``ref`` resolves to (``main``, ``refs/heads/main``, ``refs/tags/v1``), or None."""
        if ref.startswith("refs/heads/"):
            return ref if ref[len("refs/heads/") :] in self.branches else None
        if ref.startswith("refs/tags/"):
            return ref if ref[len("refs/tags/") :] in self.tags else None
        if ref in self.branches:
            return f"refs/heads/{ref}"
        if ref in self.tags:
            return f"refs/tags/{ref}"
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane (secret values are not shown)."""
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "parameters": self.parameters,
            "name_template": self.name_template,
            "duration": self.duration,
            "command": self.command,
            "final_command": self.final_command,
            "result": self.result,
            "branches": self.branches,
            "tags": self.tags,
            "stages": self.stages,
            "settable_variables": self.settable_variables,
            "secrets": sorted(self.secrets),
            "secret_env": self.secret_env,
        }


@dataclass
class Credential:
    """A PAT (sent as Basic) or an Entra ID access token (sent as Bearer)."""

    token: str
    kind: str  # "pat" | "entra"
    scopes: tuple[str, ...]
    expires: float | None = None

    def allows(self, scope: str) -> bool:
        """Whether the credential may call an operation that needs ``scope`` (``vso.build_execute`` implies
        ``vso.build``; Entra ID tokens and full-access PATs carry the user's whole permission)."""
        if self.kind == "entra" or "app_token" in self.scopes:
            return True
        if scope == "vso.build":
            return bool({"vso.build", "vso.build_execute"} & set(self.scopes))
        return scope in self.scopes

    @property
    def expired(self) -> bool:
        return self.expires is not None and self.expires <= time.time()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane (never the token itself)."""
        return {"kind": self.kind, "scopes": list(self.scopes), "expires": self.expires, "token": "***"}


def pipeline_reference(org_url: str, project: Project, pipeline: Pipeline) -> dict[str, Any]:
    """A ``PipelineReference`` as runs embed it."""
    return {
        "url": f"{org_url}/{project.id}/_apis/pipelines/{pipeline.id}?revision={pipeline.revision}",
        "id": pipeline.id,
        "revision": pipeline.revision,
        "name": pipeline.name,
        "folder": pipeline.folder,
    }


def pipeline_json(org_url: str, project: Project, pipeline: Pipeline) -> dict[str, Any]:
    """A ``Pipeline`` as ``GET .../pipelines[/{id}]`` answers it."""
    web = f"{org_url}/{project.id}/_build/definition?definitionId={pipeline.id}"
    return {
        "_links": {
            "self": {"href": f"{org_url}/{project.id}/_apis/pipelines/{pipeline.id}?revision=1"},
            "web": {"href": web},
        },
        "configuration": {
            "path": "azure-pipelines.yml",
            "repository": {"id": project.id, "type": "azureReposGit"},
            "type": "yaml",
        },
        **pipeline_reference(org_url, project, pipeline),
    }
