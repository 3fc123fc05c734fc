"""The settings of the non-GitHub targets: GitLab CI, Azure Pipelines and the signed webhook.

Each target has one settings block named after it (``gitlab:``, ``azure_devops:``, ``webhook:``), a phases block
(``pipelines:`` or ``events:``) and its own ``auth:``; :func:`parse_target` validates them with the same care as
GitHub's (file + key path, unknown keys, that service's name rules). The rules and their sources:

- GitLab project: a numeric id or a full path ``group/subgroup/project`` whose parts hold letters, digits, ``_``,
  ``-`` and ``.`` and do not start with ``-`` (https://docs.gitlab.com/user/reserved_names/ and the path validation
  of ``Gitlab::PathRegex``). Refs follow ``git check-ref-format`` (no spaces, ``~^:?*[\\``, ``..``).
- GitLab ``spec:inputs`` names: ``Gitlab::Ci::Config::Header::Input`` validates the key with
  ``AlphanumericValidator``, which only demands a string (``lib/gitlab/config/entry/validators.rb``); meshpipe
  keeps to letters, digits and ``_``: every name must work in ``$[[ inputs.NAME ]]`` (a ``.`` would read as a
  path), and the pipeline file meshpipe renders makes each input a CI/CD variable of the same name, whose key
  allows no ``-`` (below; a shell could not read it either). At most 20 inputs per pipeline
  (``Ci::Pipeline::INPUTS_LIMIT``: "There cannot be more than 20 inputs"). CI/CD variable keys:
  ``^[A-Za-z0-9_]+$``, at most 255 characters (https://docs.gitlab.com/ci/variables/).
- Azure DevOps project names: at most 64 characters, none of ``/ : \\ ~ & % ; @ ' " ? < > | # $ * { } , + = [ ]``
  or control characters, not starting with ``_`` or ``.``, not ending with ``.`` (https://learn.microsoft.com/azure/devops/organizations/
  settings/naming-restrictions). Pipeline ids are positive integers. Runtime parameter names are identifiers
  (letters, digits, ``_``; referenced as ``${{ parameters.NAME }}``).
- Webhook: an ``https://`` URL, or ``http://`` to 127.0.0.1/localhost/[::1] only (a local receiver); no user
  information in the URL (credentials come from the environment). Event names: 1-100 of letters, digits and
  ``_.:-`` (sent as a header value).
- ``api_url`` (GitLab) and ``org_url`` (Azure DevOps) have no query, no fragment and no user information: the
  dispatcher appends paths to them, and credentials come from the environment.
- Reserved input names (:func:`reserved_name`): a GitLab or Azure Pipelines input reaches every job as an
  environment variable under its own name (Azure: upper-cased, https://learn.microsoft.com/azure/devops/pipelines/
  process/variables#environment-variables), so it may not take a name that already means something there:
  ``MESHPIPE_*`` (the reporter template's own variables), ``MESHSTACK_*`` and ``buildingBlockRun`` (the reporter's
  run locator and credentials), GitLab's ``CI_*``/``GITLAB_*`` predefined variables
  (https://docs.gitlab.com/ci/variables/predefined_variables/), ``FF_*`` runner feature flags
  (https://docs.gitlab.com/runner/configuration/feature-flags/) and ``TRIGGER_PAYLOAD``; Azure's predefined
  namespaces ``System.``/``Build.``/``Agent.``/``Pipeline.``/``Environment.``/``Resources.``/``Release.``/``Task.``
  (https://learn.microsoft.com/azure/devops/pipelines/build/variables; a parameter ``system_x`` becomes the
  environment variable ``SYSTEM_X``, like ``System.X``) and the prefixes Microsoft reserves for the system,
  ``endpoint``, ``input``, ``secret``, ``path`` and ``securefile`` ("regardless of capitalization",
  https://learn.microsoft.com/azure/devops/pipelines/process/variables#user-defined-variables). Unverified: which
  value wins when a parameter's variable and a predefined one map to the same environment variable.
- Secret inputs (``sensitive: true``) of GitLab and Azure Pipelines need ``allow_secret_inputs: true`` in the
  target's block: GitLab keeps a pipeline's inputs and variables with the pipeline, readable by project members
  (``GET /projects/:id/pipelines/:pipeline_id/variables``, https://docs.gitlab.com/api/pipelines/), and Azure
  Pipelines returns a run's ``templateParameters`` with the run (``Runs - Get``, api-version 7.1) and shows them on
  the run's page; neither masks them. (Whether GitLab's pipeline page shows inputs to every reader is unverified.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshpipe.contract import AZURE_AUTH_MODES, GITLAB_AUTH_MODES, PHASE_INPUT
from meshpipe.generator.spec import ENV_NAME, TARGET_AUTH_DEFAULTS, TARGET_BLOCKS, ModuleSpec, Setting
from meshpipe.generator.spec_checks import MISSING, Check, boolean, one_of, pattern

if TYPE_CHECKING:
    from meshpipe.generator.spec_parser import SpecParser

__all__ = [
    "AZURE_ORG_URL_PATTERN",
    "AZURE_PARAMETER_PATTERN",
    "AZURE_PROJECT_PATTERN",
    "AZURE_REF_PATTERN",
    "GITHUB_ONLY_KEYS",
    "GITLAB_API_URL_PATTERN",
    "GITLAB_PROJECT_PATTERN",
    "GITLAB_REF_PATTERN",
    "GITLAB_VARIABLE_PATTERN",
    "WEBHOOK_EVENT_PATTERN",
    "WEBHOOK_INPUT_PATTERN",
    "WEBHOOK_URL_PATTERN",
    "TargetParts",
    "credential_purposes",
    "input_name_pattern",
    "parse_target",
    "reserved_name",
    "secret_input_problem",
]

#: spec keys that only GitHub has
GITHUB_ONLY_KEYS = ("github", "event", "workflows", "event_types", "workflow_inputs")

# RE2-compatible (the same text goes into Terraform validations) and anchored.
GITLAB_API_URL_PATTERN = r"^https?://[^\s/?#@]+(/[^\s?#]*)?/api/v4/?$"
AZURE_ORG_URL_PATTERN = r"^https?://[^\s/?#@]+(/[^\s?#]*)?$"
GITLAB_PROJECT_PATTERN = r"^([0-9]+|[A-Za-z0-9_.][A-Za-z0-9_.-]*(/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+)$"
GITLAB_REF_PATTERN = r"^[^\s~^:?*\[\\-][^\s~^:?*\[\\]{0,254}$"
GITLAB_VARIABLE_PATTERN = r"^[A-Za-z0-9_]{1,255}$"
_AZURE_FORBIDDEN = "/:\\\\~&%;@'\"?<>|#$*{},+=\\[\\]\\x00-\\x1f"
AZURE_PROJECT_PATTERN = f"^[^_.\\s{_AZURE_FORBIDDEN}]([^{_AZURE_FORBIDDEN}]{{0,62}}[^.\\s{_AZURE_FORBIDDEN}])?$"
AZURE_REF_PATTERN = r"^refs/[^\s]+$"
AZURE_PARAMETER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,254}$"
WEBHOOK_URL_PATTERN = r"^(https://[^/?#@\s]+|http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?)([/?]\S*)?$"
WEBHOOK_EVENT_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}$"
WEBHOOK_INPUT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"

#: what a target's inputs are called in its own documentation, for messages
INPUT_NOUNS = {
    "github": "GitHub input",
    "gitlab": "GitLab input",
    "azure_devops": "Azure Pipelines parameter",
    "webhook": "webhook input",
}


#: (upper-cased prefix, why) of the names no GitLab or Azure Pipelines input may take (see the module docstring)
_RESERVED_PREFIXES = {
    "common": (
        ("MESHPIPE_", "meshpipe's own variables (the reporter template's MESHPIPE_STEPS, MESHPIPE_BUNDLE_SHA256, ...)"),
        ("MESHSTACK_", "the reporter's run locator and credentials (MESHSTACK_RUN_URL, MESHSTACK_CLIENT_SECRET, ...)"),
    ),
    "gitlab": (
        ("CI_", "GitLab's predefined CI/CD variables"),
        ("GITLAB_", "GitLab's predefined CI/CD variables"),
        ("FF_", "GitLab Runner's feature flags, which it reads from CI/CD variables"),
    ),
    "azure_devops": (
        *((f"{space}_", f"the environment variables of Azure's predefined {space.title()}.* variables")
          for space in ("SYSTEM", "BUILD", "AGENT", "PIPELINE", "ENVIRONMENT", "RESOURCES", "RELEASE", "TASK")),
        *((prefix, "a variable prefix Azure Pipelines reserves for the system")
          for prefix in ("ENDPOINT", "INPUT", "SECRET", "PATH", "SECUREFILE")),
    ),
}  # fmt: skip
#: upper-cased whole names no GitLab or Azure Pipelines input may take
_RESERVED_NAMES = {
    "common": {"BUILDINGBLOCKRUN": "the reporter reads a meshStack run object from it"},
    "gitlab": {"TRIGGER_PAYLOAD": "GitLab's file variable with a triggered pipeline's request"},
    "azure_devops": {},
}


#: the MESHPIPE_* variables the reporter and its CI templates read (action/, meshpipe.report; a test holds this to them)
MESHPIPE_READS = frozenset(
    {
        "MESHPIPE_ALLOW_FOREIGN_RUN_URL", "MESHPIPE_BEST_EFFORT", "MESHPIPE_BEST_EFFORT_FLAG",
        "MESHPIPE_BUNDLE_MAX_SECONDS", "MESHPIPE_BUNDLE_SHA256", "MESHPIPE_BUNDLE_URL", "MESHPIPE_BUNDLE_URL_INPUT",
        "MESHPIPE_BUNDLE_URL_PARAMETER", "MESHPIPE_DEADLINE_SECONDS", "MESHPIPE_DOTENV_FILE", "MESHPIPE_HOME",
        "MESHPIPE_JOB_STATUS", "MESHPIPE_PYTHON", "MESHPIPE_REDACT_VARIABLES", "MESHPIPE_RETRY_ATTEMPTS",
        "MESHPIPE_RETRY_BASE_DELAY", "MESHPIPE_STATE_DIR", "MESHPIPE_STEPS", "MESHPIPE_TIMEOUT",
        "MESHPIPE_WEBHOOK_SECRET",
    }
)  # fmt: skip


def reserved_name(target: str, name: str, *, filled: bool = False) -> str | None:
    """Why ``name`` may not be a GitLab or Azure Pipelines input (it reaches the job as an environment variable that
    already means something), or None; other targets reserve nothing.

    ``filled``: a name whose value the dispatcher fills (``correlation_input``, ``phase_input``), where meshpipe's
    own ``meshpipe_*`` names are fine unless the reporter reads them (:data:`MESHPIPE_READS`).
    """
    if target not in ("gitlab", "azure_devops"):
        return None
    upper = name.upper()
    if filled and upper in MESHPIPE_READS:
        return "the reporter and its CI templates read it"
    for group in ("common", target):
        why = _RESERVED_NAMES[group].get(upper)
        if why is not None:
            return why
        for prefix, why in _RESERVED_PREFIXES[group]:
            if filled and prefix == "MESHPIPE_":
                continue
            if upper.startswith(prefix):
                return f"{prefix.rstrip('_')}* is {why}" if prefix.endswith("_") else f"{prefix.lower()}* is {why}"
    return None


def secret_input_problem(target: str, allowed: bool) -> str | None:
    """Why a secret input needs ``allow_secret_inputs: true`` for ``target`` (None when allowed or not needed)."""
    if allowed or target not in ("gitlab", "azure_devops"):
        return None
    if target == "gitlab":
        return (
            "a secret input, but GitLab keeps a pipeline's inputs and variables with the pipeline, readable by project "
            "members and unmasked; set `gitlab.allow_secret_inputs: true` to send it anyway, or let the pipeline read "
            "the secret from a masked CI/CD variable"
        )
    return (
        "a secret input, but Azure Pipelines keeps a run's templateParameters with the run, shown on its page and "
        "returned by the REST API, unmasked; set `azure_devops.allow_secret_inputs: true` to send it anyway, or let "
        "the pipeline read the secret from a secret variable or variable group"
    )


def input_name_pattern(target: str, values: str | None) -> tuple[str, str]:
    """(pattern, what it is) for the names of a target's inputs (declared, correlation and phase inputs)."""
    if target == "gitlab":
        if values == "variables":
            return GITLAB_VARIABLE_PATTERN, "a GitLab CI/CD variable key"
        # The rendered pipeline file declares each input as a variable too (module docstring).
        return GITLAB_VARIABLE_PATTERN, "a GitLab spec:inputs name that is also a CI/CD variable key"
    if target == "azure_devops":
        return AZURE_PARAMETER_PATTERN, "an Azure Pipelines parameter name"
    return WEBHOOK_INPUT_PATTERN, "an input name"


@dataclass(frozen=True)
class TargetParts:
    """A non-GitHub target's settings, in the fields :class:`ModuleSpec` keeps for every target."""

    api_url: Setting
    repository: Setting | None
    ref: Setting | None
    apply: Setting
    destroy: Setting
    auth: tuple[tuple[str, str], ...]
    values: str | None = None
    #: GitLab and Azure DevOps: ``allow_secret_inputs`` (secret inputs are visible in the service's UI and API)
    allow_secret_inputs: bool = False


def _no_double_dot(check: Check) -> Check:
    """``check`` plus the ref rules RE2 cannot express (no ``..``; no ``.``, ``/`` or ``.lock`` at the end)."""

    def checked(value: Any) -> str | None:
        problem = check(value)
        if problem is None and isinstance(value, str) and (".." in value or value.endswith((".", "/", ".lock"))):
            return "a git ref without '..' that does not end in '.', '/' or '.lock'"
        return problem

    return checked


def _pipeline_id(value: Any) -> str | None:
    """Accept an Azure Pipelines definition id: a positive 32-bit integer."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31
    return None if ok else "a pipeline id (a positive integer)"


def parse_target(parser: SpecParser, top: Mapping[str, Any], target: str) -> TargetParts:
    """The target's settings block, phases block and ``auth:``."""
    block, phases_key = TARGET_BLOCKS[target]
    parse = {"gitlab": _gitlab, "azure_devops": _azure_devops, "webhook": _webhook}[target]
    return parse(parser, top, block, phases_key)


def _gitlab(parser: SpecParser, top: Mapping[str, Any], block: str, phases_key: str) -> TargetParts:
    body = parser.mapping(top[block], block, ("api_url", "project", "values", "allow_secret_inputs"), ("project",))
    values = parser.check(body.get("values", "inputs"), f"{block}.values", one_of(("inputs", "variables")))
    allow_secrets = parser.check(body.get("allow_secret_inputs", False), f"{block}.allow_secret_inputs", boolean)
    api_url_check = pattern(
        re.compile(GITLAB_API_URL_PATTERN),
        "GitLab's REST API URL ending in /api/v4 (https://HOST/api/v4), without a query, a fragment or user:password@",
    )
    api_url = parser.setting(
        body, "api_url", block, variable="gitlab_api_url", check=api_url_check, default="https://gitlab.com/api/v4"
    )
    project = parser.setting(
        body,
        "project",
        block,
        variable="gitlab_project",
        check=pattern(re.compile(GITLAB_PROJECT_PATTERN), "a project's full path (group/project) or numeric id"),
    )
    ref_check = _no_double_dot(pattern(re.compile(GITLAB_REF_PATTERN), "a branch or tag name"))
    apply, destroy = _phases(parser, top, phases_key, "ref", ref_check, apply_default="main")
    return TargetParts(api_url, project, None, apply, destroy, _auth(parser, top, "gitlab"), values, allow_secrets)


def _azure_devops(parser: SpecParser, top: Mapping[str, Any], block: str, phases_key: str) -> TargetParts:
    keys = ("org_url", "project", "ref", "allow_secret_inputs")
    body = parser.mapping(top[block], block, keys, ("org_url", "project"))
    allow_secrets = parser.check(body.get("allow_secret_inputs", False), f"{block}.allow_secret_inputs", boolean)
    org_url_check = pattern(
        re.compile(AZURE_ORG_URL_PATTERN),
        "the organization's http(s) URL (https://dev.azure.com/ORG) without a query, a fragment or user:password@",
    )
    api_url = parser.setting(body, "org_url", block, variable="azure_devops_org_url", check=org_url_check)
    project = parser.setting(
        body,
        "project",
        block,
        variable="azure_devops_project",
        check=pattern(re.compile(AZURE_PROJECT_PATTERN), "an Azure DevOps project name (or id)"),
    )
    ref = parser.setting(
        body,
        "ref",
        block,
        variable="azure_devops_ref",
        check=_no_double_dot(pattern(re.compile(AZURE_REF_PATTERN), "a full ref such as refs/heads/main")),
        default="refs/heads/main",
    )
    apply, destroy = _phases(parser, top, phases_key, "pipeline_id", _pipeline_id)
    auth = _auth(parser, top, "azure_devops")
    return TargetParts(api_url, project, ref, apply, destroy, auth, allow_secret_inputs=allow_secrets)


def _webhook(parser: SpecParser, top: Mapping[str, Any], block: str, phases_key: str) -> TargetParts:
    body = parser.mapping(top[block], block, ("url",), ("url",))
    url_check = pattern(
        re.compile(WEBHOOK_URL_PATTERN),
        "an https:// URL without credentials (http:// only to 127.0.0.1, localhost or [::1])",
    )
    api_url = parser.setting(body, "url", block, variable="webhook_url", check=url_check)
    event_check = pattern(re.compile(WEBHOOK_EVENT_PATTERN), "an event name of 1-100 letters, digits or _.:-")
    apply, destroy = _phases(parser, top, phases_key, "event", event_check, apply_default="apply")
    return TargetParts(api_url, None, None, apply, destroy, _auth(parser, top, "webhook"))


def _phases(
    parser: SpecParser, top: Mapping[str, Any], key: str, suffix: str, check: Check, *, apply_default: Any = MISSING
) -> tuple[Setting, Setting]:
    """The apply and destroy items (``pipelines:`` or ``events:``); omitted, apply takes ``apply_default`` (required
    without one) and destroy is null: nothing is sent on destroy."""
    body = parser.mapping(top.get(key, {}), key, ("apply", "destroy"))
    apply = parser.setting(body, "apply", key, variable=f"apply_{suffix}", check=check, default=apply_default)
    destroy = parser.setting(
        body, "destroy", key, variable=f"destroy_{suffix}", check=check, default=None, nullable=True
    )
    if apply.value is None and not apply.required:
        parser.fail(f"{key}.apply", "expected a value; the apply phase cannot be disabled")
    return apply, destroy


def _auth(parser: SpecParser, top: Mapping[str, Any], target: str) -> tuple[tuple[str, str], ...]:
    defaults = TARGET_AUTH_DEFAULTS[target]
    body = parser.mapping(top.get("auth", {}), "auth", tuple(defaults))
    result = dict(defaults)
    modes = {"gitlab": GITLAB_AUTH_MODES, "azure_devops": AZURE_AUTH_MODES}.get(target)
    for key, value in body.items():
        path = f"auth.{key}"
        if key == "mode" and modes is not None:
            result[key] = parser.check(value, path, one_of(modes))
        elif key == "token_env" and target == "webhook" and value == "":
            result[key] = ""  # no bearer token
        else:
            result[key] = parser.check(value, path, pattern(ENV_NAME, "an environment variable name"))
    return tuple(result.items())


def phase_input_setting(parser: SpecParser, top: Mapping[str, Any], target: str, check: Check) -> Setting | None:
    """``phase_input`` (GitLab and Azure DevOps; default ``meshpipe_phase``, null for none); ``None`` for the other
    targets, whose specs may not have the key (:meth:`SpecParser.foreign_keys` says so)."""
    if target not in ("gitlab", "azure_devops"):
        return None
    return parser.setting(
        top, "phase_input", "", variable="phase_input", check=check, default=PHASE_INPUT, nullable=True
    )


def credential_purposes(spec: ModuleSpec) -> tuple[tuple[str, str], ...]:
    """(environment variable, purpose) of a non-GitHub target's credentials for its auth mode."""
    auth = spec.auth_settings
    mode = auth.get("mode", "")
    rows: list[tuple[str, str]] = []
    if spec.target == "gitlab":
        if mode in ("auto", "trigger_token"):
            rows.append((auth["trigger_token_env"], "GitLab pipeline trigger token of the project (creates pipelines)"))
        if mode in ("auto", "access_token"):
            rows.append(
                (auth["token_env"], "GitLab project/group access token with the `api` scope (creates, reads pipelines)")
            )
        elif mode == "trigger_token":
            rows.append((auth["token_env"], "optional GitLab access token (`read_api`) to wait and check lost answers"))
    elif spec.target == "azure_devops":
        if mode in ("auto", "pat"):
            rows.append((auth["pat_env"], "Azure DevOps personal access token with Build: Read & execute"))
        if mode in ("auto", "entra"):
            rows.append((auth["token_env"], "Microsoft Entra ID access token for Azure DevOps (Bearer)"))
    else:
        rows.append((auth["secret_env"], "HMAC-SHA256 key that signs every webhook delivery"))
        if auth.get("token_env"):
            rows.append((auth["token_env"], "bearer token the webhook receiver demands"))
    return tuple(rows)


def input_nouns(target: str) -> str:
    """What an input is called for ``target`` (``GitHub input``, ``Azure Pipelines parameter``)."""
    return INPUT_NOUNS[target]
