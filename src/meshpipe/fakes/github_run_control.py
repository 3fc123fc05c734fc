"""Endpoints of the fake GitHub that real clients call around a run (mixed into
:class:`meshpipe.fakes.github.FakeGitHub`): list workflows, re-run (attempt 2 of the same run), re-run failed jobs,
force-cancel, attempts, single jobs and logs (the App's endpoints: :mod:`meshpipe.fakes.github_app_api`).

Logs follow GitHub: ``GET .../runs/{id}/logs`` (and ``.../attempts/{n}/logs``) answer 302 to a short-lived download
URL serving a zip archive of the attempt's log (the workflow body's output); ``GET .../jobs/{id}/logs`` answers 302
to the job's plain-text log. The download URLs live under ``/_downloads/`` on the fake itself, need no credentials
(GitHub's are signed) and expire after a minute, as GitHub documents.
"""

from __future__ import annotations

import io
import secrets
import time
import zipfile
from typing import TYPE_CHECKING, Any

from meshpipe.fakes._http import HttpError, Request, Response
from meshpipe.fakes.github_api import paging
from meshpipe.fakes.github_models import repository_json, workflow_json
from meshpipe.fakes.github_run_json import job_json, run_json
from meshpipe.fakes.github_runs import JOB_NAME, Attempt

if TYPE_CHECKING:
    from meshpipe.fakes.github_api import Caller
    from meshpipe.fakes.github_models import App, Repository, Workflow
    from meshpipe.fakes.github_runs import WorkflowRun

__all__ = ["DOWNLOAD_LIFETIME", "DOWNLOAD_PREFIX", "RunControlHandlers", "log_archive"]

#: Seconds a log download URL stays valid ("The link expires after 1 minute", GitHub REST docs, download logs).
DOWNLOAD_LIFETIME = 60.0
DOWNLOAD_PREFIX = "/_downloads"
_JOB_ID_FACTOR = 10  # job id = run id * 10 + attempt: each attempt has its own job, as on GitHub


def log_archive(log: str) -> bytes:
    """A zip archive shaped like GitHub's run logs: the job's whole log and its step's log in a folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"0_{JOB_NAME}.txt", log)
        archive.writestr(f"{JOB_NAME}/1_Run the workflow body.txt", log)
    return buffer.getvalue()


def job_id(run: WorkflowRun, attempt: int) -> int:
    """The id of the run's job in ``attempt``."""
    return run.id * _JOB_ID_FACTOR + attempt


class RunControlHandlers:
    """Re-runs, force-cancel, attempts, jobs, logs and workflow lists."""

    if TYPE_CHECKING:
        repositories: dict[str, Repository]
        apps: dict[str, App]
        runs: list[WorkflowRun]
        url: str

        @property
        def api_url(self) -> str: ...

        @property
        def html_url(self) -> str: ...

        def _repository(self, request: Request, caller: Caller) -> Repository: ...

        def _require_write(self, caller: Caller) -> None: ...

        def _find_run(self, repo: Repository, request: Request) -> WorkflowRun: ...

    _downloads: dict[str, tuple[float, bytes, str]]

    # -- workflows ------------------------------------------------------------------------------------------------
    def _list_workflows(self, request: Request, caller: Caller) -> Response:
        repo = self._repository(request, caller)
        workflows: list[Workflow] = sorted(repo.workflows.values(), key=lambda w: w.id)
        per_page, page = paging(request)
        chunk = workflows[(page - 1) * per_page : page * per_page]
        body = [workflow_json(w, self.api_url, self.html_url, repo.default_branch) for w in chunk]
        return Response(body={"total_count": len(workflows), "workflows": body})

    # -- run control ----------------------------------------------------------------------------------------------
    def _rerun(self, request: Request, caller: Caller) -> Response:
        return self._start_attempt(request, caller, failed_only=False)

    def _rerun_failed_jobs(self, request: Request, caller: Caller) -> Response:
        return self._start_attempt(request, caller, failed_only=True)

    def _start_attempt(self, request: Request, caller: Caller, *, failed_only: bool) -> Response:
        repo = self._repository(request, caller)
        self._require_write(caller)
        run = self._find_run(repo, request)
        body = request.json() if request.body else None
        body = {} if body is None else body  # the description's request body is a nullable object
        if not isinstance(body, dict) or set(body) - {"enable_debug_logging"}:
            raise HttpError(422, "Invalid request.\n\nOnly 'enable_debug_logging' is a permitted key.")
        if not isinstance(body.get("enable_debug_logging", False), bool):
            raise HttpError(
                422, "Invalid request.\n\nFor 'properties/enable_debug_logging', the value is not a boolean."
            )
        if run.status != "completed":
            raise HttpError(403, "This workflow is already running")  # wording unverified (unverified.md)
        if failed_only and run.conclusion not in ("failure", "cancelled", "timed_out"):
            raise HttpError(403, "This workflow run cannot be retried: it has no failed jobs")  # unverified
        workflow = repo.workflows.get(run.workflow)
        run.begin_attempt()
        if run.command is not None:
            run.start_command(workflow.env if workflow else {}, self.api_url, self.html_url)
        return Response(status=201, body={})

    def _force_cancel(self, request: Request, caller: Caller) -> Response:
        repo = self._repository(request, caller)
        self._require_write(caller)
        run = self._find_run(repo, request)
        if not run.finish("cancelled", force=True):
            raise HttpError(409, "Cannot cancel a workflow run that is completed.")
        return Response(status=202, body={})

    # -- attempts and jobs ------------------------------------------------------------------------------------------
    def _attempt(self, run: WorkflowRun, number: int) -> Attempt | None:
        """An archived attempt, None for the current one; 404 for attempts that never existed."""
        if number == run.run_attempt:
            return None
        for attempt in run.previous_attempts:
            if attempt.number == number:
                return attempt
        raise HttpError(404, "Not Found")

    def _run_json(self, repo: Repository, run: WorkflowRun, attempt: Attempt | None) -> dict[str, Any]:
        return run_json(run, repository_json(repo, self.api_url, self.html_url), self.api_url, self.html_url, attempt)

    def _get_attempt(self, request: Request, caller: Caller) -> Response:
        repo = self._repository(request, caller)
        run = self._find_run(repo, request)
        attempt = self._attempt(run, int(request.params["attempt"]))
        return Response(body=self._run_json(repo, run, attempt))

    def _list_attempt_jobs(self, request: Request, caller: Caller) -> Response:
        repo = self._repository(request, caller)
        run = self._find_run(repo, request)
        attempt = self._attempt(run, int(request.params["attempt"]))
        return Response(body={"total_count": 1, "jobs": [job_json(run, self.api_url, self.html_url, attempt)]})

    def _list_jobs(self, request: Request, caller: Caller) -> Response:
        """The jobs of the latest attempt, or with ``filter=all`` of every attempt (newest first)."""
        repo = self._repository(request, caller)
        run = self._find_run(repo, request)
        selection = request.query_value("filter") or "latest"
        if selection not in ("latest", "all"):
            raise HttpError(422, f"Invalid request.\n\nFor 'filter', {selection!r} is not a valid value.")
        jobs = [job_json(run, self.api_url, self.html_url)]
        if selection == "all":
            jobs += [job_json(run, self.api_url, self.html_url, a) for a in reversed(run.previous_attempts)]
        return Response(body={"total_count": len(jobs), "jobs": jobs})

    def _job_and_attempt(self, request: Request, caller: Caller) -> tuple[WorkflowRun, Attempt | None]:
        repo = self._repository(request, caller)
        wanted = int(request.params["job_id"])
        run_id, number = divmod(wanted, _JOB_ID_FACTOR)
        for run in self.runs:
            if run.id == run_id and run.repository == repo.full_name and 1 <= number <= run.run_attempt:
                return run, self._attempt(run, number)
        raise HttpError(404, "Not Found")

    def _get_job(self, request: Request, caller: Caller) -> Response:
        run, attempt = self._job_and_attempt(request, caller)
        return Response(body=job_json(run, self.api_url, self.html_url, attempt))

    # -- logs -------------------------------------------------------------------------------------------------------
    def _download_url(self, payload: bytes, content_type: str) -> str:
        key = secrets.token_urlsafe(18)
        now = time.time()
        self._downloads = {k: v for k, v in self._downloads.items() if v[0] > now}
        self._downloads[key] = (now + DOWNLOAD_LIFETIME, payload, content_type)
        return f"{self.url}{DOWNLOAD_PREFIX}/{key}"

    def _run_logs(self, request: Request, caller: Caller) -> Response:
        repo = self._repository(request, caller)
        run = self._find_run(repo, request)
        attempt = self._attempt(run, int(request.params["attempt"])) if "attempt" in request.params else None
        log = attempt.log if attempt is not None else run.log
        location = self._download_url(log_archive(log), "application/zip")
        return Response(status=302, headers={"Location": location})

    def _job_logs(self, request: Request, caller: Caller) -> Response:
        run, attempt = self._job_and_attempt(request, caller)
        log = attempt.log if attempt is not None else run.log
        location = self._download_url(log.encode("utf-8"), "text/plain; charset=utf-8")
        return Response(status=302, headers={"Location": location})

    def _download(self, request: Request) -> Response:
        entry = self._downloads.get(request.params["key"])
        if entry is None or entry[0] <= time.time():
            raise HttpError(404, "The download link is unknown or expired")  # GitHub's storage answer: unverified
        return Response(body=entry[1], content_type=entry[2])
