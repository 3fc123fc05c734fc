"""A fake GitHub REST API (github.com or GHES 3.19) for workflow dispatch, runs and GitHub App tokens.

Flavours: ``github`` serves paths at the root like ``api.github.com``; ``ghes`` serves them under ``/api/v3`` and
follows GHES 3.19 (no ``return_run_details``: unknown body fields answer 400; at most 10 inputs; only API version
2022-11-28). Endpoints (the subset in ``tests/fixtures/specs``)::

    GET  /repos/{o}/{r}                                         (so real clients can look the repository up)
    POST /repos/{o}/{r}/actions/workflows/{id|file}/dispatches  204, or 200 with run details
    POST /repos/{o}/{r}/dispatches                              repository_dispatch, 204
    GET  /repos/{o}/{r}/actions/workflows/{id|file}
    GET  /repos/{o}/{r}/actions/workflows/{id|file}/runs         event, branch, status, created, per_page, page
    GET  /repos/{o}/{r}/actions/runs             (all of a repository's runs)
    GET  /repos/{o}/{r}/actions/runs/{id}        POST .../cancel        GET .../jobs (filter=latest|all)
    GET  /repos/{o}/{r}/actions/workflows        (list)
    POST /repos/{o}/{r}/actions/runs/{id}/rerun | rerun-failed-jobs   201, attempt n+1 of the same run
    POST /repos/{o}/{r}/actions/runs/{id}/force-cancel               202 (the body gets SIGKILL), 409 if done
    GET  /repos/{o}/{r}/actions/runs/{id}/attempts/{n}[/jobs|/logs]  GET .../runs/{id}/logs  302 to a zip
    GET  /repos/{o}/{r}/actions/jobs/{job_id}[/logs]                 (logs: 302 to plain text)
    GET  /repos/{o}/{r}/installation             (App JWT)
    GET  /app, /app/installations[/{id}]         (App JWT)
    POST /app/installations/{id}/access_tokens   (App JWT) 201 ghs_ token, 1 hour; levels per the enum

Statuses the descriptions do not settle (400 vs 422, re-run refusals, ...) are tabled in ``unverified.md``.

Control plane (besides the shared ``/_fake/state|requests|reset|faults``): ``POST /_fake/tokens``, ``/_fake/apps``,
``/_fake/repos``, ``/_fake/workflows``, ``/_fake/rate-limit`` (JSON bodies with the Python keyword names),
``GET /_fake/dispatches``, ``GET /_fake/runs``, ``POST /_fake/runs/{id}/complete`` ``{"conclusion": ...}``,
``GET /_fake/runs/{id}/log``.

Every API answer carries ``x-ratelimit-*`` headers. Checks run in GitHub's order: User-Agent (403), API version
(400), credentials (401), primary rate limit (403), repository visibility (404), body schema (400/422), permission
(403), workflow (404), trigger / ref / inputs (422).

Modules: ``github_preamble`` (User-Agent, API version, credentials, rate limit), ``github_api`` (endpoint
handlers), ``github_run_control`` (re-runs, attempts, jobs, logs), ``github_app_api`` (App endpoints),
``github_validate`` (body and input rules), ``github_runs`` (run simulation, the workflow body as a command),
``github_run_json`` (run and job JSON), ``github_auth`` (App JWT), ``github_models`` (state and JSON shapes),
``github_control`` (control plane).
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from meshpipe.fakes._commands import CommandFake
from meshpipe.fakes._http import Request, Response
from meshpipe.fakes.github_api import RUN_CONCLUSIONS, ApiHandlers
from meshpipe.fakes.github_app_api import AppHandlers
from meshpipe.fakes.github_models import App, Dispatch, Repository, Token, Workflow
from meshpipe.fakes.github_preamble import API_VERSIONS, RequestPreamble
from meshpipe.fakes.github_run_control import DOWNLOAD_PREFIX, RunControlHandlers
from meshpipe.fakes.github_runs import WorkflowRun

__all__ = ["API_VERSIONS", "Dispatch", "FakeGitHub", "Workflow", "WorkflowRun"]

DEFAULT_RATE_LIMIT = 5000
_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"


class FakeGitHub(RequestPreamble, AppHandlers, RunControlHandlers, ApiHandlers, CommandFake[WorkflowRun]):
    """A fake GitHub API server; see the module docstring for the API and the control plane."""

    name = "fake-github"

    def __init__(
        self, flavour: str = "github", host: str = "127.0.0.1", port: int = 0, *, control_token: str | None = None
    ) -> None:
        if flavour not in API_VERSIONS:
            raise ValueError(f"flavour must be 'github' or 'ghes', not {flavour!r}")
        super().__init__(host, port, control_token=control_token)
        self.flavour = flavour
        self.prefix = "/api/v3" if flavour == "ghes" else ""
        self.docs = (
            "https://docs.github.com/rest"
            if flavour == "github"
            else "https://docs.github.com/enterprise-server@3.19/rest"
        )
        self._local = threading.local()
        self._clear()
        self._register_routes()
        self._register_control_routes()
        from meshpipe.fakes.github_pages import add_web_pages

        add_web_pages(self)  # a run's html_url answers with a page (the status page links it)

    def _clear(self) -> None:
        self.repositories: dict[str, Repository] = {}
        self.tokens: dict[str, Token] = {}
        self.apps: dict[str, App] = {}
        self.dispatches: list[Dispatch] = []
        self.runs: list[WorkflowRun] = []
        self._ids = itertools.count(1)
        self._run_ids = itertools.count(10_000_001)
        self._run_numbers: dict[str, int] = {}
        self.rate_limit = DEFAULT_RATE_LIMIT
        self.rate_window = 3600.0
        self._usage: dict[str, tuple[float, int]] = {}  # credential -> (window start, used)
        self._downloads: dict[str, tuple[float, bytes, str]] = {}  # log download key -> (expires, body, type)

    # -- URLs ------------------------------------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        """Base URL of the REST API (``/api/v3`` on GHES)."""
        return self.url + self.prefix

    @property
    def html_url(self) -> str:
        """Base URL of the web UI (runs' ``html_url`` start with it)."""
        return self.url

    # -- configuration (Python API) -----------------------------------------------------------------------------
    def add_token(self, token: str, *, repositories: list[str] | None = None, permissions: str = "write") -> Token:
        """Accept a personal access token; ``repositories`` limits it (None = all), ``"read"`` cannot dispatch."""
        if permissions not in ("read", "write"):
            raise ValueError("permissions must be 'read' or 'write'")
        with self.lock:
            entry = Token(token, _lower(repositories), permissions)
            self.tokens[token] = entry
            return entry

    def add_app(
        self,
        app_id: int | str,
        installation_id: int | str,
        public_key_pem: str,
        *,
        repositories: list[str] | None = None,
    ) -> App:
        """Register a GitHub App installation whose JWTs are verified against ``public_key_pem``."""
        with self.lock:
            app = App(int(app_id), int(installation_id), public_key_pem, _lower(repositories))
            self.apps[str(app.app_id)] = app
            return app

    def add_repository(
        self, full_name: str, *, default_branch: str = "main", branches: Any = ("main",), tags: Any = ()
    ) -> Repository:
        """Create (or replace the refs of) a repository."""
        if full_name.count("/") != 1:
            raise ValueError(f"repository must be 'owner/name', not {full_name!r}")
        with self.lock:
            names = list(dict.fromkeys([*branches, default_branch]))
            existing = self.repositories.get(full_name.lower())
            if existing is not None:
                existing.default_branch, existing.branches, existing.tags = default_branch, names, list(tags)
                return existing
            repo = Repository(next(self._ids), full_name, default_branch, names, list(tags))
            self.repositories[full_name.lower()] = repo
            return repo

    def add_workflow(
        self,
        full_name: str,
        file: str,
        *,
        inputs: dict[str, dict[str, Any]] | None = None,
        name: str | None = None,
        run_name: str | None = None,
        conclusion: str = "success",
        duration: float | None = 0.3,
        workflow_dispatch: bool = True,
        repository_dispatch_types: list[str] | None = None,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> Workflow:
        """Add a workflow file (creating the repository if missing).

        ``inputs`` are its ``workflow_dispatch`` inputs (``{"name": {"type", "required", "default", "options"}}``);
        a run of it concludes ``conclusion`` after ``duration`` seconds (``None``: only when completed through the
        control plane), or, with ``command``, runs that command as the body with ``env`` added to a runner-like
        environment and concludes by its exit code.
        """
        for input_name, spec in (inputs or {}).items():
            kind = spec.get("type", "string")
            if kind not in ("string", "boolean", "number", "choice", "environment"):
                raise ValueError(f"input {input_name!r}: unknown type {kind!r}")
            if kind == "choice" and not spec.get("options"):
                raise ValueError(f"input {input_name!r}: a choice input needs options")
        with self.lock:
            repo = self.repositories.get(full_name.lower()) or self.add_repository(full_name)
            workflow = Workflow(
                id=next(self._ids) + 1000,
                repository=repo.full_name,
                file=file,
                name=name or f".github/workflows/{file}",
                inputs=dict(inputs or {}),
                run_name=run_name,
                conclusion=conclusion,
                duration=duration,
                workflow_dispatch=workflow_dispatch,
                repository_dispatch_types=list(repository_dispatch_types) if repository_dispatch_types else None,
                command=list(command) if command else None,
                env=dict(env or {}),
            )
            repo.workflows[file] = workflow
            return workflow

    def set_rate_limit(self, limit: int, *, window_seconds: float = 3600) -> None:
        """Allow ``limit`` requests per credential and window; further requests answer 403 (primary rate limit)."""
        with self.lock:
            self.rate_limit = limit
            self.rate_window = window_seconds
            self._usage.clear()

    # -- runs ---------------------------------------------------------------------------------------------------
    def run(self, run_id: int) -> WorkflowRun:
        """A run by id (KeyError if unknown)."""
        return self._by_id(run_id)

    def complete_run(self, run_id: int, conclusion: str = "success") -> WorkflowRun:
        """Complete a run now (e.g. one with ``duration=None``); ValueError if it already completed."""
        if conclusion not in RUN_CONCLUSIONS:
            raise ValueError(f"unknown conclusion {conclusion!r}")
        run = self.run(run_id)
        if not run.finish(conclusion):
            raise ValueError(f"run {run_id} already completed")
        return run

    def dispatches_for(
        self, repository: str | None = None, workflow: str | None = None, event: str | None = None
    ) -> list[Dispatch]:
        """Accepted dispatches, filtered by repository (case-insensitive), workflow file and event."""
        with self.lock:
            return [
                d
                for d in self.dispatches
                if (repository is None or d.repository.lower() == repository.lower())
                and (workflow is None or d.workflow == workflow)
                and (event is None or d.event == event)
            ]

    def _work(self) -> list[WorkflowRun]:
        """The runs :meth:`reset` and :meth:`stop` kill; reset also forgets repositories, tokens, apps, dispatches."""
        return self.runs

    def state(self) -> dict[str, Any]:
        """Repositories, workflows, tokens, apps, dispatches and runs as JSON-friendly data."""
        with self.lock:
            data = super().state()
            data.update(
                {
                    "flavour": self.flavour,
                    "api_url": self.api_url,
                    "html_url": self.html_url,
                    "repositories": [r.to_dict() for r in self.repositories.values()],
                    "workflows": [w.to_dict() for r in self.repositories.values() for w in r.workflows.values()],
                    "tokens": [t.to_dict() for t in self.tokens.values()],
                    "apps": [a.to_dict() for a in self.apps.values()],
                    "dispatches": [d.to_dict() for d in self.dispatches],
                    "runs": [r.to_dict() for r in self.runs],
                    "rate_limit": {"limit": self.rate_limit, "window_seconds": self.rate_window},
                }
            )
            return data

    # -- wire format -----------------------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, extra: dict[str, Any]) -> Any:
        """GitHub's error shape: ``{"message", "documentation_url", "status": "NNN"}``."""
        body = {"message": message, "documentation_url": self.docs, "status": str(status)}
        body.update(extra)
        return body

    def handle(self, request: Request) -> Response:
        """Answer one request and add the ``x-ratelimit-*`` headers to every API answer."""
        self._local.rate_headers = None
        response = super().handle(request)
        if not request.path.startswith("/_fake/"):
            headers = self._local.rate_headers or self._peek_rate_headers(request)
            for key, value in headers.items():
                response.headers.setdefault(key, value)
            response.headers.setdefault("X-GitHub-Media-Type", "github.v3; format=json")
        return response

    def _register_routes(self) -> None:
        p = self.prefix
        self.route("GET", p + _REPO)(self._api(self._get_repository))
        self.route("POST", p + _REPO + r"/actions/workflows/(?P<workflow>[^/]+)/dispatches")(
            self._api(self._dispatch_workflow)
        )
        self.route("POST", p + _REPO + r"/dispatches")(self._api(self._dispatch_repository))
        self.route("GET", p + _REPO + r"/actions/workflows/(?P<workflow>[^/]+)")(self._api(self._get_workflow))
        self.route("GET", p + _REPO + r"/actions/workflows/(?P<workflow>[^/]+)/runs")(self._api(self._list_runs))
        # Not in the spec subset, but a real endpoint: how runs of a repository_dispatch are found.
        self.route("GET", p + _REPO + r"/actions/runs")(self._api(self._list_runs))
        self.route("GET", p + _REPO + r"/actions/runs/(?P<run_id>\d+)")(self._api(self._get_run))
        self.route("POST", p + _REPO + r"/actions/runs/(?P<run_id>\d+)/cancel")(self._api(self._cancel_run))
        self.route("GET", p + _REPO + r"/actions/runs/(?P<run_id>\d+)/jobs")(self._api(self._list_jobs))
        self.route("GET", p + _REPO + r"/actions/workflows")(self._api(self._list_workflows))
        run = p + _REPO + r"/actions/runs/(?P<run_id>\d+)"
        self.route("POST", run + "/rerun")(self._api(self._rerun))
        self.route("POST", run + "/rerun-failed-jobs")(self._api(self._rerun_failed_jobs))
        self.route("POST", run + "/force-cancel")(self._api(self._force_cancel))
        self.route("GET", run + "/logs")(self._api(self._run_logs))
        self.route("GET", run + r"/attempts/(?P<attempt>\d+)")(self._api(self._get_attempt))
        self.route("GET", run + r"/attempts/(?P<attempt>\d+)/jobs")(self._api(self._list_attempt_jobs))
        self.route("GET", run + r"/attempts/(?P<attempt>\d+)/logs")(self._api(self._run_logs))
        self.route("GET", p + _REPO + r"/actions/jobs/(?P<job_id>\d+)")(self._api(self._get_job))
        self.route("GET", p + _REPO + r"/actions/jobs/(?P<job_id>\d+)/logs")(self._api(self._job_logs))
        self.route("GET", p + r"/app")(self._api(self._get_app, jwt=True))
        self.route("GET", p + r"/app/installations")(self._api(self._list_installations, jwt=True))
        self.route("GET", p + r"/app/installations/(?P<installation>\d+)")(
            self._api(self._get_app_installation, jwt=True)
        )
        self.route("GET", DOWNLOAD_PREFIX + r"/(?P<key>[A-Za-z0-9_-]+)")(self._download)
        self.route("GET", p + _REPO + r"/installation")(self._api(self._get_installation, jwt=True))
        self.route("POST", p + r"/app/installations/(?P<installation>\d+)/access_tokens")(
            self._api(self._create_access_token, jwt=True)
        )

    def _register_control_routes(self) -> None:
        from meshpipe.fakes.github_control import register_control_routes

        register_control_routes(self)


def _lower(repositories: list[str] | None) -> list[str] | None:
    return None if repositories is None else [name.lower() for name in repositories]
