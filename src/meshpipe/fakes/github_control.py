"""The fake GitHub's ``/_fake/`` control plane and the installation-token request rules."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from meshpipe.fakes._control import add_rate_limit_route, add_route, add_work_routes
from meshpipe.fakes._http import HttpError, Request, Response
from meshpipe.fakes.github_models import App, Repository

if TYPE_CHECKING:
    from meshpipe.fakes.github import FakeGitHub

__all__ = ["PERMISSION_LEVELS", "register_control_routes", "token_request"]

#: Levels an installation token may ask for, per permission (the access-token request schema's enums; every
#: permission not listed here is ``read`` | ``write``).
PERMISSION_LEVELS: dict[str, tuple[str, ...]] = {
    "repository_projects": ("read", "write", "admin"),
    "organization_custom_properties": ("read", "write", "admin"),
    "organization_projects": ("read", "write", "admin"),
    "enterprise_custom_properties_for_organizations": ("read", "write", "admin"),
    "workflows": ("write",),
    "profile": ("write",),
    "organization_events": ("read",),
    "organization_plan": ("read",),
}
_DEFAULT_LEVELS = ("read", "write")


def token_request(body: Any, app: App, repositories: dict[str, Repository]) -> tuple[list[str] | None, dict[str, str]]:
    """Validate a ``POST /app/installations/{id}/access_tokens`` body; (repositories or None, permissions).

    Repositories may only narrow the installation's selection (422 otherwise), permissions are ``read``/``write``.
    """
    if not isinstance(body, dict):
        raise HttpError(422, "Invalid request.\n\nFor 'links/0/schema', the body is not an object.")
    for key in body:
        if key not in ("repositories", "repository_ids", "permissions"):
            raise HttpError(422, f'Invalid request.\n\n"{key}" is not a permitted key.')
    permissions = body.get("permissions", {"actions": "write", "contents": "write", "metadata": "read"})
    if not isinstance(permissions, dict):
        raise HttpError(422, "Invalid request.\n\nFor 'properties/permissions', the value is not an object.")
    for name, level in permissions.items():
        allowed = PERMISSION_LEVELS.get(name, _DEFAULT_LEVELS)
        if not isinstance(level, str) or level not in allowed:
            raise HttpError(
                422,
                f"Invalid request.\n\nFor 'properties/{name}', {json.dumps(level)} is not one of {', '.join(allowed)}.",
            )
    selected: list[str] | None = app.repositories
    names = body.get("repositories")
    ids = body.get("repository_ids")
    if names is not None or ids is not None:
        if (names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names))) or (
            ids is not None and not (isinstance(ids, list) and all(isinstance(i, int) for i in ids))
        ):
            raise HttpError(422, "Invalid request.\n\nFor 'properties/repositories', the value is not valid.")
        wanted: list[str] = []
        for name in names or []:
            matches = [
                key for key, repo in repositories.items() if repo.name.lower() == name.lower() or key == name.lower()
            ]
            wanted.extend(matches[:1] or [f"?{name}"])
        for repo_id in ids or []:
            wanted.extend([key for key, repo in repositories.items() if repo.id == repo_id] or [f"?{repo_id}"])
        if any(name.startswith("?") or (selected is not None and name not in selected) for name in wanted):
            raise HttpError(
                422,
                "There is at least one repository that does not exist or is not accessible to the parent installation.",
            )
        selected = wanted
    return selected, {str(k): str(v) for k, v in permissions.items()}


def register_control_routes(fake: FakeGitHub) -> None:
    """Add the GitHub-specific control routes to ``fake``."""

    add_route(fake, "/tokens", fake.add_token)
    add_route(fake, "/apps", fake.add_app)
    add_route(fake, "/repos", fake.add_repository)
    add_route(fake, "/workflows", fake.add_workflow)

    def dispatches(_request: Request) -> Response:
        return Response(body=[d.to_dict() for d in fake.dispatches])

    def get_run(request: Request) -> Response:
        try:
            return Response(body=fake.run(int(request.params["run_id"])).to_dict())
        except KeyError:
            raise HttpError(404, f"no run {request.params['run_id']}") from None

    add_rate_limit_route(fake)
    fake.control_route("GET", "/dispatches", dispatches)
    fake.control_route("GET", r"/runs/(?P<run_id>\d+)", get_run)
    add_work_routes(fake, "run", key="conclusion", default="success")
