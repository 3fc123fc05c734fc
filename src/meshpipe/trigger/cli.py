"""``meshpipe module ...``: render Trigger Modules from specs and check committed modules for drift."""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from meshpipe.trigger.errors import DriftError, SpecError
from meshpipe.trigger.render import render_module, write_module
from meshpipe.trigger.spec import load_spec

__all__ = ["module"]


def project_root(spec_path: Path) -> Path:
    """The directory that contains ``generator/`` above the spec (else the current directory)."""
    for parent in spec_path.resolve().parents:
        if parent.name == "generator":
            return parent.parent
    return Path.cwd()


def path_label(path: Path, root: Path) -> str:
    """A path as the generated headers print it (relative to the project root, POSIX style)."""
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _render(spec: Path, output: Path | None) -> tuple[dict[str, str], Path]:
    """Render ``spec`` in memory; returns the files and the module directory they belong in."""
    root = project_root(spec)
    parsed = load_spec(spec)
    target = output if output is not None else root / "modules" / parsed.name
    output_label = path_label(output, root) if output is not None else None
    return render_module(parsed, spec_path=path_label(spec, root), output_dir=output_label), target


@click.group()
def module() -> None:
    """Render and drift-check Trigger Modules from YAML specs (see generator/README.md)."""


@module.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Target directory (default: modules/<name> under the spec's project root).",
)
def render(spec: Path, output: Path | None) -> None:
    """Render SPEC into a module directory, replacing it atomically.

    \b
    Example:
      meshpipe module render generator/specs/github-workflow-trigger.yaml
      meshpipe module render my-spec.yaml -o /tmp/my-module
    """
    files, target = _render(spec, output)
    write_module(files, target)
    click.echo(f"wrote {len(files)} files to {target}")
    for relative in sorted(files):
        click.echo(f"  {relative}")


@module.command()
@click.argument("specs", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The module directory to compare with, for a single SPEC rendered with -o (default: modules/<name>).",
)
def check(specs: tuple[Path, ...], output: Path | None) -> None:
    """Fail if a committed module differs from what its spec renders (drift check).

    Renders each SPEC in memory (default: every generator/specs/*.yaml under the current directory) and compares it
    with modules/<name>: prints a unified diff per differing file and names missing and extra files.

    \b
    Example:
      meshpipe module check
      meshpipe module check generator/specs/github-workflow-trigger.yaml
      meshpipe module check examples/team-bucket/spec.yaml -o examples/team-bucket/module
    """
    paths = list(specs) or sorted(Path("generator/specs").glob("*.yaml"))
    if not paths:
        raise SpecError("generator/specs", "", "no specs found; pass SPEC paths or run from the project root")
    if output is not None and len(paths) != 1:
        raise click.UsageError("-o/--output needs exactly one SPEC")
    drifted = 0
    for path in paths:
        files, target = _render(path, output)
        problems = drift(files, target)
        for line in problems:
            click.echo(line, nl=not line.endswith("\n"))
        drifted += bool(problems)
        click.echo(f"{target}: {'drift' if problems else 'up to date'}")
    if drifted:
        raise DriftError(f"{drifted} of {len(paths)} modules drifted; run `make render` (meshpipe module render)")


def drift(files: dict[str, str], target: Path) -> list[str]:
    """Unified diffs and missing/extra file notes between ``files`` and the directory ``target``."""
    existing = (
        {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()} if target.is_dir() else set()
    )
    existing = {p for p in existing if not p.startswith(".terraform") and ".terraform/" not in p}
    out: list[str] = []
    for relative in sorted(files):
        path = target / relative
        if relative not in existing:
            out.append(f"missing: {path}")
            continue
        actual = path.read_text(encoding="utf-8")
        if actual != files[relative]:
            out.extend(
                difflib.unified_diff(
                    actual.splitlines(keepends=True),
                    files[relative].splitlines(keepends=True),
                    fromfile=f"{path} (committed)",
                    tofile=f"{path} (rendered)",
                )
            )
    out.extend(f"extra: {target / relative}" for relative in sorted(existing - set(files)))
    if out:
        missing = sum(line.startswith("missing: ") for line in out)
        extra = sum(line.startswith("extra: ") for line in out)
        out.append(f"{target}: {missing} missing, {extra} extra files")
    return out
