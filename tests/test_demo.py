"""``meshpipe demo`` (what ``make demo`` runs) as a subprocess: the whole loop with real terraform."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "team-bucket"

pytestmark = pytest.mark.terraform


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshpipe", "demo", *args], capture_output=True, text=True, timeout=240, check=False
    )


def test_demo_previews_with_detect_and_destroys_through_the_runner_emulation() -> None:
    output = run_demo().stdout
    checks = output.rsplit("\nChecks\n", 1)[1]
    assert "ok   DETECT fires nothing" in checks
    assert "ok   DETECT uploaded its plan, changes detected" in checks
    assert "ok   exactly one destroy.yml dispatch, carrying the DESTROY run's URL" in checks
    assert "ok   DESTROY run has the runner's and the workflow's source" in checks
    assert "runner    | $ terraform plan -out=plan.tfplan -detailed-exitcode" in output
    assert "runner    | Using the provided plan artifact from the dry-run; applying it verbatim." in output
    # async DESTROY: the runner applies with the DESTROY run first, which must not fire the apply workflow
    assert "[team-bucket] behavior DESTROY: not dispatching the apply workflow" in output
    timelines = output.split("\nTimelines\n", 1)[1]
    assert "(meshStack's Terraform runner): IN_PROGRESS\n    [SUCCEEDED] trigger - Prepare Run" in timelines
    assert "source github (the workflow): SUCCEEDED" in timelines


@pytest.mark.parametrize("flavour", ["github", "ghes"])
def test_demo_runs_the_whole_loop_and_prints_both_timelines(flavour: str) -> None:
    result = run_demo("--flavour", flavour)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "demo succeeded" in output
    # progress while the workflows run
    assert "meshStack | step github/provision: SUCCEEDED" in output
    if flavour == "ghes":
        # GHES answers no run details: one POST without return_run_details, the run known by its correlation id
        assert "does not support return_run_details" not in output
        assert "dispatched apply.yml on main: run id unknown (correlation id " in output
    timelines = output.split("\nTimelines\n", 1)[1]
    assert "DETECT run " in timelines and "APPLY run " in timelines and "DESTROY run " in timelines
    for step in ("validate", "provision", "configure", "delete"):
        assert f"[SUCCEEDED] {step} - " in timelines
    assert "user:   Bucket alpha-dev-data is ready: https://storage.example.com/alpha-dev-data" in timelines
    assert "system: created bucket alpha-dev-data" in timelines
    assert "output: bucket_url = https://storage.example.com/alpha-dev-data (STRING)" in timelines
    # the runner's own source (its UUID) carries the dispatcher's lines for the platform team
    assert timelines.count("(meshStack's Terraform runner)") == 3
    assert timelines.count("source github (the workflow): SUCCEEDED") == 2
    assert "ok   exactly one apply.yml dispatch, carrying the APPLY run's URL" in output
    assert "ok   exactly one destroy.yml dispatch, carrying the DESTROY run's URL" in output
    assert "FAIL" not in output
    assert "status page: http://127.0.0.1:" in output.rsplit("Checks", 1)[1]


def test_demo_exits_non_zero_when_the_workflow_fails(tmp_path: Path) -> None:
    broken = tmp_path / "broken-bucket"
    shutil.copytree(EXAMPLE, broken, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "__pycache__"))
    pipeline = broken / "pipeline.py"
    text = pipeline.read_text(encoding="utf-8")
    pipeline.write_text(text.replace('re.compile(r"^[a-z0-9]', 're.compile(r"^NEVER[a-z0-9]', 1), encoding="utf-8")
    result = run_demo("--example", str(broken))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "demo FAILED" in result.stdout
    # async: the workflow, not terraform, fails the run; the runner's source stays at the hand-over
    assert "FAIL DESTROY run SUCCEEDED (FAILED)" in result.stdout
    assert "source github (the workflow): FAILED" in result.stdout
    assert "bucket name 'alpha-dev-data' must be 3-63 lower-case letters" in result.stdout


#: target -> (its example's resource, a line its dispatcher prints on APPLY, the source its pipeline reports as)
TARGET_DEMOS = {
    "gitlab": ("alpha-dev", "dispatched pipeline on main of acme/platform/gitlab-namespace: pipeline ", "gitlab"),
    "azure_devops": (
        "alpha-orders",
        "dispatched pipeline 1 on refs/heads/main of project Platform: run ",
        "azure-pipelines",
    ),
    "webhook": ("alpha-build", "dispatched webhook 'apply' to http://127.0.0.1:", "jenkins"),
}


@pytest.mark.parametrize("target", sorted(TARGET_DEMOS))
def test_demo_runs_the_whole_loop_through_each_target(target: str) -> None:
    resource, dispatched, source = TARGET_DEMOS[target]
    result = run_demo("--target", target)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    checks = output.rsplit("\nChecks\n", 1)[1]
    assert "FAIL" not in checks and "demo succeeded" in checks
    what = {"webhook": "delivery"}.get(target, "pipeline")
    for phase, behavior in (("apply", "APPLY"), ("destroy", "DESTROY")):
        assert f"ok   exactly one {phase} {what}, carrying the {behavior} run's URL" in checks
    assert "ok   DETECT fires nothing" in checks
    assert f"created {resource}" in checks and f"deleted {resource}" in checks
    # the module's dispatcher, as the runner's source shows it, and the async DESTROY's apply firing nothing
    assert dispatched in output
    assert "behavior DESTROY: not dispatching the apply " in output
    timelines = output.split("\nTimelines\n", 1)[1]
    assert timelines.count(f"source {source} (the pipeline): SUCCEEDED") == 2
    assert timelines.count("(meshStack's Terraform runner)") == 3
    for step in ("validate", "create", "delete"):
        assert f"[SUCCEEDED] {step} - " in timelines


def test_a_failing_gitlab_job_fails_the_run_through_its_after_script(tmp_path: Path) -> None:
    """The job's script fails; the after_script (`finish` with $CI_JOB_STATUS=failed) still ends the run FAILED."""
    broken = tmp_path / "broken-namespace"
    source = ROOT / "examples" / "gitlab-namespace"
    shutil.copytree(source, broken, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "__pycache__"))
    pipeline = broken / "pipeline.py"
    text = pipeline.read_text(encoding="utf-8")
    pipeline.write_text(text.replace('re.compile(r"^[a-z]', 're.compile(r"^NEVER[a-z]', 1), encoding="utf-8")
    result = run_demo("--target", "gitlab", "--example", str(broken))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "demo FAILED" in result.stdout
    assert "FAIL APPLY run SUCCEEDED (FAILED)" in result.stdout
    assert "source gitlab (the pipeline): FAILED" in result.stdout
    assert "namespace name 'alpha-dev' must be 2-40 lower-case letters" in result.stdout
    assert "GitLab pipeline 5000001 'gitlab-namespace apply [" in result.stdout and "': failed" in result.stdout


def _processes_under(directory: Path) -> list[str]:
    """Live processes whose working directory or command line lies under ``directory``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue  # gone, or not ours to read
        if str(directory) in cmdline or cwd.startswith(str(directory)):
            found.append(f"{proc.name}: {cmdline.strip()} (in {cwd})")
    return found


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="reads /proc to find orphans")
@pytest.mark.parametrize("moment", ["runner    | $ terraform", "meshStack | step github/"])
def test_sigterm_stops_the_sandbox_and_every_child_process(tmp_path: Path, moment: str) -> None:
    """Reproduction: ``meshpipe demo`` ended at once on SIGTERM (Python's default), leaving terraform and the
    workflow's processes -- each in a session of its own -- running against servers that were gone."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONUNBUFFERED": "1"}
    demo = subprocess.Popen(
        [sys.executable, "-m", "meshpipe", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert demo.stdout is not None
        seen = []
        for line in demo.stdout:
            seen.append(line)
            if moment in line:
                break
        assert any(moment in line for line in seen), "".join(seen)
        demo.send_signal(signal.SIGTERM)
        _, stderr = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    left = _processes_under(temp)  # at once: what the demo stopped, it waited for
    assert left == [], left
    assert demo.returncode == 128 + signal.SIGTERM, stderr
    assert "meshpipe demo: SIGTERM; the sandbox and its processes are stopped" in stderr
    assert list(temp.iterdir()) == []  # the sandbox's temporary directories are gone too
