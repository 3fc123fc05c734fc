"""What the sandbox reads from a block's GitLab or Azure Pipelines definition: the declared inputs and the name.

A real service reads the same two things when the module creates a pipeline: the ``spec: inputs`` header of a
``.gitlab-ci.yml`` (or the ``parameters:`` of an ``azure-pipelines.yml``), against which it checks the values sent,
and the ``workflow: name`` (or ``name:``) it shows the pipeline under, where the dispatcher looks for the
correlation id. The fakes enforce both, so the sandbox seeds them from the block's file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshpipe.errors import MeshpipeError

__all__ = ["DeclaredPipeline", "load_azure_pipeline", "load_gitlab_pipeline"]


@dataclass(frozen=True)
class DeclaredPipeline:
    """A pipeline definition's declared inputs (``None``: it declares none) and its name template."""

    inputs: dict[str, dict[str, Any]] | None
    name: str | None


def _documents(path: Path) -> list[Any]:
    import yaml

    try:
        return [document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MeshpipeError(f"{path}: cannot read the pipeline definition: {str(exc).splitlines()[0]}") from None


def load_gitlab_pipeline(path: Path) -> DeclaredPipeline:
    """``spec: inputs`` (the header document before ``---``) and ``workflow: name`` of a ``.gitlab-ci.yml``."""
    documents = _documents(path)
    if not documents or not all(isinstance(document, dict) for document in documents):
        raise MeshpipeError(f"{path}: not a GitLab CI configuration (expected YAML mappings)")
    inputs = None
    if len(documents) > 1:
        spec = documents[0].get("spec")
        declared = spec.get("inputs") if isinstance(spec, dict) else None
        if not isinstance(declared, dict):
            raise MeshpipeError(f"{path}: the header document has no spec.inputs mapping")
        inputs = {str(name): dict(entry or {}) for name, entry in declared.items()}
    workflow = documents[-1].get("workflow")
    name = workflow.get("name") if isinstance(workflow, dict) else None
    return DeclaredPipeline(inputs, str(name) if name is not None else None)


def load_azure_pipeline(path: Path) -> DeclaredPipeline:
    """``parameters:`` (as ``{name: {type, default, values}}``) and ``name:`` of an ``azure-pipelines.yml``."""
    documents = _documents(path)
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise MeshpipeError(f"{path}: not an Azure Pipelines definition (expected one YAML mapping)")
    document = documents[0]
    raw = document.get("parameters") or []
    if not isinstance(raw, list) or not all(isinstance(entry, dict) and "name" in entry for entry in raw):
        raise MeshpipeError(f"{path}: parameters must be a list of mappings, each with a name")
    inputs = {str(entry["name"]): {key: value for key, value in entry.items() if key != "name"} for entry in raw}
    name = document.get("name")
    return DeclaredPipeline(inputs, str(name) if name is not None else None)
