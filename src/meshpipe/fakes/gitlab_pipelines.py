"""Simulated pipelines of the fake GitLab: statuses over time, and the job script as a local command.

A pipeline without a command moves ``created -> pending -> running -> success|failed`` over its project's
``duration`` (computed from timestamps whenever read: no thread). With a command, it is ``pending`` until the command
starts, ``running`` while it runs and ``success``/``failed`` by its exit code; an ``after_command`` (the job's
``after_script``) then runs with ``CI_JOB_STATUS`` set to ``success``, ``failed`` or ``canceled``. The command sees
GitLab CI's job environment (``GITLAB_CI``, ``CI_*``), the pipeline's variables (file-type ones, such as a trigger's
``TRIGGER_PAYLOAD``, as paths to files holding the value, as the runner passes them), and each input under the job
variable the project maps it to (``input_env``; unmapped inputs under their own name) as the job's
``variables: {NAME: $[[ inputs.x ]]}`` block would expose them. A pipeline whose configuration failed (a trigger
with bad inputs) is ``failed`` from the start with ``yaml_errors``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from meshpipe.fakes._commands import CommandWork, host_environment, in_background, output_lines
from meshpipe.fakes.gitlab_models import iso
from meshpipe.fakes.gitlab_rules import input_text

__all__ = ["FINISHED", "PIPELINE_STATUSES", "Pipeline"]

#: ``Ci::HasStatus::AVAILABLE_STATUSES`` (the ``status`` filter's values).
PIPELINE_STATUSES = (
    "created",
    "waiting_for_resource",
    "preparing",
    "waiting_for_callback",
    "pending",
    "running",
    "success",
    "failed",
    "canceling",
    "canceled",
    "skipped",
    "manual",
    "scheduled",
)
FINISHED = ("success", "failed", "canceled", "skipped")
_CREATED_SHARE = 0.1
_PENDING_SHARE = 0.25
_LOG_LIMIT = 4 * 1024 * 1024  # bounded: a chatty command must not grow the fake without end


@dataclass
class Pipeline(CommandWork):
    """One simulated pipeline (with its single job)."""

    id: int
    iid: int
    project_id: int
    project_path: str
    ref: str
    tag: bool
    sha: str
    source: str  # "api" | "trigger"
    name: str | None
    web_url: str
    inputs: dict[str, Any]
    variables: list[dict[str, str]]  # [{"key", "value", "variable_type"}]
    duration: float | None
    planned_status: str
    user: str
    CANCELLED = "canceled"

    command: list[str] | None = None
    after_command: list[str] | None = None
    yaml_errors: str | None = None
    created: float = field(default_factory=time.time)
    _final: tuple[str, float] | None = None
    _started: float | None = None
    _log: list[str] = field(default_factory=list)
    _log_size: int = 0
    _process: subprocess.Popen[bytes] | None = None
    _workdir: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.yaml_errors is not None:
            self._final = ("failed", self.created)

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def phase(self, now: float | None = None) -> tuple[str, float, float | None, float | None]:
        """``(status, updated at, started at, finished at)``."""
        now = time.time() if now is None else now
        begin = self.created
        with self._lock:
            final, started = self._final, self._started
        if final is not None:
            return final[0], final[1], started, final[1]
        if self.command is not None:
            if started is None:
                return "pending", begin, None, None
            return "running", started, started, None
        if self.duration is None:
            return "pending", begin, None, None
        if now - begin >= self.duration:
            start = begin + self.duration * _PENDING_SHARE
            return self.planned_status, begin + self.duration, start, begin + self.duration
        if now - begin >= self.duration * _PENDING_SHARE:
            start = begin + self.duration * _PENDING_SHARE
            return "running", start, start, None
        if now - begin >= self.duration * _CREATED_SHARE:
            return "pending", begin + self.duration * _CREATED_SHARE, None, None
        return "created", begin, None, None

    @property
    def status(self) -> str:
        return self.phase()[0]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def finish(self, status: str) -> bool:
        """End the pipeline now with ``status``; False when it had already finished. A running command gets SIGTERM
        (then its after_command runs with ``CI_JOB_STATUS=canceled``)."""
        if self.finished:
            return False
        self._end_now(status)
        return True

    @property
    def log(self) -> str:
        """The job log: the command's output, or a synthetic summary."""
        output = self._command_output()
        if output is not None:
            return output
        status = self.status
        return f"{self.name or self.ref}\nstatus: {status}\n" + (
            f"yaml_errors: {self.yaml_errors}\n" if self.yaml_errors else ""
        )

    # -- the job as a command --------------------------------------------------------------------------------------
    def job_environment(
        self, *, server_url: str, api_url: str, project_id: int, input_env: dict[str, str]
    ) -> dict[str, str]:
        """GitLab CI's predefined variables for the pipeline's one job, then the inputs and the variables."""
        env = {
            "CI": "true",
            "GITLAB_CI": "true",
            "CI_SERVER": "yes",
            "CI_SERVER_URL": server_url,
            "CI_API_V4_URL": api_url,
            "CI_PROJECT_ID": str(project_id),
            "CI_PROJECT_PATH": self.project_path,
            "CI_PROJECT_NAME": self.project_path.rsplit("/", 1)[-1],
            "CI_PROJECT_NAMESPACE": self.project_path.rsplit("/", 1)[0],
            "CI_PROJECT_URL": f"{server_url}/{self.project_path}",
            "CI_PIPELINE_ID": str(self.id),
            "CI_PIPELINE_IID": str(self.iid),
            "CI_PIPELINE_URL": self.web_url,
            "CI_PIPELINE_SOURCE": self.source,
            "CI_PIPELINE_NAME": self.name or "",
            "CI_COMMIT_REF_NAME": self.ref,
            "CI_COMMIT_REF_SLUG": _slug(self.ref),
            "CI_COMMIT_SHA": self.sha,
            "CI_COMMIT_SHORT_SHA": self.sha[:8],
            "CI_JOB_ID": str(self.id * 10 + 1),
            "CI_JOB_NAME": "meshpipe",
            "CI_JOB_STAGE": "deploy",
            "CI_JOB_URL": f"{server_url}/{self.project_path}/-/jobs/{self.id * 10 + 1}",
        }
        env["CI_COMMIT_TAG" if self.tag else "CI_COMMIT_BRANCH"] = self.ref
        for name, value in self.inputs.items():
            env[input_env.get(name, name)] = input_text(value)
        for variable in self.variables:
            if variable["variable_type"] == "env_var":
                env[variable["key"]] = variable["value"]
        return env

    def start_command(self, ci_env: dict[str, str], project_env: dict[str, str]) -> None:
        """Run the command (and the after_command) in a background thread."""
        assert self.command is not None
        root = tempfile.mkdtemp(prefix=f"meshpipe-fake-gitlab-{self.id}-")
        self._workdir = root
        project_dir = os.path.join(root, "builds", self.project_path)
        temp = os.path.join(root, "tmp")
        os.makedirs(project_dir)
        os.makedirs(temp)
        env = host_environment()
        env.update(project_env)
        env.update(ci_env)
        env.update({"CI_PROJECT_DIR": project_dir, "CI_BUILDS_DIR": os.path.join(root, "builds"), "TMPDIR": temp})
        for variable in self.variables:  # a file variable is a path to a file holding the value, as the runner does
            if variable["variable_type"] == "file":
                path = os.path.join(temp, variable["key"])
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(variable["value"])
                env[variable["key"]] = path
        in_background(self._execute, env, project_dir, name=f"fake-pipeline-{self.id}")

    def _run(self, command: list[str], env: dict[str, str], cwd: str, *, main: bool) -> int | None:
        with self._lock:
            if main and self._final is not None:  # canceled before it started
                return None
            process = self._launch(command, env, cwd)
            if isinstance(process, str):
                self._append(process)
                return 127
            if main:
                self._started = time.time()
        for line in output_lines(process):
            with self._lock:
                self._append(line)
        code = process.wait()
        with self._lock:
            self._process = None
        return code

    def _append(self, text: str) -> None:
        if self._log_size < _LOG_LIMIT:
            self._log.append(text)
            self._log_size += len(text)

    def _execute(self, env: dict[str, str], cwd: str) -> None:
        assert self.command is not None
        code = self._run(self.command, env, cwd, main=True)
        with self._lock:
            canceled = self._final is not None
        status = "canceled" if canceled or code is None else ("success" if code == 0 else "failed")
        if code is not None:
            with self._lock:
                self._append(f"Job script exited with code {code}.\n" if code else "Job succeeded\n")
        if self.after_command and code is not None:
            self._run(self.after_command, {**env, "CI_JOB_STATUS": status}, cwd, main=False)
        with self._lock:
            if self._final is None:
                self._final = (status, time.time())

    def stop(self) -> None:
        """Kill a running command and remove the pipeline's directory."""
        self._stop_command(timeout=5)

    # -- JSON ----------------------------------------------------------------------------------------------------------
    def basic_json(self) -> dict[str, Any]:
        """``API::Entities::Ci::PipelineBasic`` (list answers)."""
        status, updated, _, _ = self.phase()
        return {
            "id": self.id,
            "iid": self.iid,
            "project_id": self.project_id,
            "sha": self.sha,
            "ref": self.ref,
            "status": status,
            "source": self.source,
            "created_at": iso(self.created),
            "updated_at": iso(updated),
            "web_url": self.web_url,
            "name": self.name,
        }

    def json(self, server_url: str) -> dict[str, Any]:
        """``API::Entities::Ci::Pipeline`` (create and get answers)."""
        status, _, started, finished = self.phase()
        data = self.basic_json()
        data.update(
            {
                "before_sha": "0" * 40,
                "tag": self.tag,
                "yaml_errors": self.yaml_errors,
                "user": {
                    "id": 1,
                    "username": self.user,
                    "name": self.user,
                    "state": "active",
                    "locked": False,
                    "avatar_url": None,
                    "web_url": f"{server_url}/{self.user}",
                },
                "started_at": iso(started) if started else None,
                "finished_at": iso(finished) if finished else None,
                "committed_at": None,
                "duration": int(finished - started) if started and finished else None,
                "queued_duration": None,
                "coverage": None,
                "detailed_status": {
                    "icon": f"status_{status}",
                    "text": status.capitalize(),
                    "label": status,
                    "group": status,
                    "tooltip": status,
                    "has_details": True,
                    "details_path": self.web_url.split("://", 1)[-1].split("/", 1)[-1],
                    "illustration": None,
                    "favicon": f"/assets/ci_favicons/favicon_status_{status}.png",
                },
                "archived": False,
            }
        )
        return data

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane (with the inputs and variables it was created with)."""
        data = self.basic_json()
        data.update({"project": self.project_path, "inputs": self.inputs, "variables": self.variables})
        data["yaml_errors"] = self.yaml_errors
        return data


def _slug(ref: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in ref.lower())[:63].strip("-")
    return slug
