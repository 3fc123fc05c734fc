"""``meshpipe fake github|gitlab|meshstack|azure-devops|webhook``: run one fake server as a process (until Ctrl-C).

Configure it through its control plane (``/_fake/...``, which needs the secret the command prints) or the options
below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from meshpipe.fakes._http import CONTROL_HEADER

if TYPE_CHECKING:
    from meshpipe.fakes.azure_devops import FakeAzureDevOps
    from meshpipe.fakes.github import FakeGitHub

__all__ = [
    "AZURE_DEVOPS_ROUTES",
    "COMMON_ROUTES",
    "CONTROL_TOKEN_ENV",
    "GITHUB_ROUTES",
    "GITLAB_ROUTES",
    "MESHSTACK_ROUTES",
    "WEBHOOK_ROUTES",
    "add_pipelines",
    "add_workflows",
    "fake",
]

# The control planes as their --help lists them (tests/fakes/test_fake_cli_help.py holds them to the registered
# routes, so a route cannot be added without being documented here).
COMMON_ROUTES = """\
  GET  /_fake/state        everything the fake holds, as JSON
  GET  /_fake/requests     the request log
  POST /_fake/reset        forget everything
  POST /_fake/faults       a fault (or a list) for the next requests: {"status", "times", "method", "path" (regex),
                            "retry_after", "headers", "body", "delay", "drop", "after"}
"""
GITHUB_ROUTES = """\
  POST /_fake/tokens       {"token", "repositories", "permissions": "read" | "write"}: a token the API accepts
  POST /_fake/apps         {"app_id", "installation_id", "public_key_pem", "repositories"}: a GitHub App
  POST /_fake/repos        {"full_name", "default_branch", "branches", "tags"}: a repository
  POST /_fake/workflows    {"full_name", "file", "inputs": {"name": {"type", "required", "default", "options"}},
                            "conclusion", "duration", "workflow_dispatch", "repository_dispatch_types", "command",
                            "env"}: a workflow (inputs as its YAML declares)
  POST /_fake/rate-limit   {"limit", "window_seconds"}
  GET  /_fake/dispatches   every accepted dispatch with its inputs
  GET  /_fake/runs         workflow runs;  GET /_fake/runs/{run_id}  one run;  GET /_fake/runs/{run_id}/log  its log
  POST /_fake/runs/{run_id}/complete   {"conclusion": "success" | "failure" | "cancelled" ...}
"""
GITLAB_ROUTES = """\
  POST /_fake/projects     {"path", "ci_inputs": {"name": {"type", "default", "options", "regex"}}, "name_template",
                            "duration", "command", "after_command", "conclusion", "branches", "tags", "visibility",
                            "env", "input_env", "allow_pipeline_variables"}: a project and its .gitlab-ci.yml
  POST /_fake/access-tokens          {"token", "projects", "scopes": ["api" | "read_api"], "role", "expires_in"}
  POST /_fake/trigger-tokens         {"project"}: a pipeline trigger token (201: {"token": "glptt-..."})
  POST /_fake/rate-limit   {"limit", "window_seconds"}
  GET  /_fake/pipelines    pipelines;  GET /_fake/pipelines/{pipeline_id}  one;  GET /_fake/pipelines/{pipeline_id}/log
  POST /_fake/pipelines/{pipeline_id}/complete   {"status": "success" | "failed" | "canceled" | "skipped"}
"""
MESHSTACK_ROUTES = """\
  POST /_fake/runs         {"behavior", "inputs", "building_block_uuid", "workspace", "project", "display_name",
                            "definition_workspace", "implementation"}: a building block run (201: the run view)
  GET  /_fake/runs         all runs;  GET /_fake/runs/{uuid}  one run (sources, steps, messages, outputs)
  POST /_fake/runs/{uuid}/abort     {"aborted": true}
  POST /_fake/runs/{uuid}/approve   approve a DETECT run's plan: an APPLY run replaying it
  POST /_fake/api-keys     {"client_id", "client_secret", "workspace", "expires_in"}
  POST /_fake/api-tokens   {"token", "workspace"}
  POST /_fake/expire-tokens          every issued login token expires now
  GET  /_fake/readings;  POST /_fake/readings  {"mode": "strict" | "lenient" | "default", "rules": {...}}
  POST /_fake/runners      {"uuid"}: a runner allowed to claim runs
  GET  /_fake/states       Terraform states and plan artifacts the runner API holds
 With `meshpipe sandbox` (the runner emulation hosting a block) also:
  POST /_fake/block-runs   {"behavior", "inputs", "building_block_uuid"}: a run of the hosted definition
  GET  /_fake/sandbox      the hosted block;  POST /_fake/sandbox/order  {"behavior", "inputs"}
  POST /_fake/sandbox/delete         {"building_block_uuid"}
"""
AZURE_DEVOPS_ROUTES = """\
  POST /_fake/projects     {"name"}: a project
  POST /_fake/pipelines    {"project", "name", "parameters": {"name": {"type", "default", "values"}}, "name_template",
                            "duration", "command", "final_command", "result", "branches", "tags", "stages",
                            "settable_variables", "variables", "secrets", "secret_env"}: a pipeline (201: its id)
  POST /_fake/pats         {"token", "scopes": ["vso.build" | "vso.build_execute" | "app_token"], "expires"}
  POST /_fake/tokens       {"token", "expires"}: an Entra ID access token (sent as Bearer)
  POST /_fake/rate-limit   {"limit", "window_seconds"}
  GET  /_fake/runs         pipeline runs;  GET /_fake/runs/{run_id}/log  a run's log (secrets masked)
  POST /_fake/runs/{run_id}/complete   {"result": "succeeded" | "failed" | "canceled"}
"""
WEBHOOK_ROUTES = """\
  POST /_fake/receiver     {"token", "status_url", "accept_status", "duration", "conclusion", "command", "dedupe"}:
                            the receiver's options (see meshpipe.fakes.webhook)
  GET  /_fake/deliveries   every verified delivery: its Idempotency-Key, job id, duplicate flag and payload
  GET  /_fake/jobs         the jobs deliveries started;  GET /_fake/jobs/{job_id}/log  a job's log
  POST /_fake/jobs/{job_id}/complete   {"status": "succeeded" | "failed" | "cancelled"}
"""


def _epilog(routes: str) -> str:
    # \b keeps click from re-wrapping the table.
    lines = ["\b", "Control plane (header X-Meshpipe-Fake-Control: <secret>, JSON bodies):"]
    return "\n".join(lines + (routes + COMMON_ROUTES).splitlines())


#: Environment variable that fixes the control-plane secret (otherwise random per process).
CONTROL_TOKEN_ENV = "MESHPIPE_FAKE_CONTROL_TOKEN"


def _control_token() -> str | None:
    return os.environ.get(CONTROL_TOKEN_ENV) or None


def _echo_control(token: str, url: str) -> None:
    click.echo(f"control secret: {token}  (send '{CONTROL_HEADER}: <secret>' with every {url}/_fake/ request)")


def add_workflows(server: FakeGitHub, workflows: tuple[str, ...]) -> None:
    """``--workflow OWNER/NAME:FILE``: a workflow file's name, run-name and workflow_dispatch inputs, or a bare name."""
    for spec in workflows:
        repo, sep, file = spec.partition(":")
        if not sep or not file:
            raise click.BadParameter(f"expected OWNER/NAME:FILE, got {spec!r}", param_hint="--workflow")
        path = Path(file)
        if path.is_file():
            from meshpipe.sandbox import load_workflow

            declared = load_workflow(path)
            server.add_workflow(repo, path.name, inputs=declared.inputs, name=declared.name, run_name=declared.run_name)
        else:
            server.add_workflow(repo, file)


def add_pipelines(server: FakeAzureDevOps, pipelines: tuple[str, ...]) -> list[str]:
    """``--pipeline PROJECT:FILE``: a pipeline named after FILE with the ``name:`` and ``parameters:`` of the Azure
    Pipelines YAML file, or, when FILE does not exist, a pipeline of that name without parameters. Returns one line
    per pipeline (its id)."""
    lines = []
    for spec in pipelines:
        project, sep, file = spec.rpartition(":")
        if not sep or not project or not file:
            raise click.BadParameter(f"expected PROJECT:FILE, got {spec!r}", param_hint="--pipeline")
        path = Path(file)
        if path.is_file():
            from meshpipe.fakes.azure_devops_yaml import load_pipeline

            try:
                declared = load_pipeline(path)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--pipeline") from None
            name = path.name.removesuffix(".yml").removesuffix(".yaml")
            pipeline_id = server.add_pipeline(
                project, name, parameters=declared.parameters, name_template=declared.name_template
            )
        else:
            name = file
            pipeline_id = server.add_pipeline(project, name)
        lines.append(f"pipeline {pipeline_id}: {name} in project {project}")
    return lines


@click.group()
def fake() -> None:
    """Run one fake server (GitHub, GitLab, meshStack, Azure DevOps or a webhook receiver) on 127.0.0.1 until
    interrupted.

    The control plane (/_fake/...) needs the secret printed at start in the X-Meshpipe-Fake-Control header; it is
    random unless MESHPIPE_FAKE_CONTROL_TOKEN is set.
    """


@fake.command("github", epilog=_epilog(GITHUB_ROUTES))
@click.option("--flavour", type=click.Choice(["github", "ghes"]), default="github", show_default=True)
@click.option("--port", type=int, default=0, show_default=True, help="TCP port on 127.0.0.1 (0 = any free port).")
@click.option(
    "--token",
    "tokens",
    multiple=True,
    envvar="MESHPIPE_FAKE_GITHUB_TOKEN",
    help="Accept this token (write access to every repository). Repeatable; also read from "
    "MESHPIPE_FAKE_GITHUB_TOKEN so it need not appear in the process list.",
)
@click.option("--repo", "repos", multiple=True, metavar="OWNER/NAME", help="Create this repository. Repeatable.")
@click.option(
    "--workflow",
    "workflows",
    multiple=True,
    metavar="OWNER/NAME:FILE",
    help="Create a workflow from FILE, a workflow YAML whose workflow_dispatch inputs it takes (a FILE that does "
    "not exist: a workflow of that name without inputs). Repeatable.",
)
def github(
    flavour: str, port: int, tokens: tuple[str, ...], repos: tuple[str, ...], workflows: tuple[str, ...]
) -> None:
    """Fake GitHub REST API (flavour github = api.github.com, ghes = GHES 3.19 under /api/v3).

    \b
    Example:
      MESHPIPE_FAKE_GITHUB_TOKEN=ghp_local meshpipe fake github --port 8081 \\
        --workflow acme/infra:.github/workflows/apply.yml
    """
    from meshpipe.fakes.github import FakeGitHub

    server = FakeGitHub(flavour=flavour, port=port, control_token=_control_token())
    for token in tokens:
        server.add_token(token)
    for repo in repos:
        server.add_repository(repo)
    add_workflows(server, workflows)
    server.start()
    click.echo(f"fake GitHub ({flavour}) API at {server.api_url}  (control plane: {server.url}/_fake/state)")
    _echo_control(server.control_token, server.url)
    server.serve_forever()


@fake.command("gitlab", epilog=_epilog(GITLAB_ROUTES))
@click.option("--port", type=int, default=0, show_default=True, help="TCP port on 127.0.0.1 (0 = any free port).")
@click.option(
    "--token",
    "tokens",
    multiple=True,
    envvar="MESHPIPE_FAKE_GITLAB_TOKEN",
    help="Accept this access token (glpat-..., scope api, every project). Repeatable; also read from "
    "MESHPIPE_FAKE_GITLAB_TOKEN so it need not appear in the process list.",
)
@click.option("--project", "projects", multiple=True, metavar="GROUP/NAME", help="Create this project. Repeatable.")
def gitlab(port: int, tokens: tuple[str, ...], projects: tuple[str, ...]) -> None:
    """Fake GitLab REST v4 API (pipelines, pipeline triggers) under /api/v4.

    \b
    Example:
      MESHPIPE_FAKE_GITLAB_TOKEN=glpat-local meshpipe fake gitlab --port 8083 --project acme/infra
    """
    from meshpipe.fakes.gitlab import FakeGitLab

    server = FakeGitLab(port=port, control_token=_control_token())
    try:
        for token in tokens:
            server.add_access_token(token)
        for path in projects:
            server.add_project(path)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    server.start()
    click.echo(f"fake GitLab API at {server.api_url}  (control plane: {server.url}/_fake/state)")
    _echo_control(server.control_token, server.url)
    server.serve_forever()


@fake.command("meshstack", epilog=_epilog(MESHSTACK_ROUTES))
@click.option("--port", type=int, default=0, show_default=True, help="TCP port on 127.0.0.1 (0 = any free port).")
def meshstack(port: int) -> None:
    """Fake meshStack API (building block runs).

    \b
    Example:
      meshpipe fake meshstack --port 8082
    """
    from meshpipe.fakes.meshstack import FakeMeshStack

    server = FakeMeshStack(port=port, control_token=_control_token())
    server.start()
    click.echo(f"fake meshStack at {server.url}  (control plane: {server.url}/_fake/state)")
    _echo_control(server.control_token, server.url)
    server.serve_forever()


@fake.command("azure-devops", epilog=_epilog(AZURE_DEVOPS_ROUTES))
@click.option("--port", type=int, default=0, show_default=True, help="TCP port on 127.0.0.1 (0 = any free port).")
@click.option("--organization", default="fake-org", show_default=True, help="The organization's name in its URL.")
@click.option(
    "--pat",
    "pats",
    multiple=True,
    envvar="MESHPIPE_FAKE_AZURE_DEVOPS_PAT",
    help="Accept this personal access token (scope Build: Read & execute). Repeatable; also read from "
    "MESHPIPE_FAKE_AZURE_DEVOPS_PAT so it need not appear in the process list.",
)
@click.option(
    "--pipeline",
    "pipelines",
    multiple=True,
    metavar="PROJECT:FILE",
    help="Create a pipeline from FILE, an Azure Pipelines YAML whose name: and parameters: it takes (a FILE that "
    "does not exist: a pipeline of that name without parameters). Repeatable.",
)
def azure_devops(port: int, organization: str, pats: tuple[str, ...], pipelines: tuple[str, ...]) -> None:
    """Fake Azure DevOps organization (Azure Pipelines runs, REST api-version 7.1).

    \b
    Example:
      MESHPIPE_FAKE_AZURE_DEVOPS_PAT=local-pat meshpipe fake azure-devops --port 8083 \\
        --pipeline "Platform Team:azure-pipelines.yml"
    """
    from meshpipe.fakes.azure_devops import FakeAzureDevOps

    server = FakeAzureDevOps(organization, port=port, control_token=_control_token())
    for pat in pats:
        server.add_pat(pat)
    lines = add_pipelines(server, pipelines)
    server.start()
    click.echo(f"fake Azure DevOps organization at {server.org_url}  (control plane: {server.url}/_fake/state)")
    for line in lines:
        click.echo(line)
    _echo_control(server.control_token, server.url)


@fake.command("webhook", epilog=_epilog(WEBHOOK_ROUTES))
@click.option("--port", type=int, default=0, show_default=True, help="TCP port on 127.0.0.1 (0 = any free port).")
@click.option("--path", default="/hooks/meshpipe", show_default=True, help="The path deliveries are POSTed to.")
@click.option(
    "--secret-env",
    default="MESHPIPE_WEBHOOK_SECRET",
    show_default=True,
    metavar="NAME",
    help="Environment variable holding the HMAC secret deliveries are verified with (never on the command line).",
)
@click.option(
    "--token-env",
    default="",
    metavar="NAME",
    help="Environment variable holding a bearer token every request must carry (default: none).",
)
@click.option("--status-url", is_flag=True, help="Answer each delivery with a status URL and serve signed polls.")
def webhook(port: int, path: str, secret_env: str, token_env: str, status_url: bool) -> None:
    """Fake receiver of meshpipe's signed webhook: verifies signatures, deduplicates on Idempotency-Key.

    \b
    Example:
      MESHPIPE_WEBHOOK_SECRET=local-secret meshpipe fake webhook --port 8084 --status-url
    """
    from meshpipe.fakes.webhook import FakeWebhookReceiver

    secret = os.environ.get(secret_env, "")
    if not secret:
        raise click.UsageError(f"set the receiver's HMAC secret in the environment variable {secret_env}")
    token = None
    if token_env:
        token = os.environ.get(token_env) or None
        if token is None:
            raise click.UsageError(f"set the bearer token in the environment variable {token_env}")
    try:
        server = FakeWebhookReceiver(
            secret, port=port, path=path, control_token=_control_token(), token=token, status_url=status_url
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    server.start()
    click.echo(f"fake webhook receiver at {server.url}  (control plane: {server.base_url}/_fake/state)")
    _echo_control(server.control_token, server.base_url)
    server.serve_forever()
