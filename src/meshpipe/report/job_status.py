"""``meshpipe run finish --job-status``: each CI's job status mapped to meshStack's terminal run status.

=============================  ===================================================  ==========
CI                             status (how a step reads it)                         meshStack
=============================  ===================================================  ==========
GitHub Actions                 ``success`` / ``failure`` / ``cancelled``            SUCCEEDED / FAILED / ABORTED
                               (``${{ job.status }}``)
GitLab CI                      ``success`` / ``failed``, ``timedout`` /             SUCCEEDED / FAILED / ABORTED
                               ``canceled`` (``$CI_JOB_STATUS`` in ``after_script``)
Azure Pipelines                ``Succeeded``, ``SucceededWithIssues`` /             SUCCEEDED / FAILED /
                               ``Failed`` / ``Canceled``, ``Skipped``               ABORTED
                               (``$(Agent.JobStatus)``, ``$AGENT_JOBSTATUS``)
=============================  ===================================================  ==========

``SucceededWithIssues`` (a step with ``continueOnError`` failed) is a success with warnings: meshStack has no such
status, and the steps reported FAILED still show. ``Skipped`` means the job's work did not run, which is no success
and no failure of the block: ABORTED. GitLab's ``running`` -- what ``$CI_JOB_STATUS`` holds while ``script`` runs -- is
refused with a hint. ``auto`` reads the status from the CI's variable
(``CI_JOB_STATUS`` on GitLab, ``AGENT_JOBSTATUS`` on Azure); GitHub has no such variable.

GitLab documents ``success``, ``failed`` and ``canceled`` for ``CI_JOB_STATUS``
(docs.gitlab.com/ci/variables/predefined_variables/); GitLab Runner also sets ``timedout`` in ``after_script`` when
the job ran out of time (gitlab-org/gitlab-runner merge request 4717, "Correctly set CI_JOB_STATUS to
timedout/canceled when appropriate"). Any other status -- one a newer runner may add, or an empty variable -- is
FAILED, with a warning: the step that sends it runs once, at the end, and refusing would leave the run in progress
for good.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "JOB_STATUSES",
    "JOB_STATUS_CHOICES",
    "UNKNOWN_JOB_STATUS_RUN_STATUS",
    "job_status_to_run_status",
    "read_job_status",
    "run_status_of",
]

#: a CI's job status -> meshStack's terminal run status (case matters: each CI spells its own)
JOB_STATUSES = {
    "success": "SUCCEEDED",
    "failure": "FAILED",
    "cancelled": "ABORTED",
    "failed": "FAILED",
    "timedout": "FAILED",
    "canceled": "ABORTED",
    "Succeeded": "SUCCEEDED",
    "SucceededWithIssues": "SUCCEEDED",
    "Failed": "FAILED",
    "Canceled": "ABORTED",
    "Skipped": "ABORTED",
}
#: what ``--job-status`` documents: the statuses, ``auto``, and ``running`` (refused with a hint); others are FAILED
JOB_STATUS_CHOICES = (*JOB_STATUSES, "auto", "running")
#: the run status for a job status meshpipe does not know
UNKNOWN_JOB_STATUS_RUN_STATUS = "FAILED"
#: the CI -> the environment variable that holds its job status
_JOB_STATUS_VARIABLES = {"gitlab": "CI_JOB_STATUS", "azure": "AGENT_JOBSTATUS"}


def read_job_status(job_status: str, ci: str, environ: Mapping[str, str]) -> str:
    """``job_status`` as given, or (``auto``) the CI's variable; ValueError with a hint for ``running`` and for
    ``auto`` where the CI has no such variable."""
    if job_status == "auto":
        variable = _JOB_STATUS_VARIABLES.get(ci)
        if variable is None:
            where = "${{ job.status }}" if ci == "github" else "the job's status"
            raise ValueError(f"--job-status auto needs GitLab CI or Azure Pipelines; pass {where} instead")
        job_status = environ.get(variable, "")
    if job_status == "running":
        raise ValueError(
            "the job status is 'running': GitLab sets the final one only in after_script; call "
            'meshpipe run finish --job-status "$CI_JOB_STATUS" there'
        )
    return job_status


def run_status_of(job_status: str) -> str:
    """The terminal run status for a job status as the CI spells it: FAILED for one meshpipe does not know."""
    return JOB_STATUSES.get(job_status, UNKNOWN_JOB_STATUS_RUN_STATUS)


def job_status_to_run_status(job_status: str, ci: str, environ: Mapping[str, str]) -> str:
    """The terminal run status for ``job_status`` (``auto``: the CI's variable): FAILED for a status meshpipe does
    not know; ValueError with a hint as :func:`read_job_status` raises it."""
    return run_status_of(read_job_status(job_status, ci, environ))
