"""Helpers for running ``meshpipe run ...`` as a subprocess against the fake meshStack."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from meshpipe.fakes.meshstack import FakeMeshStack, FakeRun

CLI = [sys.executable, "-m", "meshpipe", "run"]


def base_env(**extra: str) -> dict[str, str]:
    """A clean environment (nothing inherited from a CI runner) with fast retries."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "SYSTEMROOT") if k in os.environ}
    env["MESHPIPE_RETRY_BASE_DELAY"] = "0.01"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``meshpipe run ARGS`` with ``env``; returns the finished process (text output)."""
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


class Job:
    """One GitHub Actions job on a laptop: a run, RUNNER_TEMP, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files."""

    def __init__(self, fake: FakeMeshStack, tmp_path: Path, run: FakeRun) -> None:
        self.fake = fake
        self.run = run
        self.temp = tmp_path / "runner-temp"
        self.temp.mkdir()
        self.output = tmp_path / "github_output"
        self.summary = tmp_path / "step_summary"
        self.output.touch()
        self.summary.touch()
        self.env = base_env(
            MESHSTACK_RUN_URL=run.url,
            MESHSTACK_RUN_TOKEN=run.run_token,
            RUNNER_TEMP=str(self.temp),
            GITHUB_ACTIONS="true",
            GITHUB_OUTPUT=str(self.output),
            GITHUB_STEP_SUMMARY=str(self.summary),
            GITHUB_RUN_ID="4242",
            GITHUB_REPOSITORY="acme/blocks",
            GITHUB_SERVER_URL="https://github.com",
        )

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run_cli({**self.env, **env}, *args)

    def steps(self, source: str = "github") -> list[dict[str, object]]:
        """The fake's view of this run's steps."""
        return list(self.fake.run(self.run.uuid).sources[source]["steps"])


@pytest.fixture
def job(fake_meshstack: FakeMeshStack, tmp_path: Path) -> Job:
    """A fresh run with a run token and runner files."""
    return Job(fake_meshstack, tmp_path, fake_meshstack.create_run(inputs={"bucket_name": "alpha", "replicas": 2}))


@pytest.fixture
def make_job(fake_meshstack: FakeMeshStack, tmp_path: Path) -> Callable[..., Job]:
    """Build a job for a run created with custom arguments."""
    counter = iter(range(100))

    def make(**kwargs: object) -> Job:
        path = tmp_path / f"job{next(counter)}"
        path.mkdir()
        return Job(fake_meshstack, path, fake_meshstack.create_run(**kwargs))  # type: ignore[arg-type]

    return make
