"""The fake GitLab's ``/_fake/`` control plane (JSON bodies with the Python API's keyword names)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshpipe.fakes._control import add_rate_limit_route, add_route, add_work_routes
from meshpipe.fakes._http import HttpError, Request, Response

if TYPE_CHECKING:
    from meshpipe.fakes.gitlab import FakeGitLab

__all__ = ["register_control_routes"]


def register_control_routes(fake: FakeGitLab) -> None:
    """Add the GitLab-specific control routes to ``fake``."""

    add_route(fake, "/projects", fake.add_project)
    add_route(fake, "/access-tokens", fake.add_access_token)
    add_route(fake, "/trigger-tokens", fake.add_trigger_token, lambda token: {"token": token})

    def get_pipeline(request: Request) -> Response:
        try:
            return Response(body=fake.pipeline(int(request.params["pipeline_id"])).to_dict())
        except KeyError:
            raise HttpError(404, f"no pipeline {request.params['pipeline_id']}") from None

    add_rate_limit_route(fake)
    fake.control_route("GET", r"/pipelines/(?P<pipeline_id>\d+)", get_pipeline)
    add_work_routes(fake, "pipeline", key="status", default="success")
