"""A fake Azure DevOps Services organization for Azure Pipelines runs (REST api-version 7.1).

Endpoints (``pipelines.json`` 7.1 of ``MicrosoftDocs/vsts-rest-api-specs``, copied to ``tests/fixtures/specs``),
under ``{org_url} = http://127.0.0.1:PORT/{organization}``::

    OPTIONS {org}/_apis                                             resource locations (the official clients ask)
    GET     {org}/{project}/_apis/pipelines                         list (orderBy, $top, continuationToken)
    GET     {org}/{project}/_apis/pipelines/{pipelineId}
    POST    {org}/{project}/_apis/pipelines/{pipelineId}/runs       Run Pipeline: 200 with the Run
    GET     {org}/{project}/_apis/pipelines/{pipelineId}/runs       newest first, {"count", "value"}
    GET     {org}/{project}/_apis/pipelines/{pipelineId}/runs/{runId}
    GET     {org}/{project}/_build/results?buildId=N                a run's web page (``_links.web.href``)

Every API call needs an ``api-version`` (query or ``Accept`` parameter) between 6.0 and 7.1, a PAT as Basic
(``base64(":" + PAT)``, any user part) or an Entra ID token as Bearer, and the PAT scope of the operation
(``vso.build`` to read, ``vso.build_execute`` to run). Checks run in this order: organization (404), credentials
(203 sign-in page, or 401 with ``X-TFS-FedAuthRedirect: Suppress``; 401 for a wrong or expired PAT), rate limit (429
with ``Retry-After`` and ``X-RateLimit-*``), scope (403), api-version (400), project (404), pipeline (404), media
type (415), body (400), ``templateParameters`` against the pipeline's ``parameters:`` (400, all problems in one
message), ref (400), stages (400), queue-time variables (400). Errors have Azure's JSON shape
(``$id``, ``innerException``, ``message``, ``typeName``, ``typeKey``, ``errorCode``, ``eventId``).

Control plane (besides the shared ``/_fake/state|requests|reset|faults``): ``POST /_fake/projects``,
``/_fake/pipelines``, ``/_fake/pats``, ``/_fake/tokens``, ``/_fake/rate-limit`` (JSON bodies with the Python keyword
names), ``GET /_fake/runs``, ``POST /_fake/runs/{id}/complete`` ``{"result": ...}``, ``GET /_fake/runs/{id}/log``.

Modules: ``azure_devops_auth`` (credentials, scopes, rate limit), ``azure_devops_api`` (endpoint handlers, run JSON),
``azure_devops_rules`` (api-version, body, parameters), ``azure_devops_runs`` (run simulation, the agent
environment), ``azure_devops_models`` (state and JSON shapes), ``azure_devops_control`` (control plane, web page).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from meshpipe.fakes._commands import CommandFake
from meshpipe.fakes._http import Request, Response
from meshpipe.fakes.azure_devops_api import ApiHandlers
from meshpipe.fakes.azure_devops_auth import AuthPreamble, DirectAnswer
from meshpipe.fakes.azure_devops_models import SCOPES, Credential, Pipeline, Project
from meshpipe.fakes.azure_devops_rules import PARAMETER_TYPES
from meshpipe.fakes.azure_devops_runs import RUN_RESULTS, PipelineRun

__all__ = ["FakeAzureDevOps", "Pipeline", "PipelineRun", "Project"]

DEFAULT_ORGANIZATION = "fake-org"
DEFAULT_RATE_LIMIT = 10_000
_ORG = r"/(?P<organization>[^/]+)"
_PROJECT = _ORG + r"/(?P<project>[^/_][^/]*)"


class FakeAzureDevOps(AuthPreamble, ApiHandlers, CommandFake[PipelineRun]):
    """A fake Azure DevOps organization; see the module docstring for the API and the control plane."""

    name = "fake-azure-devops"

    def __init__(
        self,
        organization: str = DEFAULT_ORGANIZATION,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        control_token: str | None = None,
    ) -> None:
        super().__init__(host, port, control_token=control_token)
        self.organization = organization
        self._clear()
        self._register_routes()
        from meshpipe.fakes.azure_devops_control import register_control_routes

        register_control_routes(self)

    def _clear(self) -> None:
        self.projects: dict[str, Project] = {}
        self.credentials: dict[str, Credential] = {}
        self.runs: list[PipelineRun] = []
        self._pipeline_ids = itertools.count(1)
        self._run_ids = itertools.count(1001)
        self.rate_limit = DEFAULT_RATE_LIMIT
        self.rate_window = 3600.0
        self._usage: dict[str, tuple[float, int]] = {}

    # -- URLs ------------------------------------------------------------------------------------------------------
    @property
    def org_url(self) -> str:
        """The organization's URL, ``http://127.0.0.1:PORT/ORG`` (``https://dev.azure.com/ORG`` for real)."""
        return f"{self.url}/{self.organization}"

    # -- configuration (Python API) -----------------------------------------------------------------------------
    def add_project(self, name: str) -> Project:
        """Create a project (or return the existing one of that name, case-insensitively)."""
        if not name or "/" in name:
            raise ValueError(f"a project name must be non-empty without '/', not {name!r}")
        with self.lock:
            existing = self.projects.get(name.lower())
            if existing is not None:
                return existing
            project = Project(name)
            self.projects[name.lower()] = project
            return project

    def add_pipeline(
        self,
        project: str,
        name: str,
        *,
        parameters: dict[str, dict[str, Any]] | None = None,
        name_template: str | None = None,
        duration: float | None = 0.3,
        command: list[str] | None = None,
        final_command: list[str] | None = None,
        result: str = "succeeded",
        branches: list[str] | tuple[str, ...] = ("main",),
        tags: list[str] | tuple[str, ...] = (),
        stages: list[str] | tuple[str, ...] = ("__default",),
        settable_variables: list[str] | tuple[str, ...] = (),
        variables: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        secret_env: dict[str, str] | None = None,
    ) -> int:
        """Add a YAML pipeline to ``project`` (created if missing) and return its id.

        ``parameters`` are its runtime parameters (``{"name": {"type": "string|number|boolean|object",
        "default": ..., "values": [...]}}``); a parameter without ``default`` is required. A run completes with
        ``result`` after ``duration`` seconds (``None``: only through the control plane), or, with ``command``,
        runs it with an agent's environment and succeeds by its exit code (see :mod:`azure_devops_runs`).
        """
        for parameter, spec in (parameters or {}).items():
            kind = spec.get("type", "string")
            if kind not in PARAMETER_TYPES:
                raise ValueError(f"parameter {parameter!r}: type must be one of {PARAMETER_TYPES}, not {kind!r}")
            if "values" in spec and not isinstance(spec["values"], list):
                raise ValueError(f"parameter {parameter!r}: values must be a list")
        if result not in RUN_RESULTS[1:]:
            raise ValueError(f"result must be one of {RUN_RESULTS[1:]}, not {result!r}")
        with self.lock:
            owner = self.add_project(project)
            pipeline = Pipeline(
                id=next(self._pipeline_ids),
                project=owner.name,
                name=name,
                parameters={k: dict(v) for k, v in (parameters or {}).items()},
                name_template=name_template or "$(Date:yyyyMMdd).$(Rev:r)",
                duration=duration,
                command=list(command) if command else None,
                final_command=list(final_command) if final_command else None,
                result=result,
                branches=list(branches),
                tags=list(tags),
                default_branch=next(iter(branches), "main"),
                stages=list(stages),
                settable_variables=list(settable_variables),
                variables=dict(variables or {}),
                secrets=dict(secrets or {}),
                secret_env=dict(secret_env or {}),
            )
            owner.pipelines[pipeline.id] = pipeline
            return pipeline.id

    def add_pat(
        self, token: str, *, scopes: list[str] | tuple[str, ...] = ("vso.build_execute",), expires: float | None = None
    ) -> Credential:
        """Accept a personal access token with ``scopes`` (``vso.build``, ``vso.build_execute``, ``app_token``),
        optionally expiring at the epoch time ``expires``."""
        return self._add_credential(token, "pat", scopes, expires)

    def add_token(self, token: str, *, expires: float | None = None) -> Credential:
        """Accept an Entra ID access token (sent as Bearer; it carries the user's whole permission)."""
        return self._add_credential(token, "entra", (), expires)

    def _add_credential(self, token: str, kind: str, scopes: Any, expires: float | None) -> Credential:
        if not token or any(ord(c) < 0x21 for c in token):
            raise ValueError("a token must be non-empty printable text")
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            raise ValueError(f"unknown scopes {unknown}; known: {list(SCOPES)}")
        with self.lock:
            credential = Credential(token, kind, tuple(scopes), expires)
            self.credentials[token] = credential
            return credential

    def set_rate_limit(self, limit: int, *, window_seconds: float = 3600) -> None:
        """Allow ``limit`` requests per credential and window; further ones answer 429 with ``Retry-After``."""
        with self.lock:
            self.rate_limit = limit
            self.rate_window = window_seconds
            self._usage.clear()

    # -- runs ---------------------------------------------------------------------------------------------------
    def runs_for(self, project: str, pipeline_id: int) -> list[PipelineRun]:
        """The runs of a pipeline, oldest first (``project`` by name, case-insensitively, or id)."""
        with self.lock:
            return [
                r
                for r in self.runs
                if (r.project.lower() == project.lower() or r.project_id == project) and r.pipeline_id == pipeline_id
            ]

    def run(self, run_id: int) -> PipelineRun:
        """A run by id (KeyError if unknown)."""
        return self._by_id(run_id)

    def complete_run(self, run_id: int, result: str = "succeeded") -> PipelineRun:
        """Complete a run now (e.g. one with ``duration=None``); ValueError if it already completed."""
        if result not in RUN_RESULTS[1:]:
            raise ValueError(f"unknown result {result!r}")
        run = self.run(run_id)
        if not run.finish(result):
            raise ValueError(f"run {run_id} already completed")
        return run

    def _start(self, project: Project, pipeline: Pipeline, run: PipelineRun) -> None:
        env, secrets = self.agent_environment(project, pipeline, run)
        run.start_command(env, secrets)

    def _work(self) -> list[PipelineRun]:
        """The runs :meth:`reset` and :meth:`stop` kill; reset also forgets projects, pipelines and credentials."""
        return self.runs

    def state(self) -> dict[str, Any]:
        """Projects, pipelines, credentials (without tokens) and runs as JSON-friendly data."""
        with self.lock:
            data = super().state()
            data.update(
                {
                    "organization": self.organization,
                    "org_url": self.org_url,
                    "projects": [p.to_dict() for p in self.projects.values()],
                    "pipelines": [pl.to_dict() for p in self.projects.values() for pl in p.pipelines.values()],
                    "credentials": [c.to_dict() for c in self.credentials.values()],
                    "runs": [r.to_dict() for r in self.runs],
                    "rate_limit": {"limit": self.rate_limit, "window_seconds": self.rate_window},
                    "time": time.time(),
                }
            )
            return data

    # -- wire format -----------------------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, extra: dict[str, Any]) -> Any:
        """Azure DevOps' error shape (``WrappedException``)."""
        return {
            "$id": "1",
            "innerException": None,
            "message": message,
            "typeName": extra.get(
                "typeName",
                "Microsoft.VisualStudio.Services.WebApi.VssServiceException, Microsoft.VisualStudio.Services.WebApi",
            ),
            "typeKey": extra.get("typeKey", "VssServiceException"),
            "errorCode": 0,
            "eventId": 3000,
        }

    def handle(self, request: Request) -> Response:
        """Answer one request; credential failures answer with HTML (the 203 sign-in page, a 401 page)."""
        try:
            return super().handle(request)
        except DirectAnswer as answer:
            return self._record(request, answer.response)

    def _register_routes(self) -> None:
        api = _PROJECT + r"/_apis/pipelines"
        self.route("OPTIONS", _ORG + r"/_apis/?")(self._options)
        self.route("GET", api)(self._list_pipelines)
        self.route("GET", api + r"/(?P<pipeline_id>\d+)")(self._get_pipeline)
        self.route("GET", api + r"/(?P<pipeline_id>\d+)/runs")(self._list_runs)
        self.route("POST", api + r"/(?P<pipeline_id>\d+)/runs")(self._run_pipeline)
        self.route("GET", api + r"/(?P<pipeline_id>\d+)/runs/(?P<run_id>\d+)")(self._get_run)
