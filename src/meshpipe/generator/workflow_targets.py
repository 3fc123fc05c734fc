"""The pipeline definition of each target: which renderer writes the skeleton and which file it is.

GitHub keeps a workflow per phase (:mod:`.workflow`); a GitLab (:mod:`.workflow_gitlab`) or Azure Pipelines
(:mod:`.workflow_azure`) pipeline serves both phases, told apart by the phase input, or without one
(``phase_input: null``) one phase per file, like GitHub; a webhook gets a receiver sketch (:mod:`.workflow_webhook`).
"""

from __future__ import annotations

from meshpipe.generator.errors import OptionError
from meshpipe.generator.spec import ModuleSpec

__all__ = ["SKELETON_FILES", "per_phase", "render_inputs_block", "render_skeleton", "skeleton_file"]

#: target -> the file a skeleton is usually saved as (GitHub: the phase's workflow file from the spec)
SKELETON_FILES = {"gitlab": ".gitlab-ci.yml", "azure_devops": "azure-pipelines.yml", "webhook": "receiver.py"}


def skeleton_file(spec: ModuleSpec) -> str:
    """The usual file name of a non-GitHub target's pipeline definition."""
    return SKELETON_FILES[spec.target]


def per_phase(spec: ModuleSpec) -> bool:
    """Whether the spec's pipeline side is one file per phase: GitHub, and GitLab or Azure Pipelines without a phase
    input (nothing in one pipeline would tell the phases apart)."""
    if spec.target == "github":
        return True
    if spec.target not in ("gitlab", "azure_devops"):
        return False
    return not isinstance(getattr(spec.phase_input, "value", None), str)


def render_inputs_block(spec: ModuleSpec, spec_label: str) -> str:
    """The part of the pipeline definition that declares the inputs, to paste into an existing file."""
    if spec.target == "gitlab":
        from meshpipe.generator.workflow_gitlab import render_gitlab_inputs

        if spec.values != "inputs":
            raise OptionError(
                f"{spec_label}: gitlab.values is variables; CI/CD variables need no declaration (render the whole file "
                "to see them listed)"
            )
        return render_gitlab_inputs(spec)
    if spec.target == "azure_devops":
        from meshpipe.generator.workflow_azure import render_azure_parameters

        return render_azure_parameters(spec)
    if spec.target == "webhook":
        raise OptionError(f"{spec_label}: a webhook declares no inputs; render the receiver sketch instead")
    from meshpipe.generator.workflow import render_inputs

    return render_inputs(spec)


def render_skeleton(
    spec: ModuleSpec, *, phase: str, header: str, run: str | None = None, reporter_sha256: str | None = None
) -> str:
    """The skeleton pipeline definition for the spec's target (``phase`` matters for GitHub, and for GitLab and Azure
    Pipelines without a phase input; ``run`` and ``reporter_sha256`` for GitLab and Azure Pipelines only)."""
    if spec.target == "gitlab":
        from meshpipe.generator.workflow_gitlab import render_gitlab_pipeline

        return render_gitlab_pipeline(spec, header=header, phase=phase, run=run, reporter_sha256=reporter_sha256)
    if spec.target == "azure_devops":
        from meshpipe.generator.workflow_azure import render_azure_pipeline

        return render_azure_pipeline(spec, header=header, phase=phase, run=run, reporter_sha256=reporter_sha256)
    if spec.target == "webhook":
        from meshpipe.generator.workflow_webhook import render_webhook_receiver

        return render_webhook_receiver(spec, header=header)
    from meshpipe.generator.workflow import render_workflow

    return render_workflow(spec, phase=phase, header=header)
