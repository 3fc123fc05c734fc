"""Route handlers of the fake GitLab's REST v4 API (mixed into :class:`meshpipe.fakes.gitlab.FakeGitLab`).

Checks run in GitLab's order: rate limit (429, Rack::Attack runs first), credentials (401; ``authenticate_non_get!``:
every write needs a token), token scope (403 ``insufficient_scope``), parameters (400 Grape ``{"error"}``), project
visibility (404), role (403), then the pipeline rules (400 ``{"message"}``). Sources: ``lib/api/ci/pipelines.rb``,
``lib/api/ci/triggers.rb``, ``lib/api/ci/helpers/pipelines_helpers.rb``, ``lib/api/api_guard.rb`` (gitlabhq).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from meshpipe.fakes._http import HttpError, Request, Response
from meshpipe.fakes.gitlab_models import ACCESS_LEVELS, DEVELOPER, AccessToken, Project, TriggerToken, project_json
from meshpipe.fakes.gitlab_params import credential, grape_error, params
from meshpipe.fakes.gitlab_pipelines import FINISHED, PIPELINE_STATUSES, Pipeline
from meshpipe.fakes.gitlab_rules import input_errors, render_name, resolve_inputs, variable_key_error

__all__ = ["ORDER_BY", "SOURCES", "ApiHandlers", "Caller"]

#: ``Ci::PipelinesFinder::ALLOWED_INDEXED_COLUMNS``.
ORDER_BY = ("id", "status", "ref", "updated_at", "user_id")
#: ``Ci::Pipeline.sources`` (the ``source`` filter's values).
SOURCES = (
    "unknown",
    "push",
    "web",
    "trigger",
    "schedule",
    "api",
    "external",
    "pipeline",
    "chat",
    "webide",
    "merge_request_event",
    "external_pull_request_event",
    "parent_pipeline",
    "ondemand_dast_scan",
    "ondemand_dast_validation",
    "security_orchestration_policy",
    "container_registry_push",
    "duo_workflow",
    "pipeline_execution_policy_schedule",
)
_VARIABLE_TYPES = ("env_var", "file")
_MAX_PER_PAGE = 100
_INSUFFICIENT_SCOPE = "The request requires higher privileges than provided by the access token."


class Caller:
    """Who sent an API request: an access token, or nobody (anonymous reads of public projects)."""

    def __init__(self, token: AccessToken | None) -> None:
        self.token = token

    @property
    def username(self) -> str:
        return "project_bot" if self.token is not None else "anonymous"

    @property
    def access_level(self) -> int:
        return self.token.access_level if self.token is not None else ACCESS_LEVELS["guest"]


class ApiHandlers:
    """The API endpoints; see the module docstring for the order of checks."""

    if TYPE_CHECKING:
        lock: threading.RLock
        projects: dict[str, Project]
        access_tokens: dict[str, AccessToken]
        trigger_tokens: dict[str, TriggerToken]
        pipelines: list[Pipeline]
        _pipeline_ids: itertools.count[int]
        _iids: dict[int, int]
        url: str

        @property
        def api_url(self) -> str: ...

        def _throttle(self, key: str) -> None: ...

        def _start(self, pipeline: Pipeline, project: Project) -> None: ...

    # -- credentials, scope, project ---------------------------------------------------------------------------
    def _caller(self, request: Request, given: dict[str, Any], *, write: bool) -> Caller:
        token = credential(request, given)
        self._throttle(f"token:{token}" if token else "anonymous")
        if token is None:
            if write:
                raise HttpError(401, "401 Unauthorized")
            return Caller(None)
        entry = self.access_tokens.get(token)
        if entry is None:
            raise HttpError(401, "401 Unauthorized")
        if entry.revoked:
            raise HttpError(401, "Token was revoked. You have to re-authorize from the user.", oauth="invalid_token")
        if entry.expires is not None and entry.expires <= time.time():
            raise HttpError(401, "Token has expired.", oauth="invalid_token")
        needed = ("api",) if write else ("api", "read_api")
        if not any(scope in entry.scopes for scope in needed):
            raise HttpError(403, _INSUFFICIENT_SCOPE, oauth="insufficient_scope", scope=" ".join(needed))
        return Caller(entry)

    def _project(self, request: Request, caller: Caller | None) -> Project:
        """The project named by ``:id`` (numeric or URL-encoded path) if the caller may see it, else 404."""
        key = unquote(request.params["project"])
        if key.isdigit():
            project = next((p for p in self.projects.values() if p.id == int(key)), None)
        else:
            project = self.projects.get(key.lower())
        visible = project is not None and (
            project.visibility == "public"
            or (caller is None)  # the trigger endpoint finds the project first, the token decides
            or (caller.token is not None and caller.token.reaches(project))
        )
        if project is None or not visible:
            raise HttpError(404, "404 Project Not Found")
        return project

    def _require_role(self, caller: Caller, level: int) -> None:
        if caller.access_level < level:
            raise HttpError(403, "403 Forbidden")

    # -- GET /projects/:id -------------------------------------------------------------------------------------
    def _get_project(self, request: Request) -> Response:
        given = params(request)
        caller = self._caller(request, given, write=False)
        return Response(body=project_json(self._project(request, caller), self.url))

    # -- POST /projects/:id/pipeline ---------------------------------------------------------------------------
    def _create_pipeline(self, request: Request) -> Response:
        given = params(request)
        caller = self._caller(request, given, write=True)
        ref = given.get("ref")
        if ref is None:
            raise grape_error("ref is missing")
        if not isinstance(ref, (str, int, float)) or isinstance(ref, bool):
            raise grape_error("ref is invalid")
        variables = _pipeline_variables(given.get("variables"))
        inputs = given.get("inputs")
        if inputs is not None and not isinstance(inputs, dict):
            raise grape_error("inputs is invalid")
        project = self._project(request, caller)
        self._require_role(caller, DEVELOPER)
        if variables and not project.allow_pipeline_variables:
            raise _validation("Insufficient permissions to set pipeline variables")
        resolved = project.resolve_ref(str(ref))
        if resolved is None:
            raise _validation("Reference not found")
        problem = input_errors(project.ci_inputs, inputs or {})
        if problem:
            raise _validation(problem)
        for variable in variables:
            reason = variable_key_error(variable["key"])
            if reason:
                raise _validation(f"Failed to persist the pipeline: Validation failed: Variables key {reason}")
        pipeline = self._new_pipeline(project, resolved, "api", inputs or {}, variables, caller.username)
        return self._created(pipeline, project)

    # -- POST /projects/:id/trigger/pipeline -------------------------------------------------------------------
    def _trigger_pipeline(self, request: Request) -> Response:
        given = params(request)
        if "ref" in request.params:  # POST /projects/:id/ref/:ref/trigger/pipeline
            given["ref"] = unquote(request.params["ref"])
        missing = [name for name in ("ref", "token") if given.get(name) is None]
        if missing:
            raise grape_error(", ".join(f"{name} is missing" for name in missing))
        if given["ref"] == "":
            raise grape_error("ref is empty")
        token = str(given["token"])
        self._throttle(f"trigger:{token}")
        variables = given.get("variables") or {}
        if not isinstance(variables, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
        ):
            raise HttpError(400, "variables needs to be a map of key-valued strings")
        inputs = given.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise grape_error("inputs is invalid")
        try:
            project = self._project(request, None)
        except HttpError:
            raise HttpError(404, "404 Not Found") from None
        trigger = self.trigger_tokens.get(token)
        if trigger is None or trigger.project_id != project.id:
            raise HttpError(404, "404 Not Found")
        if variables and not project.allow_pipeline_variables:
            raise _validation("Insufficient permissions to set pipeline variables")
        resolved = project.resolve_ref(str(given["ref"]))
        if resolved is None:
            raise _validation("Reference not found")
        listed = [{"key": k, "value": v, "variable_type": "env_var"} for k, v in variables.items()]
        # PipelineTriggerService adds the request's parameters but the token as a file variable.
        payload = {key: value for key, value in given.items() if key != "token"}
        payload["id"] = unquote(request.params["project"])
        trigger_payload = {"key": "TRIGGER_PAYLOAD", "value": json.dumps(payload), "variable_type": "file"}
        for variable in listed:
            reason = variable_key_error(variable["key"])
            if reason:
                raise _validation(f"Failed to persist the pipeline: Validation failed: Variables key {reason}")
        # A trigger keeps a pipeline whose configuration failed (save_on_errors): 201, status failed, yaml_errors.
        problem = input_errors(project.ci_inputs, inputs)
        pipeline = self._new_pipeline(
            project, resolved, "trigger", inputs, [*listed, trigger_payload], "trigger", yaml_errors=problem
        )
        return self._created(pipeline, project)

    def _created(self, pipeline: Pipeline, project: Project) -> Response:
        """The 201 answer, rendered before the job starts: a new pipeline is never already running."""
        response = Response(status=201, body=pipeline.json(self.url))
        if pipeline.command is not None:
            self._start(pipeline, project)
        return response

    def _new_pipeline(
        self,
        project: Project,
        ref: tuple[str, bool],
        source: str,
        inputs: dict[str, Any],
        variables: list[dict[str, str]],
        user: str,
        *,
        yaml_errors: str | None = None,
    ) -> Pipeline:
        from meshpipe.fakes.github_models import sha_for

        pipeline_id = next(self._pipeline_ids)
        iid = self._iids[project.id] = self._iids.get(project.id, 0) + 1
        resolved = resolve_inputs(project.ci_inputs, inputs) if yaml_errors is None else dict(inputs)
        name = None
        if project.name_template is not None and yaml_errors is None:
            predefined = {
                "CI_COMMIT_REF_NAME": ref[0],
                "CI_PIPELINE_SOURCE": source,
                "CI_PROJECT_PATH": project.path_with_namespace,
            }
            name = render_name(project.name_template, resolved, {**predefined, **_as_env(variables)}) or None
        pipeline = Pipeline(
            id=pipeline_id,
            iid=iid,
            project_id=project.id,
            project_path=project.path_with_namespace,
            ref=ref[0],
            tag=ref[1],
            sha=sha_for(project.path_with_namespace, ref[0]),
            source=source,
            name=name,
            web_url=f"{self.url}/{project.path_with_namespace}/-/pipelines/{pipeline_id}",
            inputs=resolved,
            variables=[
                {"key": v["key"].strip(), "value": v["value"], "variable_type": v["variable_type"]} for v in variables
            ],
            duration=project.duration,
            planned_status=project.conclusion,
            user=user,
            command=list(project.command) if project.command and yaml_errors is None else None,
            after_command=list(project.after_command) if project.after_command else None,
            yaml_errors=yaml_errors,
        )
        self.pipelines.append(pipeline)
        return pipeline

    # -- GET /projects/:id/pipelines ---------------------------------------------------------------------------
    def _list_pipelines(self, request: Request) -> Response:
        given = params(request)
        caller = self._caller(request, given, write=False)
        checks = {
            "status": PIPELINE_STATUSES,
            "source": SOURCES,
            "order_by": ORDER_BY,
            "sort": ("asc", "desc"),
            "scope": SCOPES,
            "yaml_errors": ("true", "false", True, False),
        }
        for name, allowed in checks.items():
            if name in given and given[name] not in allowed:
                raise grape_error(f"{name} does not have a valid value")
        times = {name: _datetime(given, name) for name in _TIME_FILTERS}
        page = _positive(given, "page", 1)
        per_page = min(_positive(given, "per_page", 20), _MAX_PER_PAGE)
        project = self._project(request, caller)
        self._require_role(caller, ACCESS_LEVELS["reporter"] if project.visibility != "public" else 0)
        rows = []
        for pipeline in self.pipelines:
            status, updated, _, _ = pipeline.phase()
            if pipeline.project_id == project.id and _listed(pipeline, status, updated, given, times):
                rows.append((pipeline, status, updated))
        order = given.get("order_by", "id")
        keys = {
            "id": lambda r: r[0].id,
            "status": lambda r: r[1],
            "ref": lambda r: r[0].ref,
            "updated_at": lambda r: r[2],
        }
        rows.sort(key=keys.get(order, lambda r: r[0].id), reverse=given.get("sort", "desc") == "desc")
        total = len(rows)
        chunk = rows[(page - 1) * per_page : page * per_page]
        headers = _pagination_headers(self.url + request.path, given, page, per_page, total)
        return Response(body=[row[0].basic_json() for row in chunk], headers=headers)

    # -- GET /projects/:id/pipelines/:pipeline_id[/variables], POST .../cancel --------------------------------------
    def _pipeline(self, request: Request, *, write: bool = False) -> tuple[Pipeline, Caller]:
        given = params(request)
        caller = self._caller(request, given, write=write)
        project = self._project(request, caller)
        self._require_role(caller, ACCESS_LEVELS["reporter"] if project.visibility != "public" else 0)
        pipeline_id = int(request.params["pipeline_id"])
        pipeline = next((p for p in self.pipelines if p.id == pipeline_id and p.project_id == project.id), None)
        if pipeline is None:
            raise HttpError(404, "404 Not found")
        return pipeline, caller

    def _get_pipeline(self, request: Request) -> Response:
        pipeline, _ = self._pipeline(request)
        return Response(body=pipeline.json(self.url))

    def _pipeline_variables(self, request: Request) -> Response:
        pipeline, caller = self._pipeline(request)
        self._require_role(caller, DEVELOPER)
        body = [
            {"variable_type": v["variable_type"], "key": v["key"], "value": v["value"], "raw": False}
            for v in pipeline.variables
        ]
        return Response(body=body)

    def _cancel_pipeline(self, request: Request) -> Response:
        pipeline, caller = self._pipeline(request, write=True)
        self._require_role(caller, DEVELOPER)
        pipeline.finish("canceled")  # a finished pipeline answers 200 unchanged (GitLab's documented inconsistency)
        return Response(body=pipeline.json(self.url))


#: the ``scope`` filter's values and what each keeps
SCOPES = ("running", "pending", "finished", "branches", "tags")
_TIME_FILTERS = ("updated_after", "updated_before", "created_after", "created_before")


def _listed(
    pipeline: Pipeline, status: str, updated: float, given: dict[str, Any], times: dict[str, float | None]
) -> bool:
    """Whether a pipeline passes the list's filters (``Ci::PipelinesFinder``: exact matches, strict time bounds)."""
    exact = {
        "ref": pipeline.ref,
        "sha": pipeline.sha,
        "status": status,
        "source": pipeline.source,
        "name": pipeline.name,
        "username": pipeline.user,
    }
    if any(given.get(key) is not None and given[key] != value for key, value in exact.items()):
        return False
    scope = given.get("scope")
    scoped = {
        "running": status == "running",
        "pending": status == "pending",
        "finished": status in FINISHED,
        "branches": not pipeline.tag,
        "tags": pipeline.tag,
    }
    if scope is not None and not scoped[scope]:
        return False
    if given.get("yaml_errors") in ("true", True) and not pipeline.yaml_errors:
        return False
    if given.get("yaml_errors") in ("false", False) and pipeline.yaml_errors:
        return False
    bounds = (
        (times["updated_after"], updated, 1),
        (times["updated_before"], updated, -1),
        (times["created_after"], pipeline.created, 1),
        (times["created_before"], pipeline.created, -1),
    )
    return all(bound is None or (moment - bound) * sign > 0 for bound, moment, sign in bounds)


def _validation(message: str) -> HttpError:
    """``render_validation_error!(pipeline)``: ``{"message": {"base": [message]}}``."""
    return HttpError(400, message, body={"message": {"base": [message]}})


def _pipeline_variables(value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise grape_error("variables is invalid")
    result = []
    for index, item in enumerate(value):
        kind = item.get("variable_type", "env_var")
        if kind not in _VARIABLE_TYPES:
            raise grape_error(f"variables[{index}][variable_type] does not have a valid value")
        for field in ("key", "value"):
            if isinstance(item.get(field), (dict, list)):
                raise grape_error(f"variables[{index}][{field}] is invalid")
        key = item.get("key")
        raw_value = item.get("value")
        result.append(
            {
                "key": "" if key is None else _grape_string(key),
                "value": "" if raw_value is None else _grape_string(raw_value),
                "variable_type": kind,
            }
        )
    return result


def _grape_string(value: Any) -> str:
    """Grape's ``type: String`` coercion (numbers and booleans become their text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_env(variables: list[dict[str, str]]) -> dict[str, str]:
    return {v["key"].strip(): v["value"] for v in variables}


def _datetime(given: dict[str, Any], name: str) -> float | None:
    value = given.get(name)
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise grape_error(f"{name} is invalid") from None


def _positive(given: dict[str, Any], name: str, default: int) -> int:
    value = given.get(name)
    if value is None:
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise grape_error(f"{name} is invalid") from None
    if number < 1:
        raise grape_error(f"{name} must be greater than or equal to 1")
    return number


def _pagination_headers(base: str, given: dict[str, Any], page: int, per_page: int, total: int) -> dict[str, str]:
    """GitLab's offset pagination headers (``Gitlab::Pagination::OffsetHeaderBuilder``)."""
    pages = max((total + per_page - 1) // per_page, 1)
    query = {k: v for k, v in given.items() if k not in ("page", "per_page", "private_token") and isinstance(v, str)}

    def link(number: int) -> str:
        return f"{base}?{urlencode({**query, 'page': number, 'per_page': per_page})}"

    links = []
    if page > 1:
        links.append(f'<{link(page - 1)}>; rel="prev"')
    if page < pages:
        links.append(f'<{link(page + 1)}>; rel="next"')
    links.append(f'<{link(1)}>; rel="first"')
    links.append(f'<{link(pages)}>; rel="last"')
    return {
        "X-Page": str(page),
        "X-Per-Page": str(per_page),
        "X-Total": str(total),
        "X-Total-Pages": str(pages),
        "X-Next-Page": str(page + 1) if page < pages else "",
        "X-Prev-Page": str(page - 1) if page > 1 else "",
        "Link": ", ".join(links),
    }
