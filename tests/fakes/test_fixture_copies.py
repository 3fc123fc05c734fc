"""The official API descriptions in ``tests/fixtures/specs`` are verbatim copies of ``../shared/specs``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "specs"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "specs"
COPIES = ["github-api.github.com-openapi.json", "github-ghes-3.19-openapi.json", "meshstack-bbrun-openapi.json"]
#: Extracted from the same npm package as the GitHub copies (not in ../shared/specs).
EXTRACTS = ["github-api.github.com-openapi-clients.json", "github-ghes-3.19-openapi-clients.json"]


@pytest.mark.parametrize("name", COPIES + EXTRACTS)
def test_fixture_copy_is_present_and_valid_json(name: str) -> None:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert data["openapi"].startswith("3.")
    assert data["paths"]


def test_fixture_readme_names_every_copy_and_its_source() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    for name in COPIES + EXTRACTS:
        assert f"`{name}`" in readme


@pytest.mark.parametrize("name", COPIES)
def test_fixture_copy_equals_the_shared_original(name: str) -> None:
    if not SHARED.is_dir():
        pytest.skip(
            f"{SHARED} is absent (a fresh clone without the shared research folder); the copies are the only "
            "source then, so there is nothing to compare against"
        )
    original = SHARED / name
    assert original.is_file(), f"{original} disappeared; update tests/fixtures/specs and its README"
    assert (FIXTURES / name).read_bytes() == original.read_bytes(), f"{name} differs from {original}; copy it again"
