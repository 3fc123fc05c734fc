"""Every fake's ``--help`` lists its control plane, and a workflow given as a file takes the inputs it declares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshpipe.fakes.cli import add_workflows, fake
from meshpipe.fakes.github import FakeGitHub
from meshpipe.fakes.gitlab import FakeGitLab
from meshpipe.fakes.meshstack import FakeMeshStack

#: Routes registered by the sandbox on top of the fake meshStack (meshpipe.sandbox_runs, meshpipe.sandbox_routes).
SANDBOX_ROUTES = ["POST /_fake/block-runs", "GET  /_fake/sandbox", "/_fake/sandbox/order", "/_fake/sandbox/delete"]


def documented(pattern: str) -> str:
    """A route's regex as the help writes it: ``/runs/(?P<uuid>[^/]+)`` -> ``/runs/{uuid}``."""
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern.removesuffix(r"\Z")).replace("\\", "")


@pytest.mark.parametrize(
    ("name", "server"), [("github", FakeGitHub), ("gitlab", FakeGitLab), ("meshstack", FakeMeshStack)]
)
def test_fake_help_lists_every_control_route(
    name: str, server: type[FakeGitHub] | type[FakeGitLab] | type[FakeMeshStack]
) -> None:
    text = CliRunner().invoke(fake, [name, "--help"], terminal_width=200).output
    routes = [route for route in server()._routes if route.control]
    assert routes
    for route in routes:
        assert documented(route.pattern.pattern) in text, f"{route.method} {route.pattern.pattern} undocumented"
    if name == "meshstack":
        for route in SANDBOX_ROUTES:
            assert route in text


# Same shape as test_spec's CLI tests on purpose: run a command, read its one line.
def test_fake_github_workflow_file_declares_its_inputs(tmp_path: Path) -> None:
    workflow = tmp_path / "apply.yml"
    workflow.write_text(
        "name: db apply\non:\n  workflow_dispatch:\n    inputs:\n"
        "      db_name: {type: string, required: true}\n      size: {type: choice, options: [small, large]}\n",
        encoding="utf-8",
    )
    server = FakeGitHub()
    add_workflows(server, (f"acme/db:{workflow}", "acme/db:bare.yml"))
    workflows = {w.file: w for w in server.repositories["acme/db"].workflows.values()}
    assert workflows["apply.yml"].inputs == {
        "db_name": {"type": "string", "required": True},
        "size": {"type": "choice", "required": False, "options": ["small", "large"]},
    }
    assert workflows["apply.yml"].name == "db apply"
    assert workflows["bare.yml"].inputs == {}
