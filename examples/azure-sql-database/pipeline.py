"""The azure-sql-database pipeline: the work behind the jobs of `azure-pipelines.yml`.

* ``python pipeline.py validate|create|backup|delete`` does the work of one step. ``validate`` and ``create``
  report themselves with ``meshpipe run step``; ``backup`` and ``delete`` are plain commands the job wraps in
  ``meshpipe run exec STEP -- ...``.
* ``python pipeline.py job`` is the job's own step (register the phase's steps, run them, stop at the first
  failure); ``python pipeline.py finish`` stands for the reporter template's last step (``condition: always()``:
  finish the run with ``$(Agent.JobStatus)``). The sandbox's fake Azure DevOps runs exactly these two.

Parameters arrive as pipeline variables, which the agent exposes upper-cased (``database_name`` ->
``DATABASE_NAME``), never on a command line or in a script line: building block inputs are untrusted. The phase
arrives in ``MESHPIPE_PHASE``. The "cloud" is a directory per database under ``$MESHPIPE_EXAMPLE_STATE_DIR``; replace
those few lines with ``az sql db create`` or Terraform.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

#: phase -> the steps the job registers, in order (id, display name shown in meshStack)
STEPS: dict[str, list[tuple[str, str]]] = {
    "apply": [("validate", "Validate inputs"), ("create", "Create the database"), ("backup", "Configure backups")],
    "destroy": [("validate", "Validate inputs"), ("delete", "Delete the database")],
}
#: steps that report themselves; the others are wrapped in `meshpipe run exec` with this user message
EXEC_MESSAGES = {"backup": "Backups configured", "delete": "Database deleted"}
DATABASE = re.compile(r"^[a-z][a-z0-9-]{2,39}$")
SKUS = ("S0", "S1", "S2")


def value(name: str, default: str = "") -> str:
    """A parameter, as the agent exposes the variable of the same name: upper-cased."""
    return os.environ.get(name.upper().replace(".", "_"), default)


def database_dir() -> Path:
    """Where the stand-in cloud keeps the database."""
    temp = os.environ.get("AGENT_TEMPDIRECTORY", ".")
    root = os.environ.get("MESHPIPE_EXAMPLE_STATE_DIR") or os.path.join(temp, "databases")
    return Path(root) / value("database_name")


def meshpipe_run(*args: str, check: bool = True) -> int:
    """Call the reporter (``meshpipe run ...``): the ``meshpipe`` on PATH, which the CI template puts there."""
    return subprocess.run(["meshpipe", "run", *args], check=check).returncode


def report(step: str, ok: bool, user_message: str, system_message: str, outputs: tuple[str, ...] = ()) -> int:
    """Report a self-reporting step's end: SUCCEEDED with its outputs, or FAILED with the reason."""
    flags = [flag for output in outputs for flag in ("--output", output)]
    status = "SUCCEEDED" if ok else "FAILED"
    meshpipe_run("step", step, "--status", status, "--user-message", user_message, "--system-message",
                 system_message, *flags)  # fmt: skip
    return 0 if ok else 1


def validate() -> int:
    """Reject inputs Azure SQL would reject, with a message the consuming workspace understands."""
    meshpipe_run("step", "validate", "--status", "IN_PROGRESS")
    name, sku = value("database_name"), value("sku", "S0")
    problems = []
    if not DATABASE.match(name):
        problems.append(f"database name {name!r} must be 3-40 lower-case letters, digits or hyphens")
    if sku not in SKUS:
        problems.append(f"sku {sku!r} must be one of {', '.join(SKUS)}")
    text = "; ".join(problems) or f"Inputs are valid: database {name} ({sku})"
    return report("validate", not problems, text, f"parameters received for phase {value('meshpipe_phase')}")


def create() -> int:
    """Create the database (idempotent: a retried run finds it and carries on)."""
    meshpipe_run("step", "create", "--status", "IN_PROGRESS")
    path = database_dir()
    existed = path.is_dir()
    path.mkdir(parents=True, exist_ok=True)
    url = f"sqlserver://acme-sql.database.windows.net/{value('database_name')}"
    system = f"{'found existing' if existed else 'created'} database at {path}"
    message = f"Database {value('database_name')} is ready: {url}"
    return report("create", True, message, system, (f"database_url={url}:STRING",))


def backup() -> int:
    """Configure long-term backups (reported by ``meshpipe run exec``)."""
    settings = {"sku": value("sku", "S0"), "backup": value("backup", "true") == "true", "workspace": value("workspace")}
    (database_dir() / ".database.json").write_text(json.dumps(settings), encoding="utf-8")
    print(f"backups {'on' if settings['backup'] else 'off'} for {value('database_name')}")
    return 0


def delete() -> int:
    """Delete the database; one that is already gone is success (destroy must be re-runnable)."""
    path = database_dir()
    if path.exists():
        shutil.rmtree(path)
    print(f"deleted database {value('database_name')}")
    return 0


WORK = {"validate": validate, "create": create, "backup": backup, "delete": delete}


def job() -> int:
    """The job's script: register the phase's steps, then run them in order until one fails."""
    phase = value("meshpipe_phase")
    if phase not in STEPS:
        print(f"pipeline: MESHPIPE_PHASE must be apply or destroy, got {phase!r}", file=sys.stderr)
        return 2
    meshpipe_run("register", *[f"--step={step_id}={name}" for step_id, name in STEPS[phase]])
    for step_id, _ in STEPS[phase]:
        command = [sys.executable, __file__, step_id]
        if step_id in EXEC_MESSAGES:
            command = ["meshpipe", "run", "exec", step_id, "--user-message",
                       EXEC_MESSAGES[step_id], "--", *command]  # fmt: skip
        if subprocess.run(command, check=False).returncode != 0:
            return 1
    return 0


def finish() -> int:
    """The last step (``condition: always()``): finish the run with ``$(Agent.JobStatus)`` (Succeeded, Failed, ...)."""
    return meshpipe_run("finish", "--job-status", os.environ.get("AGENT_JOBSTATUS", "Failed"), check=False)


def main(argv: list[str]) -> int:
    """``pipeline.py STEP``, ``pipeline.py job`` or ``pipeline.py finish``."""
    commands = {**WORK, "job": job, "finish": finish}
    if len(argv) == 2 and argv[1] in commands:
        return commands[argv[1]]()
    print(f"usage: {argv[0]} {{{','.join(commands)}}}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
