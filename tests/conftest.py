"""Suite-wide isolation."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _sandbox_state_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's `meshpipe sandbox` leaves its state file in a directory of its own, never in the user's."""
    directory: Path = tmp_path_factory.mktemp("sandbox-state")
    monkeypatch.setenv("MESHPIPE_SANDBOX_STATE", str(directory / "sandbox.json"))
