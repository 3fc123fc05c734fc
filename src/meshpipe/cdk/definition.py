""":class:`BuildingBlockDefinition`: the ``meshstack_building_block_definition`` of ``meshpipe definition render``.

No prebuilt CDK bindings exist for the ``meshcloud/meshstack`` provider, so the resource is the CDK's generic
``TerraformResource`` of that type, its attributes set through overrides from
:func:`meshpipe.generator.definition.resource_attributes` (the one place their structure lives), and the provider is
declared by :class:`MeshStackProvider` (without ``required_providers`` Terraform would look for
``hashicorp/meshstack``). Secrets never appear as literals: each is a sensitive ``TerraformVariable`` of the stack
(named as in the rendered file) or a token the caller passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from constructs import Construct

from meshpipe.cdk._lib import cdk
from meshpipe.cdk.errors import ConstructError
from meshpipe.cdk.spec import SpecArgument, resolve_spec
from meshpipe.cdk.values import template_json
from meshpipe.generator import hcl
from meshpipe.generator.definition import (
    DEFAULT_TERRAFORM_VERSION,
    DEFAULT_WORKSPACE,
    PROVIDER_SOURCE,
    PROVIDER_VERSION,
    REQUIRED_TERRAFORM,
    RESOURCE_TYPE,
    Definition,
    DefinitionOutput,
    DefinitionVariable,
    build_definition,
    parse_output_option,
    resource_attributes,
)

__all__ = ["BuildingBlockDefinition", "MeshStackProvider"]

PROVIDER_NAME = "meshstack"


def _metadata() -> cdk.TerraformProviderGeneratorMetadata:
    return cdk.TerraformProviderGeneratorMetadata(
        provider_name=PROVIDER_NAME, provider_version_constraint=PROVIDER_VERSION
    )


class MeshStackProvider(cdk.TerraformProvider):
    """The ``meshcloud/meshstack`` provider, declared in ``required_providers`` (configured by its environment:
    ``MESHSTACK_ENDPOINT``, ``MESHSTACK_API_KEY``, ``MESHSTACK_API_SECRET``)."""

    def __init__(self, scope: Construct, id: str = PROVIDER_NAME) -> None:
        super().__init__(
            scope,
            id,
            terraform_resource_type=PROVIDER_NAME,
            terraform_generator_metadata=_metadata(),
            terraform_provider_source=PROVIDER_SOURCE,
        )

    @classmethod
    def of(cls, scope: Construct) -> MeshStackProvider:
        """The stack's provider: the one :class:`BuildingBlockDefinition` created before, or a new one."""
        stack = cdk.TerraformStack.of(scope)
        found = stack.node.try_find_child(PROVIDER_NAME)
        if isinstance(found, MeshStackProvider):
            return found
        if found is not None:
            raise ConstructError(f"the stack already has a construct named {PROVIDER_NAME!r} that is no provider")
        return cls(stack)


def _outputs(outputs: Sequence[str | DefinitionOutput]) -> tuple[DefinitionOutput, ...]:
    return tuple(parse_output_option(item) if isinstance(item, str) else item for item in outputs)


class BuildingBlockDefinition(cdk.TerraformResource):
    """The Building Block Definition publishing ``spec``'s Trigger Module, as ``meshpipe definition render`` writes it.

    The options are those of ``definition render`` (``outputs`` takes ``"NAME=TYPE:ASSIGNMENT"`` strings or
    :class:`DefinitionOutput`). The definition's variables (secrets such as ``github_token``, required settings)
    become ``TerraformVariable`` s of the stack under the rendered file's names, unless ``values`` supplies them:
    a secret only as a token (``TerraformVariable`` or another resource's attribute), never as a literal, which
    would be written into the synthesized JSON; a setting also as a literal.
    """

    # The options of `meshpipe definition render` (build_definition's parameters): this construct's public signature.
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        spec: SpecArgument,
        spec_path: str | None = None,
        repository_url: str | None = None,
        path: str | None = None,
        ref: str = "main",
        workspace: str = DEFAULT_WORKSPACE,
        terraform_version: str = DEFAULT_TERRAFORM_VERSION,
        is_async: bool | None = None,
        display_name: str | None = None,
        outputs: Sequence[str | DefinitionOutput] = (),
        values: Mapping[str, Any] | None = None,
        provider: cdk.TerraformProvider | None = None,
    ) -> None:
        parsed, label = resolve_spec(spec, spec_path)
        definition = build_definition(
            parsed,
            spec_path=label,
            repository_url=repository_url,
            path=path,
            ref=ref,
            workspace=workspace,
            terraform_version=terraform_version,
            is_async=is_async,
            display_name=display_name,
            outputs=_outputs(outputs),
        )
        owner = f"BuildingBlockDefinition {id!r} ({label})"
        stack = cdk.TerraformStack.of(scope)
        references = _references(stack, owner, definition.variables, dict(values or {}))
        if provider is None:
            MeshStackProvider.of(stack)  # the default provider of meshstack_* resources; the file names none either
        # Like MeshStackProvider's __init__ above: another CDK base class, its own arguments.
        super().__init__(
            scope,
            id,
            terraform_resource_type=RESOURCE_TYPE,
            terraform_generator_metadata=_metadata(),
            provider=provider,
        )
        for key, value in template_json(resource_attributes(definition), references).items():
            self.add_override(key, value)
        # Write-only attributes (secret_value, never stored in state) need Terraform >= 1.11.
        stack.add_override("terraform.required_version", REQUIRED_TERRAFORM)
        self._definition = definition

    @property
    def definition(self) -> Definition:
        """The definition as :func:`meshpipe.generator.definition.build_definition` made it."""
        return self._definition


def _references(
    stack: cdk.TerraformStack, owner: str, variables: Sequence[DefinitionVariable], values: dict[str, Any]
) -> dict[str, str]:
    """``var.NAME`` of each definition variable -> the token or HCL expression that takes its place."""
    known = [variable.name for variable in variables]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConstructError(
            f"{owner}: unknown value(s) {', '.join(unknown)} (the definition's variables: {', '.join(known) or 'none'})"
        )
    references: dict[str, str] = {}
    for variable in variables:
        value = values.get(variable.name)
        if isinstance(value, cdk.TerraformVariable):
            if variable.sensitive and not value.sensitive:
                # terraform would print the secret in plan output and logs
                raise ConstructError(
                    f"{owner}: the secret {variable.name!r} needs a TerraformVariable with sensitive=True"
                )
            value = value.string_value
        if value is None:
            references[variable.name] = _stack_variable(stack, owner, variable).string_value
        elif cdk.Token.is_unresolved(value):
            references[variable.name] = str(value)
        elif variable.sensitive:
            # Never say what the literal was: it is a secret.
            raise ConstructError(
                f"{owner}: the secret {variable.name!r} must be a token (a sensitive TerraformVariable or another "
                "resource's attribute), not a literal that would be written into the synthesized stack"
            )
        elif isinstance(value, str):
            references[variable.name] = hcl.string(value)
        else:
            raise ConstructError(f"{owner}: {variable.name!r} must be a str or a token, not {type(value).__name__}")
    return references


def _stack_variable(stack: cdk.TerraformStack, owner: str, variable: DefinitionVariable) -> cdk.TerraformVariable:
    """The stack's variable ``variable.name``, as the rendered file declares it; shared by definitions in a stack."""
    construct_id = f"variable-{variable.name}"
    found = stack.node.try_find_child(construct_id)
    if isinstance(found, cdk.TerraformVariable):
        return found
    if found is not None:
        raise ConstructError(f"{owner}: the stack's construct {construct_id!r} is no TerraformVariable")
    created = cdk.TerraformVariable(
        stack, construct_id, type=variable.type, description=variable.description, sensitive=variable.sensitive or None
    )
    created.override_logical_id(variable.name)
    return created
