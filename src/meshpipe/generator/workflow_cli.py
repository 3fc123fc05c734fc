"""``meshpipe workflow ...``: a Trigger Module's pipeline side (a GitHub Actions workflow, a GitLab CI or Azure
Pipelines definition, a webhook receiver sketch), rendered from and checked against its spec."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from meshpipe.generator.cli_options import out_file_option, spec_argument

if TYPE_CHECKING:
    from meshpipe.generator.spec import ModuleSpec

__all__ = ["workflow"]

PHASES = ("apply", "destroy")


@click.group()
def workflow() -> None:
    """Render a pipeline definition (GitHub workflow, .gitlab-ci.yml, azure-pipelines.yml, webhook receiver) that
    takes exactly what a spec's module sends, and check existing ones against it."""


@workflow.command("render")
@spec_argument
@click.option(
    "--phase",
    type=click.Choice(PHASES),
    default="apply",
    show_default=True,
    help="Which workflow (GitHub) or pipeline (GitLab, Azure Pipelines with `phase_input: null`; with a phase input "
    "one pipeline serves both phases).",
)
@out_file_option("Write the skeleton to FILE (never over an existing file unless --force) instead of stdout.")
@click.option("--inputs-only", is_flag=True, help="Print only the inputs block, to paste into an existing file.")
@click.option("--force", is_flag=True, help="Replace FILE even if it exists.")
@click.option(
    "--run",
    metavar="COMMAND",
    help="GitLab/Azure Pipelines: the job's command (it reads the phase from the environment and registers its own "
    "steps); the file is then complete and generated: a later render replaces it.",
)
@click.option(
    "--reporter-sha256",
    metavar="HEX",
    help="GitLab/Azure Pipelines: the sha256 of the reporter zipapp (action/meshpipe.pyz) the pipeline fetches.",
)
def render(
    spec: Path,
    phase: str,
    output_file: Path | None,
    inputs_only: bool,
    force: bool,
    run: str | None,
    reporter_sha256: str | None,
) -> None:
    """Write a skeleton pipeline definition whose inputs match exactly what SPEC's module sends.

    For the spec's target: a GitHub Actions workflow per phase (`on.workflow_dispatch.inputs`, a `run-name`
    showing the correlation id), a `.gitlab-ci.yml` (`spec: inputs`, or the CI/CD variables, and a `workflow: name`
    showing the correlation id and the phase), an `azure-pipelines.yml` (`parameters:` and a `name:` showing them),
    or, for a webhook, a receiver sketch in Python that verifies the signature. A GitLab or Azure Pipelines spec
    with `phase_input: null` gets one file per phase (--phase), since nothing in a pipeline would tell the phases
    apart. Input types follow the spec, inputs
    the module always sends are required, and `buildingBlockRunUrl`, the correlation input and the phase input are
    declared. The jobs are a starting point to edit.

    \b
    Example:
      meshpipe workflow render spec.yaml -o .github/workflows/apply.yml
      meshpipe workflow render spec.yaml --phase destroy -o .github/workflows/destroy.yml
      meshpipe workflow render gitlab-spec.yaml -o .gitlab-ci.yml
      meshpipe workflow render spec.yaml --inputs-only
    """
    from meshpipe.generator.cli import check_paths
    from meshpipe.generator.errors import OptionError
    from meshpipe.generator.headers import comment_safe, control_character, relative_label
    from meshpipe.generator.headers import header as generated_header
    from meshpipe.generator.spec import load_spec
    from meshpipe.generator.workflow_targets import per_phase, render_inputs_block, render_skeleton, skeleton_file

    check_paths(SPEC=spec, **{"-o/--out": output_file})
    parsed = load_spec(spec)
    if inputs_only:
        if output_file is not None:
            raise OptionError("--inputs-only prints a fragment to paste; it cannot be combined with -o/--out")
        click.echo(render_inputs_block(parsed, str(spec)), nl=False)
        return
    phased = per_phase(parsed)
    if phased and phase == "destroy" and not parsed.fires_destroy:
        raise OptionError(f"{spec}: the spec has no destroy phase; render --phase apply")
    if parsed.target == "github":
        phase_file = parsed.apply.value if phase == "apply" else parsed.destroy.value
    else:
        phase_file = skeleton_file(parsed)
    if (run is not None or reporter_sha256 is not None) and parsed.target not in ("gitlab", "azure_devops"):
        raise OptionError(f"{spec}: --run and --reporter-sha256 are for GitLab and Azure Pipelines pipelines")
    for flag, value in (("--run", run), ("--reporter-sha256", reporter_sha256)):
        found = None if value is None else control_character(value)
        if found is not None:
            raise OptionError(f"{flag}: the value contains the control character {found}; give it on one line")
    label = spec.as_posix() if output_file is None else relative_label(spec, output_file.parent)
    name = output_file.name if output_file is not None else "FILE"
    # A webhook's receiver sketch takes its job command as arguments, and --run completes a pipeline: nothing left
    # to edit, so the file is generated and a later render replaces it.
    complete = run is not None or parsed.target == "webhook"
    if complete:
        words = ["meshpipe", "workflow", "render", label] + (["--phase", phase] if phased and run else [])
        words += [] if run is None else ["--run", run]
        words += [] if reporter_sha256 is None else ["--reporter-sha256", reporter_sha256]
        header = generated_header(label, command=shlex.join([*words, "-o", name]), where="in this file's directory")
    else:
        check = f"meshpipe workflow check {label} {name}"
        # Not a "Generated by" header: the jobs are meant to be edited, so a later render must not replace the file.
        header = comment_safe(
            f"# Skeleton from meshpipe (spec {label}); edit the jobs freely, keep the inputs as they are and run in "
            f"this file's directory: {check}"
        )
    text = render_skeleton(parsed, phase=phase, header=header, run=run, reporter_sha256=reporter_sha256)
    if output_file is None:
        click.echo(text, nl=False)
        return
    if complete:
        from meshpipe.generator.writing import write_file

        if write_file(text, output_file, force=force, protect=[spec]):
            click.echo(f"overwrote {output_file} (not generated by meshpipe; --force)", err=True)
        click.echo(f"wrote {output_file}", err=True)
        return
    if output_file.exists() and not force:
        raise OptionError(f"{output_file} exists; check it with `meshpipe workflow check`, or pass --force")
    from meshpipe.generator.writing import write_file

    write_file(text, output_file, force=True, protect=[spec])
    if isinstance(phase_file, str) and output_file.name != phase_file:
        click.echo(f"note: the module dispatches {phase_file}; name the file so", err=True)
    _phase_note(parsed, phase, phased)
    click.echo(f"wrote {output_file}", err=True)


def _phase_note(parsed: ModuleSpec, phase: str, phased: bool) -> None:
    """Say where a GitLab or Azure Pipelines file for one phase goes, and that the other phase needs its own."""
    if not phased or parsed.target == "github":
        return
    setting = parsed.apply if phase == "apply" else parsed.destroy
    where = "the ref" if parsed.target == "gitlab" else "the pipeline"
    item = setting.value if setting.value is not None else f"var.{setting.variable}"
    other = "destroy" if phase == "apply" else "apply"
    has_other = other == "apply" or parsed.fires_destroy
    rest = f"; render --phase {other} for the other phase" if has_other else ""
    note = f"note: phase_input is null, so this file serves the {phase} phase only ({where} {item}){rest}"
    click.echo(note, err=True)


@workflow.command("check")
@spec_argument
@click.argument("workflows", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check(spec: Path, workflows: tuple[Path, ...]) -> None:
    """Fail if a WORKFLOW file does not take exactly the inputs SPEC's module sends (the commonest 422).

    A WORKFLOW is a GitHub Actions workflow, a `.gitlab-ci.yml` or an `azure-pipelines.yml`, as the spec's target
    says. Errors are what the service refuses, for GitHub: an input the module sends that the workflow does not
    declare, a required input the module never sends, a choice missing a value the module can send, no
    workflow_dispatch trigger (GitLab and Azure Pipelines: the same for `spec: inputs` and `parameters`). Warnings
    are risks, e.g. a run-name without the correlation id. Prints one line per finding, file and key path first.

    \b
    Example:
      meshpipe workflow check spec.yaml .github/workflows/apply.yml .github/workflows/destroy.yml
      meshpipe workflow check gitlab-spec.yaml .gitlab-ci.yml
      meshpipe workflow check azure-spec.yaml azure-pipelines.yml
    """
    from meshpipe.generator.errors import WorkflowError
    from meshpipe.generator.spec import load_spec
    from meshpipe.generator.workflow_check import check_pipeline

    parsed = load_spec(spec)
    failed: list[str] = []
    for path in workflows:
        findings = check_pipeline(parsed, path)
        for finding in findings:
            click.echo(finding.line(str(path)), err=finding.level != "note")
        errors = sum(finding.level == "error" for finding in findings)
        if errors:
            failed.append(f"{path} ({errors} errors)")
        else:
            click.echo(f"{path}: takes what the module sends")
    if failed:
        raise WorkflowError(
            f"{', '.join(failed)}: the workflow would refuse the module's dispatch; "
            f"fix its inputs (meshpipe workflow render {spec} --inputs-only prints the right block)"
        )
