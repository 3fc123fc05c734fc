"""The fake Azure DevOps' ``/_fake/`` control plane and a run's web page (``_links.web.href``).

The page shows a run's name, state, result, branch and parameters (never its log, variables or environment: it is
readable without the control-plane secret). Plain HTML, no JavaScript.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from meshpipe.fakes._wire import HttpError, Request, Response

if TYPE_CHECKING:
    from meshpipe.fakes.azure_devops import FakeAzureDevOps
    from meshpipe.fakes.azure_devops_runs import PipelineRun

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


def register_control_routes(fake: FakeAzureDevOps) -> None:
    """Add the Azure-specific control routes and the run page to ``fake``."""

    def projects(request: Request) -> Response:
        return Response(status=201, body=_call(fake.add_project, _body(request)).to_dict())

    def pipelines(request: Request) -> Response:
        pipeline_id = _call(fake.add_pipeline, _body(request))
        return Response(status=201, body={"id": pipeline_id})

    def pats(request: Request) -> Response:
        return Response(status=201, body=_call(fake.add_pat, _body(request)).to_dict())

    def tokens(request: Request) -> Response:
        return Response(status=201, body=_call(fake.add_token, _body(request)).to_dict())

    def rate_limit(request: Request) -> Response:
        _call(fake.set_rate_limit, _body(request))
        return Response(body={"limit": fake.rate_limit, "window_seconds": fake.rate_window})

    def runs(_request: Request) -> Response:
        return Response(body=[r.to_dict() for r in fake.runs])

    def _run(request: Request) -> PipelineRun:
        try:
            return fake.run(int(request.params["run_id"]))
        except KeyError:
            raise HttpError(404, f"no run {request.params['run_id']}") from None

    def complete(request: Request) -> Response:
        run = _run(request)
        data = request.json() if request.body else {}
        try:
            fake.complete_run(run.id, (data or {}).get("result", "succeeded"))
        except ValueError as exc:
            raise HttpError(409, str(exc)) from exc
        return Response(body=run.to_dict())

    def log(request: Request) -> Response:
        return Response(body=_run(request).log, content_type="text/plain; charset=utf-8")

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

    fake.control_route("POST", "/projects", projects)
    fake.control_route("POST", "/pipelines", pipelines)
    fake.control_route("POST", "/pats", pats)
    fake.control_route("POST", "/tokens", tokens)
    fake.control_route("POST", "/rate-limit", rate_limit)
    fake.control_route("GET", "/runs", runs)
    fake.control_route("POST", r"/runs/(?P<run_id>\d+)/complete", complete)
    fake.control_route("GET", r"/runs/(?P<run_id>\d+)/log", log)
    fake.route("GET", r"/(?P<organization>[^/]+)/(?P<project>[^/]+)/_build/results")(run_page)
