"""Hold a workflow file against what a Trigger Module sends: the commonest 422 is a workflow declaring other inputs.

Errors are what GitHub refuses for certain (``reference/github-dispatch-and-terraform.md``, "Errors" table):
``Unexpected inputs provided`` (an input the module sends is not declared), ``Required input '<x>' not provided``
(a required input without a default that the module never sends), ``Workflow does not have 'workflow_dispatch'
trigger``, more than 25 declared inputs; and a ``choice`` input whose options miss a value the module can send.
Warnings are risks: a required input the module sends only sometimes, a ``boolean``/``number`` input receiving other
values (whether GitHub validates those types on dispatch is unverified), a ``run-name`` without the correlation id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshpipe.generator.spec import LIMIT_GITHUB_COM, ModuleSpec
from meshpipe.generator.workflow import SentInput, module_inputs

__all__ = ["Finding", "check_pipeline", "check_workflow", "load_workflow"]

_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


@dataclass(frozen=True)
class Finding:
    """One finding: ``error`` (GitHub refuses the dispatch), ``warning`` (it may) or ``note``."""

    level: str
    where: str
    message: str

    def line(self, source: str) -> str:
        """The finding as one line naming the file and the key path."""
        return f"{source}: {self.level}: {self.where}: {self.message}"


def load_workflow(path: Path) -> Any:
    """Parse a workflow file; a syntax error is one line with file:line:column (a :class:`SpecError`)."""
    from meshpipe.generator.errors import SpecError
    from meshpipe.generator.spec import load_yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SpecError(str(path), "", f"cannot read the workflow: {reason}") from exc
    return load_yaml(text, str(path))


def _triggers(data: Mapping[Any, Any]) -> dict[str, Any]:
    # PyYAML reads the key `on` as the boolean true (YAML 1.1); GitHub reads it as the string "on".
    raw = data.get("on", data.get(True))
    if isinstance(raw, str):
        return {raw: None}
    if isinstance(raw, list):
        return {str(name): None for name in raw}
    return {str(key): value for key, value in raw.items()} if isinstance(raw, Mapping) else {}


def _values(item: SentInput) -> str:
    return ", ".join(item.options or ()) or "any text"


def _type_findings(item: SentInput, declared: Mapping[str, Any], where: str) -> list[Finding]:
    kind = str(declared.get("type") or "string")
    if kind == "choice":
        options = [str(option) for option in declared.get("options") or []]
        if item.options is None:
            return [Finding("error", where, f"a choice, but the module sends any value ({item.source})")]
        missing = [value for value in item.options if value not in options]
        if missing:
            return [Finding("error", where, f"choice options lack {', '.join(missing)}, which the module can send")]
        return []
    if kind == "boolean" and item.type != "boolean" and not set(item.options or ("x",)) <= {"true", "false"}:
        return [Finding("warning", where, f"type boolean, but the module sends {_values(item)} ({item.source})")]
    if kind == "number" and item.type != "number" and not all(_NUMBER.match(v) for v in item.options or ("x",)):
        return [Finding("warning", where, f"type number, but the module sends {_values(item)} ({item.source})")]
    if kind not in ("string", "choice", "boolean", "number", "environment"):
        return [Finding("error", where, f"unknown input type {kind!r}; GitHub knows string, boolean, choice, number")]
    return []


def check_workflow(spec: ModuleSpec, data: Any) -> list[Finding]:
    """Every mismatch between ``spec``'s module and the parsed workflow ``data``."""
    if not isinstance(data, Mapping):
        return [Finding("error", "(top level)", "not a workflow: expected a mapping")]
    triggers = _triggers(data)
    if spec.event == "repository_dispatch":
        body = triggers.get("repository_dispatch")
        if "repository_dispatch" not in triggers:
            return [Finding("error", "on", "no repository_dispatch trigger; the module sends repository_dispatch")]
        types = body.get("types") if isinstance(body, Mapping) else None
        wanted = [value for value in (spec.apply.value, spec.destroy.value) if isinstance(value, str)]
        if isinstance(types, list) and not any(value in types for value in wanted):
            return [Finding("error", "on.repository_dispatch.types", f"none of {', '.join(wanted)}")]
        return _run_name(spec, data)
    if "workflow_dispatch" not in triggers:
        return [Finding("error", "on", "no workflow_dispatch trigger: GitHub answers 422 to every dispatch")]
    body = triggers["workflow_dispatch"]
    inputs = body.get("inputs") if isinstance(body, Mapping) else None
    declared: dict[str, Any] = {str(k): v for k, v in inputs.items()} if isinstance(inputs, Mapping) else {}
    findings: list[Finding] = []
    if len(declared) > LIMIT_GITHUB_COM:
        findings.append(
            Finding("error", "on.workflow_dispatch.inputs", f"{len(declared)} inputs; GitHub allows {LIMIT_GITHUB_COM}")
        )
    sent = module_inputs(spec)
    by_name = {item.name: item for item in sent}
    for item in sent:
        where = f"on.workflow_dispatch.inputs.{item.name}"
        if item.name not in declared:
            other = next((name for name in declared if name.lower() == item.name.lower()), None)
            hint = f" (declared as {other!r}; names must match exactly)" if other else ""
            findings.append(
                Finding(
                    "error",
                    where,
                    f"not declared, but the module sends it ({item.source}): GitHub answers 422 "
                    f"'Unexpected inputs provided'{hint}",
                )
            )
            continue
        entry = declared[item.name] if isinstance(declared[item.name], Mapping) else {}
        findings += _type_findings(item, entry, where)
        if entry.get("required") is True and entry.get("default") is None and not item.always:
            findings.append(
                Finding("warning", where, f"required, but the module sends it only sometimes ({item.source})")
            )
    for name, entry in declared.items():
        if name in by_name:
            continue
        entry = entry if isinstance(entry, Mapping) else {}
        if entry.get("required") is True and entry.get("default") is None:
            findings.append(
                Finding(
                    "error",
                    f"on.workflow_dispatch.inputs.{name}",
                    f"required without a default, but the module never sends it: GitHub answers 422 "
                    f"\"Required input '{name}' not provided\"",
                )
            )
    if spec.workflow_inputs is not None:
        findings.append(
            Finding(
                "note",
                "workflow_inputs",
                "the module's workflow_inputs variable can send further inputs; declare every key its callers use",
            )
        )
    return findings + _run_name(spec, data)


def _run_name(spec: ModuleSpec, data: Mapping[Any, Any]) -> list[Finding]:
    correlation = spec.correlation_input.value
    if not isinstance(correlation, str):
        return []
    source = "inputs" if spec.event == "workflow_dispatch" else "github.event.client_payload"
    title = str(data.get("run-name") or "")
    pattern = rf"\$\{{\{{[^}}]*\b({re.escape(source)}|github\.event\.inputs)\.{re.escape(correlation)}\b"
    if not re.search(pattern, title):
        return [
            Finding(
                "warning",
                "run-name",
                f"does not show ${{{{ {source}.{correlation} }}}}: where GitHub does not return the run's id "
                "(GitHub Enterprise Server up to 3.20) the module cannot find the run",
            )
        ]
    return []


def check_pipeline(spec: ModuleSpec, path: Path) -> list[Finding]:
    """Check the pipeline definition at ``path`` the way the spec's target reads it (a GitHub workflow, a
    ``.gitlab-ci.yml`` with its ``spec:inputs`` header document, an ``azure-pipelines.yml``)."""
    from meshpipe.generator.errors import SpecError

    if spec.target == "gitlab":
        import yaml

        from meshpipe.generator.workflow_check_ci import check_gitlab_pipeline

        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise SpecError(str(path), "", f"cannot read the pipeline: {str(exc).splitlines()[0]}") from None
        return check_gitlab_pipeline(spec, documents)
    if spec.target == "azure_devops":
        from meshpipe.generator.workflow_check_ci import check_azure_pipeline

        return check_azure_pipeline(spec, load_workflow(path))
    if spec.target == "webhook":
        return [Finding("error", "(spec)", "a webhook target has no pipeline file to check; its receiver decides")]
    return check_workflow(spec, load_workflow(path))
