"""Route handlers of the fake GitHub's REST API (mixed into :class:`meshpipe.fakes.github.FakeGitHub`)."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from meshpipe.fakes._http import HttpError, Request, Response
from meshpipe.fakes.github_models import (
    App,
    Dispatch,
    Repository,
    Token,
    Workflow,
    full_repository_json,
    owner_json,
    repository_json,
    sha_for,
    workflow_json,
)
from meshpipe.fakes.github_run_json import check_suite_id, run_json
from meshpipe.fakes.github_runs import WorkflowRun, render_run_name
from meshpipe.fakes.github_validate import (
    parse_created,
    resolve_inputs,
    validate_repository_dispatch,
    validate_workflow_dispatch,
)

__all__ = ["RUN_CONCLUSIONS", "RUN_STATUSES", "ApiHandlers", "Caller", "int_query", "paging"]

RUN_STATUSES = ("queued", "in_progress", "completed", "requested", "waiting", "pending")
RUN_CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "skipped", "stale", "success", "timed_out")


class Caller:
    """Who sent an API request: a token (PAT / installation) or an App (JWT)."""

    def __init__(self, token: Token | None = None, app: App | None = None) -> None:
        self.token = token
        self.app = app

    @property
    def login(self) -> str:
        if self.app is not None:
            return f"{self.app.slug}[bot]"
        if self.token is not None and self.token.kind == "installation":
            return "fake-app[bot]"
        return "fake-user"


class ApiHandlers:
    """The API endpoints; each takes the request and the authenticated caller and returns a response."""

    if TYPE_CHECKING:
        flavour: str
        repositories: dict[str, Repository]
        tokens: dict[str, Token]
        dispatches: list[Dispatch]
        runs: list[WorkflowRun]
        _run_ids: itertools.count[int]
        _run_numbers: dict[str, int]

        @property
        def api_url(self) -> str: ...

        @property
        def html_url(self) -> str: ...

    def _repository(self, request: Request, caller: Caller) -> Repository:
        full_name = f"{request.params['owner']}/{request.params['repo']}"
        repo = self.repositories.get(full_name.lower())
        # Private repositories answer 404 to callers without access, exactly like missing ones.
        if repo is None or caller.token is None or not caller.token.can_see(repo.full_name):
            raise HttpError(404, "Not Found")
        return repo

    def _require_write(self, caller: Caller) -> None:
        assert caller.token is not None
        if caller.token.permissions != "write":
            who = "integration" if caller.token.kind == "installation" else "personal access token"
            raise HttpError(403, f"Resource not accessible by {who}")

    def _workflow(self, repo: Repository, request: Request) -> Workflow:
        workflow = repo.workflow(request.params["workflow"])
        if workflow is None:
            raise HttpError(404, "Not Found")
        return workflow

    # -- handlers ------------------------------------------------------------------------------------------------
    def _get_repository(self, request: Request, caller: Caller) -> Response:
        repo = self._repository(request, caller)
        assert caller.token is not None
        return Response(
            body=full_repository_json(repo, self.api_url, self.html_url, write=caller.token.permissions == "write")
        )

    def _dispatch_workflow(self, request: Request, caller: Caller) -> Response:
        repo = self._repository(request, caller)
        version = request.params["api_version"]
        body = validate_workflow_dispatch(request.json(), self.flavour, api_version=version)
        self._require_write(caller)
        workflow = self._workflow(repo, request)
        if not workflow.workflow_dispatch:
            raise HttpError(422, "Workflow does not have 'workflow_dispatch' trigger")
        branch = repo.resolve_ref(body["ref"])
        if branch is None:
            raise HttpError(422, f"No ref found for: {body['ref']}")
        sent = body.get("inputs") or {}
        inputs = resolve_inputs(workflow, sent)
        context = {
            "inputs": inputs,
            "github": self._github_context(repo, workflow, "workflow_dispatch", branch, caller),
        }
        context["github"]["event"] = {"inputs": {k: _text(v) for k, v in inputs.items()}, "ref": body["ref"]}
        payload = {
            "inputs": inputs,
            "ref": f"refs/heads/{branch}" if branch in repo.branches else f"refs/tags/{branch}",
            "repository": repository_json(repo, self.api_url, self.html_url),
            "sender": owner_json(caller.login, self.api_url, self.html_url, user_id=2, kind="User"),
            "workflow": workflow.path,
        }
        run = self._start_run(repo, workflow, "workflow_dispatch", branch, inputs, context, payload, caller)
        self.dispatches.append(
            Dispatch(
                repository=repo.full_name,
                workflow=workflow.file,
                event="workflow_dispatch",
                ref=body["ref"],
                inputs=dict(sent),
                event_type=None,
                client_payload=None,
                headers=dict(request.headers),
                run_id=run.id,
                body=body,
                run_ids=[run.id],
            )
        )
        if version == "2026-03-10" or (self.flavour == "github" and body.get("return_run_details") is True):
            return Response(body={"workflow_run_id": run.id, "run_url": run.url, "html_url": run.html_url})
        return Response(status=204)

    def _dispatch_repository(self, request: Request, caller: Caller) -> Response:
        repo = self._repository(request, caller)
        body = validate_repository_dispatch(request.json())
        self._require_write(caller)
        event_type = body["event_type"]
        client_payload = body.get("client_payload") or {}
        branch = repo.default_branch
        run_ids = []
        for workflow in repo.workflows.values():
            types = workflow.repository_dispatch_types
            if types is None or (types and event_type not in types):
                continue
            context = {"github": self._github_context(repo, workflow, "repository_dispatch", branch, caller)}
            context["github"]["event"] = {"action": event_type, "client_payload": client_payload}
            payload = {
                "action": event_type,
                "branch": branch,
                "client_payload": client_payload,
                "repository": repository_json(repo, self.api_url, self.html_url),
                "sender": owner_json(caller.login, self.api_url, self.html_url, user_id=2, kind="User"),
            }
            run_ids.append(
                self._start_run(repo, workflow, "repository_dispatch", branch, {}, context, payload, caller).id
            )
        self.dispatches.append(
            Dispatch(
                repository=repo.full_name,
                workflow=None,
                event="repository_dispatch",
                ref=None,
                inputs=dict(client_payload),
                event_type=event_type,
                client_payload=client_payload,
                headers=dict(request.headers),
                run_id=run_ids[0] if run_ids else None,
                body=body,
                run_ids=run_ids,
            )
        )
        return Response(status=204)

    def _github_context(
        self, repo: Repository, workflow: Workflow, event: str, branch: str, caller: Caller
    ) -> dict[str, Any]:
        return {
            "event_name": event,
            "ref_name": branch,
            "ref": f"refs/heads/{branch}",
            "repository": repo.full_name,
            "repository_owner": repo.owner,
            "workflow": workflow.name,
            "actor": caller.login,
            "server_url": self.html_url,
            "api_url": self.api_url,
        }

    def _start_run(
        self,
        repo: Repository,
        workflow: Workflow,
        event: str,
        branch: str,
        inputs: dict[str, Any],
        context: dict[str, Any],
        payload: dict[str, Any],
        caller: Caller,
    ) -> WorkflowRun:
        run_id = next(self._run_ids)
        number = self._run_numbers.get(workflow.path + repo.full_name, 0) + 1
        self._run_numbers[workflow.path + repo.full_name] = number
        title = render_run_name(workflow.run_name, context) if workflow.run_name else workflow.name
        run = WorkflowRun(
            id=run_id,
            repository=repo.full_name,
            workflow=workflow.file,
            workflow_id=workflow.id,
            workflow_name=workflow.name,
            workflow_path=workflow.path,
            event=event,
            head_branch=branch,
            inputs=inputs,
            display_title=title,
            html_url=f"{self.html_url}/{repo.full_name}/actions/runs/{run_id}",
            url=f"{self.api_url}/repos/{repo.full_name}/actions/runs/{run_id}",
            run_number=number,
            duration=workflow.duration,
            planned_conclusion=workflow.conclusion,
            actor=caller.login,
            command=workflow.command,
            event_payload=payload,
        )
        self.runs.append(run)
        if workflow.command:
            run.start_command(workflow.env, self.api_url, self.html_url)
        return run

    def _get_workflow(self, request: Request, caller: Caller) -> Response:
        repo = self._repository(request, caller)
        workflow = self._workflow(repo, request)
        return Response(body=workflow_json(workflow, self.api_url, self.html_url, repo.default_branch))

    def _list_runs(self, request: Request, caller: Caller) -> Response:
        """List a workflow's runs, or with no ``workflow`` in the path all of a repository's runs."""
        repo = self._repository(request, caller)
        runs = [r for r in self.runs if r.repository == repo.full_name]
        if "workflow" in request.params:
            workflow = self._workflow(repo, request)
            runs = [r for r in runs if r.workflow_id == workflow.id]
        event, branch, status = (
            request.query_value("event"),
            request.query_value("branch"),
            request.query_value("status"),
        )
        actor, head_sha, created = (
            request.query_value("actor"),
            request.query_value("head_sha"),
            request.query_value("created"),
        )
        if status and status not in RUN_STATUSES + RUN_CONCLUSIONS:
            raise HttpError(422, f"Invalid request.\n\nFor 'status', {status!r} is not a valid value.")
        if event:
            runs = [r for r in runs if r.event == event]
        if branch:
            runs = [r for r in runs if r.head_branch == branch]
        if actor:
            runs = [r for r in runs if r.actor == actor]
        if head_sha:
            runs = [r for r in runs if sha_for(r.repository, r.head_branch) == head_sha]
        if status:
            runs = [r for r in runs if status in (r.status, r.conclusion)]
        check_suite = request.query_value("check_suite_id")
        if check_suite:
            wanted = int_query(request, "check_suite_id", 0)
            runs = [r for r in runs if check_suite_id(r) == wanted]
        if created:
            low, low_inclusive, high, high_inclusive = parse_created(created)

            def within(run: WorkflowRun) -> bool:
                moment = datetime.fromtimestamp(int(run.created), tz=timezone.utc)
                if low is not None and (moment < low or (moment == low and not low_inclusive)):
                    return False
                return not (high is not None and (moment > high or (moment == high and not high_inclusive)))

            runs = [r for r in runs if within(r)]
        runs.sort(key=lambda r: (r.created, r.id), reverse=True)
        per_page, page = paging(request)
        chunk = runs[(page - 1) * per_page : page * per_page]
        repository = repository_json(repo, self.api_url, self.html_url)
        return Response(
            body={
                "total_count": len(runs),
                "workflow_runs": [run_json(r, repository, self.api_url, self.html_url) for r in chunk],
            }
        )

    def _find_run(self, repo: Repository, request: Request) -> WorkflowRun:
        for run in self.runs:
            if run.id == int(request.params["run_id"]) and run.repository == repo.full_name:
                return run
        raise HttpError(404, "Not Found")

    def _get_run(self, request: Request, caller: Caller) -> Response:
        repo = self._repository(request, caller)
        run = self._find_run(repo, request)
        return Response(
            body=run_json(run, repository_json(repo, self.api_url, self.html_url), self.api_url, self.html_url)
        )

    def _cancel_run(self, request: Request, caller: Caller) -> Response:
        repo = self._repository(request, caller)
        self._require_write(caller)
        run = self._find_run(repo, request)
        if not run.finish("cancelled"):
            raise HttpError(409, "Cannot cancel a workflow run that is completed.")
        return Response(status=202, body={})


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def int_query(request: Request, name: str, default: int) -> int:
    """The integer query parameter ``name`` (``default`` when absent or empty); GitHub's 422 when not a number."""
    value = request.query_value(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise HttpError(422, f"Invalid request.\n\nFor '{name}', {value!r} is not an integer.") from None


def paging(request: Request) -> tuple[int, int]:
    """``per_page`` (1-100, default 30) and ``page`` (from 1) of a list request, as GitHub clamps them."""
    return min(max(int_query(request, "per_page", 30), 1), 100), max(int_query(request, "page", 1), 1)
