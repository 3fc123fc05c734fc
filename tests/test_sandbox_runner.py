"""``meshpipe sandbox`` runs the example's published definition through the runner emulation: runs created on its
control plane are claimed and executed, and a DETECT run's plan can be approved."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from meshpipe.fakes.runner import DEFAULT_RUNNER_UUID

pytestmark = pytest.mark.terraform

CONTROL: dict[str, str] = {"Content-Type": "application/json"}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A running `meshpipe sandbox`; yields the fake meshStack's URL and the file its stderr goes to (the control
    secret goes to the module-level CONTROL headers)."""
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "meshpipe", "sandbox"],
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert process.stdout is not None
            url = None
            for line in process.stdout:
                if line.startswith("export MESHSTACK_ENDPOINT="):
                    url = line.strip().split("=", 1)[1].strip("'")
                if line.startswith("export MESHPIPE_FAKE_CONTROL_TOKEN="):
                    CONTROL["X-Meshpipe-Fake-Control"] = line.strip().split("=", 1)[1].strip("'")
                if line.startswith("runner emulation:"):
                    break
            assert url, stderr.read_text()
            yield url, stderr
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate(timeout=10)


def wait_for(condition: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def run_view(url: str, uuid: str) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{url}/_fake/runs/{uuid}", headers=CONTROL, timeout=5).json()
    return answer


def runner_done(url: str, uuid: str) -> dict[str, Any] | None:
    view = run_view(url, uuid)
    source = view["sources"].get(DEFAULT_RUNNER_UUID) or {}
    steps = source.get("steps") or []
    return view if steps and steps[-1]["status"] in ("SUCCEEDED", "FAILED") else None


def test_sandbox_executes_a_detect_run_and_its_approval_through_the_runner(sandbox: tuple[str, Path]) -> None:
    url, stderr = sandbox
    created = requests.post(
        f"{url}/_fake/block-runs",
        json={"behavior": "DETECT", "inputs": {"bucket_name": "alpha-dev-data"}},
        headers=CONTROL,
        timeout=5,
    )
    assert created.status_code == 201, created.text
    detect = created.json()["uuid"]
    wait_for(lambda: runner_done(url, detect))
    assert requests.get(f"{url}/_fake/states", headers=CONTROL, timeout=5).json()["artifacts"].get(detect)
    approved = requests.post(f"{url}/_fake/runs/{detect}/approve", headers=CONTROL, timeout=5)
    assert approved.status_code == 201, approved.text
    apply = approved.json()
    assert apply["spec"]["behavior"] == "APPLY"
    view = wait_for(lambda: runner_done(url, apply["uuid"]))
    assert DEFAULT_RUNNER_UUID in view["sources"]
    assert f"runner: DETECT run {detect} -> IN_PROGRESS" in wait_for(lambda: stderr.read_text(), 5)
    assert "runner | $ terraform plan -out=plan.tfplan -detailed-exitcode" in stderr.read_text()


def test_block_runs_rejects_an_unknown_behavior_or_input(sandbox: tuple[str, Path]) -> None:
    url, _ = sandbox
    bad = requests.post(f"{url}/_fake/block-runs", json={"behavior": "IMPORT"}, headers=CONTROL, timeout=5)
    assert bad.status_code == 400 and "behavior must be one of" in bad.text
    unknown = requests.post(
        f"{url}/_fake/block-runs", json={"behavior": "APPLY", "inputs": {"colour": "red"}}, headers=CONTROL, timeout=5
    )
    assert unknown.status_code == 400 and "no input named colour" in unknown.text


def test_an_example_without_a_published_definition_gets_one_rendered_and_the_runner(tmp_path: Path) -> None:
    """Issue 9 items 7/8: a block without publish/definition.tf (like the example shipped in the wheel) is hosted
    with a definition rendered from its spec, so the runner emulation runs (it used to be switched off)."""
    example = tmp_path / "bare-bucket"
    source = Path(__file__).resolve().parents[1] / "examples" / "team-bucket"
    shutil.copytree(source, example, ignore=shutil.ignore_patterns("publish", ".terraform*", "__pycache__"))
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "meshpipe", "sandbox", "--example", str(example)],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            wait_for(lambda: "sandbox running" in stderr.read_text(), 30)
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=30)
    assert process.returncode == 0
    text = stderr.read_text()
    assert "runner emulation off" not in text
    assert re.search(r"wrote \S+/publish/definition.tf", text), text
    assert not (example / "publish").exists(), "the rendered definition goes to the sandbox's staging directory"
