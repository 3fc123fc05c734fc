"""Read the Building Block Definition file that ``meshpipe definition render`` writes, as meshStack would see it.

The file is HCL for the ``meshcloud/meshstack`` provider (``../shared/reference/meshstack-run-api.md`` §7). It is
parsed with ``python-hcl2`` (imported lazily), and the few expressions such a file uses are evaluated here:
``jsonencode(<literal>)``, ``var.NAME``, ``sha256(...)``, ``nonsensitive(...)``, quoted strings and heredocs
(``<<EOT`` / ``<<-EOT``, with ``$${`` and ``%%{`` escapes). Anything else is an error naming the file and key path:
the point is to exercise the published artifact, not to guess.

Definition variables (``var.github_token``) take their values from the caller. The caller may also override STATIC
inputs that point at the real world (``github_api_url`` -> the fake GitHub, ``python`` -> this interpreter): that
is *sandbox wiring*, never part of what meshStack would run.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshpipe.errors import MeshpipeError

__all__ = ["DefinitionError", "DefinitionInput", "TerraformDefinition", "load_definition"]

RESOURCE_TYPE = "meshstack_building_block_definition"
_FUNCTION = re.compile(r"(jsonencode|nonsensitive|sha256)\((.*)\)\Z", re.S)
_VARIABLE = re.compile(r"var\.([A-Za-z_][A-Za-z0-9_-]*)\Z")
_HEREDOC = re.compile(r"<<(-?)([A-Za-z][A-Za-z0-9._-]*)\r?\n(.*?)\r?\n[ \t]*\2\Z", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


class DefinitionError(MeshpipeError):
    """The definition file cannot be read or uses something the emulation does not evaluate."""


# The runner's view of what generator.definition_model writes: similar fields, read back instead of rendered.
@dataclass(frozen=True)
class DefinitionInput:
    """One ``version_spec.inputs`` entry with its value evaluated (``argument``/``default_value`` decoded)."""

    name: str
    type: str
    assignment_type: str
    is_environment: bool = False
    sensitive: bool = False
    has_value: bool = False
    value: Any = None  # the STATIC argument, or the sensitive secret value
    has_default: bool = False
    default: Any = None


@dataclass(frozen=True)
class TerraformDefinition:
    """What meshStack's runner takes from a definition: the Terraform implementation and the inputs."""

    path: Path
    terraform_version: str
    repository_url: str
    repository_path: str = ""
    ref_name: str | None = None
    is_async: bool = False
    use_mesh_http_backend_fallback: bool = True
    pre_run_script: str | None = None
    inputs: dict[str, DefinitionInput] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    required_providers: dict[str, Any] = field(default_factory=dict)

    def implementation(self) -> dict[str, Any]:
        """The implementation as the runner-facing run object carries it (``TerraformImplementation``, dtos.go)."""
        return {
            "type": "TERRAFORM",
            "terraformVersion": self.terraform_version,
            "repositoryUrl": self.repository_url,
            "repositoryPath": self.repository_path,
            "refName": self.ref_name,
            "async": self.is_async,
            "useMeshHttpBackendFallback": self.use_mesh_http_backend_fallback,
            "preRunScript": self.pre_run_script,
        }

    def run_inputs(
        self,
        values: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The run object's ``spec.buildingBlock.spec.inputs`` for a block ordered with ``values``.

        ``context`` fills meshStack-assigned inputs (``workspace``, ``project``, ``full_platform``, ``tenant_id``);
        ``overrides`` replaces STATIC arguments (sandbox wiring).
        """
        context, overrides = context or {}, overrides or {}
        unknown = sorted(set(values) - set(self.inputs))
        if unknown:
            raise DefinitionError(f"{self.path}: no input named {', '.join(unknown)} in version_spec.inputs")
        unused = sorted(set(overrides) - {n for n, i in self.inputs.items() if i.assignment_type == "STATIC"})
        if unused:
            raise DefinitionError(f"{self.path}: sandbox wiring names no STATIC input: {', '.join(unused)}")
        by_assignment = {
            "WORKSPACE_IDENTIFIER": "workspace",
            "PROJECT_IDENTIFIER": "project",
            "FULL_PLATFORM_IDENTIFIER": "full_platform",
            "PLATFORM_TENANT_ID": "tenant_id",
        }
        result = []
        for name, item in self.inputs.items():
            if item.assignment_type == "STATIC":
                value = overrides.get(name, item.value)
            elif item.assignment_type in ("USER_INPUT", "PLATFORM_OPERATOR_MANUAL_INPUT"):
                if name not in values and not item.has_default:
                    raise DefinitionError(f"input {name!r} ({item.assignment_type}) needs a value")
                value = values.get(name, item.default)
            elif item.assignment_type in by_assignment:
                value = context.get(by_assignment[item.assignment_type])
            else:
                kind = item.assignment_type
                raise DefinitionError(f"{self.path}: inputs.{name}: assignment_type {kind} is not emulated")
            result.append(
                {
                    "key": name,
                    "value": value,
                    "type": item.type,
                    "isSensitive": item.sensitive,
                    "isEnvironment": item.is_environment,
                }
            )
        return result


# -- evaluation ------------------------------------------------------------------------------------------------
def _unquote(text: str, where: str) -> str:
    """A quoted HCL template without interpolations, or a heredoc, as its string value."""
    inner = text[1:-1]
    heredoc = _HEREDOC.match(inner)
    if heredoc:
        flush, body = heredoc.group(1) == "-", heredoc.group(3)
        if flush:
            lines = body.split("\n")
            indent = min((len(line) - len(line.lstrip(" \t")) for line in lines if line.strip()), default=0)
            body = "\n".join(line[indent:] for line in lines)
        return _template(body + "\n", where)
    out: list[str] = []
    index = 0
    while index < len(inner):
        char = inner[index]
        if char == "\\" and index + 1 < len(inner):
            code = inner[index + 1]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
                index += 2
                continue
            if code in "uU":
                width = 4 if code == "u" else 8
                out.append(chr(int(inner[index + 2 : index + 2 + width], 16)))
                index += 2 + width
                continue
            raise DefinitionError(f"{where}: unsupported escape \\{code}")
        out.append(char)
        index += 1
    return _template("".join(out), where)


def _template(text: str, where: str) -> str:
    """Resolve template escapes; a real interpolation is beyond what a definition file needs."""
    if re.search(r"(?<![$])\$\{|(?<![%])%\{", text.replace("$${", "").replace("%%{", "")):
        raise DefinitionError(f"{where}: template interpolations are not evaluated by the runner emulation")
    return text.replace("$${", "${").replace("%%{", "%{")


def _literal(value: Any, where: str, variables: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        if value.startswith("${") and value.endswith("}"):
            return _expression(value[2:-1], where, variables)
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            return _unquote(value, where)
        if value in ("true", "false"):
            return value == "true"
        if value == "null":
            return None
        raise DefinitionError(f"{where}: cannot evaluate {value!r}")
    if isinstance(value, list):
        return [_literal(item, f"{where}[{index}]", variables) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {
            _key(key): _literal(item, f"{where}.{_key(key)}", variables)
            for key, item in value.items()
            if not key.startswith("__")
        }
    return value


def _key(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key.startswith('"') and key.endswith('"') else key


def _expression(text: str, where: str, variables: Mapping[str, str]) -> Any:
    text = text.strip()
    variable = _VARIABLE.match(text)
    if variable:
        name = variable.group(1)
        if name not in variables:
            raise DefinitionError(f"{where}: definition variable {name!r} has no value (pass it to the runner)")
        return variables[name]
    function = _FUNCTION.match(text)
    if function:
        name, argument = function.group(1), _expression(function.group(2), where, variables)
        if name == "jsonencode":
            return json.dumps(argument, separators=(",", ":"))
        if name == "sha256":
            return hashlib.sha256(str(argument).encode("utf-8")).hexdigest()
        return argument  # nonsensitive
    import hcl2

    try:
        parsed = hcl2.loads(f"x = {text}\n")["x"]
    except Exception as exc:  # python-hcl2 raises lark's exceptions
        raise DefinitionError(f"{where}: cannot evaluate {text!r}: {str(exc).splitlines()[0]}") from None
    return _literal(parsed, where, variables)


def _decoded(raw: Any, where: str) -> Any:
    if not isinstance(raw, str):
        raise DefinitionError(f"{where}: must be jsonencode(...) of a value")
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise DefinitionError(f"{where}: must be jsonencode(...) of a value, got {raw!r}") from None


# -- loading ---------------------------------------------------------------------------------------------------
def load_definition(path: Path, variables: Mapping[str, str] | None = None) -> TerraformDefinition:
    """Parse a definition file and evaluate it with the definition variables ``variables``."""
    import hcl2

    path = Path(path)
    try:
        document = hcl2.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DefinitionError(f"{path}: {exc.strerror}") from None
    except Exception as exc:
        raise DefinitionError(f"{path}: not valid HCL: {str(exc).splitlines()[0]}") from None
    values = dict(variables or {})
    for block in document.get("variable", []):
        for name, body in block.items():
            if _key(name) not in values and "default" in body:
                values[_key(name)] = _literal(body["default"], f"{path}: variable.{_key(name)}", {})
    resources = [
        (f"{_key(kind)}.{_key(name)}", body)
        for block in document.get("resource", [])
        for kind, named in block.items()
        if _key(kind) == RESOURCE_TYPE
        for name, body in named.items()
    ]
    if len(resources) != 1:
        raise DefinitionError(f"{path}: expected exactly one resource {RESOURCE_TYPE}, found {len(resources)}")
    address, body = resources[0]
    where = f"{path}: {address}"
    spec = _literal(body.get("version_spec"), f"{where}.version_spec", values)
    if not isinstance(spec, dict):
        raise DefinitionError(f"{where}.version_spec: required")
    terraform = (spec.get("implementation") or {}).get("terraform")
    if not isinstance(terraform, dict):
        raise DefinitionError(f"{where}.version_spec.implementation.terraform: required (a Terraform definition)")
    for key in ("terraform_version", "repository_url"):
        if not isinstance(terraform.get(key), str):
            raise DefinitionError(f"{where}.version_spec.implementation.terraform.{key}: required, a string")
    inputs = {
        name: _input(name, item, f"{where}.version_spec.inputs.{name}")
        for name, item in (spec.get("inputs") or {}).items()
    }
    providers: dict[str, Any] = {}
    for block in document.get("terraform", []):
        for required in block.get("required_providers", []) if isinstance(block, dict) else []:
            providers.update(_literal(required, f"{path}: terraform.required_providers", values))
    return TerraformDefinition(
        path=path,
        terraform_version=terraform["terraform_version"],
        repository_url=terraform["repository_url"],
        repository_path=str(terraform.get("repository_path") or ""),
        ref_name=terraform.get("ref_name"),
        is_async=bool(terraform.get("async", False)),
        use_mesh_http_backend_fallback=bool(terraform.get("use_mesh_http_backend_fallback", True)),
        pre_run_script=terraform.get("pre_run_script"),
        inputs=inputs,
        outputs=dict(spec.get("outputs") or {}),
        required_providers=providers,
    )


def _input(name: str, item: Any, where: str) -> DefinitionInput:
    if not isinstance(item, dict):
        raise DefinitionError(f"{where}: must be an object")
    for key in ("type", "assignment_type"):
        if not isinstance(item.get(key), str):
            raise DefinitionError(f"{where}.{key}: required, a string")
    sensitive = item.get("sensitive") or {}
    secret = (sensitive.get("argument") or {}).get("secret_value")
    secret_default = (sensitive.get("default_value") or {}).get("secret_value")
    has_value, value = False, None
    if "argument" in item:
        has_value, value = True, _decoded(item["argument"], f"{where}.argument")
    elif secret is not None:
        has_value, value = True, secret
    has_default, default = False, None
    if "default_value" in item:
        has_default, default = True, _decoded(item["default_value"], f"{where}.default_value")
    elif secret_default is not None:
        has_default, default = True, secret_default
    return DefinitionInput(
        name=name,
        type=item["type"],
        assignment_type=item["assignment_type"],
        is_environment=bool(item.get("is_environment", False)),
        sensitive=bool(sensitive),
        has_value=has_value,
        value=value,
        has_default=has_default,
        default=default,
    )
