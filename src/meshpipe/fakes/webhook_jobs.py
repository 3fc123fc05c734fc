"""The jobs of the fake webhook receiver: one per accepted delivery, moving ``queued -> in_progress ->
succeeded | failed`` (or ``cancelled``), optionally running a local command with the delivery as its environment.

A job without a command spends a quarter of ``duration`` queued, the rest in progress, then ends with the planned
status; its state is computed from timestamps whenever it is read (no thread). ``duration=None`` keeps it queued
until :meth:`WebhookJob.finish`. A job with a command is in progress while the command runs; exit code 0 means
``succeeded``. The command's environment (documented in the README's webhook section):

* ``MESHPIPE_EVENT``, ``MESHPIPE_PHASE``, ``MESHPIPE_MODULE``, ``MESHPIPE_CORRELATION_ID``: the body's fields;
* ``MESHPIPE_JOB_ID`` and ``MESHPIPE_PAYLOAD_FILE`` (the delivery's body, byte for byte);
* ``MESHPIPE_INPUT_<NAME>`` per input, the name upper-cased with every character outside ``A-Z0-9_`` as ``_``; a
  string as it is, any other JSON value (number, boolean, list, map) as compact JSON;
* ``MESHSTACK_RUN_URL``: the ``buildingBlockRunUrl`` input, where the reporter (``meshpipe run``) finds its run;
* ``MESHPIPE_STATE_DIR``: a directory in the job's own temporary directory, where the reporter keeps its state
  between the job's ``meshpipe run`` calls (the CI's job temp dir elsewhere). Without it the reporter falls back to a
  per-user directory with one file per run URL, which two jobs for the same run (a redelivery, a retried job) would
  share: the second would find the first one's steps and terminal status;
* ``PATH``, ``HOME``, ``LANG``, ``TMPDIR``, ... and ``LC_*``/``PYTHON*`` from the host; nothing else of the host's
  environment (its credentials) reaches the command.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from meshpipe.fakes._commands import CommandWork, host_environment, in_background

__all__ = ["JOB_STATUSES", "TERMINAL_STATUSES", "WebhookJob", "job_environment"]

#: the statuses a job answers on its status URL (the protocol's enum)
JOB_STATUSES = ("queued", "in_progress", "succeeded", "failed", "cancelled")
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")
#: the input that carries the meshStack run's URL (meshpipe's contract; restated: the fake is the oracle)
RUN_URL_INPUT = "buildingBlockRunUrl"
_QUEUED_SHARE = 0.25
_NOT_NAME = re.compile(r"[^A-Z0-9_]")


def job_environment(payload: dict[str, Any]) -> dict[str, str]:
    """The ``MESHPIPE_*`` / ``MESHSTACK_RUN_URL`` variables a job's command gets for a delivery's body."""
    env = {
        "MESHPIPE_EVENT": str(payload.get("event", "")),
        "MESHPIPE_PHASE": str(payload.get("phase", "")),
        "MESHPIPE_MODULE": str(payload.get("module", "")),
        "MESHPIPE_CORRELATION_ID": str(payload.get("correlation_id", "")),
    }
    inputs = payload.get("inputs") or {}
    for name in sorted(inputs):  # sorted: when two names map to one variable, the later name wins, every time
        value = inputs[name]
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        env["MESHPIPE_INPUT_" + _NOT_NAME.sub("_", name.upper())] = text
    if inputs.get(RUN_URL_INPUT):
        env["MESHSTACK_RUN_URL"] = str(inputs[RUN_URL_INPUT])
    return env


@dataclass
class WebhookJob(CommandWork):
    """One job started by an accepted delivery."""

    id: int
    key: str
    payload: dict[str, Any]
    body: bytes
    status_url: str
    duration: float | None
    planned_status: str
    command: list[str] | None = None

    SPAWN_ERRORS = (OSError, ValueError)  # ValueError: a NUL byte in an input cannot enter an environment
    created: float = field(default_factory=time.time)
    _final: tuple[str, float] | None = None
    _started: float | None = None
    _log: list[str] = field(default_factory=list)
    _process: subprocess.Popen[bytes] | None = None
    _workdir: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def status(self) -> str:
        """One of :data:`JOB_STATUSES`, as of now."""
        with self._lock:
            if self._final is not None:
                return self._final[0]
            if self.command is not None:
                return "queued" if self._started is None else "in_progress"
        if self.duration is None:
            return "queued"
        elapsed = time.time() - self.created
        if elapsed >= self.duration:
            return self.planned_status
        return "in_progress" if elapsed >= self.duration * _QUEUED_SHARE else "queued"

    @property
    def log(self) -> str:
        """The command's combined stdout/stderr, or a one-line summary."""
        output = self._command_output()
        if output is not None:
            return output
        return f"job {self.id} for {self.key}: {self.status}\n"

    def finish(self, status: str) -> bool:
        """End the job now with ``status`` (a running command gets SIGTERM); False if it already ended."""
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"status must be one of {', '.join(TERMINAL_STATUSES)}, not {status!r}")
        if self.status in TERMINAL_STATUSES:
            return False
        self._end_now(status)
        return True

    def start_command(self) -> None:
        """Run ``command`` in a background thread with the delivery as its environment."""
        assert self.command is not None
        root = tempfile.mkdtemp(prefix=f"meshpipe-fake-webhook-job-{self.id}-")
        self._workdir = root
        payload_file = os.path.join(root, "payload.json")
        with open(payload_file, "wb") as handle:
            handle.write(self.body)
        env = host_environment()
        env.update(job_environment(self.payload))
        state_dir = os.path.join(root, "meshpipe-state")  # the reporter's state: this job's own, never shared
        os.mkdir(state_dir, 0o700)
        env.update(
            {"MESHPIPE_JOB_ID": str(self.id), "MESHPIPE_PAYLOAD_FILE": payload_file, "MESHPIPE_STATE_DIR": state_dir}
        )
        in_background(self._run_to_end, env, root, name=f"fake-webhook-job-{self.id}")

    def stop(self) -> None:
        """Kill a running command and remove the job's temporary directory."""
        self._stop_command()

    def answer(self) -> dict[str, Any]:
        """The status URL's answer: ``{"id", "status", "url"}``."""
        return {"id": str(self.id), "status": self.status, "url": self.status_url}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane."""
        return {
            "id": self.id,
            "idempotency_key": self.key,
            "status": self.status,
            "status_url": self.status_url,
            "event": self.payload.get("event"),
            "phase": self.payload.get("phase"),
            "inputs": self.payload.get("inputs"),
            "created": self.created,
        }
