"""``meshpipe demo`` (what ``make demo`` runs) as a subprocess: the whole loop with real terraform."""

from __future__ import annotations

import shutil
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


@pytest.mark.parametrize("flavour", ["github", "ghes"])
def test_demo_runs_the_whole_loop_and_prints_both_timelines(flavour: str) -> None:
    result = run_demo("--flavour", flavour)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "demo succeeded" in output
    # progress while terraform waits
    assert "meshStack | step github/provision: SUCCEEDED" in output
    assert "[team-bucket] behavior DESTROY: not dispatching the apply workflow" in output
    if flavour == "ghes":
        assert "does not support return_run_details; resending without it" in output
    timelines = output.split("\nTimelines\n", 1)[1]
    assert "APPLY run " in timelines and ": SUCCEEDED" in timelines
    assert "DESTROY run " in timelines
    for step in ("validate", "provision", "configure", "delete"):
        assert f"[SUCCEEDED] {step} - " in timelines
    assert "user:   Bucket alpha-dev-data is ready: https://storage.example.com/alpha-dev-data" in timelines
    assert "system: created bucket alpha-dev-data" in timelines
    assert "output: bucket_url = https://storage.example.com/alpha-dev-data (STRING)" in timelines
    # the Terraform runner's own source carries the dispatcher's lines for the platform team
    assert "  source tf-runner:\n    [SUCCEEDED] apply - Run Terraform Apply" in timelines
    assert "[SUCCEEDED] destroy - Run Terraform Destroy" in timelines
    assert "ok   exactly one apply dispatch" in output and "ok   exactly one destroy dispatch" in output
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
    assert "FAIL APPLY run SUCCEEDED (FAILED)" in result.stdout
    assert "[FAILED] apply - Run Terraform Apply" in result.stdout
    assert "meshpipe-dispatch: error: workflow run 10000001 concluded failure" in result.stdout
    assert "bucket name 'alpha-dev-data' must be 3-63 lower-case letters" in result.stdout
