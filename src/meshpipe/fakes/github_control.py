"""The fake GitHub's ``/_fake/`` control plane and the installation-token request rules."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

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


def _body(request: Request) -> dict[str, Any]:
    data = request.json()
    if not isinstance(data, dict):
        raise HttpError(400, "expected a JSON object")
    return data


def _call(function: Any, data: dict[str, Any]) -> Any:
    try:
        return function(**data)
    except (TypeError, ValueError) as exc:
        raise HttpError(400, str(exc)) from exc


def register_control_routes(fake: FakeGitHub) -> None:
    """Add the GitHub-specific control routes to ``fake``."""

    def tokens(request: Request) -> Response:
        return Response(status=201, body=_call(fake.add_token, _body(request)).to_dict())

    def apps(request: Request) -> Response:
        return Response(status=201, body=_call(fake.add_app, _body(request)).to_dict())

    def repos(request: Request) -> Response:
        return Response(status=201, body=_call(fake.add_repository, _body(request)).to_dict())

    def workflows(request: Request) -> Response:
        return Response(status=201, body=_call(fake.add_workflow, _body(request)).to_dict())

    def rate_limit(request: Request) -> Response:
        _call(fake.set_rate_limit, _body(request))
        return Response(body={"limit": fake.rate_limit, "window_seconds": fake.rate_window})

    def dispatches(_request: Request) -> Response:
        return Response(body=[d.to_dict() for d in fake.dispatches])

    def runs(_request: Request) -> Response:
        return Response(body=[r.to_dict() for r in fake.runs])

    def _run(request: Request) -> Any:
        try:
            return fake.run(int(request.params["run_id"]))
        except KeyError:
            raise HttpError(404, f"no run {request.params['run_id']}") from None

    def get_run(request: Request) -> Response:
        return Response(body=_run(request).to_dict())

    def complete(request: Request) -> Response:
        run = _run(request)
        data = request.json() if request.body else {}
        conclusion = (data or {}).get("conclusion", "success")
        try:
            fake.complete_run(run.id, conclusion)
        except ValueError as exc:
            raise HttpError(409, str(exc)) from exc
        return Response(body=run.to_dict())

    def log(request: Request) -> Response:
        return Response(body=_run(request).log, content_type="text/plain; charset=utf-8")

    fake.control_route("POST", "/tokens", tokens)
    fake.control_route("POST", "/apps", apps)
    fake.control_route("POST", "/repos", repos)
    fake.control_route("POST", "/workflows", workflows)
    fake.control_route("POST", "/rate-limit", rate_limit)
    fake.control_route("GET", "/dispatches", dispatches)
    fake.control_route("GET", "/runs", runs)
    fake.control_route("GET", r"/runs/(?P<run_id>\d+)", get_run)
    fake.control_route("POST", r"/runs/(?P<run_id>\d+)/complete", complete)
    fake.control_route("GET", r"/runs/(?P<run_id>\d+)/log", log)
