"""The Azure Pipelines side of a Trigger Module: an ``azure-pipelines.yml`` that takes exactly what the module sends.

The module runs the pipeline with ``templateParameters`` (``Pipelines - Runs - Run Pipeline``, api-version 7.1);
Azure Pipelines refuses a parameter the pipeline does not declare and one it declares without a default that is not
sent, and reads each string by the declared type
(https://learn.microsoft.com/azure/devops/pipelines/process/runtime-parameters). So the file declares exactly the
module's inputs under ``parameters:``, shows the correlation id in ``name:`` (the dispatcher finds a run by its name
after a lost answer), is never triggered by a push or a pull request, and picks the job for the phase at compile time
(``${{ if eq(parameters.PHASE, 'apply') }}``). Without a phase input (``phase_input: null``) each phase is its own
pipeline (``pipelines.apply``/``destroy`` ids), so each gets its own file with only that phase's job. Parameters
reach the steps as job variables, hence as environment variables upper-cased (``bucketName`` -> ``BUCKETNAME``);
scripts read them from there, never from the script text.

Unverified (no Azure DevOps here): whether the agent expands a macro such as ``$(System.AccessToken)`` inside a
variable's value that came from a parameter (Microsoft documents macro expansion for variables set in YAML, not for
values inserted by template expressions); whether ``default: 0`` is the best empty value of an optional number.
"""

from __future__ import annotations

import json

from meshpipe.generator.spec import RUN_URL_INPUT, ModuleSpec
from meshpipe.generator.workflow import SentInput, yaml_key
from meshpipe.generator.workflow_gitlab import SHA256_PLACEHOLDER, pipeline_inputs, pipeline_phases

__all__ = ["AZURE_TEMPLATE", "render_azure_parameters", "render_azure_pipeline"]

#: the reporter's steps template, in the repository resource ``meshpipe``
AZURE_TEMPLATE = "action/azure-pipelines/meshpipe-steps.yml"
#: module input type -> Azure Pipelines parameter type (lists and maps travel as JSON text)
_AZURE_TYPES = {"string": "string", "number": "number", "bool": "boolean", "list": "string", "map": "string"}


def _scalar(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _kind(spec: ModuleSpec, item: SentInput) -> str:
    types = {entry.name: entry.type for entry in spec.inputs if entry.kind == "variable"}
    return _AZURE_TYPES.get(types.get(item.name, "string"), "string")


def render_azure_parameters(spec: ModuleSpec) -> str:
    """``parameters:`` with exactly the module's inputs (an optional one defaults to the empty string)."""
    lines = ["parameters:"]
    sent = pipeline_inputs(spec)
    if not sent:
        lines[-1] += " []"
    for item in sent:
        kind = _kind(spec, item)
        lines.append(f"  - name: {yaml_key(item.name)}")
        if item.description:
            lines.append(f"    displayName: {_scalar(' '.join(item.description.split()))}")
        lines.append(f"    type: {kind}")
        if item.default is not None:
            default = item.default if kind in ("number", "boolean") else _scalar(item.default)
            lines.append(f"    default: {default}")
        elif not item.always:
            lines.append("    default: ''" if kind == "string" else "    default: 0")
        if item.options is not None and item.type == "choice":
            lines.append(f"    values: [{', '.join(map(_scalar, item.options))}]")
    return "\n".join(lines) + "\n"


def _phase_name(spec: ModuleSpec) -> str | None:
    setting = getattr(spec, "phase_input", None)
    value = getattr(setting, "value", None)
    return value if isinstance(value, str) else None


def _name(spec: ModuleSpec, phase: str) -> str:
    """The run's name (its "build number"): Azure allows no ``"/:<>\\|?@*`` in it, so no brackets around the id."""
    parts = [spec.name]
    name = _phase_name(spec)
    parts.append(f"${{{{ parameters.{name} }}}}" if name is not None else phase)
    correlation = spec.correlation_input.value
    if isinstance(correlation, str):
        parts.append(f"${{{{ parameters.{correlation} }}}}")
    return " ".join(parts)


def render_azure_pipeline(
    spec: ModuleSpec, *, header: str, phase: str = "apply", run: str | None = None, reporter_sha256: str | None = None
) -> str:
    """An ``azure-pipelines.yml`` for ``spec``: parameters, ``name:``, and the job of the phase that fired it (both
    phases' jobs gated on the phase input, or only ``phase``'s without one: :func:`pipeline_phases`).

    The job's steps come from the reporter's steps template (fetch and register, the job's own steps, a final
    ``condition: always()`` step finishing the run with ``$(Agent.JobStatus)``); its own step runs ``run`` (a
    command that reads the phase from the environment and registers its own steps) or a placeholder to replace.
    """
    phase_name = _phase_name(spec)
    lines = [
        header,
        "# Started by the Trigger Module only (Runs - Run Pipeline), never by a push or a pull request.",
        "trigger: none",
        "pr: none",
        "",
        "# Exactly what the module sends: Azure Pipelines refuses an undeclared parameter and a missing required one.",
        render_azure_parameters(spec).rstrip("\n"),
        "",
        "# The Trigger Module finds its run by the correlation id in the run's name after a lost answer.",
        f"name: {_scalar(_name(spec, phase))}",
        "",
        "resources:",
        "  repositories:",
        "    # meshpipe's templates: pin the release whose meshpipe.pyz you pin below",
        "    - repository: meshpipe",
        "      type: github",
        "      name: your-org/meshpipe",
        "      ref: refs/tags/v0",
        "      endpoint: github-connection",
        "",
        "pool:",
        "  vmImage: ubuntu-latest",
        "",
        "variables:",
        "  # Each parameter as a variable, so the steps read it from the environment (upper-cased), never from the",
        "  # script text: parameters are untrusted.",
    ]
    lines += [f"  {yaml_key(item.name)}: ${{{{ parameters.{item.name} }}}}" for item in pipeline_inputs(spec)]
    lines += ["", "jobs:"]
    served = pipeline_phases(spec, phase)
    for phase in served:  # each job is written for its own phase
        pad = "  "
        if phase_name is not None:
            lines.append(f"  - ${{{{ if eq(parameters.{phase_name}, '{phase}') }}}}:")
            pad = "    "
        lines += [
            f"{pad}- job: {phase}",
            f"{pad}  timeoutInMinutes: 30",
            f"{pad}  steps:",
            f"{pad}    - checkout: self",
            f"{pad}    - template: {AZURE_TEMPLATE}@meshpipe",
            f"{pad}      parameters:",
            f"{pad}        runUrl: ${{{{ parameters.{RUN_URL_INPUT} }}}}",
            f"{pad}        bundleSha256: {_scalar(reporter_sha256 or SHA256_PLACEHOLDER)}",
        ]
        if run is None:
            lines.append(f"{pad}        reportSteps: {_scalar(f'{phase}={phase.capitalize()} the building block')}")
        script = run or f'meshpipe run exec {phase} -- echo "replace with your command"'
        lines += [
            f"{pad}        jobSteps:",
            f"{pad}          - bash: {_scalar(script)}",
            f"{pad}            displayName: {phase.capitalize()}",
            f"{pad}            env:",
            f"{pad}              # secrets reach a step only when mapped",
            f"{pad}              MESHSTACK_CLIENT_SECRET: $(MESHSTACK_CLIENT_SECRET)",
        ]
    return "\n".join(lines) + "\n"
