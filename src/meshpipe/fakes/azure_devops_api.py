"""Route handlers of the fake Azure DevOps REST API (mixed into :class:`meshpipe.fakes.azure_devops.FakeAzureDevOps`):
the pipelines and runs endpoints of ``pipelines.json`` 7.1 and the ``OPTIONS {org}/_apis`` resource locations the
official clients look routes up with."""

from __future__ import annotations

import hashlib
import itertools
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from meshpipe.fakes._wire import HttpError, Request, Response
from meshpipe.fakes.azure_devops_models import Pipeline, Project, iso, pipeline_json, pipeline_reference
from meshpipe.fakes.azure_devops_rules import (
    ARGUMENT,
    MAX_VERSION,
    MIN_VERSION,
    PIPELINE_VALIDATION,
    AzureError,
    api_version,
    check_parameters,
    run_body,
)
from meshpipe.fakes.azure_devops_runs import PipelineRun, render_run_name, variable_env_name

if TYPE_CHECKING:
    from meshpipe.fakes.azure_devops_models import Credential

__all__ = ["LOCATIONS", "ApiHandlers", "run_json"]

_PROJECT_MISSING = AzureError(
    "ProjectDoesNotExistWithNameException",
    "Microsoft.TeamFoundation.Core.WebApi",
    "Microsoft.TeamFoundation.Core.WebApi",
)
_PIPELINE_MISSING = AzureError(
    "PipelineNotFoundException", "Microsoft.Azure.Pipelines.WebApi", "Microsoft.Azure.Pipelines.WebApi"
)
_RUN_MISSING = AzureError(
    "RunNotFoundException", "Microsoft.Azure.Pipelines.WebApi", "Microsoft.Azure.Pipelines.WebApi"
)
_MEDIA_TYPE = AzureError(
    "VssRequestContentException", "Microsoft.VisualStudio.Services.WebApi", "Microsoft.VisualStudio.Services.WebApi"
)

#: ``ApiResourceLocation``\ s of the pipelines area (ids and route templates as the official clients use them:
#: ``azure-devops`` 7.1.0b4 ``v7_1/pipelines/pipelines_client.py``).
LOCATIONS: tuple[tuple[str, str, str], ...] = (
    ("28e1305e-2afe-47bf-abaf-cbb0e6a91988", "pipelines", "{project}/_apis/pipelines/{pipelineId}"),
    ("7859261e-d2e9-4a68-b820-a5d84cc5bb3d", "runs", "{project}/_apis/pipelines/{pipelineId}/runs/{runId}"),
)
_PAGE = 100


def run_json(org_url: str, project: Project, pipeline: Pipeline, run: PipelineRun) -> dict[str, Any]:
    """A ``Run`` as the service answers it: ``result`` and ``finishedDate`` only once completed."""
    state, result, finished = run.snapshot()
    body: dict[str, Any] = {
        "_links": {
            "self": {"href": run.url},
            "web": {"href": run.web_url},
            "pipeline.web": {"href": f"{org_url}/{project.id}/_build/definition?definitionId={pipeline.id}"},
            "pipeline": {"href": f"{org_url}/{project.id}/_apis/pipelines/{pipeline.id}?revision={pipeline.revision}"},
        },
        "templateParameters": dict(run.template_parameters),
        "pipeline": pipeline_reference(org_url, project, pipeline),
        "state": state,
        "createdDate": iso(run.created),
        "url": run.url,
        "resources": {
            "repositories": {
                "self": {
                    "repository": {"id": project.id, "type": "azureReposGit"},
                    "refName": run.ref_name,
                    "version": hashlib.sha1(f"{project.id}:{run.ref_name}".encode()).hexdigest(),
                }
            }
        },
        "id": run.id,
        "name": run.name,
    }
    if run.variables:
        body["variables"] = {
            name: ({"isSecret": True} if variable.get("isSecret") else {"value": variable.get("value", "")})
            for name, variable in run.variables.items()
        }
    if result is not None and finished is not None:
        body["result"] = result
        body["finishedDate"] = iso(finished)
    return body


class ApiHandlers:
    """The API endpoints; each checks credentials and scope, the api-version and the project first."""

    if TYPE_CHECKING:
        organization: str
        projects: dict[str, Project]
        runs: list[PipelineRun]
        lock: threading.RLock
        _run_ids: itertools.count[int]

        @property
        def org_url(self) -> str: ...

        def _authenticate(self, request: Request, scope: str | None) -> Credential: ...

        def _start(self, project: Project, pipeline: Pipeline, run: PipelineRun) -> None: ...

    # -- lookups ---------------------------------------------------------------------------------------------
    def _preamble(self, request: Request, scope: str) -> tuple[Credential, Project]:
        self._organization(request)
        credential = self._authenticate(request, scope)
        api_version(request)
        return credential, self._project(request)

    def _organization(self, request: Request) -> None:
        organization = unquote(request.params["organization"])
        if organization.lower() != self.organization.lower():
            raise HttpError(404, f"The organization '{organization}' does not exist.")

    def _project(self, request: Request) -> Project:
        wanted = unquote(request.params["project"])
        for project in self.projects.values():
            if project.name.lower() == wanted.lower() or project.id == wanted.lower():
                return project
        raise _PROJECT_MISSING.raise_(
            404,
            f"TF200016: The following project does not exist: {wanted}. Verify that the name of the project is "
            "correct and that the project exists on the specified Azure DevOps Server.",
        )

    def _pipeline(self, project: Project, request: Request) -> Pipeline:
        pipeline = project.pipelines.get(int(request.params["pipeline_id"]))
        if pipeline is None:
            raise _PIPELINE_MISSING.raise_(404, f"Pipeline with id {request.params['pipeline_id']} not found.")
        return pipeline

    # -- OPTIONS {org}/_apis ---------------------------------------------------------------------------------
    def _options(self, request: Request) -> Response:
        self._organization(request)
        self._authenticate(request, None)
        value = [
            {
                "id": location_id,
                "area": "pipelines",
                "resourceName": resource,
                "routeTemplate": template,
                "resourceVersion": 1,
                "minVersion": float(f"{MIN_VERSION[0]}.{MIN_VERSION[1]}"),
                "maxVersion": float(f"{MAX_VERSION[0]}.{MAX_VERSION[1]}"),
                "releasedVersion": f"{MAX_VERSION[0]}.{MAX_VERSION[1]}",
            }
            for location_id, resource, template in LOCATIONS
        ]
        return Response(body={"count": len(value), "value": value})

    # -- pipelines ---------------------------------------------------------------------------------------------
    def _list_pipelines(self, request: Request) -> Response:
        _, project = self._preamble(request, "vso.build")
        order = (request.query_value("orderBy") or "name asc").strip().lower()
        key, _, direction = order.partition(" ")
        if key not in ("name", "id") or direction not in ("", "asc", "desc"):
            raise ARGUMENT.raise_(400, f"orderBy: '{order}' is not a valid sort expression.")
        pipelines = sorted(
            project.pipelines.values(),
            key=lambda p: (p.name.lower(), p.id) if key == "name" else (p.id, ""),
            reverse=direction == "desc",
        )
        start = _int_query(request, "continuationToken", 0)
        top = _int_query(request, "$top", _PAGE)
        page = pipelines[start : start + top]
        headers = {}
        if start + top < len(pipelines):
            headers["X-MS-ContinuationToken"] = str(start + top)
        value = [pipeline_json(self.org_url, project, p) for p in page]
        return Response(body={"count": len(value), "value": value}, headers=headers)

    def _get_pipeline(self, request: Request) -> Response:
        _, project = self._preamble(request, "vso.build")
        return Response(body=pipeline_json(self.org_url, project, self._pipeline(project, request)))

    # -- runs ----------------------------------------------------------------------------------------------------
    def _list_runs(self, request: Request) -> Response:
        _, project = self._preamble(request, "vso.build")
        pipeline = self._pipeline(project, request)
        runs = [r for r in reversed(self.runs) if r.project_id == project.id and r.pipeline_id == pipeline.id]
        value = [run_json(self.org_url, project, pipeline, run) for run in runs[:10_000]]
        return Response(body={"count": len(value), "value": value})

    def _get_run(self, request: Request) -> Response:
        _, project = self._preamble(request, "vso.build")
        pipeline = self._pipeline(project, request)
        run_id = int(request.params["run_id"])
        for run in self.runs:
            if run.id == run_id and run.project_id == project.id and run.pipeline_id == pipeline.id:
                return Response(body=run_json(self.org_url, project, pipeline, run))
        raise _RUN_MISSING.raise_(404, f"Run with id {run_id} was not found in pipeline {pipeline.id}.")

    def _run_pipeline(self, request: Request) -> Response:
        credential, project = self._preamble(request, "vso.build_execute")
        if request.media_type != "application/json":
            raise _MEDIA_TYPE.raise_(
                415, f"The request entity's media type '{request.media_type}' is not supported for this resource."
            )
        pipeline = self._pipeline(project, request)
        body = run_body(request.json())
        parameters = check_parameters(pipeline.parameters, body.get("templateParameters", {}))
        ref = _self_ref(body) or f"refs/heads/{pipeline.default_branch}"
        ref_name = pipeline.ref_exists(ref)
        if ref_name is None:
            raise PIPELINE_VALIDATION.raise_(
                400,
                f"Unable to resolve the reference '{ref}' to a specific version. Verify the reference exists in the "
                "source repository.",
            )
        unknown_stages = [s for s in body.get("stagesToSkip", []) if s not in pipeline.stages]
        if unknown_stages:
            raise PIPELINE_VALIDATION.raise_(400, "\n".join(f"Stage '{s}' was not found." for s in unknown_stages))
        variables = body.get("variables", {})
        refused = [name for name in variables if name not in pipeline.settable_variables]
        if refused:
            raise PIPELINE_VALIDATION.raise_(
                400,
                "You can't set the following variables ("
                + ", ".join(refused)
                + "). If you want to be able to set these variables, then edit the pipeline and select Settable at "
                "queue time on the variables tab of the pipeline editor.",
            )
        if body.get("previewRun"):
            return Response(body={"finalYaml": _final_yaml(pipeline, parameters), "id": -1, "name": pipeline.name})
        run = self._create_run(project, pipeline, credential, ref_name, body, parameters)
        return Response(body=run_json(self.org_url, project, pipeline, run))

    def _create_run(
        self,
        project: Project,
        pipeline: Pipeline,
        credential: Credential,
        ref_name: str,
        body: dict[str, Any],
        parameters: dict[str, Any],
    ) -> PipelineRun:
        run_id = next(self._run_ids)
        marker = "\x00rev\x00"
        key = render_run_name(
            pipeline.name_template.replace("$(Rev:r)", marker),
            parameters=parameters,
            build_id=run_id,
            branch=ref_name,
            revision=0,
        )
        revision = pipeline.revisions.get(key, 0) + 1
        pipeline.revisions[key] = revision
        name = render_run_name(
            pipeline.name_template, parameters=parameters, build_id=run_id, branch=ref_name, revision=revision
        )
        run = PipelineRun(
            id=run_id,
            name=name,
            project=project.name,
            project_id=project.id,
            pipeline_id=pipeline.id,
            pipeline_name=pipeline.name,
            ref_name=ref_name,
            template_parameters=dict(body.get("templateParameters", {})),
            parameters=parameters,
            variables=dict(body.get("variables", {})),
            duration=pipeline.duration,
            planned_result=pipeline.result,
            web_url=f"{self.org_url}/{project.id}/_build/results?buildId={run_id}",
            url=f"{self.org_url}/{project.id}/_apis/pipelines/{pipeline.id}/runs/{run_id}",
            requested_by=credential.kind,
            stages_to_skip=list(body.get("stagesToSkip", [])),
            command=list(pipeline.command) if pipeline.command else None,
            final_command=list(pipeline.final_command) if pipeline.final_command else None,
        )
        self.runs.append(run)
        if run.command is not None:
            self._start(project, pipeline, run)
        return run

    def agent_environment(
        self, project: Project, pipeline: Pipeline, run: PipelineRun
    ) -> tuple[dict[str, str], list[str]]:
        """The environment a run's command gets (besides the agent's directories) and the secret values to mask."""
        env = {
            "BUILD_BUILDID": str(run.id),
            "BUILD_BUILDNUMBER": run.name,
            "BUILD_DEFINITIONNAME": pipeline.name,
            "BUILD_REASON": "Manual",
            "BUILD_SOURCEBRANCH": run.ref_name,
            "BUILD_SOURCEBRANCHNAME": run.ref_name.rsplit("/", 1)[-1],
            "BUILD_REPOSITORY_NAME": project.name,
            "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI": self.org_url + "/",
            "SYSTEM_COLLECTIONURI": self.org_url + "/",
            "SYSTEM_TEAMPROJECT": project.name,
            "SYSTEM_TEAMPROJECTID": project.id,
            "SYSTEM_DEFINITIONID": str(pipeline.id),
        }
        for name, value in pipeline.variables.items():
            env[variable_env_name(name)] = value
        for name, value in run.parameters.items():
            env[variable_env_name(name)] = _variable_text(value)
        secrets = dict(pipeline.secrets)
        for name, variable in run.variables.items():
            if variable.get("isSecret"):
                secrets[name] = str(variable.get("value", ""))
            else:
                env[variable_env_name(name)] = str(variable.get("value", ""))
        for env_name, secret_name in pipeline.secret_env.items():
            if secret_name in secrets:
                env[env_name] = secrets[secret_name]
        return env, list(secrets.values())


def _self_ref(body: dict[str, Any]) -> str | None:
    repositories = (body.get("resources") or {}).get("repositories") or {}
    ref = (repositories.get("self") or {}).get("refName")
    return ref if isinstance(ref, str) and ref else None


def _variable_text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _final_yaml(pipeline: Pipeline, parameters: dict[str, Any]) -> str:
    lines = [f"name: {pipeline.name_template}", "variables:"]
    lines += [f"  {name}: {_variable_text(value)!r}" for name, value in parameters.items()]
    lines += ["steps:", "- script: " + " ".join(pipeline.command or ["echo", "run"])]
    return "\n".join(lines) + "\n"


def _int_query(request: Request, name: str, default: int) -> int:
    text = request.query_value(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ARGUMENT.raise_(400, f"{name}: '{text}' is not a valid integer.") from None
    if value < 0:
        raise ARGUMENT.raise_(400, f"{name}: must not be negative, got {value}.")
    return value
