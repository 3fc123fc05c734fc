""":class:`TriggerModule`: a Trigger Module rendered from a spec, placed in a CDK stack as a module.

The files are exactly what ``meshpipe module render`` writes (one implementation for both worlds); they reach the
synthesized stack as a directory asset under ``assets/<id>-files/module`` and the stack references them as a local
module. The folder name is fixed rather than a content hash: the destroy hook keeps its script's path in the state,
and a destroy must still find the script after a new synth of changed module files.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from constructs import Construct

from meshpipe.cdk._lib import cdk
from meshpipe.cdk.errors import ConstructError
from meshpipe.cdk.spec import SpecArgument, resolve_spec
from meshpipe.cdk.values import check_variables, merge_arguments
from meshpipe.errors import MeshpipeError
from meshpipe.generator.definition import module_outputs
from meshpipe.generator.render import render_module, write_module
from meshpipe.generator.spec import ModuleSpec
from meshpipe.generator.variables import Variable

__all__ = ["ASSET_FOLDER", "TriggerModule", "use_runner_backend"]

#: the asset's folder under ``assets/<id>-files/`` (see the module docstring for why it is no content hash)
ASSET_FOLDER = "module"


def use_runner_backend(stack: cdk.TerraformStack) -> None:
    """Declare no state backend in ``stack``, so meshStack's runner can supply its own.

    The CDK adds a ``local`` backend with an absolute path of the synthesizing machine when a stack declares none;
    meshStack's runner writes its HTTP backend (state kept in meshStack) only for a root module without a backend.
    The runner looks for backends and variable declarations in ``*.json`` files too (it parses them with HCL's JSON
    parser: ``tf-block-runner/tfrun/tfconfig_parse.go``), so it sees the synthesized ``cdk.tf.json``.
    """
    stack.add_override("terraform.backend", None)


def _staging() -> Path:
    """A private directory for the rendered files that lives until the process ends (the asset copies it at synth)."""
    staging = Path(tempfile.mkdtemp(prefix="meshpipe-cdk-"))
    atexit.register(shutil.rmtree, staging, True)
    (staging / ASSET_FOLDER).mkdir()
    return staging / ASSET_FOLDER


def _unwrap(value: Any) -> Any:
    """A ``TerraformVariable`` passed as a value stands for its value."""
    return value.value if isinstance(value, cdk.TerraformVariable) else value


class TriggerModule(cdk.TerraformHclModule):
    """A Trigger Module rendered from ``spec`` as a module of the stack.

    Keyword arguments set the module's variables (``variables={...}`` takes names that clash with a parameter);
    names, required variables and types are checked in Python against the spec's module (``ConstructError``).
    Values may be CDK tokens (e.g. another resource's attribute, a ``TerraformVariable``). ``None`` sets null.

    ``expose_interface=True`` makes the stack look like the module to meshStack: a root variable of the same
    name, type and default for each variable not set here (meshStack writes inputs and run variables for the root
    module; it declares no run variable twice, as it reads ``cdk.tf.json``'s declarations), and a root output for each
    module output. One such module per stack.

    The module's outputs are properties (tokens) for every target: :attr:`apply_workflow_url` (github),
    :attr:`pipelines_url` (gitlab), :attr:`apply_pipeline_url` (azure_devops), :attr:`webhook_url`, ... or
    :meth:`output`.
    """

    # scope, id, *, spec, spec_path: the signature meshpipe's constructs share (see cdk/definition.py).
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        spec: SpecArgument,
        spec_path: str | None = None,
        variables: Mapping[str, Any] | None = None,
        expose_interface: bool = False,
        depends_on: Sequence[Any] | None = None,
        **keyword_variables: Any,
    ) -> None:
        stack = cdk.TerraformStack.of(scope)
        staging = _staging()
        asset = cdk.TerraformAsset(
            scope, f"{id}-files", path=str(staging), type=cdk.AssetType.DIRECTORY, asset_hash=ASSET_FOLDER
        )
        # Where the files land in the synthesized output: the headers name the spec relative to it, as
        # `meshpipe module render SPEC -o DIR` does, so that command run there regenerates exactly these files.
        module_dir = Path(cdk.App.of(scope).outdir) / "stacks" / stack.node.id / asset.path
        try:
            parsed, label = resolve_spec(spec, spec_path, module_dir=module_dir)
            owner = f"TriggerModule {id!r} ({label})"
            arguments = merge_arguments(owner, variables, keyword_variables)
            given = {name: _unwrap(value) for name, value in arguments.items()}
            declared = {variable.name: variable for variable in parsed.variables}
            problems = check_variables(
                owner, declared, given, is_token=cdk.Token.is_unresolved, exposed=expose_interface
            )
            if problems:
                raise ConstructError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
        except MeshpipeError:
            scope.node.try_remove_child(asset.node.id)  # a corrected retry under the same id must not collide
            raise
        # None sets null explicitly (the CDK would drop the key, and the module's default would apply instead).
        given = {name: cdk.Token.null_value() if value is None else value for name, value in given.items()}
        files = render_module(parsed, spec_path=label)
        write_module(files, staging)
        if expose_interface:
            for name, variable in declared.items():
                if name not in given:
                    given[name] = _root_variable(stack, owner, variable).value
        super().__init__(
            scope,
            id,
            source=f"./{asset.path}",
            skip_asset_creation_from_local_modules=True,
            variables=given,
            depends_on=list(depends_on) if depends_on is not None else None,
        )
        self._spec = parsed
        self._files = dict(files)
        self._outputs = module_outputs(parsed, label)
        if expose_interface:
            for name in self._outputs:
                if stack.node.try_find_child(f"output-{name}") is not None:
                    raise ConstructError(f"{owner}: the stack already has a root output {name!r}")
                root_output = cdk.TerraformOutput(stack, f"output-{name}", value=self.interpolation_for_output(name))
                root_output.override_logical_id(name)

    @property
    def spec(self) -> ModuleSpec:
        """The parsed spec the module was rendered from."""
        return self._spec

    @property
    def files(self) -> dict[str, str]:
        """The module's files (relative path -> text), exactly as ``meshpipe module render`` writes them."""
        return dict(self._files)

    # One property per module output, each with its own docstring; a test fails when an output lacks one.
    @property
    def output_names(self) -> tuple[str, ...]:
        """The names of the module's outputs."""
        return self._outputs

    def output(self, name: str) -> str:
        """The module output ``name`` as a string token (``ConstructError`` if the module has no such output)."""
        if name not in self._outputs:
            raise ConstructError(
                f"TriggerModule {self.node.id!r}: no output {name!r} (its outputs: {', '.join(self._outputs)})"
            )
        return str(self.get_string(name))

    @property
    def repository(self) -> str:
        """Repository whose workflows the module dispatches (owner/repo; target github)."""
        return self.output("repository")

    @property
    def ref(self) -> str:
        """Branch or tag the workflows run on (github); the full ref the pipelines run on (azure_devops)."""
        return self.output("ref")

    @property
    def apply_workflow(self) -> str:
        """Workflow file fired on create (workflow_dispatch modules)."""
        return self.output("apply_workflow")

    @property
    def destroy_workflow(self) -> str:
        """Workflow file fired on destroy, null without one (workflow_dispatch modules)."""
        return self.output("destroy_workflow")

    @property
    def apply_workflow_url(self) -> str:
        """The apply workflow's page on GitHub (workflow_dispatch modules)."""
        return self.output("apply_workflow_url")

    @property
    def destroy_workflow_url(self) -> str:
        """The destroy workflow's page on GitHub, null without one (workflow_dispatch modules)."""
        return self.output("destroy_workflow_url")

    @property
    def apply_event_type(self) -> str:
        """repository_dispatch event type sent on create (repository_dispatch modules)."""
        return self.output("apply_event_type")

    @property
    def destroy_event_type(self) -> str:
        """repository_dispatch event type sent on destroy, null without one (repository_dispatch modules)."""
        return self.output("destroy_event_type")

    @property
    def actions_url(self) -> str:
        """The repository's Actions page on GitHub (repository_dispatch modules)."""
        return self.output("actions_url")

    @property
    def project(self) -> str:
        """GitLab project (full path or numeric id) or Azure DevOps project the module starts pipelines in."""
        return self.output("project")

    @property
    def apply_ref(self) -> str:
        """Branch or tag the apply pipeline runs on (target gitlab)."""
        return self.output("apply_ref")

    @property
    def destroy_ref(self) -> str:
        """Branch or tag the destroy pipeline runs on, null without one (target gitlab)."""
        return self.output("destroy_ref")

    @property
    def pipelines_url(self) -> str:
        """The project's pipelines page on GitLab (target gitlab)."""
        return self.output("pipelines_url")

    @property
    def apply_pipeline_id(self) -> str:
        """Id of the pipeline run on create (target azure_devops; a number as a string token)."""
        return self.output("apply_pipeline_id")

    @property
    def destroy_pipeline_id(self) -> str:
        """Id of the pipeline run on destroy, null without one (target azure_devops)."""
        return self.output("destroy_pipeline_id")

    @property
    def apply_pipeline_url(self) -> str:
        """The apply pipeline's page on Azure DevOps, listing its runs (target azure_devops)."""
        return self.output("apply_pipeline_url")

    @property
    def destroy_pipeline_url(self) -> str:
        """The destroy pipeline's page on Azure DevOps, null without one (target azure_devops)."""
        return self.output("destroy_pipeline_url")

    @property
    def webhook_url(self) -> str:
        """URL the signed deliveries are POSTed to (target webhook)."""
        return self.output("webhook_url")

    @property
    def apply_event(self) -> str:
        """Event name of the delivery sent on create (target webhook)."""
        return self.output("apply_event")

    @property
    def destroy_event(self) -> str:
        """Event name of the delivery sent on destroy, null without one (target webhook)."""
        return self.output("destroy_event")

    @property
    def dispatch_fingerprint(self) -> str:
        """Non-secret hash of what decides whether a new apply dispatch is due."""
        return self.output("dispatch_fingerprint")


def _root_variable(stack: cdk.TerraformStack, owner: str, variable: Variable) -> cdk.TerraformVariable:
    """A root variable mirroring the module's ``variable`` (its name is the one meshStack's runner sets)."""
    # Construct ids are one namespace per scope, Terraform's variables and outputs two: prefix, then name exactly.
    if stack.node.try_find_child(f"variable-{variable.name}") is not None:
        raise ConstructError(
            f"{owner}: the stack already has a root variable {variable.name!r}; pass the value instead"
        )
    optional: dict[str, Any] = {}
    if not variable.required:
        # An optional variable whose default is null still needs `default = null`, or terraform would ask for it.
        optional["default"] = cdk.Token.null_value() if variable.default is None else variable.default
    root = cdk.TerraformVariable(
        stack,
        f"variable-{variable.name}",
        type=variable.type,
        description=variable.description,
        nullable=variable.nullable,
        **optional,
    )
    root.override_logical_id(variable.name)
    return root
