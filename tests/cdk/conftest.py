"""Fixtures of the CDK tests: the example app synthesized once per test session (shared by pytest-xdist workers)."""

from __future__ import annotations

import os

import pytest

from tests.cdk.support import Synth, synthesize_once


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The example app's synthesized stacks (read-only: copy a stack before running terraform in it)."""
    base = tmp_path_factory.getbasetemp()
    # pytest-xdist workers get base temp directories under one shared parent
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    directory = shared / "cdk-synth"
    directory.mkdir(exist_ok=True)
    return synthesize_once(directory)


@pytest.fixture(autouse=True)
def _no_ambient_github_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """terraform inherits the process environment: keep a developer's real GitHub credentials out of the tests."""
    for name in list(os.environ):
        if name.startswith("GITHUB_"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True, scope="session")
def _quiet_jsii() -> None:
    """Constructs built in the test process start the jsii runtime too: silence its Node 20 banner there as well."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
