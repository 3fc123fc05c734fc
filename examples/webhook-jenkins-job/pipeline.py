"""The webhook-jenkins-job pipeline: the job a signed webhook delivery starts (a Jenkins job behind
`receiver.py`, or anything else that verifies meshpipe's signature).

* ``python pipeline.py validate|create|configure|delete`` does the work of one step. ``validate`` and ``create``
  report themselves with ``meshpipe run step``; ``configure`` and ``delete`` are plain commands the job wraps in
  ``meshpipe run exec STEP -- ...``.
* ``python pipeline.py job`` is the whole job: register the phase's steps, run them, and finish the run with the
  job's status whatever happened (Jenkins' ``post { always { ... } }``). The sandbox's webhook receiver runs it
  for each accepted delivery (a retry with the same ``Idempotency-Key`` starts nothing).

The delivery reaches the job as environment variables: ``MESHPIPE_PHASE``, ``MESHSTACK_RUN_URL`` (where
``meshpipe run`` reports) and each input as ``MESHPIPE_INPUT_<NAME>``, never on a command line: building block
inputs are untrusted. The job reports as the source ``jenkins``. The "cloud" is a directory per job under
``$MESHPIPE_EXAMPLE_STATE_DIR``; replace those few lines with your Jenkins job's real work.
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
    "apply": [("validate", "Validate inputs"), ("create", "Create the Jenkins job"), ("configure", "Configure it")],
    "destroy": [("validate", "Validate inputs"), ("delete", "Delete the Jenkins job")],
}
#: steps that report themselves; the others are wrapped in `meshpipe run exec` with this user message
EXEC_MESSAGES = {"configure": "Job configured", "delete": "Job deleted"}
JOB_NAME = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,100}$")
#: the source this job reports as (meshpipe run's default outside GitHub, GitLab and Azure is github)
os.environ.setdefault("MESHSTACK_SOURCE_ID", "jenkins")


def value(name: str, default: str = "") -> str:
    """An input, as the delivery's environment variable ``MESHPIPE_INPUT_<NAME>``."""
    return os.environ.get("MESHPIPE_INPUT_" + re.sub(r"[^A-Z0-9_]", "_", name.upper()), default)


def job_dir() -> Path:
    """Where the stand-in CI keeps the job."""
    root = os.environ.get("MESHPIPE_EXAMPLE_STATE_DIR") or os.path.join(os.environ.get("TMPDIR", "."), "jobs")
    return Path(root) / value("job_name")


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
    """Reject inputs Jenkins would reject, with a message the consuming workspace understands."""
    meshpipe_run("step", "validate", "--status", "IN_PROGRESS")
    name, branch = value("job_name"), value("branch", "main")
    problems = []
    if not JOB_NAME.match(name):
        problems.append(f"job name {name!r} must be 2-40 lower-case letters, digits or hyphens")
    if not BRANCH.match(branch):
        problems.append(f"branch {branch!r} must be 1-100 letters, digits or ._/-")
    text = "; ".join(problems) or f"Inputs are valid: job {name} on {branch}"
    return report("validate", not problems, text, f"delivery received for phase {os.environ.get('MESHPIPE_PHASE')}")


def create() -> int:
    """Create the Jenkins job (idempotent: a repeated delivery finds it and carries on)."""
    meshpipe_run("step", "create", "--status", "IN_PROGRESS")
    path = job_dir()
    existed = path.is_dir()
    path.mkdir(parents=True, exist_ok=True)
    url = f"https://jenkins.example.com/job/{value('job_name')}/"
    system = f"{'found existing' if existed else 'created'} job at {path}"
    message = f"Jenkins job {value('job_name')} is ready: {url}"
    return report("create", True, message, system, (f"job_url={url}:STRING",))


def configure() -> int:
    """Point the job at its branch (reported by ``meshpipe run exec``)."""
    settings = {"branch": value("branch", "main"), "workspace": value("workspace")}
    (job_dir() / ".job.json").write_text(json.dumps(settings), encoding="utf-8")
    print(f"job {value('job_name')} builds {settings['branch']}")
    return 0


def delete() -> int:
    """Delete the job; one that is already gone is success (destroy must be re-runnable)."""
    path = job_dir()
    if path.exists():
        shutil.rmtree(path)
    print(f"deleted job {value('job_name')}")
    return 0


WORK = {"validate": validate, "create": create, "configure": configure, "delete": delete}


def steps(phase: str) -> int:
    """Register the phase's steps, then run them in order until one fails."""
    meshpipe_run("register", *[f"--step={step_id}={name}" for step_id, name in STEPS[phase]])
    for step_id, _ in STEPS[phase]:
        command = [sys.executable, __file__, step_id]
        if step_id in EXEC_MESSAGES:
            command = ["meshpipe", "run", "exec", step_id, "--user-message",
                       EXEC_MESSAGES[step_id], "--", *command]  # fmt: skip
        if subprocess.run(command, check=False).returncode != 0:
            return 1
    return 0


def job() -> int:
    """The whole job: the steps, then the run's terminal status whatever happened (``post { always }``)."""
    phase = os.environ.get("MESHPIPE_PHASE", "")
    if phase not in STEPS:
        print(f"pipeline: MESHPIPE_PHASE must be apply or destroy, got {phase!r}", file=sys.stderr)
        return 2
    status = "failure"
    try:
        status = "success" if steps(phase) == 0 else "failure"
    finally:
        finished = meshpipe_run("finish", "--job-status", status, check=False)
    return 0 if status == "success" and finished == 0 else 1


def main(argv: list[str]) -> int:
    """``pipeline.py STEP`` or ``pipeline.py job``."""
    commands = {**WORK, "job": job}
    if len(argv) == 2 and argv[1] in commands:
        return commands[argv[1]]()
    print(f"usage: {argv[0]} {{{','.join(commands)}}}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
