"""Every fake's ``--help`` lists its control plane, and a workflow given as a file takes the inputs it declares."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshpipe.fakes._http import FakeServer
from meshpipe.fakes.azure_devops import FakeAzureDevOps
from meshpipe.fakes.cli import add_pipelines, add_workflows, fake
from meshpipe.fakes.github import FakeGitHub
from meshpipe.fakes.gitlab import FakeGitLab
from meshpipe.fakes.meshstack import FakeMeshStack
from meshpipe.fakes.webhook import FakeWebhookReceiver

#: Routes registered by the sandbox on top of the fake meshStack (meshpipe.sandbox_runs, meshpipe.sandbox_routes).
SANDBOX_ROUTES = ["POST /_fake/block-runs", "GET  /_fake/sandbox", "/_fake/sandbox/order", "/_fake/sandbox/delete"]


def documented(pattern: str) -> str:
    """A route's regex as the help writes it: ``/runs/(?P<uuid>[^/]+)`` -> ``/runs/{uuid}``."""
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern.removesuffix(r"\Z")).replace("\\", "")


@pytest.mark.parametrize(
    ("name", "server"),
    [
        ("github", FakeGitHub),
        ("gitlab", FakeGitLab),
        ("meshstack", FakeMeshStack),
        ("azure-devops", FakeAzureDevOps),
        ("webhook", lambda: FakeWebhookReceiver("secret")),
    ],
)
def test_fake_help_lists_every_control_route(name: str, server: Callable[[], FakeServer]) -> None:
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


def test_fake_azure_devops_pipeline_file_declares_its_parameters(tmp_path: Path) -> None:
    pipeline = tmp_path / "deploy.yml"
    pipeline.write_text(
        "name: deploy ${{ parameters.meshpipe_correlation_id }}\ntrigger: none\nparameters:\n"
        "  - name: meshpipe_correlation_id\n    type: string\n    default: ''\n"
        "  - name: size\n    values: [small, large]\n  - name: dry_run\n    type: boolean\n    default: false\n"
        "steps:\n  - script: echo hi\n",
        encoding="utf-8",
    )
    server = FakeAzureDevOps()
    lines = add_pipelines(server, (f"Platform Team:{pipeline}", "Platform Team:bare"))
    assert lines == ["pipeline 1: deploy in project Platform Team", "pipeline 2: bare in project Platform Team"]
    deploy, bare = server.projects["platform team"].pipelines.values()
    assert deploy.name_template == "deploy ${{ parameters.meshpipe_correlation_id }}"
    assert deploy.parameters == {
        "meshpipe_correlation_id": {"type": "string", "default": ""},
        "size": {"type": "string", "values": ["small", "large"]},
        "dry_run": {"type": "boolean", "default": False},
    }
    assert bare.parameters == {}


def test_fake_azure_devops_refuses_parameter_types_it_cannot_check(tmp_path: Path) -> None:
    pipeline = tmp_path / "jobs.yml"
    pipeline.write_text("parameters:\n  - name: jobs\n    type: jobList\n", encoding="utf-8")
    result = CliRunner().invoke(fake, ["azure-devops", "--pipeline", f"P:{pipeline}"])
    assert result.exit_code == 2
    assert "parameters[0].type: the fake supports string, number, boolean, object, not 'jobList'" in result.output
