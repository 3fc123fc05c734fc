"""Fixtures for the Trigger Module tests (the fakes come from meshpipe's pytest plugin)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_ambient_github_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """terraform inherits the process environment: keep a developer's real GitHub credentials out of the tests."""
    for name in list(os.environ):
        if name.startswith("GITHUB_") or name == "REGISTRY_PASSWORD":
            monkeypatch.delenv(name, raising=False)
