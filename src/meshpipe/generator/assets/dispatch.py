"""meshpipe dispatcher: start a CI/CD pipeline for a Trigger Module and optionally wait for it.

Runs on meshStack's runner through ``local-exec`` (``python3 dispatch.py apply|destroy``), so it uses the Python 3.8+
standard library only; GitHub App JWTs are signed (RS256) with the optional ``cryptography`` package when it is
importable, otherwise with the standard library (a small DER reader for PKCS#1 and PKCS#8 keys, CRT signing): the
runner image has no ``openssl`` command and nothing guarantees ``cryptography``. Every value arrives in the
``MESHPIPE_DISPATCH`` JSON environment variable; secrets (tokens, keys, sensitive inputs) are read from the process
environment by name and never printed.

Targets. The configuration's ``target`` says where the pipeline runs: ``github`` (GitHub Actions; the default, so a
configuration stored by a module from before targets is GitHub's), ``gitlab``, ``azure_devops`` or ``webhook``.
Each target is one sibling module (``TARGET_MODULES``: ``dispatch_github.py``, ``dispatch_gitlab.py``,
``dispatch_azure.py``, ``dispatch_webhook.py``), imported only when chosen; a module ships only its own target's
file. A target module offers ``TARGET``, ``parse_settings(data, phase)`` (its settings: GitHub's are the flat keys
``api_url``, ``repository``, ``ref``, ``event``, ``workflow``, ``event_type``, ``return_run_details`` and ``auth``;
every other target's are one object named after it, e.g. ``"gitlab": {...}``, and flat GitHub keys are then unknown
keys) and ``make_client(config, environ, http_deadline, clock)``, whose client builds on ``dispatch_client.BaseClient``.
Errors in the settings name the whole key path (``MESHPIPE_DISPATCH.gitlab.auth.mode: ...``). An unknown target fails
both phases: nothing can be sent without knowing where. The common keys mean the same for every target;
``phase_input`` names an input that receives the phase (``apply`` or ``destroy``), for targets where one pipeline
serves both. In phase ``destroy`` a configuration without its destroy item (GitHub: ``workflow`` or ``event_type``;
GitLab: ``ref``; Azure DevOps: ``pipeline_id``; webhook: ``event``) means the module has no destroy pipeline: the
dispatcher logs that nothing fires and exits 0 without any request or credentials.

One variable holds at most 128 KiB, so the configuration may come in chunks, joined in index order up to the first
missing index: base64 in ``MESHPIPE_DISPATCH_B64_0``, ``_1``, ... (what the modules pass), else JSON text in
``MESHPIPE_DISPATCH_0``, ``_1``, ..., else a single ``MESHPIPE_DISPATCH``. An unknown key fails an apply and only
warns in a destroy: a destroy must stay possible.

The meshStack run is resolved at execution time. The definition's pre-run script writes the run file (``run_file``,
``.meshpipe-run.json`` in terraform's working directory: mode, run URL and uuid, behavior, building block uuid,
workspace, project — nothing secret). When it exists (and names the same building block), its values win over the
configuration's: the behavior, the run URL sent as ``run_url_input``, every ``context_inputs`` field and the run
uuid. A saved-plan replay thus dispatches with the APPLY run's URL, and a destroy carries the DESTROY run's URL. A
malformed run file fails an apply with one line; a destroy warns and uses its stored configuration. The apply phase
fires nothing for DESTROY (async destroy applies first) and DETECT, and treats an unknown behavior like APPLY with a
warning; the destroy phase never refuses a behavior.

Networks: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` are honoured (urllib's rules), and a CA bundle named by
``CUSTOM_CA_CERTS_PATH`` (meshStack's runner passes it), else ``SSL_CERT_FILE`` or ``REQUESTS_CA_BUNDLE``, is trusted
in addition to the system's. The runner cleans the environment: proxies reach the dispatcher only when the definition
declares them as environment inputs.

Exactly once. Every dispatch carries a correlation id (sent as ``correlation_input`` and found in the run's title). When
the meshStack run is known it is derived from the building block, the run, the fingerprint and the target's identity
(its ``Settings.identity``; GitHub's ids are the same as before targets), so every attempt at one logical dispatch
carries the same id; otherwise it is random, and the log says so. A POST that may have
started a run (a 5xx, a timeout, a reset — anything once the connection was made; a refused connection, a failed DNS
lookup or a rejected certificate send nothing) is never sent again before the run list was searched for that id, with
polls backing off from 1 s to 15 s for ``MESHPIPE_DISPATCH_SETTLE_SECONDS`` (default 120 s: runs show within seconds,
the list can lag). How a new process knows it is a later attempt: an intent marker ``.meshpipe-dispatch-<id>.json``
(mode 0600, no secret) in terraform's working directory, written before the POST, updated with the run id, removed when
the outcome is certain (success, a refused dispatch, a failed run). A process that finds it adopts the recorded run, or
searches before posting. Searching before every deterministic dispatch instead would cost each dispatch a list request
(issue 10 wants one POST) and could not see a run the list has not shown yet anyway; the marker costs nothing on the
happy path and knows when the earlier attempt happened. Its limit: a later attempt in a fresh working directory
(meshStack gives every run execution one) cannot see it. Without ``correlation_input`` a marked attempt is not sent
again.

Bounds. Every request has a total deadline (``MESHPIPE_DISPATCH_HTTP_TIMEOUT_SECONDS``, default 30 s; a server
dripping bytes cannot extend it) and reads at most 8 MiB; retries, rate-limit waits (an unusable ``Retry-After`` such
as ``nan`` falls back to backoff), the search and the wait are bounded; and the dispatcher stops within about a second
when terraform, its parent, dies. Secrets are masked — also JSON-escaped and URL-encoded — before a message is cut.
Tokens are stripped; a control or non-ASCII character is one line naming the variable, never the value.

Environment switches for tests and operators: ``MESHPIPE_DISPATCH_NO_CRYPTOGRAPHY=1`` forces the standard library
signing path; ``MESHPIPE_DISPATCH_SETTLE_SECONDS`` and ``MESHPIPE_DISPATCH_HTTP_TIMEOUT_SECONDS`` as above. When not
waiting, the dispatcher sends only the POST (no run lookup for the log).

Files. This entry point (the configuration, the run file, the run flow) imports its siblings from its own directory
(every module ships them together): ``dispatch_base.py`` (errors, secrets, output, the clock, configuration rules,
the contract's copy), ``dispatch_net.py`` (HTTP, proxies, TLS, the per-request deadline), ``dispatch_client.py`` (the
target-independent client: the retry loop, rate limits, the run search and the wait), ``dispatch_once.py``
(correlation ids, the intent marker), and the target's files: ``dispatch_github.py`` (GitHub's settings, hints and
client) with ``dispatch_auth.py`` (GitHub tokens, GitHub App JWTs), or ``dispatch_gitlab.py``, ``dispatch_azure.py``,
``dispatch_webhook.py``. The GitHub names this module exports (``Client``, ``choose_auth``, ...) are imported on first
use, so that a run that sends nothing loads neither HTTP nor credential code.

Exit 0 on success; on failure one line on stderr ``meshpipe-dispatch: error: ...`` and exit 1.
"""

from __future__ import annotations

# Only what every path needs is imported here; HTTP, TLS, hashing and the rest are imported where they are used, so
# that a DETECT run or a destroy without a destroy workflow starts in a few milliseconds (issue 10).
import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import ModuleType
    from typing import Any

    from dispatch_client import BaseClient

__version__ = "0.1.0"

# How long a maybe-sent dispatch is looked for before it is sent again: runs show in the list within seconds, the
# research allows minutes (shared/reference/github-dispatch-and-terraform.md: "poll with a short deadline, 2-3 min").
DEFAULT_SETTLE_SECONDS = 120.0

#: every target's keys (the nested object named after a target, and GitHub's flat keys, come on top)
COMMON_KEYS = (
    "version",
    "module",
    "target",
    "inputs",
    "secret_inputs",
    "correlation_input",
    "phase_input",
    "behavior",
    "wait",
    "wait_timeout_seconds",
    "poll_interval_seconds",
    "run_file",
    "run_url_input",
    "context_inputs",
    "run_id",
    "building_block_id",
    "fingerprint",
)
#: GitHub's keys stay flat at the top level (older modules wrote them so) and are valid with target github only
GITHUB_KEYS = ("api_url", "repository", "ref", "event", "workflow", "event_type", "return_run_details", "auth")
#: every key a GitHub configuration may have (the configuration without ``target``)
CONFIG_KEYS = COMMON_KEYS + GITHUB_KEYS
#: the target -> the sibling module that implements it, imported only when chosen (see "Targets" above)
TARGET_MODULES = {
    "github": "dispatch_github",
    "gitlab": "dispatch_gitlab",
    "azure_devops": "dispatch_azure",
    "webhook": "dispatch_webhook",
}
#: a configuration without ``target`` (stored by a module from before targets) is GitHub's
DEFAULT_TARGET = "github"
#: fields of the run file a ``context_inputs`` entry may name, and the run file key each one is read from
CONTEXT_FIELDS = {
    "run_url": "url",
    "run_id": "uuid",
    "building_block_id": "buildingBlockUuid",
    "behavior": "behavior",
    "workspace": "workspace",
    "project": "project",
}
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")

# The siblings ship next to this file in every module. Under ``python3 -I -S`` (how the modules run it) the script's
# directory is not on sys.path, so it is added here (last: nothing may shadow the standard library); no bytecode is
# written, because the module directory is meshStack's working directory and drift checks compare it.
_WRITE_BYTECODE = sys.dont_write_bytecode
sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)
from dispatch_base import (  # noqa: E402
    AUTH_MODES,
    AZURE_AUTH_MODES,
    BEHAVIORS,
    DEFAULT_AUTH,
    DEFAULT_AZURE_AUTH,
    DEFAULT_GITLAB_AUTH,
    DEFAULT_WEBHOOK_AUTH,
    ERROR_PREFIX,
    EVENTS,
    GITLAB_AUTH_MODES,
    MAX_RUN_FILE_BYTES,
    PHASE_INPUT,
    PHASES,
    SECRETS,
    TARGETS,
    WEBHOOK_EVENT_HEADER,
    WEBHOOK_IDEMPOTENCY_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    ApiError,
    Clock,
    ConfigError,
    DispatchError,
    Secrets,
    TransportError,
    _reason,
    _write,
    add_secret,
    backoff_delay,
    check_token,
    credential,
    format_error,
    log,
    opt_string,
    positive,
    printable,
    redact,
    rule,
    string,
    string_map,
    value_map,
    warn,
)
from dispatch_once import (  # noqa: E402
    FIND_DEADLINE_SECONDS,
    Marker,
    correlation_id,
    locate_run,
    resume,
)

sys.dont_write_bytecode = _WRITE_BYTECODE

#: names of the siblings that are imported on first use (``dispatcher.Client``, ``from dispatch import Http``), so
#: that a run that sends nothing loads no client, HTTP or credential code
_LAZY = {
    "dispatch_client": (
        "MAX_ATTEMPTS",
        "MAX_SINGLE_WAIT_SECONDS",
        "MAX_TOTAL_RATE_LIMIT_WAIT_SECONDS",
        "BaseClient",
        "post_outcome",
        "repeat_outcome",
        "retry_after_delay",
        "should_retry_get",
    ),
    "dispatch_github": (
        "Client",
        "GitHubClient",
        "app_token_hint",
        "hint_for",
        "is_rate_limited",
        "match_run",
        "rate_limit_delay",
        "run_hint",
    ),
    "dispatch_auth": (
        "choose_auth",
        "jwt_claims",
        "load_private_key",
        "make_jwt",
        "resolve_token",
        "rsa_numbers",
        "sign_rs256",
        "sign_rs256_stdlib",
    ),
    "dispatch_net": ("HTTP_TIMEOUT_SECONDS", "Http", "Response", "ssl_context"),
}
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    """The siblings' names, imported on first use (PEP 562)."""
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(_sibling(module), name)


def _sibling(name: str) -> ModuleType:
    """Import a sibling module by name without writing bytecode next to it."""
    write_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        return __import__(name)
    finally:
        sys.dont_write_bytecode = write_bytecode


#: the dispatcher's surface, its siblings' names included: one module to read and to test
__all__ = [
    "AUTH_MODES",
    "AZURE_AUTH_MODES",
    "BEHAVIORS",
    "COMMON_KEYS",
    "CONFIG_KEYS",
    "CONTEXT_FIELDS",
    "DEFAULT_AUTH",
    "DEFAULT_AZURE_AUTH",
    "DEFAULT_GITLAB_AUTH",
    "DEFAULT_SETTLE_SECONDS",
    "DEFAULT_TARGET",
    "DEFAULT_WEBHOOK_AUTH",
    "EVENTS",
    "FIND_DEADLINE_SECONDS",
    "GITHUB_KEYS",
    "GITLAB_AUTH_MODES",
    "MAX_RUN_FILE_BYTES",
    "PHASES",
    "PHASE_INPUT",
    "SECRETS",
    "TARGETS",
    "TARGET_MODULES",
    "WEBHOOK_EVENT_HEADER",
    "WEBHOOK_IDEMPOTENCY_HEADER",
    "WEBHOOK_SIGNATURE_HEADER",
    "WEBHOOK_TIMESTAMP_HEADER",
    "ApiError",
    "Clock",
    "Config",
    "ConfigError",
    "DispatchError",
    "Marker",
    "RunContext",
    "Secrets",
    "TransportError",
    "add_secret",
    "backoff_delay",
    "build_inputs",
    "check_token",
    "config_from_chunks",
    "correlation_id",
    "credential",
    "dispatch_and_wait",
    "format_error",
    "locate_run",
    "log",
    "main",
    "make_client",
    "read_run_file",
    "redact",
    "resume",
    "run",
    "settle_seconds",
    "target_module",
    "warn",
]
__all__ += sorted(_LAZY_NAMES)


# --------------------------------------------------------------------------------------------- configuration


def target_module(target: str) -> ModuleType:
    """The sibling module implementing ``target`` (see :data:`TARGET_MODULES`), imported now and only it.

    A target whose file does not ship with this module is a configuration error, not a traceback.
    """
    name = TARGET_MODULES[target]
    try:
        return _sibling(name)
    except ImportError as exc:
        if getattr(exc, "name", None) != name:
            raise
        raise ConfigError(
            f"MESHPIPE_DISPATCH.target: {target!r} needs {name}.py next to dispatch.py, which this module does not "
            "ship (render the module again)"
        ) from None


class Config:
    """The validated ``MESHPIPE_DISPATCH`` configuration (non-secret values only).

    The common keys are attributes; the target's own part, validated by its module's ``parse_settings``, is
    :attr:`settings` (GitHub: the flat keys; every other target: the object named after it).
    """

    def __init__(self, data: Mapping[str, Any], phase: str = "apply") -> None:
        # The module's variables and the spec validate every value before it is written; these rules, one line each,
        # only keep a hand-edited configuration from misleading the dispatcher (what reaches a URL, a header, a log).
        # The target comes first: it decides which keys are known, and without it nothing can be sent anywhere.
        target = DEFAULT_TARGET if data.get("target") is None else data["target"]
        rule(
            isinstance(target, str) and target in TARGET_MODULES,
            "target",
            f"expected one of {', '.join(TARGET_MODULES)}",
            target,
        )
        self.target: str = target
        known = CONFIG_KEYS if target == "github" else (*COMMON_KEYS, target)
        unknown = sorted(set(data) - set(known))
        if unknown:
            message = f"MESHPIPE_DISPATCH: unknown key {unknown[0]!r}; known keys: {', '.join(known)}"
            if target != "github" and unknown[0] in (*GITHUB_KEYS, *TARGET_MODULES):
                message += f" (GitHub's keys and other targets' objects are not valid with target {target!r})"
            if phase != "destroy":
                raise ConfigError(message)
            warn(message + " (ignored: a destroy must stay possible)")  # e.g. stored by a newer module version
        rule(data.get("version", 1) == 1, "version", "expected 1", data.get("version"))
        self.module = string(data, "module", default="meshpipe-trigger")
        rule(printable(self.module), "module", "expected printable ASCII without spaces", self.module)
        # Typed values (numbers, booleans, lists, objects) only where the target sends them typed (GitLab's
        # spec:inputs, the webhook's JSON body); checked once the target's settings say so.
        self.inputs: dict[str, Any] = value_map(data, "inputs")
        self.secret_inputs = string_map(data, "secret_inputs")
        both = sorted(set(self.inputs) & set(self.secret_inputs))
        rule(not both, f"secret_inputs.{''.join(both[:1])}", "also given in inputs")
        self.correlation_input = opt_string(data, "correlation_input")
        self.phase_input = opt_string(data, "phase_input")
        if self.phase_input:
            taken = self.phase_input in (*self.inputs, *self.secret_inputs, self.correlation_input)
            rule(not taken, "phase_input", "names another input too", self.phase_input)
        # Any string: an unknown behavior (a future IMPORT) is treated like APPLY at run time, never refused.
        self.behavior = opt_string(data, "behavior")
        self.run_file = opt_string(data, "run_file")
        self.run_url_input = opt_string(data, "run_url_input")
        self.context_inputs = string_map(data, "context_inputs")
        for name, field in self.context_inputs.items():
            rule(
                field in CONTEXT_FIELDS, f"context_inputs.{name}", f"expected one of {', '.join(CONTEXT_FIELDS)}", field
            )
        self.run_id = opt_string(data, "run_id")
        self.building_block_id = opt_string(data, "building_block_id")
        self.fingerprint = opt_string(data, "fingerprint")
        self.wait = data.get("wait", False)
        rule(isinstance(self.wait, bool), "wait", "expected true or false", self.wait)
        self.wait_timeout = positive(data, "wait_timeout_seconds", 1800.0)
        self.poll_interval = positive(data, "poll_interval_seconds", 10.0)
        self.user_agent = f"meshpipe-dispatch/{__version__} ({self.module})"
        #: the target's own settings (see the target module's ``parse_settings``)
        self.settings: Any = target_module(target).parse_settings(data, phase)
        if not getattr(self.settings, "typed_inputs", False):
            for name, item in self.inputs.items():
                rule(isinstance(item, str), f"inputs.{name}", f"expected a string, got {type(item).__name__}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], phase: str = "apply") -> Config:
        """Parse and validate the configuration (for ``phase``) from an environment mapping.

        The module passes it base64-encoded in ``MESHPIPE_DISPATCH_B64_0``, ``_1``, ... (one variable holds at most
        128 KiB, and base64 keeps every character one byte); also accepted: ``MESHPIPE_DISPATCH_0``, ``_1``, ...
        concatenated in index order up to the first missing index, or a single ``MESHPIPE_DISPATCH``.
        """
        name = "MESHPIPE_DISPATCH"
        raw = config_from_chunks(environ)
        if raw is not None:
            name = "MESHPIPE_DISPATCH_B64_*"
        else:
            parts: list[str] = []
            while f"MESHPIPE_DISPATCH_{len(parts)}" in environ:
                parts.append(environ[f"MESHPIPE_DISPATCH_{len(parts)}"])
            if parts:
                name = f"MESHPIPE_DISPATCH_0..{len(parts) - 1}"
            raw = "".join(parts) if parts else environ.get("MESHPIPE_DISPATCH")
        if not raw:
            raise ConfigError("MESHPIPE_DISPATCH is not set (the Trigger Module passes its configuration there)")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{name}: expected a JSON object")
        return cls(data, phase)

    @property
    def has_target(self) -> bool:
        """Whether there is something to dispatch (False only in a destroy configuration without a destroy item)."""
        return bool(self.settings.has_target)

    @property
    def subject(self) -> str:
        """What is dispatched, for log lines (e.g. ``apply.yml on main``)."""
        return str(self.settings.subject)


def config_from_chunks(environ: Mapping[str, str]) -> str | None:
    """The configuration the module passes base64-encoded in ``MESHPIPE_DISPATCH_B64_0``, ``_1``, ... (None if absent).

    One environment variable may hold at most 128 KiB, and inputs GitHub accepts can exceed that once JSON-escaped.
    """
    chunks: list[str] = []
    while f"MESHPIPE_DISPATCH_B64_{len(chunks)}" in environ:
        chunks.append(environ[f"MESHPIPE_DISPATCH_B64_{len(chunks)}"])
    if not chunks:
        return None
    import binascii

    text = "".join(chunks)
    try:
        if not set(text) <= _B64_CHARS or len(text) % 4:
            raise ValueError(text[:0])
        return binascii.a2b_base64(text).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ConfigError("MESHPIPE_DISPATCH_B64_*: not base64-encoded UTF-8") from None


# --------------------------------------------------------------------------------------------- the meshStack run


class RunContext:
    """What the dispatcher knows about the current meshStack run, and where it learnt it.

    Terraform's values (from the deprecated run variables) come first; the run file that the definition's pre-run
    script writes on every run wins over them, because a saved-plan replay or a DETECT run has no run variables and a
    plan freezes what Terraform knew at plan time.
    """

    def __init__(self, config: Config, run_file: Mapping[str, str | None] | None = None) -> None:
        self.from_file = run_file is not None
        file = run_file or {}
        known = {"behavior": config.behavior, "uuid": config.run_id, "buildingBlockUuid": config.building_block_id}
        known["url"] = config.inputs.get(config.run_url_input) if config.run_url_input else None
        for name, field in config.context_inputs.items():
            if known.get(CONTEXT_FIELDS[field]) is None:
                known[CONTEXT_FIELDS[field]] = config.inputs.get(name)
        self.values = {key: file.get(key) or known.get(key) for key in set(known) | set(file)}
        # A run file without a behavior still names the mode the runner runs in.
        self.behavior = self.values.get("behavior") or (file.get("mode") if file else None)
        self.run_id = self.values.get("uuid")
        self.building_block_id = self.values.get("buildingBlockUuid")

    def field(self, name: str) -> str | None:
        """The value of a ``context_inputs`` field (``run_url``, ``workspace``, ...)."""
        return self.behavior if name == "behavior" else self.values.get(CONTEXT_FIELDS[name])


def read_run_file(config: Config, phase: str) -> dict[str, str | None] | None:
    """The run file the pre-run script wrote, or None when there is none (or, in destroy, when it is unusable).

    A malformed file fails an apply with one line; a destroy warns and falls back to its stored configuration,
    because a destroy must stay possible. A file of another building block is ignored with a warning.
    """
    if not config.run_file or not os.path.isfile(config.run_file):
        return None
    try:
        with open(config.run_file, "rb") as handle:
            raw = handle.read(MAX_RUN_FILE_BYTES + 1)
        if len(raw) > MAX_RUN_FILE_BYTES:
            raise ValueError(f"larger than {MAX_RUN_FILE_BYTES // 1024} KiB")
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        if data.get("version") != 1:
            raise ValueError(f"version: expected 1, got {data.get('version')!r}")
        for key, value in data.items():
            if key != "version" and value is not None and not isinstance(value, str):
                raise ValueError(f"{key}: expected a string or null, got {type(value).__name__}")
    except (OSError, ValueError) as exc:
        message = f"run file {config.run_file}: {_reason(exc) if isinstance(exc, OSError) else exc}"
        if phase != "destroy":
            raise ConfigError(message + " (the definition's pre-run script writes it)") from None
        warn(message + "; using the stored configuration instead")
        return None
    found, expected = data.get("buildingBlockUuid"), config.building_block_id
    if found and expected and found != expected:
        warn(f"run file {config.run_file} belongs to building block {found}, not {expected}: ignored")
        return None
    return {key: value for key, value in data.items() if key != "version"}


def build_inputs(
    config: Config,
    environ: Mapping[str, str],
    correlation_id: str,
    context: RunContext | None = None,
    phase: str | None = None,
) -> dict[str, str]:
    """The inputs to send: static ones, the run's context, secret ones read from the environment now, the
    correlation id and (with ``phase_input``) the phase, ``apply`` or ``destroy``."""
    inputs = dict(config.inputs)
    if context is not None and context.from_file:
        for name, field in config.context_inputs.items():
            value = context.field(field)
            if value is not None:
                inputs[name] = value
        if config.run_url_input and context.field("run_url"):
            inputs[config.run_url_input] = context.field("run_url") or ""
    for name, env in sorted(config.secret_inputs.items()):
        value = environ.get(env)
        if value is None:
            raise ConfigError(f"secret input {name!r}: environment variable {env} is not set")
        add_secret(value)
        inputs[name] = value
    if config.correlation_input:
        inputs[config.correlation_input] = correlation_id
    if config.phase_input and phase:
        inputs[config.phase_input] = phase
    return inputs


# --------------------------------------------------------------------------------------------- entry point


def settle_seconds(environ: Mapping[str, str]) -> float:
    """How long to look for a run whose dispatch answer was lost (``MESHPIPE_DISPATCH_SETTLE_SECONDS``)."""
    return _seconds(environ, "MESHPIPE_DISPATCH_SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS, 0.0)


def _seconds(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
        if value != value:  # NaN: a search would never reach its deadline
            raise ValueError(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected seconds, got {raw!r}") from None
    return min(max(value, minimum), FIND_DEADLINE_SECONDS)


def run(argv: list[str], environ: Mapping[str, str], clock: Clock | None = None) -> None:
    """Do the work of :func:`main`; raise :class:`DispatchError` on failure."""
    phase = argv[1] if len(argv) > 1 else ""
    if phase not in PHASES or len(argv) > 2:
        raise ConfigError(f"usage: dispatch.py {{{'|'.join(PHASES)}}} (got {' '.join(argv[1:]) or 'nothing'})")
    config = Config.from_env(environ, phase)
    # Register the credentials first so that no later message can carry them, whatever fails.
    for name in config.settings.secret_envs:
        if name:
            add_secret(environ.get(name))
    if phase == "destroy" and not config.has_target:
        # The module's destroy hook always runs; a version without a destroy item disables the teardown.
        log(config, f"no destroy {_destroy_item(config)} configured: nothing to fire")
        return
    context = RunContext(config, read_run_file(config, phase))
    if phase == "apply" and context.behavior in ("DESTROY", "DETECT"):
        why = "a DESTROY run applies before destroying" if context.behavior == "DESTROY" else "DETECT only plans"
        log(config, f"behavior {context.behavior}: not dispatching the apply {_apply_item(config)} ({why})")
        return
    if phase == "apply" and context.behavior not in (None, *BEHAVIORS):
        warn(f"unknown behavior {context.behavior!r}: treated like APPLY")
    cid, deterministic = correlation_id(config, context, phase)
    if not deterministic:
        log(config, "no meshStack run id known: the correlation id is random, a later attempt cannot recognise it")
    inputs = build_inputs(config, environ, cid, context, phase)
    deadline = _seconds(
        environ, "MESHPIPE_DISPATCH_HTTP_TIMEOUT_SECONDS", _sibling("dispatch_net").HTTP_TIMEOUT_SECONDS, 0.1
    )
    client = make_client(config, environ, deadline, clock or Clock())
    client.check_inputs(inputs)  # before the marker: a refused value never leaves a dispatch to resume
    marker = Marker(cid) if deterministic else None
    try:
        dispatch_and_wait(client, inputs, cid, marker, settle_seconds(environ))
    except DispatchError as exc:
        if marker is not None and exc.definite:
            marker.forget()
        raise
    if marker is not None:
        marker.forget()


def make_client(config: Config, environ: Mapping[str, str], http_deadline: float, clock: Clock) -> BaseClient:
    """The target's client with its credentials from the environment (the target module's ``make_client``)."""
    client: BaseClient = target_module(config.target).make_client(config, environ, http_deadline, clock)
    return client


def _destroy_item(config: Config) -> str:
    """What a destroy configuration lacks when it fires nothing, for the log line."""
    if config.target == "github":
        return "workflow" if config.settings.event == "workflow_dispatch" else "event type"
    return {"gitlab": "pipeline ref", "azure_devops": "pipeline", "webhook": "event"}.get(config.target, "target")


def _apply_item(config: Config) -> str:
    """What the apply phase would start, for the log line."""
    return "workflow" if config.target == "github" else {"webhook": "delivery"}.get(config.target, "pipeline")


def dispatch_and_wait(
    client: BaseClient, inputs: Mapping[str, str], cid: str, marker: Marker | None, settle: float
) -> None:
    """Dispatch once (or pick up an earlier attempt's run), then wait when configured."""
    config = client.config
    clock = client.clock
    started = clock.monotonic()
    earlier = marker.load() if marker is not None else None
    run_id, html_url = resume(client, marker, earlier, cid, settle) if marker and earlier else (None, "")
    sent = earlier is not None and (earlier.get("state") == "sent" or run_id is not None)
    dispatched_at = float(earlier.get("created") or clock.wall()) if sent and earlier else clock.wall()
    if not sent:
        if marker is not None:
            marker.save(state="intent", created=dispatched_at)
        run_id, html_url = client.dispatch(inputs, cid, settle)
        if marker is not None:
            marker.save(state="sent", created=dispatched_at, run_id=run_id, html_url=html_url)
    if run_id is None and config.correlation_input and config.wait:
        run_id, html_url = locate_run(client, cid, dispatched_at)
    if run_id is None:
        if config.wait:
            raise DispatchError(
                f"dispatched {config.subject} but {client.service} returned no {client.run_word} id, so the "
                f"{client.run_word} cannot be awaited (hint: {client.correlation_hint()})"
            )
        suffix = f" (correlation id {cid})" if config.correlation_input else ""
        client.log(f"dispatched {config.subject}: {client.run_word} id unknown{suffix}")
        return
    client.log(f"dispatched {config.subject}: {client.run_word} {run_id} {html_url}".rstrip())
    if config.wait:
        client.wait(run_id, html_url, started)


def main(argv: list[str], environ: Mapping[str, str]) -> int:
    """Run the dispatcher; return the exit code (0 success, 1 failure, 130 interrupted)."""
    SECRETS.forms.clear()
    try:
        run(argv, environ, Clock(os.getppid()))
    except DispatchError as exc:
        _write(sys.stderr, format_error(exc))
        return 1
    except KeyboardInterrupt:
        _write(sys.stderr, ERROR_PREFIX + "interrupted")
        return 130
    except Exception as exc:  # a bug must still print one line without a traceback that could hold secrets
        _write(sys.stderr, format_error(DispatchError(f"internal error: {_reason(exc)}")))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv, os.environ))
