"""Simulated workflow runs of the fake GitHub: lifecycle, ``run-name`` rendering and the workflow body as a command.

A run without a command moves queued -> in_progress -> completed over its workflow's ``duration``; the status is
computed from timestamps whenever it is read, so no thread is needed. A run with a command executes it in a
subprocess with a runner-like environment (``GITHUB_*``, ``RUNNER_TEMP``, event file); its exit code decides the
conclusion and its combined stdout/stderr is kept as the run's log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from meshpipe.fakes._commands import CommandWork, host_environment, in_background
from meshpipe.fakes.github_models import iso, sha_for

__all__ = ["JOB_NAME", "Attempt", "WorkflowRun", "render_run_name"]

#: The name of the single job every simulated run has.
JOB_NAME = "run"

_EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
# Variables a runner passes through from the host (everything else of the fake's own environment stays out,
# so a host's GITHUB_TOKEN or meshStack credentials never leak into a simulated run).
_QUEUED_SHARE = 0.25  # share of ``duration`` a run without a command spends queued


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def render_run_name(template: str, context: dict[str, Any]) -> str:
    """Render a workflow's ``run-name``: ``${{ inputs.X }}``, ``${{ github.event.inputs.X }}``,
    ``${{ github.event.client_payload.X }}``, ``${{ github.ref_name }}`` and friends; unknown paths render empty."""

    def lookup(match: re.Match[str]) -> str:
        value: Any = context
        for part in match.group(1).split("."):
            if not isinstance(value, dict) or part not in value:
                return ""
            value = value[part]
        return _as_text(value)

    return _EXPRESSION.sub(lookup, template)


@dataclass(frozen=True)
class Attempt:
    """A finished earlier attempt of a run that was re-run."""

    number: int
    started: float
    completed: float
    conclusion: str
    log: str


@dataclass
class WorkflowRun(CommandWork):
    """One simulated workflow run."""

    id: int
    repository: str
    workflow: str
    workflow_id: int
    workflow_name: str
    workflow_path: str
    event: str
    head_branch: str
    inputs: dict[str, Any]
    display_title: str
    html_url: str
    url: str
    run_number: int
    duration: float | None
    planned_conclusion: str
    actor: str
    command: list[str] | None = None
    run_attempt: int = 1
    created: float = field(default_factory=time.time)
    previous_attempts: list[Attempt] = field(default_factory=list)
    attempt_started: float = 0.0  # when the current attempt began (0: at creation)
    event_payload: dict[str, Any] = field(default_factory=dict)
    SUCCEEDED, FAILED, CANCELLED = "success", "failure", "cancelled"

    _final: tuple[str, float] | None = None  # (conclusion, completed at) once forced or the command exited
    _started: float | None = None
    _log: list[str] = field(default_factory=list)
    _process: subprocess.Popen[bytes] | None = None
    _workdir: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.attempt_started = self.attempt_started or self.created

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def _phase(self, now: float) -> tuple[str, str | None, float]:
        """(status, conclusion, updated at) of the current attempt at ``now``."""
        begin = self.attempt_started
        with self._lock:
            if self._final is not None:
                return "completed", self._final[0], self._final[1]
            if self.command is not None:
                if self._started is None:
                    return "queued", None, begin
                return "in_progress", None, self._started
        if self.duration is None:
            return "queued", None, begin
        if now - begin >= self.duration:
            return "completed", self.planned_conclusion, begin + self.duration
        if now - begin >= self.duration * _QUEUED_SHARE:
            return "in_progress", None, begin + self.duration * _QUEUED_SHARE
        return "queued", None, begin

    @property
    def status(self) -> str:
        """``queued``, ``in_progress`` or ``completed``."""
        return self._phase(time.time())[0]

    @property
    def conclusion(self) -> str | None:
        """The conclusion once completed, else None."""
        return self._phase(time.time())[1]

    @property
    def created_at(self) -> str:
        """Creation time, ISO-8601 with ``Z``."""
        return iso(self.created)

    @property
    def updated_at(self) -> str:
        """Time of the last status change, ISO-8601 with ``Z``."""
        return iso(self._phase(time.time())[2])

    @property
    def log(self) -> str:
        """The run's log: the command's combined stdout/stderr, or a synthetic summary."""
        output = self._command_output()
        if output is not None:
            return output
        status, conclusion, _ = self._phase(time.time())
        return f"{self.display_title}\nstatus: {status}\nconclusion: {conclusion or ''}\n"

    def finish(self, conclusion: str, *, force: bool = False) -> bool:
        """Complete the run now with ``conclusion``; False if already completed. A running command gets SIGTERM
        (a cancel: its ``always()`` steps may still run), or SIGKILL with ``force`` (a force-cancel)."""
        if self.status == "completed":
            return False
        self._end_now(conclusion, signal.SIGKILL if force else signal.SIGTERM)
        return True

    def begin_attempt(self) -> None:
        """Archive the completed attempt and start the next one: a re-run keeps the run's id and counts
        ``run_attempt`` up (the caller starts the command again, if any)."""
        now = time.time()
        status, conclusion, updated = self._phase(now)
        assert status == "completed" and conclusion is not None, "only a completed run can be re-run"
        log = self.log
        with self._lock:
            self.previous_attempts.append(Attempt(self.run_attempt, self.attempt_started, updated, conclusion, log))
            self.run_attempt += 1
            self.attempt_started = now
            self._final = None
            self._started = None
            self._log = []
            self._process = None
            workdir, self._workdir = self._workdir, None
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    # -- the workflow body as a command ---------------------------------------------------------------------------
    def start_command(self, env: dict[str, str], api_url: str, server_url: str) -> None:
        """Run ``command`` in a background thread with a runner-like environment."""
        assert self.command is not None
        root = tempfile.mkdtemp(prefix=f"meshpipe-fake-run-{self.id}-")
        self._workdir = root
        temp = os.path.join(root, "temp")
        workspace = os.path.join(root, "workspace")
        os.makedirs(temp)
        os.makedirs(workspace)
        event_path = os.path.join(root, "event.json")
        with open(event_path, "w", encoding="utf-8") as handle:
            json.dump(self.event_payload, handle)
        files = {name: os.path.join(temp, f"{name.lower()}.txt") for name in ("OUTPUT", "STEP_SUMMARY", "ENV")}
        for path in files.values():
            open(path, "w").close()
        run_env = host_environment()
        run_env.update(
            {
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_EVENT_NAME": self.event,
                "GITHUB_EVENT_PATH": event_path,
                "GITHUB_RUN_ID": str(self.id),
                "GITHUB_RUN_NUMBER": str(self.run_number),
                "GITHUB_RUN_ATTEMPT": str(self.run_attempt),
                "GITHUB_REPOSITORY": self.repository,
                "GITHUB_REPOSITORY_OWNER": self.repository.split("/", 1)[0],
                "GITHUB_REF": f"refs/heads/{self.head_branch}",
                "GITHUB_REF_NAME": self.head_branch,
                "GITHUB_SHA": sha_for(self.repository, self.head_branch),
                "GITHUB_WORKFLOW": self.workflow_name,
                "GITHUB_WORKFLOW_REF": f"{self.repository}/{self.workflow_path}@refs/heads/{self.head_branch}",
                "GITHUB_ACTOR": self.actor,
                "GITHUB_JOB": JOB_NAME,
                "GITHUB_SERVER_URL": server_url,
                "GITHUB_API_URL": api_url,
                "GITHUB_WORKSPACE": workspace,
                "GITHUB_OUTPUT": files["OUTPUT"],
                "GITHUB_STEP_SUMMARY": files["STEP_SUMMARY"],
                "GITHUB_ENV": files["ENV"],
                "RUNNER_TEMP": temp,
                "RUNNER_OS": "Linux",
            }
        )
        run_env.update(env)
        in_background(self._run_to_end, run_env, workspace, name=f"fake-run-{self.id}")

    def stop(self) -> None:
        """Terminate a running command and remove the run's temporary directory."""
        self._stop_command()

    def attempt_phase(self, attempt: Attempt | None) -> tuple[int, float, str, str | None, float]:
        """(number, started, status, conclusion, updated at) of ``attempt`` (None: the current one)."""
        if attempt is not None:
            return attempt.number, attempt.started, "completed", attempt.conclusion, attempt.completed
        status, conclusion, updated = self._phase(time.time())
        return self.run_attempt, self.attempt_started, status, conclusion, updated

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane."""
        status, conclusion, _ = self._phase(time.time())
        return {
            "id": self.id,
            "repository": self.repository,
            "workflow": self.workflow,
            "event": self.event,
            "head_branch": self.head_branch,
            "status": status,
            "conclusion": conclusion,
            "display_title": self.display_title,
            "inputs": self.inputs,
            "html_url": self.html_url,
            "url": self.url,
            "created_at": self.created_at,
            "run_attempt": self.run_attempt,
        }
