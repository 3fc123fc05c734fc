"""State objects of the fake GitHub and their JSON shapes (as in GitHub's OpenAPI description).

The JSON renderers fill every field the official schemas mark as required with plausible values, so clients that
deserialise whole objects (PyGithub, go-github, octokit) work against the fake.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "App",
    "Dispatch",
    "Repository",
    "Token",
    "Workflow",
    "full_repository_json",
    "iso",
    "owner_json",
    "repository_json",
    "sha_for",
    "workflow_json",
]


def iso(epoch: float) -> str:
    """An epoch timestamp as GitHub renders it: ISO-8601, whole seconds, ``Z``."""
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha_for(*parts: str) -> str:
    """A stable fake commit SHA."""
    return hashlib.sha1(":".join(parts).encode("utf-8")).hexdigest()


def _node_id(kind: str, number: int) -> str:
    return f"{kind}_kwDO{number:08d}"


@dataclass
class Workflow:
    """A workflow file in a repository and how its simulated runs behave."""

    id: int
    repository: str
    file: str
    name: str
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_name: str | None = None
    conclusion: str = "success"
    duration: float | None = 0.3
    workflow_dispatch: bool = True
    repository_dispatch_types: list[str] | None = None
    command: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    created: float = field(default_factory=time.time)

    @property
    def path(self) -> str:
        """The file's path in the repository."""
        return f".github/workflows/{self.file}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane."""
        return {
            "id": self.id,
            "repository": self.repository,
            "file": self.file,
            "name": self.name,
            "inputs": self.inputs,
            "run_name": self.run_name,
            "conclusion": self.conclusion,
            "duration": self.duration,
            "workflow_dispatch": self.workflow_dispatch,
            "repository_dispatch_types": self.repository_dispatch_types,
            "command": self.command,
            "env": sorted(self.env),
        }


@dataclass
class Repository:
    """A repository with its refs and workflows."""

    id: int
    full_name: str
    default_branch: str = "main"
    branches: list[str] = field(default_factory=lambda: ["main"])
    tags: list[str] = field(default_factory=list)
    workflows: dict[str, Workflow] = field(default_factory=dict)  # file name -> workflow
    created: float = field(default_factory=time.time)

    @property
    def owner(self) -> str:
        """The owner's login."""
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        """The repository name without the owner."""
        return self.full_name.split("/", 1)[1]

    def resolve_ref(self, ref: str) -> str | None:
        """The branch or tag name ``ref`` points to (``main``, ``refs/heads/main``, ``refs/tags/v1``), else None."""
        if ref.startswith("refs/heads/"):
            name = ref[len("refs/heads/") :]
            return name if name in self.branches else None
        if ref.startswith("refs/tags/"):
            name = ref[len("refs/tags/") :]
            return name if name in self.tags else None
        return ref if ref in self.branches or ref in self.tags else None

    def workflow(self, workflow_id: str) -> Workflow | None:
        """A workflow by file name or numeric id."""
        if workflow_id in self.workflows:
            return self.workflows[workflow_id]
        if workflow_id.isdigit():
            for workflow in self.workflows.values():
                if workflow.id == int(workflow_id):
                    return workflow
        return None

    # The control plane's view of a repository; like other models' to_dict only in shape.
    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane."""
        return {
            "id": self.id,
            "full_name": self.full_name,
            "default_branch": self.default_branch,
            "branches": self.branches,
            "tags": self.tags,
            "workflows": sorted(self.workflows),
        }


@dataclass
class Token:
    """A personal access token or an installation access token."""

    token: str
    repositories: list[str] | None = None  # lower-cased full names; None = every repository
    permissions: str = "write"
    kind: str = "pat"  # "pat" | "installation"
    installation_id: int | None = None
    expires: float | None = None

    def can_see(self, full_name: str) -> bool:
        """Whether the token may see a repository (GitHub answers 404 otherwise)."""
        return self.repositories is None or full_name.lower() in self.repositories

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane."""
        return {
            "token": self.token,
            "repositories": self.repositories,
            "permissions": self.permissions,
            "kind": self.kind,
            "installation_id": self.installation_id,
            "expires": self.expires,
        }


@dataclass
class App:
    """A GitHub App with one installation."""

    app_id: int
    installation_id: int
    public_key_pem: str
    repositories: list[str] | None = None  # lower-cased full names; None = every repository

    @property
    def slug(self) -> str:
        """The App's slug (used for the bot login)."""
        return f"fake-app-{self.app_id}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane."""
        return {"app_id": self.app_id, "installation_id": self.installation_id, "repositories": self.repositories}


@dataclass
class Dispatch:
    """One accepted dispatch request (``workflow_dispatch`` or ``repository_dispatch``)."""

    repository: str
    workflow: str | None
    event: str
    ref: str | None
    inputs: dict[str, Any]
    event_type: str | None
    client_payload: dict[str, Any] | None
    headers: dict[str, str]
    run_id: int | None
    body: Any
    time: float = field(default_factory=time.time)
    run_ids: list[int] = field(default_factory=list)  # repository_dispatch may start several runs

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane."""
        return {
            "repository": self.repository,
            "workflow": self.workflow,
            "event": self.event,
            "ref": self.ref,
            "inputs": self.inputs,
            "event_type": self.event_type,
            "client_payload": self.client_payload,
            "headers": self.headers,
            "run_id": self.run_id,
            "run_ids": self.run_ids,
            "body": self.body,
            "time": self.time,
        }


def owner_json(
    login: str, api_url: str, html_url: str, *, user_id: int = 1, kind: str = "Organization"
) -> dict[str, Any]:
    """A ``simple-user`` object."""
    user = f"{api_url}/users/{login}"
    return {
        "login": login,
        "id": user_id,
        "node_id": _node_id("U", user_id),
        "avatar_url": f"{html_url}/avatars/{login}",
        "gravatar_id": "",
        "url": user,
        "html_url": f"{html_url}/{login}",
        "followers_url": f"{user}/followers",
        "following_url": f"{user}/following{{/other_user}}",
        "gists_url": f"{user}/gists{{/gist_id}}",
        "starred_url": f"{user}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{user}/subscriptions",
        "organizations_url": f"{user}/orgs",
        "repos_url": f"{user}/repos",
        "events_url": f"{user}/events{{/privacy}}",
        "received_events_url": f"{user}/received_events",
        "type": kind,
        "site_admin": False,
        "user_view_type": "public",
    }


def full_repository_json(repo: Repository, api_url: str, html_url: str, *, write: bool = True) -> dict[str, Any]:
    """A ``full-repository`` object (``GET /repos/{owner}/{repo}``): the repository plus its network counts."""
    data = repository_json(repo, api_url, html_url, write=write)
    data.update({"network_count": 0, "subscribers_count": 0})
    return data


#: a repository's hypermedia links with URI templates: key -> suffix of the repository's API URL
_TEMPLATED_LINKS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "statuses_url": "/statuses/{sha}",
    "trees_url": "/git/trees{/sha}",
}
#: a repository's plain collection links: ``<name>_url`` -> ``<repository API URL>/<name>``
_COLLECTION_LINKS = (
    "contributors",
    "deployments",
    "downloads",
    "events",
    "forks",
    "languages",
    "merges",
    "stargazers",
    "subscribers",
    "subscription",
    "tags",
    "teams",
    "hooks",
)


def repository_json(repo: Repository, api_url: str, html_url: str, *, write: bool = True) -> dict[str, Any]:
    """A ``minimal-repository`` / ``repository`` object (every repository of the fake is private)."""
    url = f"{api_url}/repos/{repo.full_name}"
    html = f"{html_url}/{repo.full_name}"
    data: dict[str, Any] = {
        "id": repo.id,
        "node_id": _node_id("R", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "owner": owner_json(repo.owner, api_url, html_url),
        "private": True,
        "visibility": "private",
        "html_url": html,
        "description": None,
        "fork": False,
        "url": url,
        "clone_url": f"{html}.git",
        "default_branch": repo.default_branch,
        "created_at": iso(repo.created),
        "updated_at": iso(repo.created),
        "pushed_at": iso(repo.created),
        "archived": False,
        "disabled": False,
        "permissions": {"admin": False, "maintain": False, "push": write, "triage": write, "pull": True},
        "git_url": f"git://{html.split('://', 1)[-1]}.git",
        "ssh_url": f"git@{html.split('://', 1)[-1].split('/', 1)[0]}:{repo.full_name}.git",
        "svn_url": html,
        "mirror_url": None,
        "homepage": None,
        "language": None,
        "license": None,
        "size": 0,
        "is_template": False,
        "topics": [],
        **dict.fromkeys(("forks", "forks_count", "stargazers_count", "watchers", "watchers_count"), 0),
        **dict.fromkeys(("open_issues", "open_issues_count"), 0),
        **dict.fromkeys(("has_issues", "has_projects", "has_wiki", "has_downloads"), True),
        "has_pages": False,
        "has_discussions": False,
    }
    data.update(_links(url))
    return data


def _links(url: str) -> dict[str, str]:
    """The ``*_url`` links of the repository whose API URL is ``url``."""
    links = {key: url + suffix for key, suffix in _TEMPLATED_LINKS.items()}
    links.update({f"{name}_url": f"{url}/{name}" for name in _COLLECTION_LINKS})
    return links


def workflow_json(workflow: Workflow, api_url: str, html_url: str, default_branch: str) -> dict[str, Any]:
    """A ``workflow`` object."""
    html = f"{html_url}/{workflow.repository}"
    return {
        "id": workflow.id,
        "node_id": _node_id("W", workflow.id),
        "name": workflow.name,
        "path": workflow.path,
        "state": "active",
        "created_at": iso(workflow.created),
        "updated_at": iso(workflow.created),
        "url": f"{api_url}/repos/{workflow.repository}/actions/workflows/{workflow.id}",
        "html_url": f"{html}/blob/{default_branch}/{workflow.path}",
        "badge_url": f"{html}/workflows/{workflow.file}/badge.svg",
    }
