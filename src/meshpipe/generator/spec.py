"""Load and validate Trigger Module specs (``generator/specs/*.yaml``) into frozen dataclasses.

The format is documented in ``generator/README.md``. Every error names the file, the key path (``inputs[2].type``)
and what was expected; unknown keys are errors; GitHub's limits are enforced here, before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshpipe.contract import (
    DEFAULT_AUTH,
    DEFAULT_AZURE_AUTH,
    DEFAULT_GITLAB_AUTH,
    DEFAULT_WEBHOOK_AUTH,
    INPUT_NAME_PATTERN,
    REPOSITORY_PATTERN,
    WORKFLOW_FILE_PATTERN,
)
from meshpipe.contract import RUN_URL_INPUT as RUN_URL_INPUT  # re-exported for the generator's modules
from meshpipe.generator.errors import SpecError

if TYPE_CHECKING:
    from meshpipe.generator.variables import Variable

__all__ = [
    "CONTEXT_SOURCES",
    "INPUT_TYPES",
    "TARGET_BLOCKS",
    "Auth",
    "Input",
    "ModuleSpec",
    "Setting",
    "load_spec",
    "load_yaml",
    "locate",
    "parse_spec",
]

INPUT_NAME = re.compile(INPUT_NAME_PATTERN)
MODULE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
TF_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
WORKFLOW_FILE = re.compile(WORKFLOW_FILE_PATTERN)
REPOSITORY = re.compile(REPOSITORY_PATTERN)

INPUT_TYPES = ("string", "number", "bool", "list", "map")
#: meshStack context an input can carry; decoded from ``meshstack_building_block_run_b64`` (or the id variables).
CONTEXT_SOURCES = ("run_url", "run_id", "building_block_id", "behavior", "workspace", "project")
REDISPATCH = ("every_run", "on_change")
#: target -> (its settings block, its phases block) in a spec
TARGET_BLOCKS = {
    "github": ("github", "workflows"),
    "gitlab": ("gitlab", "pipelines"),
    "azure_devops": ("azure_devops", "pipelines"),
    "webhook": ("webhook", "events"),
}
#: the default auth settings of the non-GitHub targets
TARGET_AUTH_DEFAULTS = {
    "gitlab": DEFAULT_GITLAB_AUTH,
    "azure_devops": DEFAULT_AZURE_AUTH,
    "webhook": DEFAULT_WEBHOOK_AUTH,
}
GITHUB_COM_API = "https://api.github.com"
#: GitHub's caps: workflow_dispatch inputs on github.com / on GHES (and github.com before 2025-12), client_payload keys.
LIMIT_GITHUB_COM, LIMIT_GHES, LIMIT_CLIENT_PAYLOAD = 25, 10, 10
#: GitLab's cap on the inputs of one pipeline creation (``Ci::Pipeline::INPUTS_LIMIT``, "There cannot be more than 20
#: inputs"); CI/CD variables have only an instance's plan limit (``ci_pipeline_variables_count``), not checked here.
LIMIT_GITLAB_INPUTS = 20
#: Terraform variable names a spec input may not take (module arguments and the module's own variables).
RESERVED_VARIABLES = frozenset(
    {"source", "version", "providers", "count", "for_each", "lifecycle", "depends_on", "locals"}
    | {"meshstack_building_block_id", "meshstack_building_block_run_id", "meshstack_building_block_run_b64"}
)


@dataclass(frozen=True)
class Setting:
    """A value that is either fixed in the module or exposed as a variable (then ``value`` is its default)."""

    key: str
    value: Any
    variable: str | None = None
    required: bool = False
    description: str | None = None

    @property
    def exposed(self) -> bool:
        """Whether the module has a variable for this setting."""
        return self.variable is not None


@dataclass(frozen=True)
class Input:
    """One workflow input: a typed ``variable``, a ``static`` value, ``meshstack`` context or a ``secret`` env var."""

    name: str
    kind: str
    description: str = ""
    type: str = "string"
    variable: str | None = None
    default: Any = None
    required: bool = False
    allowed: tuple[Any, ...] | None = None
    regex: str | None = None
    value: str | None = None
    context: str | None = None
    env: str | None = None
    example: Any = None
    #: the label meshStack shows for the input (``display_name:`` in the spec); ``None``: derived from the name
    display_name: str | None = None


@dataclass(frozen=True)
class Auth:
    """How the dispatcher authenticates; it only names environment variables, never holds a secret."""

    mode: str = DEFAULT_AUTH["mode"]
    token_env: str = DEFAULT_AUTH["token_env"]
    app_id_env: str = DEFAULT_AUTH["app_id_env"]
    installation_id_env: str = DEFAULT_AUTH["installation_id_env"]
    private_key_env: str = DEFAULT_AUTH["private_key_env"]


@dataclass(frozen=True)
class ModuleSpec:
    """A validated spec: everything the templates need, nothing they have to check again."""

    name: str
    description: str
    source: str
    flavour: str | None
    #: the service's URL: GitHub's or GitLab's API, the Azure DevOps organization, the webhook
    api_url: Setting
    #: GitHub's repository, GitLab's or Azure DevOps' project; ``None`` for the webhook
    repository: Setting | None
    #: GitHub's ref or Azure Pipelines' branch; ``None`` where the phase item is the ref (GitLab) or for the webhook
    ref: Setting | None
    event: str
    apply: Setting
    destroy: Setting
    auth: Auth
    inputs: tuple[Input, ...]
    workflow_inputs: Setting | None
    forward_run_url: Setting
    correlation_input: Setting
    wait: Setting
    wait_timeout_seconds: Setting
    poll_interval_seconds: Setting
    redispatch: Setting
    python: Setting
    #: the CI/CD system the module starts: one of ``meshpipe.contract.TARGETS``
    target: str = "github"
    #: a non-GitHub target's auth settings (mode and environment variable names) in the dispatcher's key order
    target_auth: tuple[tuple[str, str], ...] = ()
    #: GitLab only: ``inputs`` (typed ``spec:inputs``) or ``variables`` (CI/CD variables, strings)
    values: str | None = None
    #: GitLab and Azure DevOps: the input that receives the phase (``apply``/``destroy``); ``None`` for the others
    phase_input: Setting | None = None

    @property
    def fires_destroy(self) -> bool:
        """Whether the module fires a destroy phase (a fixed destroy workflow, ref or pipeline, or a variable)."""
        return self.destroy.value is not None or self.destroy.exposed

    def sends_json_value(self, kind: str) -> bool:
        """Whether a typed input of ``kind`` is sent as a JSON value rather than as text (non-strings JSON-encoded).

        The webhook's body is JSON, so every value keeps its type. GitLab's ``spec:inputs`` have the types string,
        number, boolean and array, so a map is sent as its JSON text (declare it ``type: string``). GitHub's inputs,
        GitLab's CI/CD variables and Azure Pipelines' template parameters are strings.
        """
        if self.target == "webhook":
            return True
        return self.target == "gitlab" and self.values == "inputs" and kind in ("number", "bool", "list")

    @property
    def auth_settings(self) -> dict[str, str]:
        """A non-GitHub target's auth settings as the dispatcher's configuration holds them."""
        return dict(self.target_auth)

    @property
    def variables(self) -> tuple[Variable, ...]:
        """The module's Terraform variables in ``variables.tf`` order."""
        from meshpipe.generator.variables import module_variables

        return module_variables(self)

    @property
    def secret_inputs(self) -> dict[str, str]:
        """Workflow input name -> environment variable the dispatcher reads it from."""
        return {item.name: item.env for item in self.inputs if item.kind == "secret" and item.env}

    @property
    def environment(self) -> tuple[tuple[str, str], ...]:
        """Environment variables the module reads at dispatch time: (name, purpose); all of them secrets."""
        if self.target != "github":
            from meshpipe.generator.spec_targets import credential_purposes

            rows = list(credential_purposes(self))
            rows += [(item.env or "", f"value of the input `{item.name}`") for item in self.inputs if item.env]
            return tuple(rows)
        auth = self.auth
        rows = []
        if auth.mode in ("auto", "token"):
            rows.append((auth.token_env, "GitHub token with `actions: write` on the repository"))
        if auth.mode in ("auto", "app"):
            rows += [
                (auth.app_id_env, "GitHub App id"),
                (auth.installation_id_env, "GitHub App installation id"),
                (auth.private_key_env, "GitHub App private key (PEM text or a path to the PEM file)"),
            ]
        rows += [(item.env or "", f"value of the workflow input `{item.name}`") for item in self.inputs if item.env]
        return tuple(rows)

    @property
    def input_limit(self) -> int | None:
        """The most inputs (or client_payload keys) one dispatch may carry for the target known at render time.

        ``None``: the target has no count limit the module can check (GitLab CI/CD variables, Azure Pipelines, the
        webhook).
        """
        if self.target == "gitlab" and self.values == "inputs":
            return LIMIT_GITLAB_INPUTS
        if self.target != "github":
            return None
        if self.event == "repository_dispatch":
            return LIMIT_CLIENT_PAYLOAD
        ghes = self.flavour == "ghes" or str(self.api_url.value).rstrip("/") != GITHUB_COM_API
        return LIMIT_GHES if ghes else LIMIT_GITHUB_COM


def load_spec(path: Path) -> ModuleSpec:
    """Read and validate a YAML spec file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(str(path), "", f"cannot read the spec: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(str(path), "", f"not UTF-8 text (byte {exc.start}); save the spec as UTF-8") from exc
    try:
        return parse_spec(load_yaml(text, str(path)), str(path))
    except SpecError as exc:
        line = locate(text, exc.path) if exc.path and exc.source == str(path) else None
        if line is None:
            raise
        raise SpecError(f"{path}:{line}", exc.path, exc.detail) from None


def locate(text: str, path: str) -> int | None:
    """The line of a key path (``inputs[2].type``) in a YAML document, or of its deepest part that exists."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in re.findall(r"\[\d+\]|[^.\[\]]+", path):
        if part.startswith("[") and isinstance(node, yaml.SequenceNode) and int(part[1:-1]) < len(node.value):
            node = node.value[int(part[1:-1])]
            line = node.start_mark.line + 1
            continue
        if not isinstance(node, yaml.MappingNode):
            break
        found = next((pair for pair in node.value if getattr(pair[0], "value", None) == part), None)
        if found is None:
            break
        line, node = found[0].start_mark.line + 1, found[1]
    return line


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML; a syntax error or a duplicated key names ``source:line:column`` and what is wrong."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses duplicate keys (PyYAML would silently keep the last one)."""

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if isinstance(key, Hashable) and key in seen:
                mark = key_node.start_mark
                raise SpecError(
                    f"{source}:{mark.line + 1}:{mark.column + 1}",
                    "",
                    f"duplicate key {key!r} (first at line {seen[key].line + 1}); YAML would keep only the last",
                )
            if isinstance(key, Hashable):
                seen[key] = key_node.start_mark
        return loader.construct_mapping(node)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        return yaml.load(text, Loader=StrictLoader)  # a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = exc.problem or exc.context or "cannot parse"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        raise SpecError(where, "", f"not valid YAML: {problem}{context}") from None
    except yaml.YAMLError as exc:
        raise SpecError(source, "", f"not valid YAML: {exc}") from None


def parse_spec(data: Any, source: str) -> ModuleSpec:
    """Validate already-parsed spec data; ``source`` names it in errors (a path or a test's label)."""
    from meshpipe.generator.spec_parser import SpecParser

    return SpecParser(source).module(data)
