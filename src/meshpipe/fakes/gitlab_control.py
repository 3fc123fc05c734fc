"""The fake GitLab's ``/_fake/`` control plane (JSON bodies with the Python API's keyword names)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshpipe.fakes._http import HttpError, Request, Response

if TYPE_CHECKING:
    from meshpipe.fakes.gitlab import FakeGitLab
    from meshpipe.fakes.gitlab_pipelines import Pipeline

__all__ = ["register_control_routes"]


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


def register_control_routes(fake: FakeGitLab) -> None:
    """Add the GitLab-specific control routes to ``fake``."""

    def projects(request: Request) -> Response:
        return Response(status=201, body=_call(fake.add_project, _body(request)).to_dict())

    def access_tokens(request: Request) -> Response:
        return Response(status=201, body=_call(fake.add_access_token, _body(request)).to_dict())

    def trigger_tokens(request: Request) -> Response:
        return Response(status=201, body={"token": _call(fake.add_trigger_token, _body(request))})

    def rate_limit(request: Request) -> Response:
        _call(fake.set_rate_limit, _body(request))
        return Response(body={"limit": fake.rate_limit, "window_seconds": fake.rate_window})

    def pipelines(_request: Request) -> Response:
        return Response(body=[p.to_dict() for p in fake.pipelines])

    def _pipeline(request: Request) -> Pipeline:
        try:
            return fake.pipeline(int(request.params["pipeline_id"]))
        except KeyError:
            raise HttpError(404, f"no pipeline {request.params['pipeline_id']}") from None

    def get_pipeline(request: Request) -> Response:
        return Response(body=_pipeline(request).to_dict())

    def complete(request: Request) -> Response:
        pipeline = _pipeline(request)
        data = request.json() if request.body else {}
        try:
            fake.complete_pipeline(pipeline.id, (data or {}).get("status", "success"))
        except ValueError as exc:
            raise HttpError(409, str(exc)) from exc
        return Response(body=pipeline.to_dict())

    def log(request: Request) -> Response:
        return Response(body=_pipeline(request).log, content_type="text/plain; charset=utf-8")

    fake.control_route("POST", "/projects", projects)
    fake.control_route("POST", "/access-tokens", access_tokens)
    fake.control_route("POST", "/trigger-tokens", trigger_tokens)
    fake.control_route("POST", "/rate-limit", rate_limit)
    fake.control_route("GET", "/pipelines", pipelines)
    fake.control_route("GET", r"/pipelines/(?P<pipeline_id>\d+)", get_pipeline)
    fake.control_route("POST", r"/pipelines/(?P<pipeline_id>\d+)/complete", complete)
    fake.control_route("GET", r"/pipelines/(?P<pipeline_id>\d+)/log", log)
