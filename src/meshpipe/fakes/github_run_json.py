"""The fake GitHub's ``workflow-run`` and ``job`` objects (as in GitHub's OpenAPI description) of a simulated run.

Every field the official schemas mark as required is filled (see :mod:`meshpipe.fakes.github_models`), for an earlier
attempt of a re-run as well as for the current one.
"""

from __future__ import annotations

from typing import Any

from meshpipe.fakes.github_models import iso, owner_json, sha_for
from meshpipe.fakes.github_runs import JOB_NAME, Attempt, WorkflowRun

__all__ = ["check_suite_id", "job_json", "run_json"]


def check_suite_id(run: WorkflowRun) -> int:
    """The id of the check suite a run belongs to (one per run, kept across re-runs as on GitHub)."""
    return run.id + 500_000


def run_json(
    run: WorkflowRun, repository: dict[str, Any], api_url: str, html_url: str, attempt: Attempt | None = None
) -> dict[str, Any]:
    """A ``workflow-run`` object (of an earlier ``attempt`` when given)."""
    number, started, status, conclusion, updated = run.attempt_phase(attempt)
    sha = sha_for(run.repository, run.head_branch)
    url = run.url
    actor = owner_json(run.actor, api_url, html_url, user_id=2, kind="User")
    return {
        "id": run.id,
        "name": run.workflow_name,
        "node_id": f"WFR_kwLO{run.id:08d}",
        "check_suite_id": check_suite_id(run),
        "check_suite_node_id": f"CS_kwDO{run.id:08d}",
        "head_branch": run.head_branch,
        "head_sha": sha,
        "path": run.workflow_path,
        "run_number": run.run_number,
        "run_attempt": number,
        "referenced_workflows": [],
        "event": run.event,
        "status": status,
        "conclusion": conclusion,
        "workflow_id": run.workflow_id,
        "url": url,
        "html_url": run.html_url,
        "pull_requests": [],
        "created_at": iso(run.created),
        "updated_at": iso(updated),
        "actor": actor,
        "triggering_actor": actor,
        "run_started_at": iso(started),
        "jobs_url": f"{url}/jobs",
        "logs_url": f"{url}/logs",
        "check_suite_url": f"{repository['url']}/check-suites/{check_suite_id(run)}",
        "artifacts_url": f"{url}/artifacts",
        "cancel_url": f"{url}/cancel",
        "rerun_url": f"{url}/rerun",
        "previous_attempt_url": f"{url}/attempts/{number - 1}" if number > 1 else None,
        "workflow_url": f"{repository['url']}/actions/workflows/{run.workflow_id}",
        "head_commit": {
            "id": sha,
            "tree_id": sha_for("tree", sha),
            "message": "fake commit",
            "timestamp": iso(run.created),
            "author": {"name": "Fake Author", "email": "author@example.com"},
            "committer": {"name": "Fake Author", "email": "author@example.com"},
        },
        "repository": repository,
        "head_repository": repository,
        "display_title": run.display_title,
    }


def job_json(run: WorkflowRun, api_url: str, html_url: str, attempt: Attempt | None = None) -> dict[str, Any]:
    """The run's single ``job`` object (in an earlier ``attempt`` when given); each attempt has its own job id."""
    number, started, status, conclusion, updated = run.attempt_phase(attempt)
    job_id = run.id * 10 + number
    base = f"{api_url}/repos/{run.repository}"
    return {
        "id": job_id,
        "run_id": run.id,
        "run_url": run.url,
        "run_attempt": number,
        "node_id": f"CR_kwDO{job_id:08d}",
        "head_sha": sha_for(run.repository, run.head_branch),
        "url": f"{base}/actions/jobs/{job_id}",
        "html_url": f"{run.html_url}/job/{job_id}",
        "status": status,
        "conclusion": conclusion,
        "created_at": iso(started),
        "started_at": iso(started),
        "completed_at": iso(updated) if status == "completed" else None,
        "name": JOB_NAME,
        "steps": [],
        "check_run_url": f"{base}/check-runs/{job_id}",
        "labels": ["ubuntu-latest"],
        "runner_id": 1 if status != "queued" else None,
        "runner_name": "fake-runner" if status != "queued" else None,
        "runner_group_id": 1 if status != "queued" else None,
        "runner_group_name": "Default" if status != "queued" else None,
        "workflow_name": run.workflow_name,
        "head_branch": run.head_branch,
    }
