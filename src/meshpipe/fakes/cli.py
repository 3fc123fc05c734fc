"""``meshpipe fake github|meshstack``: run one fake server as a process (until Ctrl-C).

Configure it through its control plane (``/_fake/...``, which needs the secret the command prints) or the options
below.
"""

from __future__ import annotations

import os

import click

from meshpipe.fakes._http import CONTROL_HEADER

__all__ = ["CONTROL_TOKEN_ENV", "fake"]

#: Environment variable that fixes the control-plane secret (otherwise random per process).
CONTROL_TOKEN_ENV = "MESHPIPE_FAKE_CONTROL_TOKEN"


def _control_token() -> str | None:
    return os.environ.get(CONTROL_TOKEN_ENV) or None


def _echo_control(token: str, url: str) -> None:
    click.echo(f"control secret: {token}  (send '{CONTROL_HEADER}: <secret>' with every {url}/_fake/ request)")


@click.group()
def fake() -> None:
    """Run one fake server (GitHub or meshStack) on 127.0.0.1 until interrupted.

    The control plane (/_fake/...) needs the secret printed at start in the X-Meshpipe-Fake-Control header; it is
    random unless MESHPIPE_FAKE_CONTROL_TOKEN is set.
    """


@fake.command("github")
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
    help="Create a workflow (no declared inputs, workflow_dispatch). Repeatable.",
)
def github(
    flavour: str, port: int, tokens: tuple[str, ...], repos: tuple[str, ...], workflows: tuple[str, ...]
) -> None:
    """Fake GitHub REST API (flavour github = api.github.com, ghes = GHES 3.19 under /api/v3).

    \b
    Example:
      MESHPIPE_FAKE_GITHUB_TOKEN=ghp_local meshpipe fake github --port 8081 --workflow acme/infra:apply.yml
    """
    from meshpipe.fakes.github import FakeGitHub

    server = FakeGitHub(flavour=flavour, port=port, control_token=_control_token())
    for token in tokens:
        server.add_token(token)
    for repo in repos:
        server.add_repository(repo)
    for spec in workflows:
        repo, sep, file = spec.partition(":")
        if not sep or not file:
            raise click.BadParameter(f"expected OWNER/NAME:FILE, got {spec!r}", param_hint="--workflow")
        server.add_workflow(repo, file)
    server.start()
    click.echo(f"fake GitHub ({flavour}) API at {server.api_url}  (control plane: {server.url}/_fake/state)")
    _echo_control(server.control_token, server.url)
    server.serve_forever()


@fake.command("meshstack")
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
