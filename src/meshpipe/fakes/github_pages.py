"""The fake GitHub's web pages: a workflow run's page at its ``html_url``.

Runs answer ``html_url = {server}/{owner}/{repo}/actions/runs/{id}``, the address GitHub's web UI uses, and the
reporter sends it to meshStack as the source's ``externalRunUrl``; the fake meshStack's status page links it. So
that link leads somewhere on the sandbox, this page shows the run's status, conclusion, trigger and inputs (never
its log or environment: the page is readable without the control-plane secret). Plain HTML, no JavaScript.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshpipe.fakes._http import HttpError, Request, Response

if TYPE_CHECKING:
    from meshpipe.fakes.github import FakeGitHub

__all__ = ["RUN_PAGE", "add_web_pages"]

#: The path of a run's page (GitHub's own layout), relative to the web UI's base URL.
RUN_PAGE = r"/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run_id>\d+)"


def add_web_pages(fake: FakeGitHub) -> None:
    """Register the web pages on ``fake`` (after its API routes, which never share a path with them)."""

    def run_page(request: Request) -> Response:
        from meshpipe.fakes.status_page import page_template

        full_name = f"{request.params['owner']}/{request.params['repo']}".lower()
        with fake.lock:
            run = next(
                (r for r in fake.runs if r.id == int(request.params["run_id"]) and r.repository.lower() == full_name),
                None,
            )
            if run is None:
                raise HttpError(404, f"No workflow run {request.params['run_id']} in {full_name}")
            view = run.to_dict()
        html = page_template("github_run.html").render(run=view, base_url=fake.url)
        return Response(body=html, content_type="text/html; charset=utf-8")

    fake.route("GET", RUN_PAGE)(run_page)
