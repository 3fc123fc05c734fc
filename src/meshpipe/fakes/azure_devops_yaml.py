"""What the fake Azure DevOps takes from an Azure Pipelines YAML file: its ``name:`` (the run name format) and its
runtime ``parameters:`` (name, type, default, values), as :meth:`FakeAzureDevOps.add_pipeline` expects them.

Only what decides whether a run is accepted and how it is named is read; jobs and steps are not interpreted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from meshpipe.fakes.azure_devops_rules import PARAMETER_TYPES

__all__ = ["PipelineYaml", "load_pipeline"]


class PipelineYaml:
    """The parts of a pipeline file the fake uses: ``name_template`` (None: Azure's default format) and
    ``parameters``."""

    def __init__(self, name_template: str | None, parameters: dict[str, dict[str, Any]]) -> None:
        self.name_template = name_template
        self.parameters = parameters


def load_pipeline(path: Path) -> PipelineYaml:
    """Read ``path``; ValueError naming the file and key for what the fake cannot represent."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the pipeline: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping at the top")
    name = data.get("name")
    if name is not None and not isinstance(name, (str, int, float)):
        raise ValueError(f"{path}: name: expected a string")
    declared = data.get("parameters") or []
    if not isinstance(declared, list):
        raise ValueError(f"{path}: parameters: expected a list of parameters (the runtime parameters syntax)")
    parameters: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(declared):
        where = f"{path}: parameters[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError(f"{where}: expected a mapping with a name")
        kind = item.get("type", "string")
        if kind not in PARAMETER_TYPES:
            raise ValueError(f"{where}.type: the fake supports {', '.join(PARAMETER_TYPES)}, not {kind!r}")
        spec: dict[str, Any] = {"type": kind}
        if "default" in item:
            spec["default"] = item["default"]
        if "values" in item:
            if not isinstance(item["values"], list):
                raise ValueError(f"{where}.values: expected a list")
            spec["values"] = item["values"]
        parameters[item["name"]] = spec
    return PipelineYaml(None if name is None else str(name), parameters)
