"""The ``meshpipe`` command group.

Subcommand groups live with their package and are imported only when invoked, so ``meshpipe run ...`` (called in
every CI step) never pays for jinja2, PyYAML or the fakes.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TextIO

import click

from meshpipe import __version__
from meshpipe.errors import MeshpipeError

#: command name -> (module, attribute, one-line help shown in ``meshpipe --help``)
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "module": ("meshpipe.generator.cli", "module", "Render and drift-check Trigger Modules for any target."),
    "definition": ("meshpipe.generator.definition_cli", "definition", "Render a meshStack Building Block Definition."),
    "workflow": ("meshpipe.generator.workflow_cli", "workflow", "Render and check the pipeline file a module starts."),
    "run": ("meshpipe.report.cli", "run", "Report a building block run's steps and status to meshStack."),
    "sandbox": ("meshpipe.sandbox_cli", "sandbox", "Start fake meshStack and CI/CD services on 127.0.0.1."),
    "demo": ("meshpipe.sandbox_cli", "demo", "Run the whole loop end to end on the sandbox (any target)."),
    "fake": ("meshpipe.fakes.cli", "fake", "Run one fake server (meshStack, a CI/CD service, a receiver)."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (the pattern from click's documentation)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module_name, attribute, _ = LAZY_COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{module_name}.{attribute} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing must not import every group (that would defeat the lazy loading), so use the static help.
        rows = [(name, help_text) for name, (_, _, help_text) in sorted(LAZY_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="meshpipe")
def cli() -> None:
    """meshpipe connects meshStack building blocks with CI/CD pipelines.

    \b
    Examples:
      meshpipe module render generator/specs/github-workflow-trigger.yaml
      meshpipe run register --step plan="Terraform plan" --step apply="Terraform apply"
      meshpipe demo
    """


class _DefusedStream:
    """A text stream that breaks up Azure Pipelines logging commands (``##vso[``) in what is written to it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from meshpipe.report.ci_azure import defuse

        return self._stream.write(defuse(text))

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return False


def _error_stream() -> TextIO:
    """stderr; on an Azure Pipelines agent defused: the agent obeys ``##vso[`` anywhere in a line of stdout *and*
    stderr, and an error message quotes what the user passed (click's usage errors quote the bad value)."""
    if _on_azure():
        return _DefusedStream(sys.stderr)  # type: ignore[return-value]
    return sys.stderr


def _on_azure() -> bool:
    """Whether this runs on an Azure Pipelines agent (:func:`meshpipe.report.ci.detect_ci`, without importing it)."""
    return os.environ.get("TF_BUILD", "").lower() == "true"


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: maps :class:`MeshpipeError` to one line on stderr and its exit code (1, or 2
    for a usage error); click's usage errors exit 2, Ctrl-C 130.

    Commands that need another exit code (``meshpipe run exec`` returns its command's) call ``ctx.exit(code)``.
    """
    try:
        # Without standalone mode click returns the code given to ``ctx.exit(code)`` instead of raising
        # (click.Command.main); it is this function that exits with it.
        returned = cli.main(args=argv, prog_name="meshpipe", standalone_mode=False)
        if isinstance(returned, int) and returned:
            sys.exit(returned)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show(file=_error_stream())
        sys.exit(exc.exit_code)
    except MeshpipeError as exc:
        click.echo(f"meshpipe: error: {exc}", file=_error_stream())
        sys.exit(exc.exit_code)
    except Exception:
        if not _on_azure():
            raise
        # A bug's traceback can quote user text too; on Azure it is printed defused, like every other error line.
        import traceback

        _error_stream().write(traceback.format_exc())
        sys.exit(1)
