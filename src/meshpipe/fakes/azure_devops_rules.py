"""The rules the fake Azure DevOps checks in a request: the ``api-version``, the Run Pipeline body and the
pipeline's runtime ``parameters:``, with the real service's error texts and ``typeKey``\\ s where they are known.

Sources: the official description ``MicrosoftDocs/vsts-rest-api-specs`` ``specification/pipelines/7.1/pipelines.json``
(copied to ``tests/fixtures/specs``), captured answers in public issues (cited per message) and the official Python
client ``azure-devops`` 7.1.0b4 (it sends the version in ``Accept: application/json;api-version=7.1-preview.1``).
What no source settles is listed in ``unverified.md``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from meshpipe.fakes._wire import HttpError, Request

__all__ = [
    "MAX_VERSION",
    "MIN_VERSION",
    "PARAMETER_TYPES",
    "AzureError",
    "api_version",
    "check_parameters",
    "run_body",
]

#: The range of REST versions the pipelines resources answer (the description is 7.1; the area exists since 6.0).
MIN_VERSION = (6, 0)
MAX_VERSION = (7, 1)
#: Runtime parameter types the fake understands (Azure Pipelines also has step/job/stage lists, not used here).
PARAMETER_TYPES = ("string", "number", "boolean", "object")
_VERSION = re.compile(r"^(\d+)\.(\d+)(-preview(\.\d+)?)?$")
_RUN_BODY_KEYS = ("previewRun", "resources", "stagesToSkip", "templateParameters", "variables", "yamlOverride")
_BOOLEANS = {"true": True, "false": False, "y": True, "yes": True, "on": True, "n": False, "no": False, "off": False}


@dataclass(frozen=True)
class AzureError:
    """An exception as Azure DevOps names it: the ``typeKey`` and the ``typeName``'s namespace and assembly."""

    type_key: str
    namespace: str
    assembly: str

    def raise_(self, status: int, message: str, **extra: Any) -> HttpError:
        """An :class:`HttpError` that the fake renders in Azure's JSON error shape."""
        return HttpError(
            status,
            message,
            typeName=f"{self.namespace}.{self.type_key}, {self.assembly}",
            typeKey=self.type_key,
            **extra,
        )


_WEBAPI = "Microsoft.VisualStudio.Services.WebApi"
VERSION_NOT_SPECIFIED = AzureError("VssVersionNotSpecifiedException", _WEBAPI, _WEBAPI)
VERSION_OUT_OF_RANGE = AzureError("VssVersionOutOfRangeException", _WEBAPI, _WEBAPI)
INVALID_VERSION = AzureError("VssInvalidApiVersionException", _WEBAPI, _WEBAPI)
PIPELINE_VALIDATION = AzureError(
    "PipelineValidationException", "Microsoft.Azure.Pipelines.WebApi", "Microsoft.Azure.Pipelines.WebApi"
)
ARGUMENT_NULL = AzureError("ArgumentNullException", "System", "mscorlib")
ARGUMENT = AzureError("ArgumentException", "System", "mscorlib")


def api_version(request: Request) -> str:
    """The request's ``api-version`` (query parameter or ``Accept`` parameter), checked: 400 when missing, malformed
    or outside :data:`MIN_VERSION`..:data:`MAX_VERSION` (messages as captured from dev.azure.com)."""
    version = request.query_value("api-version")
    if version is None:
        for part in (request.header("accept") or "").split(";")[1:]:
            key, _, value = part.partition("=")
            if key.strip().lower() == "api-version":
                version = value.strip()
    if version is None or not version.strip():
        # empear-analytics/codescene-ci-cd#14 captured this answer verbatim
        raise VERSION_NOT_SPECIFIED.raise_(
            400,
            f'No api-version was supplied for the "{request.method}" request. The version must be supplied either as '
            'part of the Accept header (e.g. "application/json; api-version=1.0") or as a query parameter '
            '(e.g. "?api-version=1.0").',
        )
    match = _VERSION.match(version.strip())
    if match is None:
        raise INVALID_VERSION.raise_(400, f"The following api-version is not valid: {version}.")
    requested = (int(match.group(1)), int(match.group(2)))
    if requested > MAX_VERSION:
        # microsoft/azure-devops-extension-sample#161: "...out of range for this server. The latest ... is 6.1."
        raise VERSION_OUT_OF_RANGE.raise_(
            400,
            f"The requested REST API version of {requested[0]}.{requested[1]} is out of range for this server. "
            f"The latest REST API version this server supports is {MAX_VERSION[0]}.{MAX_VERSION[1]}.",
        )
    if requested < MIN_VERSION:
        raise VERSION_OUT_OF_RANGE.raise_(
            400,
            f"The requested REST API version of {requested[0]}.{requested[1]} is out of range for this server. "
            f"The earliest REST API version this resource supports is {MIN_VERSION[0]}.{MIN_VERSION[1]}.",
        )
    return version.strip()


def run_body(body: Any) -> dict[str, Any]:
    """The Run Pipeline body (``RunPipelineParameters``) checked against the description's schema."""
    if body is None:
        # openillumi.com: a Run Pipeline call without a body answers exactly this
        raise ARGUMENT_NULL.raise_(400, "Value cannot be null.\r\nParameter name: runParameters")
    if not isinstance(body, dict):
        raise ARGUMENT.raise_(400, "The request body is not a RunPipelineParameters object.")
    _typed(body, "previewRun", bool, "a boolean")
    _typed(body, "yamlOverride", str, "a string")
    _typed(body, "stagesToSkip", list, "an array of strings")
    if not all(isinstance(item, str) for item in body.get("stagesToSkip") or []):
        raise ARGUMENT.raise_(400, "runParameters.stagesToSkip: expected an array of strings.")
    parameters = body.get("templateParameters")
    if parameters is not None:
        if not isinstance(parameters, dict):
            raise ARGUMENT.raise_(400, "runParameters.templateParameters: expected an object of strings.")
        for name, value in parameters.items():
            if not isinstance(value, str):
                raise ARGUMENT.raise_(
                    400, f"runParameters.templateParameters.{name}: expected a string, got {json.dumps(value)}."
                )
    variables = body.get("variables")
    if variables is not None:
        if not isinstance(variables, dict):
            raise ARGUMENT.raise_(400, "runParameters.variables: expected an object of Variable.")
        for name, variable in variables.items():
            if (
                not isinstance(variable, dict)
                or not isinstance(variable.get("value", ""), str)
                or not isinstance(variable.get("isSecret", False), bool)
            ):
                raise ARGUMENT.raise_(
                    400, f'runParameters.variables.{name}: expected {{"value": string, "isSecret": boolean}}.'
                )
    resources = body.get("resources")
    if resources is not None:
        if not isinstance(resources, dict):
            raise ARGUMENT.raise_(400, "runParameters.resources: expected a RunResourcesParameters object.")
        repositories = resources.get("repositories")
        if repositories is not None and not isinstance(repositories, dict):
            raise ARGUMENT.raise_(400, "runParameters.resources.repositories: expected an object.")
        for name, repository in (repositories or {}).items():
            if not isinstance(repository, dict):
                raise ARGUMENT.raise_(400, f"runParameters.resources.repositories.{name}: expected an object.")
            for key in ("refName", "version", "token", "tokenType"):
                if key in repository and repository[key] is not None and not isinstance(repository[key], str):
                    raise ARGUMENT.raise_(400, f"runParameters.resources.repositories.{name}.{key}: expected a string.")
    # Unknown properties are ignored, as ASP.NET's JSON binding does (see unverified.md).
    return {key: body[key] for key in _RUN_BODY_KEYS if body.get(key) is not None}


def _typed(body: dict[str, Any], key: str, kind: type, words: str) -> None:
    if body.get(key) is not None and (not isinstance(body[key], kind) or (kind is not bool and body[key] is True)):
        raise ARGUMENT.raise_(400, f"runParameters.{key}: expected {words}.")


def check_parameters(declared: dict[str, dict[str, Any]], given: dict[str, str]) -> dict[str, Any]:
    """The run's parameters: ``given`` (strings on the wire) checked against the pipeline's ``parameters:`` and
    completed with defaults, typed as the pipeline sees them. All problems are reported together, one a line,
    as a 400 ``PipelineValidationException`` (coe-starter-kit#4112, powercat-automation-kit#320)."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name in given:
        if name not in declared:
            problems.append(f"Unexpected parameter '{name}'")
    for name, spec in declared.items():
        if name not in given:
            if "default" not in spec:
                # microsoft/PowerApps-Samples#614 (the build queue API's ValidationResults carry the same text)
                problems.append(f"A value for the '{name}' parameter must be provided.")
                continue
            values[name] = spec["default"]
            continue
        problem, value = _typed_parameter(name, spec, given[name])
        if problem:
            problems.append(problem)
        else:
            values[name] = value
    if problems:
        raise PIPELINE_VALIDATION.raise_(400, "\n".join(problems))
    return values


def _typed_parameter(name: str, spec: dict[str, Any], text: str) -> tuple[str | None, Any]:
    kind = spec.get("type", "string")
    value: Any = text
    if kind == "boolean":
        if text.strip().lower() not in _BOOLEANS:
            # a StackOverflow answer quotes "The 'someVar' parameter value '$(SOME_VAR)' is not a valid Boolean."
            return f"The '{name}' parameter value '{text}' is not a valid Boolean.", None
        value = _BOOLEANS[text.strip().lower()]
    elif kind == "number":
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            return f"The '{name}' parameter value '{text}' is not a valid Number.", None
        value = int(number) if number.is_integer() else number
    elif kind == "object":
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text  # a YAML scalar; the real service parses the text as YAML
    allowed = spec.get("values")
    if allowed is not None and value not in allowed and text not in [str(a) for a in allowed]:
        return f"The '{name}' parameter value '{text}' is not a valid value.", None
    return None, value
