"""A building block as the sandbox hosts it: a user's block directory (or the packaged example) made runnable.

A block directory holds what a platform engineer writes: the spec (``spec.yaml``), the workflows
(``.github/workflows/*.yml``) and the workflow body (``pipeline.py``, or any command). :func:`stage_block` adds what
the runner emulation needs and the user may not have yet: the Trigger Module (taken from ``module/`` when it holds a
``main.tf``, else rendered from the spec) and the Building Block Definition (``publish/definition.tf``, else rendered
with ``meshpipe definition render``), in a staging directory the sandbox owns. The user's files are only read.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from meshpipe.errors import MeshpipeError

__all__ = ["Block", "body_command", "packaged_example", "stage_block", "workflow_files"]

#: The body of a workflow when the block has a ``pipeline.py`` and names no other (the example's convention).
DEFAULT_BODY = "python pipeline.py job {workflow}"
WORKFLOW_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class Block:
    """What the sandbox seeds for one block."""

    #: the directory the user named (the body runs there, as in a checkout)
    source: Path
    #: where the runner emulation finds ``publish/definition.tf`` and the module (``source`` or a staging directory)
    root: Path
    repository: str
    #: the workflow files, read from the user's directory
    workflows: tuple[Path, ...]
    #: the body command with ``{workflow}`` standing for the workflow file's stem (``apply``, ``destroy``)
    body: tuple[str, ...]


def packaged_example(name: str) -> Path | None:
    """The example shipped inside the installed package (``meshpipe/_examples/<name>``), if there is one."""
    from importlib.resources import files

    candidate = Path(str(files("meshpipe"))) / "_examples" / name
    return candidate if (candidate / "spec.yaml").is_file() else None


def workflow_files(directory: Path) -> tuple[Path, ...]:
    """The workflow files of a directory, sorted by name."""
    if not directory.is_dir():
        return ()
    return tuple(sorted(path for path in directory.iterdir() if path.suffix in WORKFLOW_SUFFIXES and path.is_file()))


def body_command(body: str | None, source: Path) -> tuple[str, ...]:
    """The workflow body as argv: ``body`` (split like a shell would, never run by one) or ``pipeline.py``'s."""
    if body is None:
        if not (source / "pipeline.py").is_file():
            raise MeshpipeError(
                f"{source}: no pipeline.py; name the workflow body with --body 'COMMAND' "
                "(it runs in the block's directory; {workflow} stands for apply or destroy)"
            )
        body = DEFAULT_BODY
    try:
        words = shlex.split(body)
    except ValueError as exc:
        raise MeshpipeError(f"--body {body!r}: {exc}; quote it like a shell command") from None
    if not words:
        raise MeshpipeError("--body is empty; give the command the workflow runs, e.g. --body 'python pipeline.py'")
    # `python` is this installation's interpreter, so that `meshpipe` and `meshpipe.report` in the body are this one.
    if words[0] in ("python", "python3"):
        words[0] = sys.executable
    return tuple(words)


def _render(argv: list[str]) -> None:
    """Run a ``meshpipe`` command in this process (its errors are :class:`MeshpipeError` or click's)."""
    import click

    from meshpipe.cli import cli

    try:
        cli.main(args=argv, prog_name="meshpipe", standalone_mode=False)
    except click.ClickException as exc:
        raise MeshpipeError(f"meshpipe {' '.join(argv[:2])}: {exc.format_message()}") from None


def stage_block(
    source: Path,
    stage: Path,
    *,
    spec: Path | None = None,
    workflows: Path | None = None,
    module: Path | None = None,
    definition: Path | None = None,
    body: str | None = None,
    repository: str | None = None,
) -> Block:
    """Read a block directory and prepare what the runner emulation needs in ``stage`` (an empty directory).

    A block that already has ``publish/definition.tf`` (like the example in a clone) is used in place.
    """
    from meshpipe.generator.spec import load_spec

    source = source.resolve()
    if not source.is_dir():
        raise MeshpipeError(f"{source}: not a directory; --block names the directory holding spec.yaml")
    spec = spec or source / "spec.yaml"
    if not spec.is_file():
        raise MeshpipeError(f"{spec}: no spec; write one (see `meshpipe module render --help`) or name it with --spec")
    parsed = load_spec(spec)
    repository = repository or (parsed.repository.value if parsed.repository is not None else None)
    if not repository:
        raise MeshpipeError(f"{spec}: github.repository has no value; name the repository with --repository OWNER/NAME")
    files = workflow_files(workflows or source / ".github" / "workflows")
    names = {path.name for path in files}
    for phase, setting in (("apply", parsed.apply), ("destroy", parsed.destroy)):
        if setting.value and setting.value not in names:
            raise MeshpipeError(
                f"{spec}: workflows.{phase} is {setting.value} but {workflows or source / '.github/workflows'} has no "
                f"such file; write it with: meshpipe workflow render {spec} --phase {phase} "
                f"-o .github/workflows/{setting.value}"
            )
    command = body_command(body, source)
    if definition is None and (source / "publish" / "definition.tf").is_file() and module is None:
        return Block(source, source, str(repository), files, command)

    (stage / "publish").mkdir(parents=True)
    module = module or source / "module"
    if (module / "main.tf").is_file():
        shutil.copytree(module, stage / "module", ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    else:
        _render(["module", "render", str(spec), "-o", str(stage / "module")])
    if definition is not None:
        shutil.copyfile(definition, stage / "publish" / "definition.tf")
    else:
        out = str(stage / "publish" / "definition.tf")
        _render(["definition", "render", str(spec), "--path", "module", "--out", out])
    # Copies for the tools that read the block from its root (the demo reads the example's STEPS from pipeline.py).
    for name in ("spec.yaml", "pipeline.py"):
        if (source / name).is_file():
            shutil.copyfile(source / name, stage / name)
    return Block(source, stage, str(repository), files, command)
