"""``meshpipe run finish --job-status``: each CI's job status mapped to meshStack's terminal run status.

=============================  ===================================================  ==========
CI                             status (how a step reads it)                         meshStack
=============================  ===================================================  ==========
GitHub Actions                 ``success`` / ``failure`` / ``cancelled``            SUCCEEDED / FAILED / ABORTED
                               (``${{ job.status }}``)
GitLab CI                      ``success`` / ``failed`` / ``canceled``              SUCCEEDED / FAILED / ABORTED
                               (``$CI_JOB_STATUS`` in ``after_script``)
Azure Pipelines                ``Succeeded``, ``SucceededWithIssues`` /             SUCCEEDED / FAILED /
                               ``Failed`` / ``Canceled``, ``Skipped``               ABORTED
                               (``$(Agent.JobStatus)``, ``$AGENT_JOBSTATUS``)
=============================  ===================================================  ==========

``SucceededWithIssues`` (a step with ``continueOnError`` failed) is a success with warnings: meshStack has no such
status, and the steps reported FAILED still show. ``Skipped`` means the job's work did not run, which is no success
and no failure of the block: ABORTED. GitLab's ``running`` -- what ``$CI_JOB_STATUS`` holds while ``script`` runs -- is
refused with a hint. ``auto`` reads the status from the CI's variable
(``CI_JOB_STATUS`` on GitLab, ``AGENT_JOBSTATUS`` on Azure); GitHub has no such variable.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["JOB_STATUSES", "JOB_STATUS_CHOICES", "job_status_to_run_status"]

#: a CI's job status -> meshStack's terminal run status (case matters: each CI spells its own)
JOB_STATUSES = {
    "success": "SUCCEEDED",
    "failure": "FAILED",
    "cancelled": "ABORTED",
    "failed": "FAILED",
    "canceled": "ABORTED",
    "Succeeded": "SUCCEEDED",
    "SucceededWithIssues": "SUCCEEDED",
    "Failed": "FAILED",
    "Canceled": "ABORTED",
    "Skipped": "ABORTED",
}
#: what ``--job-status`` accepts: the statuses, ``auto``, and ``running`` (refused with a hint)
JOB_STATUS_CHOICES = (*JOB_STATUSES, "auto", "running")
#: the CI -> the environment variable that holds its job status
_JOB_STATUS_VARIABLES = {"gitlab": "CI_JOB_STATUS", "azure": "AGENT_JOBSTATUS"}


def job_status_to_run_status(job_status: str, ci: str, environ: Mapping[str, str]) -> str:
    """The terminal run status for ``job_status`` (``auto``: the CI's variable); ValueError with a hint when none."""
    if job_status == "auto":
        variable = _JOB_STATUS_VARIABLES.get(ci)
        if variable is None:
            where = "${{ job.status }}" if ci == "github" else "the job's status"
            raise ValueError(f"--job-status auto needs GitLab CI or Azure Pipelines; pass {where} instead")
        job_status = environ.get(variable, "")
        if job_status not in JOB_STATUSES and job_status != "running":
            raise ValueError(f"--job-status auto: {variable}={job_status!r} is not a job status meshpipe knows")
    if job_status == "running":
        raise ValueError(
            "the job status is 'running': GitLab sets the final one only in after_script; call "
            'meshpipe run finish --job-status "$CI_JOB_STATUS" there'
        )
    return JOB_STATUSES[job_status]
