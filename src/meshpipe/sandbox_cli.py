"""The ``meshpipe sandbox`` and ``meshpipe demo`` commands: click options and help around :class:`Sandbox`.

The sandbox itself lives in :mod:`meshpipe.sandbox`, the demo in :mod:`meshpipe.demo`, the subcommands that talk to
a running sandbox (``order``, ``detect``, ...) in :mod:`meshpipe.sandbox_control`; this module only wires them to
the command line, so importing the library never imports click's commands and the demo never imports its command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from meshpipe.contract import TARGETS
from meshpipe.sandbox import DEFAULT_EXAMPLE, Sandbox, StopSignal, find_example

if TYPE_CHECKING:
    from meshpipe.sandbox_block import Block

__all__ = ["demo", "sandbox"]


# -- sandbox ------------------------------------------------------------------------------------------------
@click.group(invoke_without_command=True)
@click.option("--github-port", type=int, default=0, show_default=True, help="Port of the fake GitHub (0: any free).")
@click.option("--meshstack-port", type=int, default=0, show_default=True, help="Port of the fake meshStack.")
@click.option("--gitlab-port", type=int, default=0, show_default=True, help="Port of the fake GitLab.")
@click.option("--azure-port", type=int, default=0, show_default=True, help="Port of the fake Azure DevOps.")
@click.option("--webhook-port", type=int, default=0, show_default=True, help="Port of the webhook receiver.")
@click.option(
    "--flavour",
    type=click.Choice(["github", "ghes"]),
    default="github",
    show_default=True,
    help="github.com, or GitHub Enterprise Server (API under /api/v3).",
)
@click.option("--example", default=DEFAULT_EXAMPLE, show_default=True, help="Example name or directory to seed.")
@click.option(
    "--block",
    type=click.Path(file_okay=False, path_type=Path),
    help="Host your block instead: the directory holding its spec.yaml, its pipeline definition "
    "(.github/workflows/, .gitlab-ci.yml or azure-pipelines.yml, as the spec's target says) and pipeline.py.",
)
@click.option("--spec", type=click.Path(dir_okay=False, path_type=Path), help="The block's spec [default: spec.yaml].")
@click.option(
    "--workflows",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of the block's workflow files [default: .github/workflows in the block].",
)
@click.option(
    "--pipeline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The block's GitLab or Azure Pipelines definition [default: .gitlab-ci.yml or azure-pipelines.yml in the "
    "block].",
)
@click.option(
    "--body",
    help="The pipeline's body, a command run in the block's directory; {workflow} stands for apply or destroy "
    "(GitHub; the other targets' body reads the phase from its environment) [default: python pipeline.py job "
    "{workflow}, or python pipeline.py job].",
)
@click.option(
    "--module",
    type=click.Path(file_okay=False, path_type=Path),
    help="The block's Trigger Module [default: module/ in the block if it has main.tf, else rendered from the spec].",
)
@click.option(
    "--definition",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The block's definition file [default: publish/definition.tf in the block, else rendered from the spec].",
)
@click.option("--repository", metavar="OWNER/NAME", help="The workflows' repository [default: the spec's].")
@click.pass_context
def sandbox(
    ctx: click.Context,
    github_port: int,
    meshstack_port: int,
    gitlab_port: int,
    azure_port: int,
    webhook_port: int,
    flavour: str,
    example: str,
    block: Path | None,
    spec: Path | None,
    workflows: Path | None,
    pipeline: Path | None,
    body: str | None,
    module: Path | None,
    definition: Path | None,
    repository: str | None,
) -> None:
    """Start fake meshStack, GitHub, GitLab, Azure DevOps and a webhook receiver on 127.0.0.1 until Ctrl-C, hosting
    a building block.

    Seeds a meshStack API key, credentials for every target (GitHub token, GitLab access and trigger token, Azure
    DevOps PAT, webhook secret) and, in the fake of the block's target (the spec's `target`), the block's pipeline:
    the workflows with their workflow_dispatch inputs, the GitLab project with the `spec: inputs` and
    `workflow: name` of its .gitlab-ci.yml, the Azure pipeline with its `parameters` and `name`, or the
    receiver's job; the body is a command run in the block's directory. An emulation of meshStack's Terraform
    runner executes every run of the block's definition with real terraform, passing the target's credentials as
    secret environment inputs.
    Without --block it hosts the team-bucket example. Prints the URLs, the credentials and the export lines for a
    shell, and leaves a state file (mode 0600) so that `meshpipe sandbox order|detect|approve|delete|runs` in
    another shell find it.

    \b
    Example:
      meshpipe sandbox --block .                  # spec.yaml, .github/workflows/, pipeline.py here
      meshpipe sandbox --block examples/gitlab-namespace   # any target: spec.yaml, .gitlab-ci.yml, pipeline.py
      meshpipe sandbox order --input db_name=orders
      meshpipe sandbox --github-port 8080 --meshstack-port 8081
    """
    if ctx.invoked_subcommand is not None:
        return
    from meshpipe.sandbox_host import host

    options = {"spec": spec, "workflows": workflows or pipeline, "body": body, "module": module}
    options["definition"] = definition
    ports = {"gitlab": gitlab_port, "azure_devops": azure_port, "webhook": webhook_port}
    with (
        StopSignal() as stop,
        _hosted(example, block, repository=repository, **options) as chosen,
        Sandbox(
            block=chosen, github_port=github_port, meshstack_port=meshstack_port, flavour=flavour, ports=ports
        ) as box,
    ):
        received = host(box, stop)
    click.echo(f"sandbox stopped ({received})", err=True)


@contextlib.contextmanager
def _hosted(example: str, directory: Path | None, **options: Any) -> Iterator[Block]:
    """The block to host (``--block DIR`` or the example), staged in a directory removed afterwards."""
    import tempfile

    from meshpipe.sandbox_block import stage_block

    given = {key: value for key, value in options.items() if value is not None}
    if directory is None and set(given) - {"repository"}:
        raise click.UsageError(f"--{sorted(given)[0]} needs --block DIR (the directory of your block)")
    with tempfile.TemporaryDirectory(prefix="meshpipe-block-") as stage:
        source = directory if directory is not None else find_example(example)
        yield stage_block(source, Path(stage), **given)


def _add_control_commands() -> None:
    from meshpipe.sandbox_control import COMMANDS

    for command in COMMANDS:
        sandbox.add_command(command)


_add_control_commands()


# -- demo -------------------------------------------------------------------------------------------------------
@click.command()
@click.option("--keep-running", is_flag=True, help="Leave the sandbox up after the demo until Ctrl-C.")
@click.option(
    "--target",
    type=click.Choice(list(TARGETS)),
    default="github",
    show_default=True,
    help="The CI/CD system: GitHub Actions (team-bucket), GitLab CI (gitlab-namespace), Azure Pipelines "
    "(azure-sql-database) or a signed webhook (webhook-jenkins-job).",
)
@click.option("--example", help="Example name or directory to run [default: the target's example].")
@click.option("--timeout", type=float, default=120, show_default=True, help="Bound for each terraform command.")
@click.option(
    # The --flavour choice of `meshpipe sandbox` above, with the demo's own help text.
    "--flavour",
    type=click.Choice(["github", "ghes"]),
    default="github",
    show_default=True,
    help="Run against a fake github.com, or a fake GitHub Enterprise Server (no run details on dispatch).",
)
def demo(keep_running: bool, target: str, example: str | None, timeout: float, flavour: str) -> None:
    """Run the whole loop end to end on the sandbox, with real terraform.

    An emulation of meshStack's Terraform runner runs the example's published definition with real terraform:
    a DETECT run plans (nothing fires) -> its plan is approved -> the APPLY run replays it, which starts the
    apply workflow on the fake GitHub (with --target: a pipeline on the fake GitLab or Azure DevOps, or a signed
    delivery to the webhook receiver) -> the pipeline reports its steps with `meshpipe run` -> an async DESTROY
    run applies, then destroys, which fires the destroy phase. Prints each run's timeline (the runner's source
    and the pipeline's) and exits 1 if anything did not end as expected.

    \b
    Example:
      make demo                       # the same as: .venv/bin/meshpipe demo
      meshpipe demo --target gitlab   # or azure_devops, webhook
    """
    from meshpipe.demo import Terminated, run_demo

    try:
        ok = run_demo(
            example=example, keep_running=keep_running, timeout=timeout, flavour=flavour, target=target, echo=click.echo
        )
    except Terminated as exc:
        click.echo(f"meshpipe demo: {exc}; the sandbox and its processes are stopped", err=True)
        click.get_current_context().exit(128 + exc.signum)
    if not ok:
        click.get_current_context().exit(1)  # meshpipe.cli.main turns the code ctx.exit returns into the exit status
