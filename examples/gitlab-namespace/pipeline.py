"""The gitlab-namespace pipeline: the work behind the jobs of `.gitlab-ci.yml`.

* ``python pipeline.py validate|create|visibility|delete`` does the work of one step. ``validate`` and ``create``
  report themselves with ``meshpipe run step``; ``visibility`` and ``delete`` are plain commands the job wraps in
  ``meshpipe run exec STEP -- ...``.
* ``python pipeline.py job`` is the job's ``script:`` (register the phase's steps, run them, stop at the first
  failure); ``python pipeline.py finish`` is its ``after_script:`` (finish the run with ``$CI_JOB_STATUS``, which
  GitLab sets only there). The sandbox's fake GitLab runs exactly these two as the pipeline's job.

Inputs arrive as job variables named like the inputs (``.gitlab-ci.yml`` declares them with ``expand: false``),
never on a command line or in a script line: building block inputs are untrusted. The phase arrives in
``meshpipe_phase``. The "cloud" is a directory per namespace under ``$MESHPIPE_EXAMPLE_STATE_DIR``; replace those few
lines with your GitLab API calls or Terraform.
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
    "apply": [
        ("validate", "Validate inputs"),
        ("create", "Create the namespace"),
        ("visibility", "Set the visibility"),
    ],
    "destroy": [("validate", "Validate inputs"), ("delete", "Delete the namespace")],
}
#: steps that report themselves; the others are wrapped in `meshpipe run exec` with this user message
EXEC_MESSAGES = {"visibility": "Visibility set", "delete": "Namespace deleted"}
NAMESPACE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


def value(name: str, default: str = "") -> str:
    """An input, as the job variable of the same name."""
    return os.environ.get(name, default)


def namespace_dir() -> Path:
    """Where the stand-in cloud keeps the namespace."""
    root = os.environ.get("MESHPIPE_EXAMPLE_STATE_DIR") or os.path.join(os.environ.get("TMPDIR", "."), "namespaces")
    return Path(root) / value("namespace_name")


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
    """Reject inputs GitLab would reject, with a message the consuming workspace understands."""
    meshpipe_run("step", "validate", "--status", "IN_PROGRESS")
    name, visibility = value("namespace_name"), value("visibility", "private")
    problems = []
    if not NAMESPACE.match(name):
        problems.append(f"namespace name {name!r} must be 2-40 lower-case letters, digits or hyphens")
    if visibility not in ("private", "internal"):
        problems.append(f"visibility {visibility!r} must be private or internal")
    text = "; ".join(problems) or f"Inputs are valid: namespace {name}"
    return report("validate", not problems, text, f"inputs received for phase {value('meshpipe_phase')}")


def create() -> int:
    """Create the namespace (idempotent: a retried job finds it and carries on)."""
    meshpipe_run("step", "create", "--status", "IN_PROGRESS")
    path = namespace_dir()
    existed = path.is_dir()
    path.mkdir(parents=True, exist_ok=True)
    url = f"https://gitlab.example.com/{value('namespace_name')}"
    system = f"{'found existing' if existed else 'created'} namespace at {path}"
    message = f"Namespace {value('namespace_name')} is ready: {url}"
    return report("create", True, message, system, (f"namespace_url={url}:STRING",))


def visibility() -> int:
    """Set the namespace's visibility (reported by ``meshpipe run exec``)."""
    settings = {"visibility": value("visibility", "private"), "workspace": value("workspace")}
    (namespace_dir() / ".namespace.json").write_text(json.dumps(settings), encoding="utf-8")
    print(f"visibility of {value('namespace_name')}: {settings['visibility']}")
    return 0


def delete() -> int:
    """Delete the namespace; one that is already gone is success (destroy must be re-runnable)."""
    path = namespace_dir()
    if path.exists():
        shutil.rmtree(path)
    print(f"deleted namespace {value('namespace_name')}")
    return 0


WORK = {"validate": validate, "create": create, "visibility": visibility, "delete": delete}


def job() -> int:
    """The job's script: register the phase's steps, then run them in order until one fails."""
    phase = value("meshpipe_phase")
    if phase not in STEPS:
        print(f"pipeline: meshpipe_phase must be apply or destroy, got {phase!r}", file=sys.stderr)
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
    """The job's after_script: finish the run with the job's status (success, failed, canceled)."""
    return meshpipe_run("finish", "--job-status", os.environ.get("CI_JOB_STATUS", "failed"), check=False)


def main(argv: list[str]) -> int:
    """``pipeline.py STEP``, ``pipeline.py job`` or ``pipeline.py finish``."""
    commands = {**WORK, "job": job, "finish": finish}
    if len(argv) == 2 and argv[1] in commands:
        return commands[argv[1]]()
    print(f"usage: {argv[0]} {{{','.join(commands)}}}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
