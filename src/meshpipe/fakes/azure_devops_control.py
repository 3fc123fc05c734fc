"""The fake Azure DevOps' ``/_fake/`` control plane and a run's web page (``_links.web.href``).

The page shows a run's name, state, result, branch and parameters (never its log, variables or environment: it is
readable without the control-plane secret). Plain HTML, no JavaScript.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING
from urllib.parse import unquote

from meshpipe.fakes._control import add_rate_limit_route, add_route, add_work_routes
from meshpipe.fakes._wire import HttpError, Request, Response

if TYPE_CHECKING:
    from meshpipe.fakes.azure_devops import FakeAzureDevOps

__all__ = ["register_control_routes"]


def register_control_routes(fake: FakeAzureDevOps) -> None:
    """Add the Azure-specific control routes and the run page to ``fake``."""

    add_route(fake, "/projects", fake.add_project)
    add_route(fake, "/pipelines", fake.add_pipeline, lambda pipeline_id: {"id": pipeline_id})
    add_route(fake, "/pats", fake.add_pat)
    add_route(fake, "/tokens", fake.add_token)

    def run_page(request: Request) -> Response:
        wanted = unquote(request.params["project"]).lower()
        build_id = request.query_value("buildId") or ""
        with fake.lock:
            run = next(
                (r for r in fake.runs if str(r.id) == build_id and wanted in (r.project.lower(), r.project_id)),
                None,
            )
            if run is None:
                raise HttpError(404, f"No run {build_id!r} in project {wanted!r}")
            view = run.to_dict()
        rows = "".join(
            f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(view[key]))}</td></tr>"
            for key in ("name", "state", "result", "ref_name", "pipeline_id", "template_parameters")
        )
        page = (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Run {view['id']} - {html.escape(view['name'])}"
            f"</title></head><body><h1>{html.escape(view['name'])}</h1><table>{rows}</table></body></html>"
        )
        return Response(body=page, content_type="text/html; charset=utf-8")

    add_rate_limit_route(fake)
    add_work_routes(fake, "run", key="result", default="succeeded")
    fake.route("GET", r"/(?P<organization>[^/]+)/(?P<project>[^/]+)/_build/results")(run_page)
