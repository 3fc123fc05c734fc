"""The team-bucket pipeline: the work behind `.github/workflows/apply.yml` and `destroy.yml`.

Two ways to call it:

* ``python pipeline.py validate|provision|configure|delete`` does the work of one step. ``validate`` and
  ``provision`` report themselves with ``meshpipe run step`` (their user message and outputs depend on the work);
  ``configure`` and ``delete`` are plain commands the workflow wraps in ``meshpipe run exec STEP -- ...``, which
  reports IN_PROGRESS, then SUCCEEDED or FAILED with the output's tail as the system (operator) message.
* ``python pipeline.py job apply|destroy`` runs the whole job exactly as the workflow file does (register, the
  steps, finish). The sandbox's fake GitHub runs this as the workflow body.

Inputs come from the workflow_dispatch event (``$GITHUB_EVENT_PATH``), never from a command line or a shell string:
building block inputs are untrusted. The "cloud" here is a directory per bucket under ``$TEAM_BUCKET_STATE_DIR``;
replace those few lines with your cloud's CLI or SDK.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

#: phase -> the steps the workflow registers, in order (id, display name shown in meshStack)
STEPS: dict[str, list[tuple[str, str]]] = {
    "apply": [
        ("validate", "Validate inputs"),
        ("provision", "Create the bucket"),
        ("configure", "Configure versioning and retention"),
    ],
    "destroy": [
        ("validate", "Validate inputs"),
        ("delete", "Delete the bucket"),
    ],
}

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def inputs() -> dict[str, str]:
    """The workflow_dispatch inputs (all strings, as GitHub delivers them)."""
    event_path = os.environ.get("GITHUB_EVENT_PATH")
    if not event_path:
        sys.exit("pipeline: GITHUB_EVENT_PATH is not set (run this inside a workflow or the meshpipe sandbox)")
    event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    return {str(key): str(value) for key, value in (event.get("inputs") or {}).items()}


def bucket_dir(name: str) -> Path:
    """Where the stand-in cloud keeps a bucket."""
    root = os.environ.get("TEAM_BUCKET_STATE_DIR") or os.path.join(os.environ.get("RUNNER_TEMP", "."), "buckets")
    return Path(root) / name


class StepFailed(Exception):
    """A step failed for a reason the consuming workspace should read (becomes the step's user message)."""


def meshpipe_run(*args: str) -> None:
    """Call the reporter CLI of this installation (``meshpipe run ...``)."""
    subprocess.run([sys.executable, "-m", "meshpipe", "run", *args], check=True)


def reporting(step: str, work: Callable[[list[str]], tuple[str, list[str]]]) -> int:
    """Run ``work`` as a self-reporting step: IN_PROGRESS, then SUCCEEDED with its user message and outputs, or
    FAILED with the reason. ``work`` appends operator details to the log it gets; they become the system message.
    """
    meshpipe_run("step", step, "--status", "IN_PROGRESS")
    log: list[str] = []
    try:
        user_message, outputs = work(log)
    except StepFailed as exc:
        print(f"{step} failed: {exc}", file=sys.stderr)
        meshpipe_run("step", step, "--status", "FAILED", "--user-message", str(exc), "--system-message", "\n".join(log))
        return 1
    except Exception:
        # A bug, not the user's fault: the details go to the platform team only.
        details = traceback.format_exc()
        print(details, file=sys.stderr)
        message = f"{step} failed unexpectedly; the platform team sees the details in this run"
        meshpipe_run("step", step, "--status", "FAILED", "--user-message", message, "--system-message", details)
        return 1
    print("\n".join(log))
    flags = [flag for output in outputs for flag in ("--output", output)]
    meshpipe_run(
        "step",
        step,
        "--status",
        "SUCCEEDED",
        "--user-message",
        user_message,
        "--system-message",
        "\n".join(log),
        *flags,
    )
    return 0


def validate(log: list[str]) -> tuple[str, list[str]]:
    """Reject inputs the stand-in cloud would reject, with a message the consuming workspace understands."""
    values = inputs()
    name = values.get("bucket_name", "")
    log.append(f"inputs received: {', '.join(sorted(values))}")
    problems = []
    if not BUCKET_NAME.match(name):
        problems.append(f"bucket name {name!r} must be 3-63 lower-case letters, digits or hyphens")
    retention = values.get("retention_days", "30")
    if not retention.isdigit() or not 1 <= int(retention) <= 3650:
        problems.append(f"retention_days {retention!r} must be a whole number of days between 1 and 3650")
    if problems:
        raise StepFailed("; ".join(problems))
    return f"Inputs are valid: bucket {name}", []


def provision(log: list[str]) -> tuple[str, list[str]]:
    """Create the bucket (idempotent: a re-run of the workflow finds it and carries on)."""
    name = inputs()["bucket_name"]
    path = bucket_dir(name)
    existed = path.is_dir()
    path.mkdir(parents=True, exist_ok=True)
    url = f"{os.environ.get('TEAM_BUCKET_BASE_URL', 'https://storage.example.com')}/{name}"
    log.append(f"{'found existing' if existed else 'created'} bucket {name} at {path}")
    return f"Bucket {name} is ready: {url}", [f"bucket_url={url}:STRING"]


def configure() -> None:
    """Apply versioning and retention to the bucket (reported by ``meshpipe run exec``, see the workflow)."""
    values = inputs()
    path = bucket_dir(values["bucket_name"])
    settings = {
        "versioning": values.get("versioning", "true") == "true",
        "retention_days": int(values.get("retention_days", "30")),
        "workspace": values.get("workspace"),
    }
    (path / ".bucket.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
    print(f"wrote {path / '.bucket.json'}: {settings}")


def delete() -> None:
    """Delete the bucket; a bucket that is already gone is success (destroy must be re-runnable)."""
    name = inputs()["bucket_name"]
    path = bucket_dir(name)
    if path.exists():
        shutil.rmtree(path)
        print(f"deleted bucket {name} at {path}")
    else:
        print(f"bucket {name} not found at {path}; nothing to delete")


#: step -> how the workflow runs it: a self-reporting function, or a plain one wrapped in `meshpipe run exec`
SELF_REPORTING = {"validate": validate, "provision": provision}
EXEC_WRAPPED = {
    "configure": (configure, "Versioning and retention configured"),
    "delete": (delete, "Bucket deleted"),
}


def job(phase: str) -> int:
    """The whole workflow job, step for step as in `.github/workflows/<phase>.yml`."""
    register = ["register"]
    for step_id, display_name in STEPS[phase]:
        register += ["--step", f"{step_id}={display_name}"]
    job_status = "success"
    try:
        meshpipe_run(*register)
        for step_id, _ in STEPS[phase]:
            if step_id in SELF_REPORTING:
                command = [sys.executable, __file__, step_id]
            else:
                message = EXEC_WRAPPED[step_id][1]
                command = [sys.executable, "-m", "meshpipe", "run", "exec", step_id, "--user-message", message,
                           "--", sys.executable, __file__, step_id]  # fmt: skip
            # Like a workflow, stop at the first failing step.
            subprocess.run(command, check=True)
    except subprocess.CalledProcessError:
        job_status = "failure"
    finally:
        # the workflow's `if: always()` step
        finished = subprocess.run([sys.executable, "-m", "meshpipe", "run", "finish", "--job-status", job_status])
    return 0 if job_status == "success" and finished.returncode == 0 else 1


def main(argv: list[str]) -> int:
    """``pipeline.py STEP`` or ``pipeline.py job PHASE``."""
    if len(argv) == 3 and argv[1] == "job" and argv[2] in STEPS:
        return job(argv[2])
    if len(argv) == 2 and argv[1] in SELF_REPORTING:
        return reporting(argv[1], SELF_REPORTING[argv[1]])
    if len(argv) == 2 and argv[1] in EXEC_WRAPPED:
        EXEC_WRAPPED[argv[1]][0]()
        return 0
    steps = ",".join([*SELF_REPORTING, *EXEC_WRAPPED])
    print(f"usage: {argv[0]} {{{steps}}} | job {{{','.join(STEPS)}}}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
