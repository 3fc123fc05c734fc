"""Issue 9, "Done when": a platform engineer's first day, played from an installed wheel outside the clone.

One session-scoped virtual environment gets the wheel built from this checkout (``pip wheel . --no-deps``; the
dependencies come from the package index). Everything then runs from a temporary directory that is not the clone:
write a spec (first with a typo), render module and workflows (and check a workflow missing an input), host the
block on the sandbox, order it, watch the workflow report, delete it, render the definition, and run the demo with
the example shipped inside the package. No file is lost, "Traceback" appears in no output, and each provoked
mistake is one line that says how to fix it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.terraform

SPEC = """\
name: postgres-database
description: A PostgreSQL database for a project.
github:
  repository: acme/postgres-database
{workflows_key}:
  apply: apply.yml
  destroy: destroy.yml
inputs:
  - name: db_name
    type: string
    regex: "^[a-z][a-z0-9_]{{2,62}}$"
    example: orders_db
  - name: size
    type: string
    allowed: [small, medium, large]
    default: small
  - name: storage_gb
    type: number
    default: 20
  - name: backups
    type: bool
    default: true
  - name: workspace
    meshstack: workspace
correlation_input: correlation_id
"""

PIPELINE = """\
import json, os, subprocess, sys
phase = sys.argv[2]
with open(os.environ["GITHUB_EVENT_PATH"], encoding="utf-8") as event:
    inputs = json.load(event)["inputs"]
def report(*args):
    subprocess.run(["meshpipe", "run", *args], check=True)
report("register", "--step", f"{phase}=Database {phase}")
report("step", phase, "--status", "SUCCEEDED", "--user-message", f"{phase} {inputs['db_name']} done")
report("finish", "--status", "SUCCEEDED")
"""


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin directory of a fresh virtual environment holding meshpipe installed from its wheel.

    Built once for all pytest-xdist workers (a file lock decides): two `pip wheel .` at once in one checkout collide
    in its build directory.
    """
    root = tmp_path_factory.getbasetemp()
    base = (root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root) / "first-day-venv"
    base.mkdir(exist_ok=True)
    bin_dir = base / "venv" / "bin"
    with open(base / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / "installed").exists():
            started = time.monotonic()
            quiet = ["--quiet", "--disable-pip-version-check"]
            wheels = base / "wheels"
            subprocess.run([sys.executable, "-m", "pip", "wheel", *quiet, ".", "--no-deps", "-w", str(wheels)],
                           cwd=ROOT, check=True, timeout=300)  # fmt: skip
            subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True, timeout=120)
            (wheel,) = wheels.glob("meshpipe-*.whl")
            subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", *quiet, str(wheel)], check=True,
                           timeout=300)  # fmt: skip
            (base / "installed").write_text("", encoding="utf-8")
            print(f"\nwheel built and installed in a fresh venv in {time.monotonic() - started:.1f} s")
    yield bin_dir


class Day:
    """Runs the installed CLI in the work directory and keeps every output."""

    def __init__(self, bin_dir: Path, work: Path, state: Path) -> None:
        self.work = work
        self.outputs: list[str] = []
        self.env = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "PYTHON"))}
        self.env.update(
            PATH=os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
            MESHPIPE_SANDBOX_STATE=str(state),
            TF_CLI_CONFIG_FILE="",
            CHECKPOINT_DISABLE="1",
            PYTHONUNBUFFERED="1",
        )

    def run(self, *args: str, code: int = 0, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["meshpipe", *args], cwd=self.work, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        self.outputs.append(done.stdout + done.stderr)
        assert done.returncode == code, f"meshpipe {' '.join(args)} -> {done.returncode}\n{done.stdout}{done.stderr}"
        return done

    def one_line_error(self, *args: str) -> str:
        """The command fails with exactly one line on stderr."""
        done = self.run(*args, code=1)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_first_day_from_an_installed_wheel(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "postgres-database"
    work.mkdir()
    assert ROOT not in work.parents
    day = Day(installed, work, tmp_path / "sandbox.json")
    notes = work / "NOTES.md"
    notes.write_text("my notes, not meshpipe's\n", encoding="utf-8")
    (work / "pipeline.py").write_text(PIPELINE, encoding="utf-8")

    # Mistake 1: a typo'd spec key.
    (work / "spec.yaml").write_text(SPEC.format(workflows_key="workflow"), encoding="utf-8")
    line = day.one_line_error("module", "render", "spec.yaml", "-o", "module")
    assert "spec.yaml" in line and "did you mean `workflows`" in line, line
    assert not (work / "module").exists()
    (work / "spec.yaml").write_text(SPEC.format(workflows_key="workflows"), encoding="utf-8")

    # Mistake 2: rendering the module into the block's own directory would overwrite the user's files.
    line = day.one_line_error("module", "render", "spec.yaml", "-o", ".")
    assert "--force" in line, line

    day.run("module", "render", "spec.yaml", "-o", "module")
    day.run("workflow", "render", "spec.yaml", "-o", ".github/workflows/apply.yml")
    day.run("workflow", "render", "spec.yaml", "--phase", "destroy", "-o", ".github/workflows/destroy.yml")

    # Mistake 3: a workflow missing an input the module sends (GitHub would answer 422).
    apply = work / ".github" / "workflows" / "apply.yml"
    good = apply.read_text(encoding="utf-8")
    apply.write_text(good.replace("      storage_gb:", "      storage_gb_removed:"), encoding="utf-8")
    checked = day.run("workflow", "check", "spec.yaml", str(apply), code=1)
    assert "storage_gb" in checked.stderr and "meshpipe workflow render spec.yaml --inputs-only" in checked.stderr
    apply.write_text(good, encoding="utf-8")
    day.run("workflow", "check", "spec.yaml", ".github/workflows/apply.yml", ".github/workflows/destroy.yml")

    # Mistake 4: ordering with no sandbox running.
    line = day.one_line_error("sandbox", "order", "--input", "db_name=orders_db")
    assert "start `meshpipe sandbox`" in line, line

    kept = {path: digest(work / path) for path in ("spec.yaml", "pipeline.py", "NOTES.md")}
    sandbox = subprocess.Popen(
        ["meshpipe", "sandbox", "--block", "."],
        cwd=work,
        env=day.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "sandbox.json").exists():
            assert sandbox.poll() is None, sandbox.communicate(timeout=10)[0]
            assert time.monotonic() < deadline, "the sandbox did not start within 60 s"
            time.sleep(0.2)
        ordered = day.run("sandbox", "order", "--input", "db_name=orders_db", "--input", "storage_gb=50")
        assert "step github/apply: SUCCEEDED - apply orders_db done" in ordered.stdout
        line = day.one_line_error("sandbox", "order", "--input", "db_name=Orders")
        assert "FAILED" in line and "db_name must match the regular expression" in line, line
        day.run("sandbox", "runs")
        deleted = day.run("sandbox", "delete", "latest")
        assert "step github/destroy: SUCCEEDED - destroy orders_db done" in deleted.stdout
    finally:
        sandbox.send_signal(signal.SIGINT)
        try:
            day.outputs.append(sandbox.communicate(timeout=30)[0])
        except subprocess.TimeoutExpired:
            sandbox.kill()
            day.outputs.append(sandbox.communicate(timeout=10)[0])
    assert sandbox.returncode == 0

    day.run("definition", "render", "spec.yaml", "--path", "module", "-o", "definition.tf")
    assert "meshstack_building_block_definition" in (work / "definition.tf").read_text(encoding="utf-8")
    assert {path: digest(work / path) for path in kept} == kept, "a file of the user's changed"

    # The example ships inside the package: the demo runs outside a clone.
    demo = day.run("demo", timeout=240)
    assert "demo succeeded" in demo.stdout
    assert all("Traceback" not in output for output in day.outputs)


#: target -> (the pipeline file `workflow render` writes, whether `workflow check` reads it)
PIPELINE_FILES = {"gitlab": (".gitlab-ci.yml", True), "azure_devops": ("azure-pipelines.yml", True),
                  "webhook": ("receiver.py", False)}  # fmt: skip


@pytest.mark.parametrize("target", list(PIPELINE_FILES))
def test_first_day_with_another_target(installed: Path, tmp_path: Path, target: str) -> None:
    """The same day for a GitLab, Azure DevOps or webhook block: the README's spec for the target (the snippet the
    how-to shows) -> module, pipeline file, definition -> the target's demo, from the installed wheel."""
    from tests.test_readme_targets import spec_snippets

    work = tmp_path / "block"
    work.mkdir()
    day = Day(installed, work, tmp_path / "sandbox.json")
    (work / "spec.yaml").write_text(spec_snippets()[target], encoding="utf-8")
    kept = digest(work / "spec.yaml")

    day.run("module", "render", "spec.yaml", "-o", "module")
    assert (work / "module" / "main.tf").is_file()
    pipeline, checkable = PIPELINE_FILES[target]
    if checkable:
        sha256 = digest(ROOT / "action" / "meshpipe.pyz")
        day.run("workflow", "render", "spec.yaml", "--run", "python3 pipeline.py job", "--reporter-sha256", sha256,
                "-o", pipeline)  # fmt: skip
        day.run("workflow", "check", "spec.yaml", pipeline)
    else:
        day.run("workflow", "render", "spec.yaml", "-o", pipeline)
    assert (work / pipeline).stat().st_size > 0
    url = "https://git.example.com/platform/blocks.git"
    day.run("definition", "render", "spec.yaml", "--path", "module", "--repository-url", url, "-o", "definition.tf")
    definition = (work / "definition.tf").read_text(encoding="utf-8")
    assert "meshstack_building_block_definition" in definition and url in definition
    assert digest(work / "spec.yaml") == kept

    demo = day.run("demo", "--target", target, timeout=240)
    assert "demo succeeded" in demo.stdout
    assert all("Traceback" not in output for output in day.outputs)
