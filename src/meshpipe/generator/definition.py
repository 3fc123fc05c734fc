"""Render a ``meshstack_building_block_definition`` (meshcloud/meshstack provider) for a spec's Trigger Module.

:func:`build_definition` maps the module to a :class:`Definition` (plain data the tests assert on);
:func:`render_definition` writes it as HCL through ``templates/definition.tf.j2``, ``terraform fmt``-clean by
construction (the :mod:`meshpipe.generator.hcl` helpers align attributes the way fmt does).

How each module variable becomes a definition input:

* a spec input backed by a variable -> ``USER_INPUT`` (the consuming workspace fills it in); its default becomes
  ``default_value``, allowed strings a ``SINGLE_SELECT``, a regex ``value_validation_regex``;
* a module setting with a value (``github_api_url``, ``wait_for_completion``, ...) -> ``STATIC`` with the value
  ``jsonencode``-d as ``argument``; a required setting without a value becomes a variable of the definition file;
* ``meshstack_building_block_id``, ``..._run_id``, ``..._run_b64`` -> not mapped: meshStack's Terraform runner sets
  them on every run by itself (and generates their declarations when a module lacks them), so an input of that
  name would only collide with the runner's own value;
* an optional setting whose module default is ``null`` -> not mapped (the module default applies);
* every secret the module reads from its environment (GitHub token or App key, sensitive inputs) -> a ``STATIC``
  input with ``is_environment = true`` whose value is ``sensitive.argument.secret_value = var.<name>``: a variable of
  the definition file, never a literal, so no secret is written to a file. ``secret_value`` is write-only (not
  stored in state), so the provider sends it again only when ``secret_version`` changes: the version is a hash of
  the value (``nonsensitive(sha256(var.<name>))``), so a rotated secret reaches meshStack on the next apply.

The implementation carries the pre-run script of :mod:`meshpipe.generator.prerun`, which tells the module's dispatcher
which run it serves on every run (DETECT and saved-plan replays included, where meshStack sets no run variables).
The file declares the provider (``meshcloud/meshstack``; without ``required_providers`` Terraform would look for
``hashicorp/meshstack``) and Terraform >= 1.11, the first version with write-only attributes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from meshpipe.errors import MeshpipeError
from meshpipe.generator import hcl
from meshpipe.generator.definition_model import (
    DEFAULT_TERRAFORM_VERSION,
    DEFAULT_WORKSPACE,
    IO_TYPES,
    OUTPUT_ASSIGNMENTS,
    OUTPUT_TYPES,
    PROVIDER_SOURCE,
    PROVIDER_VERSION,
    REQUIRED_TERRAFORM,
    RESOURCE_TYPE,
    Definition,
    DefinitionInput,
    DefinitionOutput,
    DefinitionVariable,
    display_label,
)
from meshpipe.generator.errors import RenderError
from meshpipe.generator.spec import Input, ModuleSpec
from meshpipe.generator.variables import MESHSTACK_VARIABLES, Variable

# The data model lives in :mod:`meshpipe.generator.definition_model`; it is re-exported so that callers import the
# definition's names from one place.
__all__ = [
    "DEFAULT_TERRAFORM_VERSION",
    "DEFAULT_WORKSPACE",
    "IO_TYPES",
    "OUTPUT_ASSIGNMENTS",
    "OUTPUT_TYPES",
    "PLACEHOLDER_REPOSITORY",
    "PROVIDER_SOURCE",
    "PROVIDER_VERSION",
    "REQUIRED_TERRAFORM",
    "RESOURCE_TYPE",
    "Definition",
    "DefinitionInput",
    "DefinitionOutput",
    "DefinitionVariable",
    "build_definition",
    "module_outputs",
    "parse_output_option",
    "render_definition",
    "resource_attributes",
]

DEFINITION_TEMPLATE = "definition.tf.j2"
DESCRIPTION_LIMIT = 255
#: the repository named when none is known (another target's project is not where the module lives)
PLACEHOLDER_REPOSITORY = "OWNER/REPOSITORY"
#: module variables meshStack's runner sets on every run (never an input of the definition)
MESHSTACK_PROVIDED = frozenset(name for name, _ in MESHSTACK_VARIABLES)


def _inline(value: Any) -> str:
    """A value as a one-line HCL expression (fmt keeps one-line object and tuple constructors as they are)."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = ", ".join(f"{hcl.identifier_or_string(str(key))} = {_inline(item)}" for key, item in value.items())
        return "{ " + items + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inline(item) for item in value) + "]"
    return hcl.literal(value)


def _encoded(value: Any, io_type: str) -> str:
    """``jsonencode(...)`` of a value; CODE is encoded twice (meshStack parses a CODE value as an HCL expression)."""
    expression = f"jsonencode({_inline(value)})"
    return f"jsonencode({expression})" if io_type == "CODE" else expression


def _secret_variable(env: str) -> str:
    return env.lower()


def module_outputs(spec: ModuleSpec, spec_path: str) -> tuple[str, ...]:
    """The output names of the module rendered from ``spec`` (read from its ``outputs.tf``)."""
    from meshpipe.generator.render import render_module

    files = render_module(spec, spec_path=spec_path, dispatcher=False)
    return tuple(re.findall(r'^output\s+"([^"]+)"', files.get("outputs.tf", ""), flags=re.MULTILINE))


def parse_output_option(option: str) -> DefinitionOutput:
    """``NAME[=TYPE[:ASSIGNMENT]]`` as given to ``--output`` (an output the workflow reports, e.g. a URL)."""
    name, _, rest = option.partition("=")
    io_type, _, assignment = rest.partition(":")
    io_type, assignment = (io_type or "STRING").upper(), (assignment or "NONE").upper()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise MeshpipeError(f"--output {option!r}: the name must be an identifier")
    if io_type not in OUTPUT_TYPES:
        raise MeshpipeError(f"--output {option!r}: type must be one of {', '.join(OUTPUT_TYPES)}")
    if assignment not in OUTPUT_ASSIGNMENTS:
        raise MeshpipeError(f"--output {option!r}: assignment must be one of {', '.join(OUTPUT_ASSIGNMENTS)}")
    return DefinitionOutput(name, display_label(name), io_type, assignment)


def _secrets(spec: ModuleSpec) -> list[tuple[str, str]]:
    """(environment variable, purpose) of every secret the module reads, for the spec's auth mode."""
    rows = list(spec.environment)
    if spec.target != "github":
        return [row for row in rows if row[0] not in _unpublished_credentials(spec)]
    if spec.auth.mode == "auto":
        # auto uses the token when it is set; publishing the token is the simpler set-up (render with an
        # `auth: {mode: app}` spec to publish the App's key instead).
        app = {spec.auth.app_id_env, spec.auth.installation_id_env, spec.auth.private_key_env}
        rows = [row for row in rows if row[0] not in app]
    return rows


def _unpublished_credentials(spec: ModuleSpec) -> set[str]:
    """A non-GitHub target's credential variables the definition leaves out, so that one credential suffices.

    ``auto`` publishes the credential that does everything (GitLab: the access token, which creates and reads
    pipelines; Azure DevOps: the PAT); render with another ``auth.mode`` to publish the other. GitLab's
    ``trigger_token`` mode publishes the access token too only when the module may wait (reading needs it).
    """
    auth = spec.auth_settings
    mode = auth.get("mode")
    if spec.target == "gitlab":
        if mode == "auto":
            return {auth["trigger_token_env"]}
        if mode == "trigger_token" and not (spec.wait.exposed or spec.wait.value):
            return {auth["token_env"]}
    if spec.target == "azure_devops" and mode == "auto":
        return {auth["token_env"]}
    return set()


@dataclass
class _Mapped:
    """The definition's inputs and file variables, collected module variable by module variable (see the module
    docstring for the rules), and the module variables left without an input, each with the reason."""

    inputs: list[DefinitionInput] = field(default_factory=list)
    variables: list[DefinitionVariable] = field(default_factory=list)
    unmapped: dict[str, str] = field(default_factory=dict)

    def add_user_input(self, name: str, item: Input, io_type: str) -> None:
        """A spec input: the consuming workspace fills it in (a choice of strings becomes a ``SINGLE_SELECT``)."""
        selectable = None
        if item.allowed is not None and item.type == "string":
            io_type, selectable = "SINGLE_SELECT", tuple(str(option) for option in item.allowed)
        label = item.display_name or display_label(name)
        self.inputs.append(
            DefinitionInput(
                name=name,
                display_name=label,
                type=io_type,
                assignment_type="USER_INPUT",
                description=item.description,
                default_value=None if item.default is None else _encoded(item.default, io_type),
                selectable_values=selectable,
                validation_regex=item.regex,
                validation_message=None if item.regex is None else f"{label} must match {item.regex}",
            )
        )

    def add_setting(self, variable: Variable, io_type: str, *, is_async: bool) -> None:
        """A module setting: ``STATIC`` with its value, a file variable when required, unmapped when its default is
        ``null``."""
        name = variable.name
        value: Any = variable.default
        if name == "wait_for_completion" and not is_async:
            value = True  # sync: the module's wait decides whether the run succeeds
        if variable.required:
            self.variables.append(DefinitionVariable(name, variable.description, type=variable.type))
            argument = f"jsonencode(var.{name})" if io_type != "CODE" else f"jsonencode(jsonencode(var.{name}))"
        elif value is None:
            self.unmapped[name] = "optional; the module's default (null) applies"
            return
        else:
            argument = _encoded(value, io_type)
        self.inputs.append(
            DefinitionInput(name, display_label(name), io_type, "STATIC", variable.description, argument=argument)
        )

    def add_secret(self, env: str, purpose: str) -> None:
        """A secret of the module's environment: a sensitive file variable behind a write-only environment input."""
        secret = _secret_variable(env)
        self.variables.append(DefinitionVariable(secret, f"{purpose}; passed to the module as ${env}", sensitive=True))
        self.inputs.append(
            DefinitionInput(
                name=env,
                display_name=env,
                type="STRING",
                assignment_type="STATIC",
                description=f"{purpose} (environment variable of terraform, never a Terraform value)",
                is_environment=True,
                secret=f"var.{secret}",
            )
        )


def _map_inputs(spec: ModuleSpec, *, is_async: bool) -> _Mapped:
    """Every module variable and every secret of the module's environment, mapped in the module's order."""
    by_variable = {item.variable: item for item in spec.inputs if item.kind == "variable" and item.variable}
    mapped = _Mapped()
    for variable in spec.variables:
        io_type = IO_TYPES[variable.type]
        item = by_variable.get(variable.name)
        if variable.name in MESHSTACK_PROVIDED:
            mapped.unmapped[variable.name] = "set by meshStack on every run"
        elif item is not None:
            mapped.add_user_input(variable.name, item, io_type)
        else:
            mapped.add_setting(variable, io_type, is_async=is_async)
    for env, purpose in _secrets(spec):
        mapped.add_secret(env, purpose)
    return mapped


def _choose_async(spec: ModuleSpec, spec_path: str, is_async: bool | None) -> bool:
    """``is_async``, or sync when the module waits for the workflow by default; a sync definition needs a module that
    can wait."""
    waits = bool(spec.wait.value)
    if is_async is None:
        is_async = not waits
    if not is_async and not waits and not spec.wait.exposed:
        raise MeshpipeError(
            f"{spec_path}: a sync definition needs a module that waits for the workflow; the spec fixes wait off"
        )
    return is_async


def build_definition(
    spec: ModuleSpec,
    *,
    spec_path: str,
    repository_url: str | None = None,
    path: str | None = None,
    ref: str = "main",
    workspace: str = DEFAULT_WORKSPACE,
    terraform_version: str = DEFAULT_TERRAFORM_VERSION,
    is_async: bool | None = None,
    display_name: str | None = None,
    outputs: tuple[DefinitionOutput, ...] = (),
    module_output_names: tuple[str, ...] | None = None,
    command: str | None = None,
) -> Definition:
    """Map ``spec``'s module to a Building Block Definition (see the module docstring for the rules).

    ``is_async=None`` picks sync when the module waits for the workflow by default, else async. ``outputs`` (from
    ``--output``) replace the module's outputs of the same name.
    """
    is_async = _choose_async(spec, spec_path, is_async)
    mapped = _map_inputs(spec, is_async=is_async)
    names = module_output_names if module_output_names is not None else module_outputs(spec, spec_path)
    taken = {output.name for output in outputs}
    declared = [DefinitionOutput(name, display_label(name)) for name in names if name not in taken]
    description = spec.description if len(spec.description) <= DESCRIPTION_LIMIT else spec.description[:252] + "..."
    # The repository that hosts the module: GitHub's target repository is a good guess, another target's project is not.
    target_repository = spec.repository.value if spec.target == "github" and spec.repository is not None else None
    repository = target_repository if isinstance(target_repository, str) else PLACEHOLDER_REPOSITORY
    return Definition(
        spec_path=spec_path,
        module=spec.name,
        resource_name=spec.name.replace("-", "_"),
        display_name=display_name or display_label(spec.name).title(),
        description=description,
        workspace=workspace,
        repository_url=repository_url or f"https://github.com/{repository}.git",
        path=path or f"modules/{spec.name}",
        ref=ref,
        terraform_version=terraform_version,
        is_async=is_async,
        inputs=tuple(mapped.inputs),
        outputs=(*declared, *outputs),
        variables=tuple(mapped.variables),
        unmapped=mapped.unmapped,
        command=command or f"meshpipe definition render {spec_path}",
    )


def resource_attributes(definition: Definition) -> dict[str, Any]:
    """The resource's attributes as the rendered file sets them: plain values and :class:`hcl.Raw` expressions.

    ``templates/definition.tf.j2`` lays out the same structure with its comments (a test holds the two together);
    :mod:`meshpipe.cdk` synthesizes the resource from this dict, so both routes publish the same definition.
    """
    terraform = {
        "terraform_version": definition.terraform_version,
        "repository_url": definition.repository_url,
        "repository_path": definition.path,
        "ref_name": definition.ref,
        "async": definition.is_async,
        "pre_run_script": definition.pre_run_script,
    }
    outputs = {
        item.name: {"display_name": item.display_name, "type": item.type, "assignment_type": item.assignment_type}
        for item in definition.outputs
    }
    return {
        "metadata": {"owned_by_workspace": definition.workspace},
        "spec": {
            "display_name": definition.display_name,
            "description": definition.description,
            "target_type": "WORKSPACE_LEVEL",
        },
        "version_spec": {
            "draft": True,
            "implementation": {"terraform": terraform},
            "inputs": {item.name: item.attributes() for item in definition.inputs},
            "outputs": outputs,
        },
    }


def render_definition(definition: Definition, output: str = "definition.tf") -> str:
    """The definition as a ``.tf`` file, fmt-clean; its first line says it is generated."""
    import jinja2

    from meshpipe.generator.render import environment

    version_spec = resource_attributes(definition)["version_spec"]
    try:
        template = environment().get_template(DEFINITION_TEMPLATE)
        return template.render(
            d=definition,
            string=hcl.string,
            literal=hcl.literal,
            inputs=hcl.literal(version_spec["inputs"], 4),
            outputs=hcl.literal(version_spec["outputs"], 4),
            heredoc=hcl.heredoc_body,
            required_terraform=REQUIRED_TERRAFORM,
            provider_source=PROVIDER_SOURCE,
            provider_version=PROVIDER_VERSION,
        )
    except jinja2.TemplateError as exc:
        raise RenderError(DEFINITION_TEMPLATE, output, str(exc)) from exc
