"""The long-running part of ``meshpipe sandbox``: runner loop, control routes, banner and state file."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from meshpipe.sandbox import Sandbox, StopSignal

__all__ = ["host", "workflow_warnings"]


def workflow_warnings(box: Sandbox) -> list[str]:
    """What ``meshpipe workflow check`` finds in the hosted block's workflows, ``.gitlab-ci.yml`` or
    ``azure-pipelines.yml`` (the spec is the staged copy, if any).

    A pipeline definition that does not take what the module sends makes the fake refuse the dispatch like the real
    service; saying so at start names the fix before the first order fails.
    """
    from meshpipe.errors import MeshpipeError
    from meshpipe.generator.spec import load_spec
    from meshpipe.generator.workflow_check import check_pipeline

    spec_path = box.block.source / "spec.yaml"
    if not spec_path.is_file():
        return []
    try:
        spec = load_spec(spec_path)
        fix = f" (fix: meshpipe workflow render {spec_path} --inputs-only)"
        if spec.target == "github":
            wanted = {str(spec.apply.value), str(spec.destroy.value)}
            paths = [path for path in box.block.workflows if path.name in wanted]
        else:
            paths = [box.block.pipeline] if box.block.pipeline is not None else []
        return [
            finding.line(str(path)) + fix
            for path in paths
            for finding in check_pipeline(spec, path)
            if finding.level == "error"
        ]
    except MeshpipeError as exc:
        return [str(exc)]


def host(box: Sandbox, stop: StopSignal) -> str:
    """Run the runner emulation for ``box`` until ``stop`` receives a signal; return the signal's name."""
    from meshpipe.demo_output import runner_line
    from meshpipe.errors import MeshpipeError
    from meshpipe.sandbox_control import remove_state, write_state
    from meshpipe.sandbox_routes import add_sandbox_routes
    from meshpipe.sandbox_runs import BlockRuns, RunnerLoop, add_run_routes, usage

    def show(line: str) -> None:
        shown = runner_line(line)
        if shown:
            click.echo("  runner | " + shown, err=True)

    try:
        runs = BlockRuns(box, on_line=show)
    except MeshpipeError as exc:  # e.g. a --definition the emulation cannot read: one line, and no sandbox
        raise MeshpipeError(f"runner emulation: {exc}") from None
    add_run_routes(runs)
    add_sandbox_routes(runs)
    loop = RunnerLoop(runs, report=lambda line: click.echo(line, err=True)).start()
    state = {
        "pid": os.getpid(),
        "meshstack_url": box.meshstack.url,
        "github_api_url": box.github_api_url,
        "target": box.block.target,
        "control_token": box.credentials.control_token,
        "repository": box.repository,
        "block": str(box.block.source),
    }
    try:
        path = write_state(state)
        click.echo(box.describe())
        click.echo(f"definition:                {runs.path} (runner {runs.runner.runner_uuid})")
        names = [name for name, item in runs.definition.inputs.items() if item.assignment_type == "USER_INPUT"]
        click.echo(f"user inputs:               {', '.join(names) or '(none)'}")
        click.echo(f"state file:                {path} (for `meshpipe sandbox order|detect|approve|delete|runs`)")
        example = " ".join(f"--input {name}=..." for name in names[:2])
        click.echo(f"\n# in another shell:\nmeshpipe sandbox order {example}".rstrip())
        click.echo("meshpipe sandbox runs")
        click.echo("\n# or on the control plane:\n" + usage(runs))
        for line in workflow_warnings(box):
            click.echo(f"warning: {line}", err=True)
        click.echo("\nsandbox running; press Ctrl-C to stop", err=True)
        return stop.wait()
    finally:
        loop.stop()
        remove_state(state["pid"])  # type: ignore[arg-type]
