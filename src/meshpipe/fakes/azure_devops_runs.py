"""Simulated Azure Pipelines runs: lifecycle, the ``name:`` (build number) and a local command run with an agent's
environment.

A run is ``inProgress`` from its creation (``canceling`` while a cancelled command ends) and ``completed`` with
``result`` ``succeeded|failed|canceled`` after its pipeline's ``duration`` (computed from timestamps whenever it is
read, no thread), or when its command exits. A command runs as the pipeline's one job with the environment an Azure
Pipelines agent gives a script step:

* ``TF_BUILD=True``, ``AGENT_TEMPDIRECTORY`` (empty per run), ``AGENT_BUILDDIRECTORY``, ``AGENT_OS``,
  ``BUILD_BUILDID``, ``BUILD_BUILDNUMBER`` (the run's name), ``BUILD_SOURCEBRANCH``/``NAME``,
  ``BUILD_DEFINITIONNAME``, ``BUILD_REASON=Manual``, ``BUILD_SOURCESDIRECTORY``,
  ``SYSTEM_TEAMFOUNDATIONCOLLECTIONURI``/``SYSTEM_COLLECTIONURI`` (the org URL with a trailing slash),
  ``SYSTEM_TEAMPROJECT``/``ID``, ``SYSTEM_DEFINITIONID``; and every non-secret variable
  (the pipeline's, the queue-time ones, the parameters: see :class:`~meshpipe.fakes.azure_devops_models.Pipeline`)
  upper-cased with ``.`` and spaces as ``_``, as the agent does;
* secrets (secret pipeline variables, queue-time variables with ``isSecret``) only through the pipeline's
  ``secret_env`` mapping;
* a ``final_command`` runs afterwards like a step with ``condition: always()`` and gets ``AGENT_JOBSTATUS``
  (``Succeeded``/``Failed``/``Canceled``) of the job so far.

The agent's logging commands in a command's output are honoured: ``##vso[task.setsecret]VALUE`` masks the value in
the rest of the log, ``##vso[task.setvariable variable=N;isOutput=true]V`` records an output (secret with
``issecret=true``), ``##vso[task.uploadsummary]PATH`` records the markdown file's content. Secret values are shown
as ``***`` in the log, as the agent masks them.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from meshpipe.fakes._commands import CommandWork, host_environment, in_background, output_lines, signal_group

__all__ = ["RUN_RESULTS", "RUN_STATES", "PipelineRun", "render_run_name", "variable_env_name"]

RUN_STATES = ("unknown", "inProgress", "canceling", "completed")
RUN_RESULTS = ("unknown", "succeeded", "failed", "canceled")
_PARAMETER = re.compile(r"\$\{\{\s*parameters\.([A-Za-z0-9_]+)\s*\}\}")
_MACRO = re.compile(r"\$\(([^)]+)\)")
# Characters a build number cannot hold (the agent and the service refuse them); the fake replaces them.
_BAD_NAME_CHARS = re.compile(r'["/:<>\\|?@*]')
_MAX_NAME = 255
_LOGGING_COMMAND = re.compile(r"##vso\[(?P<area>[a-z]+)\.(?P<event>[a-z]+)(?P<props>[^\]]*)\](?P<data>.*)", re.I)


def variable_env_name(name: str) -> str:
    """The environment variable an agent sets for the pipeline variable ``name``."""
    return re.sub(r"[.\s]", "_", name).upper()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return "" if value is None else str(value)


def render_run_name(template: str, *, parameters: dict[str, Any], build_id: int, branch: str, revision: int) -> str:
    """Render a pipeline's ``name:``: ``${{ parameters.X }}`` at compile time, then the ``$(...)`` macros the build
    number format knows; unknown macros render empty. Characters a build number cannot hold become ``_``."""
    text = _PARAMETER.sub(lambda m: _text(parameters.get(m.group(1), "")), template)
    now = datetime.now(timezone.utc)

    def macro(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.lower() == "rev:r":
            return str(revision)
        if key.lower().startswith("date:"):
            pattern = key[5:]
            for token, fmt in (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")):
                pattern = pattern.replace(token, fmt)
            return now.strftime(pattern)
        if key.lower() == "build.buildid":
            return str(build_id)
        if key.lower() == "build.sourcebranchname":
            return branch.rsplit("/", 1)[-1]
        return ""

    name = _BAD_NAME_CHARS.sub("_", _MACRO.sub(macro, text)).rstrip(".")
    return name[:_MAX_NAME] or str(build_id)


@dataclass
class PipelineRun(CommandWork):
    """One simulated run of a pipeline."""

    id: int
    name: str
    project: str
    project_id: str
    pipeline_id: int
    pipeline_name: str
    ref_name: str
    template_parameters: dict[str, str]
    parameters: dict[str, Any]
    variables: dict[str, dict[str, Any]]
    duration: float | None
    planned_result: str
    web_url: str
    url: str
    requested_by: str
    CANCELLED = "canceled"

    stages_to_skip: list[str] = field(default_factory=list)
    command: list[str] | None = None
    final_command: list[str] | None = None
    created: float = field(default_factory=time.time)
    outputs: dict[str, str] = field(default_factory=dict)
    summaries: list[str] = field(default_factory=list)
    _final: tuple[str, float] | None = None
    _log: list[str] = field(default_factory=list)
    _masks: set[str] = field(default_factory=set)
    _process: subprocess.Popen[bytes] | None = None
    _workdir: str | None = None
    _stopped: bool = False  # the fake stops or resets: no further step starts
    _canceling: bool = False  # a cancel reached the running command; completed once it and the final step end
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def _phase(self, now: float) -> tuple[str, str | None, float | None]:
        """(state, result, finished at) at ``now``."""
        with self._lock:
            if self._final is not None:
                return "completed", self._final[0], self._final[1]
            if self._canceling:
                return "canceling", None, None
            if self.command is not None:
                return "inProgress", None, None
        if self.duration is not None and now - self.created >= self.duration:
            return "completed", self.planned_result, self.created + self.duration
        return "inProgress", None, None

    def snapshot(self) -> tuple[str, str | None, float | None]:
        """(state, result, finished at) now."""
        return self._phase(time.time())

    @property
    def state(self) -> str:
        """``inProgress`` or ``completed``."""
        return self._phase(time.time())[0]

    @property
    def result(self) -> str | None:
        """``succeeded``, ``failed`` or ``canceled`` once completed, else None."""
        return self._phase(time.time())[1]

    def finish(self, result: str) -> bool:
        """Complete the run now with ``result``; False if it already completed. A running command gets SIGTERM; when
        that is a cancel, the run stays ``canceling`` until the command (and the final step) are done."""
        if self.state == "completed":
            return False
        with self._lock:
            process = self._process
            if result == "canceled" and process is not None and process.poll() is None:
                self._canceling = True
            else:
                self._final = (result, time.time())
        if process is not None:
            signal_group(process, signal.SIGTERM)
        return True

    @property
    def log(self) -> str:
        """The job's log (secrets masked), or a synthetic summary for a run without a command."""
        output = self._command_output()
        if output is not None:
            return output
        state, result, _ = self._phase(time.time())
        return f"{self.name}\nstate: {state}\nresult: {result or ''}\n"

    # -- the job as a command ----------------------------------------------------------------------------------
    def start_command(self, env: dict[str, str], secrets: list[str]) -> None:
        """Run ``command`` (then ``final_command``) in a background thread with an agent-like environment;
        ``env`` holds the run's ``BUILD_*``/``SYSTEM_*`` values, variables and mapped secrets, ``secrets`` the
        values to mask in the log."""
        assert self.command is not None
        root = tempfile.mkdtemp(prefix=f"meshpipe-fake-azure-run-{self.id}-")
        self._workdir = root
        directories = {name: os.path.join(root, name) for name in ("_temp", "s", "a", "b")}
        for path in directories.values():
            os.makedirs(path)
        run_env = host_environment()
        run_env.update(
            {
                "TF_BUILD": "True",
                "AGENT_OS": "Linux",
                "AGENT_TEMPDIRECTORY": directories["_temp"],
                "AGENT_BUILDDIRECTORY": root,
                "BUILD_SOURCESDIRECTORY": directories["s"],
                "BUILD_ARTIFACTSTAGINGDIRECTORY": directories["a"],
                "BUILD_BINARIESDIRECTORY": directories["b"],
                "PIPELINE_WORKSPACE": root,
            }
        )
        run_env.update(env)
        with self._lock:
            self._masks.update(value for value in secrets if value)
        in_background(self._execute, run_env, directories["s"], name=f"fake-azure-run-{self.id}")

    def _execute(self, env: dict[str, str], cwd: str) -> None:
        assert self.command is not None
        code = self._step(self.command, env, cwd)
        with self._lock:
            if self._canceling:
                job_status = "Canceled"
            elif self._final is not None:
                job_status = {"succeeded": "Succeeded", "canceled": "Canceled"}.get(self._final[0], "Failed")
            else:
                job_status = "Succeeded" if code == 0 else "Failed"
        if self.final_command is not None:
            final_code = self._step(self.final_command, {**env, "AGENT_JOBSTATUS": job_status}, cwd, always=True)
            code = code or final_code
        with self._lock:
            if self._final is None:
                result = "canceled" if self._canceling else "succeeded" if code == 0 else "failed"
                self._final = (result, time.time())
            self._log.append(f"##[section]Finishing: {self.name}\n")

    def _step(self, command: list[str], env: dict[str, str], cwd: str, *, always: bool = False) -> int:
        with self._lock:
            if self._stopped or (self._final is not None and not always):
                return 1
            process = self._launch(command, env, cwd)
            if isinstance(process, str):
                self._log.append(f"##[error]{process}")
                return 127
        for line in output_lines(process):
            self._take_line(line)
        code = process.wait()
        with self._lock:
            self._process = None
            if code != 0:
                self._log.append(f"##[error]Bash exited with code '{code}'.\n")
        return code

    def _take_line(self, line: str) -> None:
        command = _LOGGING_COMMAND.search(line)
        with self._lock:
            if command is not None:
                self._logging_command(command)
                if command.group("event").lower() == "setsecret":
                    return  # the agent does not print the command that registers a secret
            masked = line
            for secret in sorted(self._masks, key=len, reverse=True):
                masked = masked.replace(secret, "***")
            self._log.append(masked)

    def _logging_command(self, match: re.Match[str]) -> None:
        area, event, data = (
            match.group("area").lower(),
            match.group("event").lower(),
            match.group("data").rstrip("\r\n"),
        )
        props = dict(
            (part.partition("=")[0].strip().lower(), part.partition("=")[2].strip())
            for part in match.group("props").split(";")
            if part.strip()
        )
        if area != "task":
            return
        if event == "setsecret" and data:
            self._masks.add(data)
        elif event == "setvariable" and props.get("variable"):
            if props.get("issecret", "").lower() == "true" and data:
                self._masks.add(data)
            if props.get("isoutput", "").lower() == "true":
                self.outputs[props["variable"]] = data
        elif event == "uploadsummary" and data:
            with contextlib.suppress(OSError), open(data.strip(), encoding="utf-8") as handle:
                self.summaries.append(handle.read(1_000_000))

    def stop(self) -> None:
        """Kill a running command and remove the run's directory."""
        with self._lock:
            self._stopped = True
        self._stop_command()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane and tests."""
        state, result, finished = self._phase(time.time())
        return {
            "id": self.id,
            "name": self.name,
            "project": self.project,
            "pipeline_id": self.pipeline_id,
            "ref_name": self.ref_name,
            "state": state,
            "result": result,
            "template_parameters": self.template_parameters,
            "variables": {k: ("***" if v.get("isSecret") else v.get("value")) for k, v in self.variables.items()},
            "stages_to_skip": self.stages_to_skip,
            "web_url": self.web_url,
            "url": self.url,
            "created": self.created,
            "finished": finished,
            "outputs": self.outputs,
            "summaries": self.summaries,
        }
