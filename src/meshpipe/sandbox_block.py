"""A building block as the sandbox hosts it: a user's block directory (or the packaged example) made runnable.

A block directory holds what a platform engineer writes: the spec (``spec.yaml``), the pipeline definition (GitHub:
the workflows in ``.github/workflows/*.yml``; GitLab: ``.gitlab-ci.yml``; Azure Pipelines: ``azure-pipelines.yml``;
a webhook: none, the receiver is the sandbox's) and the pipeline body (``pipeline.py``, or any command).
:func:`stage_block` adds what the runner emulation needs and the user may not have yet: the Trigger Module (taken
from ``module/`` when it holds a ``main.tf``, else rendered from the spec) and the Building Block Definition
(``publish/definition.tf``, else rendered with ``meshpipe definition render``), in a staging directory the sandbox
owns. The user's files are only read.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from meshpipe.errors import MeshpipeError

if TYPE_CHECKING:
    from meshpipe.generator.spec import ModuleSpec

__all__ = ["PIPELINE_FILES", "Block", "body_command", "packaged_example", "stage_block", "workflow_files"]

#: The body of a workflow when the block has a ``pipeline.py`` and names no other (the example's convention).
DEFAULT_BODY = "python pipeline.py job {workflow}"
#: Other targets: one pipeline serves both phases, so the body reads the phase from its environment; a GitLab job's
#: ``after_script`` or an Azure job's last ``condition: always()`` step (``finish`` with the CI's job status) runs
#: after it.
DEFAULT_TARGET_BODY = "python pipeline.py job"
DEFAULT_AFTER = {"gitlab": "python pipeline.py finish", "azure_devops": "python pipeline.py finish"}
WORKFLOW_SUFFIXES = (".yml", ".yaml")
#: target -> the pipeline definition file in a block directory (GitHub has a directory of workflows)
PIPELINE_FILES = {"gitlab": ".gitlab-ci.yml", "azure_devops": "azure-pipelines.yml"}


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
    #: the CI/CD system the block's module starts (``meshpipe.contract.TARGETS``)
    target: str = "github"
    #: the spec's credential settings (``token_env``, ``pat_env``, ``secret_env``, ...): where the module reads them
    auth: Mapping[str, str] = field(default_factory=dict)
    #: GitLab/Azure Pipelines: the pipeline definition the fake enforces (``None``: declares nothing)
    pipeline: Path | None = None
    #: the input that carries the phase (GitLab/Azure Pipelines), ``None`` where the phase has its own pipeline
    phase_input: str | None = None
    #: a command the CI runs after the body whatever happened (GitLab's ``after_script``), if any
    after: tuple[str, ...] = ()
    #: the module's name (the Azure pipeline's name in the sandbox)
    name: str = ""


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


def body_command(body: str | None, source: Path, default: str = DEFAULT_BODY) -> tuple[str, ...]:
    """The workflow body as argv: ``body`` (split like a shell would, never run by one) or ``pipeline.py``'s."""
    if body is None:
        if not (source / "pipeline.py").is_file():
            raise MeshpipeError(
                f"{source}: no pipeline.py; name the workflow body with --body 'COMMAND' "
                "(it runs in the block's directory; {workflow} stands for apply or destroy)"
            )
        body = default
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
    pipeline, phase_input = None, None
    if parsed.target == "github":
        repository = repository or (parsed.repository.value if parsed.repository is not None else None)
        if not repository:
            raise MeshpipeError(
                f"{spec}: github.repository has no value; name the repository with --repository OWNER/NAME"
            )
        files = _github_workflows(parsed, spec, workflows or source / ".github" / "workflows")
        auth = {"token_env": parsed.auth.token_env}
    else:
        repository, pipeline, phase_input = _target_pipeline(parsed, spec, source, workflows, repository)
        files, auth = (), parsed.auth_settings
    command = body_command(body, source, DEFAULT_BODY if parsed.target == "github" else DEFAULT_TARGET_BODY)
    after_text = DEFAULT_AFTER.get(parsed.target) if body is None else None
    after = body_command(after_text, source) if after_text else ()

    def block(root: Path) -> Block:
        return Block(
            source,
            root,
            str(repository),
            files,
            command,
            target=parsed.target,
            auth=auth,
            pipeline=pipeline,
            phase_input=phase_input,
            after=after,
            name=parsed.name,
        )

    if definition is None and (source / "publish" / "definition.tf").is_file() and module is None:
        return block(source)

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
    return block(stage)


def _github_workflows(parsed: ModuleSpec, spec: Path, directory: Path) -> tuple[Path, ...]:
    """The block's workflow files; the ones the spec dispatches must be there."""
    files = workflow_files(directory)
    names = {path.name for path in files}
    for phase, setting in (("apply", parsed.apply), ("destroy", parsed.destroy)):
        if setting.value and setting.value not in names:
            raise MeshpipeError(
                f"{spec}: workflows.{phase} is {setting.value} but {directory} has no such file; write it with: "
                f"meshpipe workflow render {spec} --phase {phase} -o .github/workflows/{setting.value}"
            )
    return files


def _target_pipeline(
    parsed: ModuleSpec, spec: Path, source: Path, pipeline: Path | None, repository: str | None
) -> tuple[str, Path | None, str | None]:
    """A GitLab, Azure Pipelines or webhook block: its project, its pipeline file and its phase input."""
    key = {"gitlab": "gitlab.project", "azure_devops": "azure_devops.project"}.get(parsed.target)
    project = repository or (parsed.repository.value if parsed.repository is not None else None)
    if key is not None and not project:
        raise MeshpipeError(f"{spec}: {key} has no value; name the project with --repository")
    wanted = PIPELINE_FILES.get(parsed.target)
    path = None
    if wanted is not None:
        path = pipeline if pipeline is not None and pipeline.is_file() else (pipeline or source) / wanted
        if not path.is_file():
            raise MeshpipeError(f"{source}: no {wanted}; write it with: meshpipe workflow render {spec} -o {path}")
    phase = parsed.phase_input.value if parsed.phase_input is not None else None
    return str(project or parsed.name), path, phase if isinstance(phase, str) else None
