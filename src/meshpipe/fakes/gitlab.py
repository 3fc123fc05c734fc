"""A fake GitLab REST v4 API (gitlab.com or a self-managed instance) for creating and watching pipelines.

Endpoints (under ``/api/v4``; ``:id`` is a numeric id or a URL-encoded path, ``group%2Fsub%2Fproject``)::

    GET  /projects/:id
    POST /projects/:id/pipeline                      PRIVATE-TOKEN / Bearer (scope api, role developer);
                                                     {"ref", "variables": [{"key","value","variable_type"}], "inputs"}
    POST /projects/:id/[ref/:ref/]trigger/pipeline   trigger token in the body (or query); {"ref", "token",
                                                     "variables": {"K": "v"}, "inputs"}
    GET  /projects/:id/pipelines                     ref, status, source, name, updated_after/before, order_by,
                                                     sort, page, per_page (X-Total, X-Next-Page, Link headers)
    GET  /projects/:id/pipelines/:pipeline_id        GET .../variables        POST .../cancel

and a pipeline's page at its ``web_url`` (``/{path}/-/pipelines/{id}``). The rules (token kinds, scopes, roles,
visibility, refs, ``spec:inputs``, variable keys, error bodies) are GitLab's, with their sources, in
``gitlab_api.py``, ``gitlab_rules.py`` and ``gitlab_params.py``; choices no source settles are in ``unverified.md``.

Rate limit: ``set_rate_limit(n, window_seconds=...)`` allows ``n`` requests per credential and window; the next one
answers 429 ``Retry later`` (text/plain) with ``Retry-After`` and ``RateLimit-*`` headers as GitLab's Rack::Attack
throttles do.

Control plane (besides ``/_fake/state|requests|reset|faults``): ``POST /_fake/projects``, ``/_fake/access-tokens``,
``/_fake/trigger-tokens``, ``/_fake/rate-limit`` (JSON bodies with the Python keyword names), ``GET /_fake/pipelines``,
``GET /_fake/pipelines/{id}``, ``GET /_fake/pipelines/{id}/log``, ``POST /_fake/pipelines/{id}/complete``
``{"status": "success"}``.
"""

from __future__ import annotations

import html
import itertools
import time
from email.utils import formatdate
from typing import Any

from meshpipe.fakes._commands import CommandFake
from meshpipe.fakes._http import HttpError, Request, Response
from meshpipe.fakes.gitlab_api import ApiHandlers
from meshpipe.fakes.gitlab_models import ACCESS_LEVELS, SCOPES, VISIBILITIES, AccessToken, Project, TriggerToken
from meshpipe.fakes.gitlab_models import new_trigger_token as _new_trigger_token
from meshpipe.fakes.gitlab_pipelines import FINISHED, Pipeline
from meshpipe.fakes.gitlab_rules import check_ci_inputs

__all__ = ["FakeGitLab", "Pipeline", "Project"]

API_PREFIX = "/api/v4"
_PROJECT = API_PREFIX + r"/projects/(?P<project>[^/]+)"
_CONCLUSIONS = ("success", "failed", "canceled", "skipped", "manual")


class FakeGitLab(ApiHandlers, CommandFake[Pipeline]):
    """A fake GitLab API server; see the module docstring for the API and the control plane."""

    name = "fake-gitlab"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, control_token: str | None = None) -> None:
        super().__init__(host, port, control_token=control_token)
        self._clear()
        self._register_routes()
        from meshpipe.fakes.gitlab_control import register_control_routes

        register_control_routes(self)

    def _clear(self) -> None:
        self.projects: dict[str, Project] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.trigger_tokens: dict[str, TriggerToken] = {}
        self.pipelines: list[Pipeline] = []
        self._ids = itertools.count(1001)
        self._pipeline_ids = itertools.count(5_000_001)
        self._iids: dict[int, int] = {}
        self.rate_limit: int | None = None
        self.rate_window = 60.0
        self._usage: dict[str, tuple[float, int]] = {}

    # -- URLs ----------------------------------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT/api/v4`` (what ``CI_API_V4_URL`` holds)."""
        return self.url + API_PREFIX

    # -- configuration (Python API) ------------------------------------------------------------------------------
    def add_project(
        self,
        path: str,
        *,
        ci_inputs: dict[str, Any] | None = None,
        name_template: str | None = None,
        duration: float | None = 0.3,
        command: list[str] | None = None,
        after_command: list[str] | None = None,
        conclusion: str = "success",
        branches: Any = ("main",),
        tags: Any = (),
        default_branch: str = "main",
        visibility: str = "private",
        env: dict[str, str] | None = None,
        input_env: dict[str, str] | None = None,
        allow_pipeline_variables: bool = True,
    ) -> Project:
        """Create (or replace) a project and its CI configuration.

        ``ci_inputs`` is the ``.gitlab-ci.yml``'s ``spec:inputs`` (``{"name": {"type", "default", "options",
        "regex"}}``; None: no header, so any input is refused); ``name_template`` its ``workflow:name``
        (``$[[ inputs.x ]]``, ``$VARIABLE``). A pipeline ends ``conclusion`` after ``duration`` seconds (None: only
        through :meth:`complete_pipeline`), or runs ``command`` (and ``after_command``, the ``after_script``) with
        the job environment plus ``env``; ``input_env`` maps inputs to the job variables that expose them.
        ``allow_pipeline_variables=False`` is GitLab's "no one allowed" setting for pipeline variables (new
        projects' default on gitlab.com since 17.7).
        """
        if path.count("/") < 1 or path.startswith("/") or path.endswith("/"):
            raise ValueError(f"project path must be 'group[/subgroup]/project', not {path!r}")
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {VISIBILITIES}, not {visibility!r}")
        if conclusion not in _CONCLUSIONS:
            raise ValueError(f"conclusion must be one of {_CONCLUSIONS}, not {conclusion!r}")
        if ci_inputs is not None:
            check_ci_inputs(ci_inputs)
        with self.lock:
            existing = self.projects.get(path.lower())
            project = Project(
                id=existing.id if existing else next(self._ids),
                path_with_namespace=path,
                default_branch=default_branch,
                branches=list(dict.fromkeys([*branches, default_branch])),
                tags=list(tags),
                visibility=visibility,
                ci_inputs=dict(ci_inputs) if ci_inputs is not None else None,
                name_template=name_template,
                duration=duration,
                command=list(command) if command else None,
                after_command=list(after_command) if after_command else None,
                conclusion=conclusion,
                env=dict(env or {}),
                input_env=dict(input_env or {}),
                allow_pipeline_variables=allow_pipeline_variables,
            )
            self.projects[path.lower()] = project
            return project

    def add_access_token(
        self,
        token: str,
        *,
        projects: list[str] | None = None,
        scopes: list[str] | tuple[str, ...] = ("api",),
        role: str = "developer",
        expires_in: float | None = None,
    ) -> AccessToken:
        """Accept a personal/project/group access token (``glpat-...``) for ``projects`` (None: all) with
        ``scopes`` (``api`` writes and reads, ``read_api`` reads) and a ``role``; ``expires_in`` seconds from now."""
        # glpat- is gitlab.com's prefix; older tokens have none and self-managed instances may set their own.
        if not token or token.startswith("glptt-") or not token.isprintable() or " " in token:
            raise ValueError("an access token is printable, without spaces, and not a trigger token (glptt-...)")
        unknown = [scope for scope in scopes if scope not in SCOPES]
        if unknown or not scopes:
            raise ValueError(f"scopes must be a non-empty list of {SCOPES}, not {list(scopes)!r}")
        if role not in ACCESS_LEVELS:
            raise ValueError(f"role must be one of {list(ACCESS_LEVELS)}, not {role!r}")
        with self.lock:
            entry = AccessToken(
                token=token,
                projects=None if projects is None else [p.lower() for p in projects],
                scopes=list(scopes),
                access_level=ACCESS_LEVELS[role],
                expires=None if expires_in is None else time.time() + expires_in,
            )
            self.access_tokens[token] = entry
            return entry

    def revoke_access_token(self, token: str) -> None:
        """Revoke an access token (later requests with it answer 401 ``invalid_token``)."""
        with self.lock:
            self.access_tokens[token].revoked = True

    def add_trigger_token(self, project: str, token: str | None = None) -> str:
        """Create a pipeline trigger token (``glptt-...``) for ``project`` and return it."""
        with self.lock:
            entry = self.projects.get(project.lower())
            if entry is None:
                raise ValueError(f"unknown project {project!r}")
            value = token or _new_trigger_token()
            self.trigger_tokens[value] = TriggerToken(len(self.trigger_tokens) + 1, value, entry.id)
            return value

    def set_rate_limit(self, limit: int | None, *, window_seconds: float = 60) -> None:
        """Allow ``limit`` requests per credential and window (None: unlimited); more answer 429."""
        with self.lock:
            self.rate_limit = limit
            self.rate_window = window_seconds
            self._usage.clear()

    # -- pipelines -----------------------------------------------------------------------------------------------
    def pipelines_for(self, project: str | None = None) -> list[Pipeline]:
        """Created pipelines (including ones whose configuration failed), oldest first, of one project or all."""
        with self.lock:
            return [p for p in self.pipelines if project is None or p.project_path.lower() == project.lower()]

    def pipeline(self, pipeline_id: int) -> Pipeline:
        """A pipeline by id (KeyError if unknown)."""
        return self._by_id(pipeline_id)

    def complete_pipeline(self, pipeline_id: int, status: str = "success") -> Pipeline:
        """Finish a pipeline now (e.g. one of a project with ``duration=None``); ValueError if already finished."""
        if status not in FINISHED:
            raise ValueError(f"status must be one of {FINISHED}, not {status!r}")
        pipeline = self.pipeline(pipeline_id)
        if not pipeline.finish(status):
            raise ValueError(f"pipeline {pipeline_id} already finished")
        return pipeline

    def _start(self, pipeline: Pipeline, project: Project) -> None:
        env = pipeline.job_environment(
            server_url=self.url, api_url=self.api_url, project_id=project.id, input_env=project.input_env
        )
        pipeline.start_command(env, project.env)

    def _work(self) -> list[Pipeline]:
        """The pipelines :meth:`reset` and :meth:`stop` kill; reset also forgets projects, tokens and limits."""
        return self.pipelines

    def state(self) -> dict[str, Any]:
        """Projects, tokens (shortened), pipelines and the rate limit as JSON-friendly data."""
        with self.lock:
            data = super().state()
            data.update(
                {
                    "api_url": self.api_url,
                    "projects": [p.to_dict() for p in self.projects.values()],
                    "access_tokens": [t.to_dict() for t in self.access_tokens.values()],
                    "trigger_tokens": [t.to_dict() for t in self.trigger_tokens.values()],
                    "pipelines": [p.to_dict() for p in self.pipelines],
                    "rate_limit": {"limit": self.rate_limit, "window_seconds": self.rate_window},
                }
            )
            return data

    # -- rate limit ---------------------------------------------------------------------------------------------
    def _throttle(self, key: str) -> None:
        if self.rate_limit is None:
            return
        now = time.time()
        start, used = self._usage.get(key, (now, 0))
        if now >= start + self.rate_window:
            start, used = now, 0
        if used >= self.rate_limit:
            reset = start + self.rate_window
            retry_after = max(int(reset - now + 0.999), 1)
            headers = {
                "Retry-After": str(retry_after),
                "RateLimit-Name": "throttle_authenticated_api",
                "RateLimit-Limit": str(self.rate_limit),
                "RateLimit-Observed": str(used + 1),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(int(reset)),
                "RateLimit-ResetTime": formatdate(reset, usegmt=True),
            }
            raise HttpError(429, "Retry later\n", headers=headers, plain=True)
        self._usage[key] = (start, used + 1)

    # -- wire format -----------------------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, extra: dict[str, Any]) -> Any:
        """GitLab's error shapes: ``{"message": ...}`` from the endpoints, ``{"error": ...}`` from Grape's parameter
        checks and unknown routes, ``{"error", "error_description"}`` from the token guard."""
        if "body" in extra:
            return extra["body"]
        if status == 405:
            return {"error": "405 Not Allowed"}
        if extra.get("plain"):
            return message
        if "oauth" in extra:
            body = {"error": extra["oauth"], "error_description": message}
            if "scope" in extra:
                body["scope"] = extra["scope"]
            return body
        if extra.get("grape"):
            return {"error": message}
        return {"message": message}

    def handle(self, request: Request) -> Response:
        """Answer one request; a plain-text error (the 429 ``Retry later``) gets its text media type."""
        response = super().handle(request)
        if isinstance(response.body, str) and response.status == 429:
            response.content_type = "text/plain; charset=utf-8"
        return response

    def unknown_route(self, request: Request) -> Response:
        """GitLab answers an unknown API path with ``{"error": "404 Not Found"}``."""
        raise HttpError(404, "404 Not Found", grape=True)

    def _register_routes(self) -> None:
        pipelines = _PROJECT + r"/pipelines"
        self.route("GET", _PROJECT)(self._get_project)
        self.route("POST", _PROJECT + r"/pipeline")(self._create_pipeline)
        self.route("POST", _PROJECT + r"/trigger/pipeline")(self._trigger_pipeline)
        self.route("POST", _PROJECT + r"/ref/(?P<ref>.+)/trigger/pipeline")(self._trigger_pipeline)
        self.route("GET", pipelines)(self._list_pipelines)
        self.route("GET", pipelines + r"/(?P<pipeline_id>\d+)")(self._get_pipeline)
        self.route("GET", pipelines + r"/(?P<pipeline_id>\d+)/variables")(self._pipeline_variables)
        self.route("POST", pipelines + r"/(?P<pipeline_id>\d+)/cancel")(self._cancel_pipeline)
        self.route("GET", r"/(?P<path>.+)/-/pipelines/(?P<pipeline_id>\d+)")(self._pipeline_page)

    def _pipeline_page(self, request: Request) -> Response:
        """A pipeline's web page: its status, ref and name (never its variables or log: no secret is needed)."""
        with self.lock:
            pipeline = next(
                (
                    p
                    for p in self.pipelines
                    if p.id == int(request.params["pipeline_id"]) and p.project_path == request.params["path"]
                ),
                None,
            )
            if pipeline is None:
                raise HttpError(404, "404 Not Found", grape=True)
            view = pipeline.basic_json()
        rows = "".join(
            f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(view[key]))}</td></tr>"
            for key in ("id", "status", "ref", "name", "source", "created_at", "updated_at")
        )
        title = html.escape(f"Pipeline #{view['id']} · {pipeline.project_path}")
        page = (
            f"<!doctype html><html><head><title>{title}</title></head>"
            f"<body><h1>{title}</h1><table>{rows}</table></body></html>"
        )
        return Response(body=page, content_type="text/html; charset=utf-8")
