"""Hold a ``.gitlab-ci.yml`` or an ``azure-pipelines.yml`` against what a Trigger Module sends.

Errors are what the service refuses when the pipeline is created: an input (GitLab ``spec:inputs``) or a template
parameter (Azure Pipelines ``parameters:``) the module sends but the file does not declare, one the file declares
without a default that the module never sends, an allow-list (``options``/``values``) missing a value the module can
send, a declared type the module's values do not have. Warnings are risks: a pipeline name without the correlation
id (the dispatcher cannot find the pipeline after a lost answer) or without the phase, and, without a phase input
(``phase_input: null``), a file whose ``apply`` and ``destroy`` jobs both run in every pipeline (nothing tells the
phases apart: render one file per phase).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from meshpipe.generator.spec import ModuleSpec
from meshpipe.generator.workflow import SentInput
from meshpipe.generator.workflow_check import Finding
from meshpipe.generator.workflow_gitlab import pipeline_inputs

__all__ = ["check_azure_pipeline", "check_gitlab_pipeline"]

#: module input type -> the declared types that accept its values
_GITLAB_ACCEPTS = {
    "string": {"string"},
    "number": {"number"},
    "bool": {"boolean"},
    "list": {"array"},
    "map": {"string"},
}
_AZURE_ACCEPTS = {
    "string": {"string"},
    "number": {"number", "string"},
    "bool": {"boolean", "string"},
    "list": {"string", "object"},
    "map": {"string", "object"},
}


def _module_types(spec: ModuleSpec) -> dict[str, str]:
    return {item.name: item.type for item in spec.inputs if item.kind == "variable"}


def _declared_findings(
    sent: list[SentInput],
    declared: Mapping[str, Mapping[str, Any]],
    where: str,
    *,
    accepts: Mapping[str, set[str]],
    types: Mapping[str, str],
    options_key: str,
    service: str,
) -> list[Finding]:
    findings: list[Finding] = []
    for item in sent:
        at = f"{where}.{item.name}"
        entry = declared.get(item.name)
        if entry is None:
            findings.append(Finding("error", at, f"not declared, but the module sends it ({item.source}): {service}"
                                    " refuses an undeclared input"))  # fmt: skip
            continue
        kind = str(entry.get("type") or "string")
        wanted = accepts.get(types.get(item.name, "string"), {"string"})
        if kind not in wanted:
            findings.append(
                Finding("error", at, f"type {kind}, but the module sends {'/'.join(sorted(wanted))} values")
            )
        allowed = entry.get(options_key)
        if isinstance(allowed, list):
            texts = {str(option).lower() if isinstance(option, bool) else str(option) for option in allowed}
            missing = [value for value in item.options or () if value not in texts]
            if item.options is None:
                findings.append(Finding("error", at, f"{options_key} restrict it, but the module sends any value"))
            elif missing:
                findings.append(
                    Finding("error", at, f"{options_key} lack {', '.join(missing)}, which the module sends")
                )
    names = {item.name for item in sent}
    for name, entry in declared.items():
        if name not in names and "default" not in entry:
            findings.append(Finding("error", f"{where}.{name}", f"required without a default, but the module never "
                                    f"sends it: {service} refuses every run"))  # fmt: skip
    return findings


_NAME_RISKS = {
    "correlation id": "the module cannot find the pipeline after a lost answer",
    "phase": "the runs of both phases look alike",
}


def _name_findings(title: str, where: str, wanted: list[tuple[str, str]]) -> list[Finding]:
    """A warning for each reference (``what``, its text) the pipeline's name lacks (spaces inside may differ)."""
    findings = []
    for what, reference in wanted:
        if not re.search(re.escape(reference).replace(r"\ ", r"\s*"), title):
            findings.append(Finding("warning", where, f"does not show the {what} ({reference}): {_NAME_RISKS[what]}"))
    return findings


def _both_phases(spec: ModuleSpec, jobs: set[str], where: str) -> list[Finding]:
    """Without a phase input, a file with ungated ``apply`` and ``destroy`` jobs runs both phases every time."""
    if isinstance(getattr(spec.phase_input, "value", None), str) or not {"apply", "destroy"} <= jobs:
        return []
    message = (
        "jobs apply and destroy both run in every pipeline, but without phase_input nothing tells the phases apart: "
        "keep one phase per file (meshpipe workflow render SPEC --phase apply / --phase destroy)"
    )
    return [Finding("warning", where, message)]


def check_gitlab_pipeline(spec: ModuleSpec, documents: list[Any]) -> list[Finding]:
    """Every mismatch between ``spec``'s module and a parsed ``.gitlab-ci.yml`` (its YAML documents)."""
    documents = [document for document in documents if document is not None]
    if not documents or not all(isinstance(document, Mapping) for document in documents):
        return [Finding("error", "(top level)", "not a GitLab CI configuration: expected mappings")]
    sent = pipeline_inputs(spec)
    config = documents[-1]
    findings: list[Finding] = []
    correlation, phase = spec.correlation_input.value, getattr(spec.phase_input, "value", None)
    if spec.values == "inputs":
        header = documents[0] if len(documents) > 1 else {}
        inputs = (header.get("spec") or {}).get("inputs") if isinstance(header.get("spec"), Mapping) else None
        if not isinstance(inputs, Mapping):
            return [
                Finding("error", "spec.inputs", "no header document declaring spec:inputs; the module sends inputs")
            ]
        declared = {str(name): (entry if isinstance(entry, Mapping) else {}) for name, entry in inputs.items()}
        findings += _declared_findings(
            sent, declared, "spec.inputs", accepts=_GITLAB_ACCEPTS, types=_module_types(spec),
            options_key="options", service="GitLab",
        )  # fmt: skip
        reference = "$[[ inputs.{} ]]"
    else:
        reference = "${}"
    workflow = config.get("workflow")
    title = str(workflow.get("name") or "") if isinstance(workflow, Mapping) else ""
    wanted = [(what, reference.format(name)) for what, name in (("correlation id", correlation), ("phase", phase))
              if isinstance(name, str)]  # fmt: skip
    ungated = {str(name) for name, job in config.items() if isinstance(job, Mapping) and "rules" not in job}
    return findings + _name_findings(title, "workflow.name", wanted) + _both_phases(spec, ungated, "(jobs)")


def check_azure_pipeline(spec: ModuleSpec, data: Any) -> list[Finding]:
    """Every mismatch between ``spec``'s module and a parsed ``azure-pipelines.yml``."""
    if not isinstance(data, Mapping):
        return [Finding("error", "(top level)", "not an Azure Pipelines definition: expected a mapping")]
    raw = data.get("parameters") or []
    if not isinstance(raw, list) or not all(isinstance(entry, Mapping) and "name" in entry for entry in raw):
        return [Finding("error", "parameters", "expected a list of parameters, each with a name")]
    declared = {str(entry["name"]): entry for entry in raw}
    findings = _declared_findings(
        pipeline_inputs(spec), declared, "parameters", accepts=_AZURE_ACCEPTS, types=_module_types(spec),
        options_key="values", service="Azure Pipelines",
    )  # fmt: skip
    correlation, phase = spec.correlation_input.value, getattr(spec.phase_input, "value", None)
    wanted = [(what, f"${{{{ parameters.{name} }}}}") for what, name in (("correlation id", correlation),
              ("phase", phase)) if isinstance(name, str)]  # fmt: skip
    listed = data.get("jobs")
    jobs = listed if isinstance(listed, list) else []
    ungated = {str(job["job"]) for job in jobs if isinstance(job, Mapping) and "job" in job and "condition" not in job}
    return findings + _name_findings(str(data.get("name") or ""), "name", wanted) + _both_phases(spec, ungated, "jobs")
