"""State objects of the fake GitLab (projects, tokens) and their JSON shapes.

Shapes follow GitLab's REST v4 entities (``API::Entities::Project``, ``API::Entities::Ci::Pipeline``,
``...::PipelineBasic``, ``...::Ci::Variable``; ``gitlabhq/gitlabhq`` ``lib/api/entities``) as far as clients read
them; ``tests/fixtures/specs/gitlab-openapi-v2-pipelines.json`` holds the official description they are checked
against.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "ACCESS_LEVELS",
    "SCOPES",
    "VISIBILITIES",
    "AccessToken",
    "Project",
    "TriggerToken",
    "iso",
    "new_trigger_token",
    "project_json",
]

#: Token scopes the fake knows (GitLab: ``api`` reads and writes, ``read_api`` only reads).
SCOPES = ("api", "read_api", "read_repository", "write_repository", "read_registry", "create_runner", "ai_features")
#: Roles of a project/group access token or a user, in rising order (GitLab's access levels 10..50).
ACCESS_LEVELS = {"guest": 10, "planner": 15, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50}
VISIBILITIES = ("private", "internal", "public")
#: The role GitLab requires to create a pipeline (``:create_pipeline``) and to read its variables.
DEVELOPER = ACCESS_LEVELS["developer"]


def iso(epoch: float) -> str:
    """An epoch timestamp as GitLab renders it: ISO-8601 with milliseconds and ``Z``."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_trigger_token() -> str:
    """A pipeline trigger token in GitLab's format since 16.x: ``glptt-`` and 40 hex digits."""
    return "glptt-" + secrets.token_hex(20)


@dataclass
class Project:
    """A project, its refs, its CI configuration (``spec:inputs``, ``workflow:name``) and how its pipelines behave."""

    id: int
    path_with_namespace: str
    default_branch: str = "main"
    branches: list[str] = field(default_factory=lambda: ["main"])
    tags: list[str] = field(default_factory=list)
    visibility: str = "private"
    ci_inputs: dict[str, Any] | None = None  # the .gitlab-ci.yml's spec:inputs; None = no header
    name_template: str | None = None  # workflow:name
    duration: float | None = 0.3
    command: list[str] | None = None
    after_command: list[str] | None = None
    conclusion: str = "success"
    env: dict[str, str] = field(default_factory=dict)
    input_env: dict[str, str] = field(default_factory=dict)  # input name -> job variable name
    allow_pipeline_variables: bool = True
    created: float = field(default_factory=time.time)

    @property
    def path(self) -> str:
        return self.path_with_namespace.rsplit("/", 1)[-1]

    @property
    def namespace(self) -> str:
        return self.path_with_namespace.rsplit("/", 1)[0]

    def resolve_ref(self, ref: str) -> tuple[str, bool] | None:
        """``(name, is_tag)`` for a branch or tag name (``refs/heads/x`` / ``refs/tags/x`` too), else None."""
        for prefix, names, tag in (("refs/heads/", self.branches, False), ("refs/tags/", self.tags, True)):
            name = ref[len(prefix) :] if ref.startswith(prefix) else ref
            if name in names:
                return name, tag
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane."""
        return {
            "id": self.id,
            "path_with_namespace": self.path_with_namespace,
            "default_branch": self.default_branch,
            "branches": self.branches,
            "tags": self.tags,
            "visibility": self.visibility,
            "ci_inputs": self.ci_inputs,
            "name_template": self.name_template,
            "duration": self.duration,
            "command": self.command,
            "after_command": self.after_command,
            "conclusion": self.conclusion,
            "input_env": self.input_env,
            "allow_pipeline_variables": self.allow_pipeline_variables,
        }


@dataclass
class AccessToken:
    """A personal, project or group access token (``glpat-...``): the projects it reaches, scopes, role, expiry."""

    token: str
    projects: list[str] | None  # lower-cased paths; None = every project
    scopes: list[str]
    access_level: int = DEVELOPER
    expires: float | None = None
    revoked: bool = False

    def reaches(self, project: Project) -> bool:
        return self.projects is None or project.path_with_namespace.lower() in self.projects

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (the token itself shortened)."""
        return {
            "token": self.token[:10] + "...",
            "projects": self.projects,
            "scopes": self.scopes,
            "access_level": self.access_level,
            "expires": self.expires,
            "revoked": self.revoked,
        }


@dataclass
class TriggerToken:
    """A pipeline trigger token of one project."""

    id: int
    token: str
    project_id: int
    description: str = "meshpipe"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (the token itself shortened)."""
        return {"id": self.id, "token": self.token[:10] + "...", "project_id": self.project_id}


def project_json(project: Project, server_url: str) -> dict[str, Any]:
    """``API::Entities::Project`` (the fields clients read, plus the ones python-gitlab's objects use)."""
    web_url = f"{server_url}/{project.path_with_namespace}"
    namespace = project.namespace
    return {
        "id": project.id,
        "description": None,
        "name": project.path,
        "name_with_namespace": project.path_with_namespace.replace("/", " / "),
        "path": project.path,
        "path_with_namespace": project.path_with_namespace,
        "created_at": iso(project.created),
        "default_branch": project.default_branch,
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": f"git@{server_url.split('://', 1)[-1]}:{project.path_with_namespace}.git",
        "http_url_to_repo": f"{web_url}.git",
        "web_url": web_url,
        "readme_url": None,
        "forks_count": 0,
        "avatar_url": None,
        "star_count": 0,
        "last_activity_at": iso(project.created),
        "visibility": project.visibility,
        "namespace": {
            "id": 100 + project.id,
            "name": namespace.rsplit("/", 1)[-1],
            "path": namespace.rsplit("/", 1)[-1],
            "kind": "group",
            "full_path": namespace,
            "parent_id": None,
            "avatar_url": None,
            "web_url": f"{server_url}/groups/{namespace}",
        },
        "archived": False,
        "empty_repo": False,
        "jobs_enabled": True,
        "builds_access_level": "enabled",
        "ci_config_path": None,
        "_links": {
            "self": f"{server_url}/api/v4/projects/{project.id}",
            "repo_branches": f"{server_url}/api/v4/projects/{project.id}/repository/branches",
        },
    }
