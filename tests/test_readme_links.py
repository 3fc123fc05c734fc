"""The README points only at files that exist in the repository (a fresh clone has no ../shared, no ARCHITECTURE.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    "README.md",
    "generator/README.md",
    *sorted(str(path.relative_to(ROOT)) for path in ROOT.glob("examples/*/README.md")),
]


@pytest.mark.parametrize("doc", DOCS)
def test_relative_links_name_existing_files(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    missing = [
        t for t in targets if not t.startswith(("http://", "https://")) and not (ROOT / doc).parent.joinpath(t).exists()
    ]
    assert missing == []


@pytest.mark.parametrize("doc", DOCS)
def test_no_pointer_outside_the_repository(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    assert "../shared" not in text
    assert "ARCHITECTURE.md" not in text or (ROOT / "ARCHITECTURE.md").exists()
