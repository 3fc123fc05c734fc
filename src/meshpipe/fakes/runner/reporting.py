"""How the emulated runner reports to meshStack (``../shared/reference/meshstack-runner.md``, "How the runner
reports"; ``meshstack-run-api.md`` §6.3; the runner's ``tfapply.go``/``tfplan.go``/``runapi.go``).

* One source whose id is the runner's UUID, registered with every step at once and ``status: null`` (runapi.go
  ``Register``), authenticated with the run token.
* Sync runs: steps ``sources``, ``input``, ``init_tf``, ``pre_run_script``, ``execute_tf`` and ``output`` (DETECT has
  no ``output``), each with the runner's display name. Async runs: one step ``trigger`` "Prepare Run".
* Every update re-sends the whole status (the runner's ``RunStatus``): each step's system message is its slice of
  the run log; DETECT adds ``changesDetected``. A liveness PATCH goes out every 10 s while the run works; an answer
  ``{"runAborted": true}`` cancels the run.
* On failure the current and all later steps are FAILED, the later ones with "Aborted due to failure in an earlier
  step". Async success ends with the ``trigger`` step SUCCEEDED and the run IN_PROGRESS: the hand-over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import requests

__all__ = ["ABORTED_LATER", "MEDIA_TYPE", "RunLog", "RunnerReport", "output_values", "steps_for"]

MEDIA_TYPE = "application/vnd.meshcloud.api.meshbuildingblockrun.v1.hal+json"
ABORTED_LATER = "Aborted due to failure in an earlier step"
HTTP_TIMEOUT_SECONDS = 10.0

_EXECUTE_NAMES = {"APPLY": "Run Terraform Apply", "DETECT": "Run Terraform Plan", "DESTROY": "Run Terraform Destroy"}


def steps_for(behavior: str, is_async: bool) -> list[tuple[str, str]]:
    """The steps the runner registers for a run (tfapply.go / tfplan.go / tfdestroy.go ``initRunSteps``)."""
    if is_async:
        return [("trigger", "Prepare Run")]
    steps = [
        ("sources", "Prepare Run and download Sources"),
        ("input", "Initialize Inputs"),
        ("init_tf", "Initialize Terraform and select Workspace"),
        ("pre_run_script", "Execute Pre-Run Script"),
        ("execute_tf", _EXECUTE_NAMES.get(behavior, "Run Terraform Apply")),
    ]
    if behavior != "DETECT":
        steps.append(("output", "Collect Outputs and clean up"))
    return steps


class RunLog:
    """The run's log: lines in order, and where each step's slice starts."""

    def __init__(self, on_line: Callable[[str], None] | None = None) -> None:
        self.lines: list[str] = []
        self.starts: dict[str, int] = {}
        self._on_line = on_line
        self._lock = threading.Lock()

    def mark(self, step_id: str) -> None:
        """The following lines belong to ``step_id``."""
        with self._lock:
            self.starts.setdefault(step_id, len(self.lines))

    def line(self, text: str) -> None:
        """Append one line (and echo it)."""
        with self._lock:
            self.lines.append(text)
        if self._on_line is not None:
            self._on_line(text)

    def slice(self, step_id: str, following: list[str]) -> str | None:
        """The lines from ``step_id``'s start up to the start of the next step that began."""
        with self._lock:
            if step_id not in self.starts:
                return None
            start = self.starts[step_id]
            ends = [self.starts[s] for s in following if s in self.starts]
            return "\n".join(self.lines[start : min(ends) if ends else len(self.lines)]) or None


class RunnerReport:
    """The runner's status of one run, sent as its own source with the run token."""

    def __init__(self, run: dict[str, Any], runner_uuid: str, steps: list[tuple[str, str]], log: RunLog) -> None:
        links = run["_links"]
        self.register_url = links["registerSource"]["href"]
        self.update_url = links["updateSource"]["href"].replace("{sourceId}", runner_uuid)
        self.runner_uuid = runner_uuid
        self.log = log
        self.steps: list[dict[str, Any]] = [
            {"id": step_id, "displayName": name, "status": "PENDING", "userMessage": None} for step_id, name in steps
        ]
        self.outputs: dict[str, dict[str, Any]] = {}
        self.status = "IN_PROGRESS"
        self.changes_detected: bool | None = None
        self.aborted = threading.Event()
        self._session = requests.Session()
        self._session.headers.update(
            {"Authorization": f"Bearer {run['spec']['runToken']}", "Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}
        )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- wire ------------------------------------------------------------------------------------------------------
    def register(self) -> None:
        """Register the runner's source with all steps (409 counts as success, as in the runner's client)."""
        body = {
            "source": {"id": self.runner_uuid},
            "steps": [{"id": s["id"], "displayName": s["displayName"], "status": None} for s in self.steps],
        }
        response = self._session.post(self.register_url, json=body, timeout=HTTP_TIMEOUT_SECONDS)
        if response.status_code != 409:
            response.raise_for_status()

    def body(self) -> dict[str, Any]:
        """The whole status as the runner sends it on every update."""
        ids = [step["id"] for step in self.steps]
        steps = []
        for index, step in enumerate(self.steps):
            item = {**step, "systemMessage": step.get("systemMessage") or self.log.slice(step["id"], ids[index + 1 :])}
            if index == len(self.steps) - 1 and self.outputs:
                item["outputs"] = self.outputs
            steps.append({k: v for k, v in item.items() if v is not None})
        body: dict[str, Any] = {"status": self.status, "steps": steps}
        if self.changes_detected is not None:
            body["changesDetected"] = self.changes_detected
        return body

    def send(self) -> None:
        """PATCH the whole status; an answer ``runAborted: true`` sets :attr:`aborted`."""
        with self._lock:
            response = self._session.patch(self.update_url, json=self.body(), timeout=HTTP_TIMEOUT_SECONDS)
        response.raise_for_status()
        try:
            aborted = bool(response.json().get("runAborted"))
        except ValueError:
            aborted = False
        if aborted:
            self.aborted.set()

    # -- steps -----------------------------------------------------------------------------------------------------
    def start(self, step_id: str) -> None:
        """``step_id`` begins (its log slice starts here)."""
        self.log.mark(step_id)
        self._step(step_id)["status"] = "IN_PROGRESS"
        self.send()

    def succeed(self, step_id: str, user_message: str | None = None) -> None:
        """``step_id`` ended well."""
        step = self._step(step_id)
        step["status"] = "SUCCEEDED"
        if user_message:
            step["userMessage"] = user_message

    def fail(self, step_id: str, *, status: str = "FAILED", user_message: str | None = None) -> None:
        """``step_id`` failed (or was aborted): it and every later step end, the run with it."""
        index = next(i for i, s in enumerate(self.steps) if s["id"] == step_id)
        self.steps[index]["status"] = status
        if user_message:
            self.steps[index]["userMessage"] = user_message
        for later in self.steps[index + 1 :]:
            later.update(status=status, systemMessage=ABORTED_LATER)
        self.status = status

    def _step(self, step_id: str) -> dict[str, Any]:
        return next(step for step in self.steps if step["id"] == step_id)

    # -- liveness --------------------------------------------------------------------------------------------------
    def start_liveness(self, interval: float, on_abort: Callable[[], None]) -> None:
        """PATCH the status every ``interval`` seconds until :meth:`stop_liveness`; call ``on_abort`` on abort."""

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.send()
                except requests.RequestException:
                    continue  # the next tick tries again, as the runner's observer does
                if self.aborted.is_set():
                    on_abort()
                    return

        self._thread = threading.Thread(target=loop, name=f"runner-liveness-{self.runner_uuid[:8]}", daemon=True)
        self._thread.start()

    def stop_liveness(self) -> None:
        """Stop the liveness loop (bounded wait)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(HTTP_TIMEOUT_SECONDS + 1)


def output_values(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``terraform output -json`` as run outputs: number -> INTEGER, bool -> BOOLEAN, string -> STRING, anything
    else -> CODE as pretty JSON; ``isSensitive`` from the output (tfcmd.go ``collectOutput``)."""
    import json

    outputs = {}
    for name, item in raw.items():
        value = item.get("value")
        if isinstance(value, bool):
            kind = "BOOLEAN"
        elif isinstance(value, (int, float)):
            kind = "INTEGER"
        elif isinstance(value, str):
            kind = "STRING"
        else:
            kind, value = "CODE", json.dumps(value, indent=2)
        outputs[name] = {"value": value, "type": kind, "isSensitive": bool(item.get("sensitive"))}
    return outputs
