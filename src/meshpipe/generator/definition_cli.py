"""``meshpipe definition ...``: publish a Trigger Module as a meshStack Building Block Definition."""

from __future__ import annotations

from pathlib import Path

import click

from meshpipe.generator.cli_options import out_file_option, spec_argument
from meshpipe.generator.definition import DEFAULT_TERRAFORM_VERSION, DEFAULT_WORKSPACE

__all__ = ["definition"]


def looks_like_a_file(option: str) -> bool:
    """Whether an ``--output`` value is a file name someone meant for ``-o`` (``definition.tf``, ``out/x.tf``)."""
    name = option.partition("=")[0]
    return "." in name or "/" in name  # never in an output name, which is an identifier


@click.group()
def definition() -> None:
    """Render a meshStack Building Block Definition for a spec's Trigger Module (any target)."""


@definition.command("render")
@spec_argument
@out_file_option(
    "Write the definition to FILE instead of to stdout (only over a file meshpipe generated, unless --force)."
)
# The old spelling; it cannot be mistaken for --output (which declares an output), so it keeps working.
@click.option("--output-file", "legacy_output_file", type=click.Path(dir_okay=False, path_type=Path), hidden=True)
@click.option(
    "--repository-url",
    help="Git URL of the repository hosting the module [default: https://github.com/<spec's github.repository>.git; "
    "a placeholder for the other targets].",
)
@click.option("--path", "module_path", help="Directory of the module in that repository [default: modules/<name>].")
@click.option("--ref", default="main", show_default=True, help="Branch or tag meshStack checks out.")
@click.option(
    "--workspace",
    default=DEFAULT_WORKSPACE,
    show_default=True,
    help="meshStack workspace that owns the definition (service management enabled).",
)
@click.option(
    "--terraform-version",
    default=DEFAULT_TERRAFORM_VERSION,
    show_default=True,
    help="Terraform/OpenTofu version meshStack's runner uses.",
)
@click.option(
    "--async/--sync",
    "is_async",
    default=None,
    help="async: the workflow finishes the run with `meshpipe run`; sync: the module's "
    "wait_for_completion decides [default: sync if the spec waits by default, else async].",
)
@click.option("--display-name", help="Name in the marketplace; say what the pipeline does [default: from the spec].")
@click.option(
    "--output",
    "extra_outputs",
    multiple=True,
    metavar="NAME[=TYPE[:ASSIGNMENT]]",
    help="Declare an output the workflow reports (e.g. bucket_url=STRING:RESOURCE_URL); repeatable. "
    "To write the file, use -o/--out.",
)
@click.option("--force", is_flag=True, help="Replace the output file even if meshpipe did not generate it.")
def render(
    spec: Path,
    output_file: Path | None,
    legacy_output_file: Path | None,
    repository_url: str | None,
    module_path: str | None,
    ref: str,
    workspace: str,
    terraform_version: str,
    is_async: bool | None,
    display_name: str | None,
    extra_outputs: tuple[str, ...],
    force: bool,
) -> None:
    """Write a meshstack_building_block_definition resource for SPEC's module.

    One input per module variable (user inputs, static settings, the target's credential as a sensitive
    environment input read from a variable of the file: GITHUB_TOKEN or the GitHub App's key, GITLAB_TOKEN,
    AZURE_DEVOPS_PAT or MESHPIPE_WEBHOOK_SECRET, as the spec's auth names them), the module's outputs, and the
    async/sync choice. For a target other than github, pass --repository-url (the repository hosting the module).

    \b
    Example:
      meshpipe definition render examples/team-bucket/spec.yaml --path examples/team-bucket/module \\
        --output bucket_url=STRING:RESOURCE_URL --out definition.tf
      meshpipe definition render examples/gitlab-namespace/spec.yaml --path examples/gitlab-namespace/module \\
        --repository-url https://gitlab.com/acme/platform/blocks.git --out definition.tf
    """
    import shlex

    from meshpipe.generator.definition import (
        PLACEHOLDER_REPOSITORY,
        build_definition,
        parse_output_option,
        render_definition,
    )
    from meshpipe.generator.errors import OptionError
    from meshpipe.generator.headers import control_character, relative_label

    if legacy_output_file is not None:
        if output_file is not None:
            raise OptionError("-o/--out and --output-file name the same file; give one")
        output_file = legacy_output_file
    for option in extra_outputs:
        if looks_like_a_file(option):
            raise OptionError(
                f"--output {option!r} declares an output NAME[=TYPE[:ASSIGNMENT]]; to write the definition to a "
                f"file use -o/--out {option}"
            )
    from meshpipe.generator.spec import load_spec

    # Paths in the header are relative to the written file's directory, so they do not depend on where this ran.
    spec_path = spec.as_posix() if output_file is None else relative_label(spec, output_file.parent)
    options = {
        "--repository-url": repository_url,
        "--path": module_path,
        "--ref": ref,
        "--workspace": workspace,
        "--terraform-version": terraform_version,
        "--display-name": display_name,
    }
    values = {"SPEC": str(spec), "-o": None if output_file is None else str(output_file), **options}
    values.update({f"--output {index + 1}": option for index, option in enumerate(extra_outputs)})
    for flag, value in values.items():
        found = None if value is None else control_character(value)
        if found is not None:
            raise OptionError(f"{flag}: the value contains the control character {found}; give it on one line")
    words = ["meshpipe", "definition", "render", spec_path]
    words += [word for flag, value in options.items() if value is not None for word in (flag, value)]
    words += [] if is_async is None else ["--async" if is_async else "--sync"]
    words += [word for option in extra_outputs for word in ("--output", option)]
    words += [] if output_file is None else ["-o", output_file.name]
    result = build_definition(
        load_spec(spec),
        spec_path=spec_path,
        repository_url=repository_url,
        path=module_path,
        ref=ref,
        workspace=workspace,
        terraform_version=terraform_version,
        is_async=is_async,
        display_name=display_name,
        outputs=tuple(parse_output_option(option) for option in extra_outputs),
        command=shlex.join(words),
    )
    text = render_definition(result)
    if output_file is None:
        click.echo(text, nl=False)
    else:
        from meshpipe.generator.writing import write_file

        if write_file(text, output_file, force=force, protect=[spec]):
            click.echo(f"overwrote {output_file} (not generated by meshpipe; --force)", err=True)
        click.echo(f"wrote {output_file}", err=True)
    if repository_url is None and PLACEHOLDER_REPOSITORY in result.repository_url:
        click.echo(
            f"meshpipe: warning: the definition points at the placeholder {result.repository_url}: pass "
            "--repository-url with the git URL of the repository that hosts the module",
            err=True,
        )
