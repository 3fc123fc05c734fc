"""The Building Block Definition as plain data: what :func:`meshpipe.generator.definition.build_definition` maps a
module to, what the template and the CDK construct render, and what the tests assert on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshpipe.generator import hcl
from meshpipe.generator.prerun import PRE_RUN_SCRIPT

__all__ = [
    "DEFAULT_TERRAFORM_VERSION",
    "DEFAULT_WORKSPACE",
    "IO_TYPES",
    "OUTPUT_ASSIGNMENTS",
    "OUTPUT_TYPES",
    "PROVIDER_SOURCE",
    "PROVIDER_VERSION",
    "REQUIRED_TERRAFORM",
    "RESOURCE_TYPE",
    "Definition",
    "DefinitionInput",
    "DefinitionOutput",
    "DefinitionVariable",
    "display_label",
]

DEFAULT_WORKSPACE = "platform-team"
DEFAULT_TERRAFORM_VERSION = "1.9.0"
#: Terraform type -> meshStack IO type
IO_TYPES = {"string": "STRING", "number": "INTEGER", "bool": "BOOLEAN", "list(string)": "CODE", "map(string)": "CODE"}
OUTPUT_TYPES = ("STRING", "CODE", "INTEGER", "BOOLEAN")
OUTPUT_ASSIGNMENTS = ("NONE", "PLATFORM_TENANT_ID", "SIGN_IN_URL", "RESOURCE_URL", "SUMMARY")
#: The provider and the Terraform version the rendered file declares (write-only attributes need Terraform 1.11).
PROVIDER_SOURCE = "meshcloud/meshstack"
PROVIDER_VERSION = ">= 0.25.0"
REQUIRED_TERRAFORM = ">= 1.11.0"
#: The resource type the definition file declares.
RESOURCE_TYPE = "meshstack_building_block_definition"


@dataclass(frozen=True)
class DefinitionVariable:
    """A variable of the rendered definition file (a secret, or a required setting the platform team provides)."""

    name: str
    description: str
    sensitive: bool = False
    #: its Terraform type: ``string``, or the module variable's type for a required setting (an Azure pipeline id is a
    #: number, so that ``jsonencode`` sends the number meshStack's INTEGER input expects)
    type: str = "string"


@dataclass(frozen=True)
class DefinitionInput:
    """One entry of ``version_spec.inputs``; ``argument``/``default_value``/``secret`` are HCL expressions."""

    name: str
    display_name: str
    type: str
    assignment_type: str
    description: str = ""
    argument: str | None = None
    default_value: str | None = None
    is_environment: bool = False
    secret: str | None = None
    selectable_values: tuple[str, ...] | None = None
    validation_regex: str | None = None
    validation_message: str | None = None

    def attributes(self) -> dict[str, Any]:
        """The input's attributes in the provider's schema, unset ones left out."""
        body: dict[str, Any] = {
            "display_name": self.display_name,
            "description": self.description or None,
            "type": self.type,
            "assignment_type": self.assignment_type,
            "argument": None if self.argument is None else hcl.Raw(self.argument),
            "default_value": None if self.default_value is None else hcl.Raw(self.default_value),
            "selectable_values": None if self.selectable_values is None else list(self.selectable_values),
            "value_validation_regex": self.validation_regex,
            "validation_regex_error_message": self.validation_message,
            "is_environment": True if self.is_environment else None,
            "sensitive": None if self.secret is None else {"argument": self._secret_argument(self.secret)},
        }
        return {key: value for key, value in body.items() if value is not None}

    @staticmethod
    def _secret_argument(secret: str) -> dict[str, hcl.Raw]:
        # The write-only value is re-sent only when the version changes: hash the value, so rotating it is enough.
        return {"secret_value": hcl.Raw(secret), "secret_version": hcl.Raw(f"nonsensitive(sha256({secret}))")}


# Like spec.Setting, a small frozen record; the data differs.
@dataclass(frozen=True)
class DefinitionOutput:
    """One entry of ``version_spec.outputs``."""

    name: str
    display_name: str
    type: str = "STRING"
    assignment_type: str = "NONE"


@dataclass(frozen=True)
class Definition:
    """Everything the definition template needs."""

    spec_path: str
    module: str
    resource_name: str
    display_name: str
    description: str
    workspace: str
    repository_url: str
    path: str
    ref: str
    terraform_version: str
    is_async: bool
    inputs: tuple[DefinitionInput, ...]
    outputs: tuple[DefinitionOutput, ...]
    variables: tuple[DefinitionVariable, ...]
    #: module variable -> why it has no input
    unmapped: dict[str, str] = field(default_factory=dict)
    #: the command that regenerates the file, named in its first line
    command: str = ""
    #: bash run by meshStack's runner before init/plan/apply on every run (see :mod:`meshpipe.generator.prerun`)
    pre_run_script: str = PRE_RUN_SCRIPT

    def input(self, name: str) -> DefinitionInput:
        """The input named ``name`` (KeyError if there is none)."""
        for item in self.inputs:
            if item.name == name:
                return item
        raise KeyError(name)


_WORDS = {"github": "GitHub", "api": "API", "url": "URL", "id": "ID", "ghes": "GHES"}


def display_label(name: str) -> str:
    """A variable or output name as a label: ``github_api_url`` -> ``GitHub API URL``."""
    words = name.replace("-", " ").replace("_", " ").split()
    text = " ".join(_WORDS.get(word.lower(), word) for word in words)
    return text[:1].upper() + text[1:]
