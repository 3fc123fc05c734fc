"""meshpipe dispatcher: start a GitHub Actions workflow for a Trigger Module and optionally wait for it.

Runs on meshStack's runner through ``local-exec`` (``python3 dispatch.py apply|destroy``), so it uses the Python 3.8+
standard library only; GitHub App JWTs are signed (RS256) with the optional ``cryptography`` package when it is
importable, otherwise with the standard library (a small DER reader for PKCS#1 and PKCS#8 keys, CRT signing): the
runner image has no ``openssl`` command and nothing guarantees ``cryptography``. Every value arrives in the
``MESHPIPE_DISPATCH`` JSON environment variable; secrets (the token, the App key, sensitive inputs) are read from
the process environment by name and never printed. In phase ``destroy`` a configuration without a ``workflow`` (or
``event_type``) means the module has no destroy workflow: the dispatcher logs that nothing fires and exits 0 without
any request or credentials.

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
the meshStack run is known it is derived from the building block, the run, the fingerprint and the target, so every
attempt at one logical dispatch carries the same id; otherwise it is random, and the log says so. A POST that may have
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

Exit 0 on success; on failure one line on stderr ``meshpipe-dispatch: error: ...`` and exit 1.
"""

from __future__ import annotations

# Only what every path needs is imported here; HTTP, TLS, hashing and the rest are imported where they are used, so
# that a DETECT run or a destroy without a destroy workflow starts in a few milliseconds (issue 10).
import json
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Mapping
    from typing import Any

__version__ = "0.1.0"

PHASES = ("apply", "destroy")
# [[[contract: generated from meshpipe/contract.py by `make render`; edit it there
BEHAVIORS = ("APPLY", "DESTROY", "DETECT")
EVENTS = ("workflow_dispatch", "repository_dispatch")
AUTH_MODES = ("auto", "token", "app")
DEFAULT_AUTH = {
    "mode": "auto",
    "token_env": "GITHUB_TOKEN",
    "app_id_env": "GITHUB_APP_ID",
    "installation_id_env": "GITHUB_APP_INSTALLATION_ID",
    "private_key_env": "GITHUB_APP_PEM_FILE",
}
# ]]]contract
API_VERSION = "2022-11-28"
HTTP_TIMEOUT_SECONDS = 30.0
MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
MAX_SINGLE_WAIT_SECONDS = 120.0
MAX_TOTAL_RATE_LIMIT_WAIT_SECONDS = 300.0
SECONDARY_RATE_LIMIT_WAIT_SECONDS = 60.0
FIND_DEADLINE_SECONDS = 300.0
# How long a maybe-sent dispatch is looked for before it is sent again: runs show in the list within seconds, the
# research allows minutes (shared/reference/github-dispatch-and-terraform.md: "poll with a short deadline, 2-3 min").
DEFAULT_SETTLE_SECONDS = 120.0
LIST_POLL_CAP_SECONDS = 15.0
MAX_BODY_BYTES = 8 << 20
PARENT_CHECK_SECONDS = 1.0
PROGRESS_EVERY_SECONDS = 30.0
LIST_LOOKBACK_SECONDS = 120
MIN_SECRET_LENGTH = 4
ERROR_PREFIX = "meshpipe-dispatch: error: "


CONFIG_KEYS = (
    "version",
    "module",
    "api_url",
    "repository",
    "ref",
    "event",
    "workflow",
    "event_type",
    "inputs",
    "secret_inputs",
    "correlation_input",
    "behavior",
    "wait",
    "wait_timeout_seconds",
    "poll_interval_seconds",
    "return_run_details",
    "auth",
    "run_file",
    "run_url_input",
    "context_inputs",
    "run_id",
    "building_block_id",
    "fingerprint",
)
#: fields of the run file a ``context_inputs`` entry may name, and the run file key each one is read from
CONTEXT_FIELDS = {
    "run_url": "url",
    "run_id": "uuid",
    "building_block_id": "buildingBlockUuid",
    "behavior": "behavior",
    "workspace": "workspace",
    "project": "project",
}
MAX_RUN_FILE_BYTES = 64 * 1024
WARNING_PREFIX = "meshpipe-dispatch: warning: "
#: where a custom CA bundle may be named, first found wins (meshStack's runner passes CUSTOM_CA_CERTS_PATH)
CA_BUNDLE_VARIABLES = ("CUSTOM_CA_CERTS_PATH", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _printable(text: str) -> bool:
    """Printable ASCII without spaces."""
    return bool(text) and all("\x21" <= char <= "\x7e" for char in text)


class DispatchError(Exception):
    """A failure reported as one line on stderr (exit 1).

    ``definite`` says that the dispatch's outcome is certain (GitHub refused it, or its run failed), so a later
    apply is a new dispatch rather than another attempt at this one.
    """

    definite = False


class ConfigError(DispatchError):
    """The ``MESHPIPE_DISPATCH`` configuration or the environment is invalid."""


class ApiError(DispatchError):
    """GitHub answered with an error status."""

    def __init__(self, method: str, url: str, status: int, message: str, hint: str = "") -> None:
        self.method, self.url, self.status, self.message, self.hint = method, url, status, message, hint
        suffix = f" (hint: {hint})" if hint else ""
        super().__init__(f"{method} {url} -> {status}: {message}{suffix}")


class TransportError(DispatchError):
    """No HTTP answer. ``maybe_sent`` is False only when the connection could not be made, so nothing was sent.

    ``permanent`` failures (a rejected certificate) are not worth another attempt.
    """

    def __init__(self, method: str, url: str, reason: str, maybe_sent: bool, permanent: bool = False) -> None:
        self.method, self.url, self.reason, self.maybe_sent = method, url, reason, maybe_sent
        self.permanent = permanent
        super().__init__(f"{method} {url} -> no response: {reason}")


# --------------------------------------------------------------------------------------------- secrets and output


class Secrets:
    """The values no line may show, in every form they take in a server's answer or a message.

    One registry per process, on purpose: every line the dispatcher writes passes :func:`redact`, whereas a registry
    handed to each writer would be one forgotten argument away from a leak. :func:`main` starts with an empty one;
    tests may build their own.
    """

    def __init__(self) -> None:
        self.forms: set[str] = set()

    def add(self, value: str | None) -> None:
        """Remember a secret: stripped, whitespace collapsed to one line, JSON-escaped (a 422 body echoes an input
        with ``"`` or ``\\`` escaped) and URL-encoded. Values shorter than ``MIN_SECRET_LENGTH`` are ignored."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        forms = {value, value.strip(), " ".join(value.split())}
        for form in list(forms):
            forms.update((json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1]))
            forms.update((_percent(form, ""), _percent(form, " ").replace(" ", "+")))
        self.forms.update(form for form in forms if len(form) >= MIN_SECRET_LENGTH)

    def redact(self, text: str) -> str:
        """``text`` with every known form replaced by ``***`` (longest first, so overlapping secrets vanish whole)."""
        for secret in sorted(self.forms, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


#: the process's secrets (see :class:`Secrets`)
SECRETS = Secrets()


def add_secret(value: str | None) -> None:
    """Remember a secret in the process's registry so that :func:`redact` masks it (see :meth:`Secrets.add`)."""
    SECRETS.add(value)


def _percent(text: str, keep: str) -> str:
    """``text`` percent-encoded as ``urllib.parse.quote(text, safe="")`` does, leaving the characters in ``keep``."""
    return "".join(
        chr(byte) if chr(byte) in _NAME_CHARS or chr(byte) in keep or byte == 0x7E else f"%{byte:02X}"
        for byte in text.encode("utf-8")
    )


def redact(text: str) -> str:
    """Replace every secret of the process's registry in ``text`` with ``***``."""
    return SECRETS.redact(text)


def _write(stream: Any, text: str) -> None:
    line = redact(text).replace("\r", " ").replace("\n", " ") + "\n"
    try:
        try:
            stream.write(line)
        except UnicodeEncodeError:
            stream.write(line.encode("ascii", "backslashreplace").decode("ascii"))
        stream.flush()
    except OSError:  # terraform, reading the other end, is gone
        pass


def log(config: Config, message: str) -> None:
    """A progress line on stdout, prefixed with the module name."""
    _write(sys.stdout, f"[{config.module}] {message}")


def warn(message: str) -> None:
    """A warning line on stderr: something was off, the dispatcher carries on."""
    _write(sys.stderr, WARNING_PREFIX + message)


def format_error(error: BaseException) -> str:
    """The one stderr line for a failure, secrets masked."""
    return redact(ERROR_PREFIX + " ".join(str(error).split()))


# --------------------------------------------------------------------------------------------- configuration


class Config:
    """The validated ``MESHPIPE_DISPATCH`` configuration (non-secret values only)."""

    def __init__(self, data: Mapping[str, Any], phase: str = "apply") -> None:
        # The module's variables and the spec validate every value before it is written; these rules, one line each,
        # only keep a hand-edited configuration from misleading the dispatcher (what reaches a URL, a header, a log).
        unknown = sorted(set(data) - set(CONFIG_KEYS))
        if unknown:
            message = f"MESHPIPE_DISPATCH: unknown key {unknown[0]!r}; known keys: {', '.join(CONFIG_KEYS)}"
            if phase != "destroy":
                raise ConfigError(message)
            warn(message + " (ignored: a destroy must stay possible)")  # e.g. stored by a newer module version
        _rule(data.get("version", 1) == 1, "version", "expected 1", data.get("version"))
        self.module = _str(data, "module", default="meshpipe-trigger")
        _rule(_printable(self.module), "module", "expected printable ASCII without spaces", self.module)
        self.api_url = _str(data, "api_url", default="https://api.github.com").rstrip("/")
        scheme, _, rest = self.api_url.partition("://")
        host = rest.split("/", 1)[0]
        _rule(scheme in ("http", "https") and _printable(host), "api_url", "expected an http(s) URL", self.api_url)
        self.repository = _str(data, "repository")
        owner, _, repo = self.repository.partition("/")
        _rule(
            owner and repo and set(owner + repo) <= _NAME_CHARS, "repository", "expected 'owner/repo'", self.repository
        )
        self.event = _str(data, "event", default="workflow_dispatch")
        _rule(self.event in EVENTS, "event", f"expected one of {', '.join(EVENTS)}", self.event)
        self.ref = _str(data, "ref", default="main")
        self.workflow, self.event_type = _opt_str(data, "workflow"), _opt_str(data, "event_type")
        # Only the destroy phase may have no target: the module then has no destroy workflow and fires nothing.
        target_key = "workflow" if self.event == "workflow_dispatch" else "event_type"
        _rule(self.has_target or phase == "destroy", target_key, f"required for event {self.event}")
        self.inputs, self.secret_inputs = _str_map(data, "inputs"), _str_map(data, "secret_inputs")
        both = sorted(set(self.inputs) & set(self.secret_inputs))
        _rule(not both, f"secret_inputs.{''.join(both[:1])}", "also given in inputs")
        self.correlation_input = _opt_str(data, "correlation_input")
        # Any string: an unknown behavior (a future IMPORT) is treated like APPLY at run time, never refused.
        self.behavior = _opt_str(data, "behavior")
        self.run_file = _opt_str(data, "run_file")
        self.run_url_input = _opt_str(data, "run_url_input")
        self.context_inputs = _str_map(data, "context_inputs")
        for name, field in self.context_inputs.items():
            _rule(
                field in CONTEXT_FIELDS, f"context_inputs.{name}", f"expected one of {', '.join(CONTEXT_FIELDS)}", field
            )
        self.run_id = _opt_str(data, "run_id")
        self.building_block_id = _opt_str(data, "building_block_id")
        self.fingerprint = _opt_str(data, "fingerprint")
        self.wait = data.get("wait", False)
        _rule(isinstance(self.wait, bool), "wait", "expected true or false", self.wait)
        self.wait_timeout = _positive(data, "wait_timeout_seconds", 1800.0)
        self.poll_interval = _positive(data, "poll_interval_seconds", 10.0)
        # GHES up to 3.20 rejects the key with a 400; the module knows the flavour, so GHES gets one POST, not two.
        self.return_run_details = data.get("return_run_details", True)
        _rule(isinstance(self.return_run_details, bool), "return_run_details", "expected true or false")
        auth = data.get("auth") or {}
        _rule(isinstance(auth, dict), "auth", "expected an object")
        unknown = sorted(set(auth) - set(DEFAULT_AUTH))
        _rule(not unknown, f"auth.{''.join(unknown[:1])}", f"unknown key; known: {', '.join(DEFAULT_AUTH)}")
        self.auth = {key: _str(auth, key, default=default, path="auth.") for key, default in DEFAULT_AUTH.items()}
        _rule(self.auth["mode"] in AUTH_MODES, "auth.mode", f"expected one of {', '.join(AUTH_MODES)}")

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
        """Whether there is something to dispatch: a workflow file or a repository_dispatch event type."""
        return bool(self.workflow if self.event == "workflow_dispatch" else self.event_type)

    @property
    def target(self) -> str:
        """What is dispatched, for log lines: the workflow file or the repository_dispatch event type."""
        if self.event == "workflow_dispatch":
            return f"{self.workflow} on {self.ref}"
        return f"repository_dispatch {self.event_type!r} to {self.repository}"


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


def _rule(ok: object, key: str, problem: str, *got: object) -> None:
    """One rule of the configuration: unless ``ok``, fail with ``MESHPIPE_DISPATCH.<key>: <problem>[, got <value>]``."""
    if not ok:
        raise ConfigError(f"MESHPIPE_DISPATCH.{key}: {problem}" + "".join(f", got {value!r}" for value in got))


def _str(data: Mapping[str, Any], key: str, default: str | None = None, path: str = "") -> str:
    value = default if data.get(key) is None else data[key]
    _rule(isinstance(value, str) and value, path + key, "expected a non-empty string", value)
    return str(value)


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    _rule(value is None or isinstance(value, str), key, "expected a string or null", value)
    return value or None


def _str_map(data: Mapping[str, Any], key: str) -> dict[str, str]:
    value = data.get(key) or {}
    _rule(isinstance(value, dict), key, "expected an object of strings")
    for name, item in value.items():
        _rule(isinstance(item, str), f"{key}.{name}", f"expected a string, got {type(item).__name__}")
    return dict(value)


def _positive(data: Mapping[str, Any], key: str, default: float) -> float:
    value = default if data.get(key) is None else data[key]
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0
    _rule(ok, key, "expected a positive number", value)
    return float(value)


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
    config: Config, environ: Mapping[str, str], correlation_id: str, context: RunContext | None = None
) -> dict[str, str]:
    """The inputs to send: static ones, the run's context, secret ones read from the environment now, and the
    correlation id."""
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
    return inputs


# --------------------------------------------------------------------------------------------- HTTP


class Response:
    """An HTTP answer: status, lower-cased headers, raw body."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def json(self) -> Any:
        """The body as JSON, or None when empty or not JSON."""
        try:
            return json.loads(self.body.decode("utf-8")) if self.body else None
        except ValueError:
            return None

    @property
    def message(self) -> str:
        """GitHub's error message (``message`` plus any ``errors``), else the start of the body."""
        data = self.json()
        if isinstance(data, dict) and data.get("message"):
            text = str(data["message"])
            errors = data.get("errors")
            if errors:
                text += " " + json.dumps(errors, ensure_ascii=False)
            return _clip(text)
        return _clip(self.body.decode("utf-8", "replace").strip()) or "(empty body)"


def _clip(text: str, limit: int = 500) -> str:
    """One line of at most ``limit`` characters, secrets masked first: a cut must not leave a secret's start."""
    text = redact(" ".join(text.split()))
    return text if len(text) <= limit else text[:limit] + "..."


class Http:
    """One request at a time with GitHub's headers over ``http.client``; retries live in the callers.

    ``urllib.request`` is not used: it imports ``tempfile``, ``shutil``, ``hashlib`` and three compressors on every
    run. Proxies follow urllib's rules: ``https_proxy``/``http_proxy`` (lower case first), ``no_proxy`` host suffixes
    (with an optional port) or ``*``; HTTPS goes through a CONNECT tunnel, HTTP in absolute form.
    """

    def __init__(
        self,
        user_agent: str,
        token: str | None = None,
        environ: Mapping[str, str] | None = None,
        deadline: float = HTTP_TIMEOUT_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.clock = clock or Clock()
        self.token = token
        self.deadline = deadline
        self.environ = dict(environ or {})
        self.context = ssl_context(self.environ)

    def _connection(self, url: str) -> tuple[Any, str, dict[str, str]]:
        """A connection for ``url`` (direct or through the proxy), the request target and proxy headers."""
        import http.client

        scheme, _, rest = url.partition("://")
        netloc, slash, path = rest.partition("/")
        target = slash + path or "/"
        direct = http.client.HTTPConnection(netloc)  # only parses host and port
        proxy = _proxy(scheme, direct.host, direct.port, self.environ)
        extra: dict[str, str] = {}
        if proxy is not None:
            credentials = proxy[1]
            if credentials:
                import binascii

                basic = binascii.b2a_base64(credentials.encode("utf-8"), newline=False).decode("ascii")
                add_secret(basic)
                extra["Proxy-Authorization"] = f"Basic {basic}"
        if scheme == "https":
            import ssl

            context = self.context or ssl.create_default_context()
            if proxy is None:
                return http.client.HTTPSConnection(netloc, timeout=self.deadline, context=context), target, {}
            connection = http.client.HTTPSConnection(proxy[0], timeout=self.deadline, context=context)
            connection.set_tunnel(direct.host, direct.port, headers=extra)
            return connection, target, {}
        if proxy is None:
            return http.client.HTTPConnection(netloc, timeout=self.deadline), target, {}
        return http.client.HTTPConnection(proxy[0], timeout=self.deadline), url, extra

    def request(self, method: str, url: str, body: Any = None, token: str | None = None) -> Response:
        """Send once; raise :class:`TransportError` when no HTTP answer arrives.

        Whether a failed request may have started something: not when the connection (TCP, the proxy's tunnel, TLS)
        could not be made — nothing was sent; yes for everything after (a timeout, a reset, a lost answer).
        """
        import http.client

        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": self.user_agent,
        }
        bearer = token or self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        data = None
        if body is not None:
            data = json.dumps(body).encode("ascii")
            headers["Content-Type"] = "application/json"
        self.clock.check_parent()
        connection, target, extra = self._connection(url)
        connected = False
        try:
            with _Deadline(self.deadline):
                connection.connect()
                connected = True
                connection.request(method, target, body=data, headers={**headers, **extra})
                answer = connection.getresponse()
                payload = answer.read(MAX_BODY_BYTES + 1)
                status, received = answer.status, dict(answer.getheaders())
        except _Expired:
            reason = f"no complete answer within {self.deadline:g} s"
            raise TransportError(method, url, reason, maybe_sent=connected) from None
        except (OSError, http.client.HTTPException) as exc:
            text = _reason(exc)
            rejected = "CERTIFICATE_VERIFY_FAILED" in text or type(exc).__name__ == "SSLCertVerificationError"
            if rejected:
                text += f" (hint: give the CA bundle's path in {' or '.join(CA_BUNDLE_VARIABLES)})"
            raise TransportError(method, url, text, maybe_sent=connected, permanent=rejected) from None
        except ValueError:
            # http.client rejects control characters in headers; its message would quote the header (the token).
            raise DispatchError(
                f"{method} {url}: invalid request (a header or the URL has control characters)"
            ) from None
        finally:
            connection.close()
        if len(payload) > MAX_BODY_BYTES:
            raise TransportError(method, url, f"answer {status} with a body over {MAX_BODY_BYTES >> 20} MiB", True)
        return Response(status, received, payload)


def _proxy(scheme: str, host: str, port: int, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``(host:port, credentials)`` of the proxy for a request, or None to connect directly (urllib's rules)."""

    def variable(name: str) -> str:
        return (environ.get(name) or environ.get(name.upper()) or "").strip()

    proxy = variable(f"{scheme}_proxy")
    if not proxy:
        return None
    exempt = variable("no_proxy")
    if exempt == "*":
        return None
    for entry in exempt.lower().split(","):
        name, _, only_port = entry.strip().lstrip(".").partition(":")
        matches = host.lower() == name or host.lower().endswith("." + name)
        if name and matches and (not only_port or only_port == str(port)):
            return None
    netloc = proxy.partition("://")[2] if "://" in proxy else proxy
    netloc = netloc.split("/", 1)[0]
    credentials, _, netloc = netloc.rpartition("@")
    if credentials:
        add_secret(credentials)
    return netloc, _unquote(credentials)


def _unquote(text: str) -> str:
    """Percent-decoding (proxy credentials may be percent-encoded in the proxy URL)."""
    out, rest = bytearray(), text
    while "%" in rest:
        head, _, rest = rest.partition("%")
        out += head.encode("utf-8")
        try:
            out.append(int(rest[:2], 16))
            rest = rest[2:]
        except ValueError:
            out += b"%"
    return (out + rest.encode("utf-8")).decode("utf-8", "replace")


class _Expired(Exception):
    """Raised by the alarm when a request outlives its total deadline (not an OSError, which means a socket error)."""


class _Deadline:
    """A total deadline for one request: per-read timeouts alone let a server dripping a byte a second live forever.

    Uses ``SIGALRM`` where it exists and this is the main thread; elsewhere only the per-read timeout applies.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False
        self.previous: Any = None

    def __enter__(self) -> None:
        import signal

        try:
            self.previous = signal.signal(signal.SIGALRM, _expire)
        except (AttributeError, ValueError):  # no SIGALRM (Windows), or not the main thread
            return
        self.armed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            # None: the previous handler was not installed from Python; the default is the closest equivalent.
            signal.signal(signal.SIGALRM, signal.SIG_DFL if self.previous is None else self.previous)


def _expire(signum: int, frame: object) -> None:
    raise _Expired()


def ssl_context(environ: Mapping[str, str]) -> ssl.SSLContext | None:
    """A TLS context that also trusts the CA bundle (file or directory) named by the first variable set, if any."""
    for name in CA_BUNDLE_VARIABLES:
        path = environ.get(name)
        if not path:
            continue
        import ssl

        context = ssl.create_default_context()
        try:
            if os.path.isdir(path):
                context.load_verify_locations(capath=path)
            else:
                context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{name}: cannot load the CA bundle {path}: {_reason(exc)}") from None
        return context
    return None


def _reason(exc: object) -> str:
    if isinstance(exc, BaseException):
        return f"{type(exc).__name__}: {exc}".rstrip(": ")
    return str(exc)


# --------------------------------------------------------------------------------------------- retry policy


def is_rate_limited(status: int, headers: Mapping[str, str], message: str) -> bool:
    """GitHub's primary and secondary rate limits: 429, or 403 with rate-limit headers or message."""
    if status == 429:
        return True
    if status != 403:
        return False
    return headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers or "rate limit" in message.lower()


def rate_limit_delay(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait after a rate limit: ``Retry-After``, else until ``x-ratelimit-reset``, else a minute.

    None when the header GitHub sent is not a finite, non-negative number (``nan``, ``inf``, ``-1``, ``soon``):
    the caller then backs off as after a server error.
    """
    if "retry-after" in headers:
        seconds = _finite(headers["retry-after"])
        return None if seconds is None else min(seconds, MAX_SINGLE_WAIT_SECONDS)
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        reset = _finite(headers["x-ratelimit-reset"])
        return None if reset is None else min(max(reset - now, 0.0) + 1.0, MAX_SINGLE_WAIT_SECONDS)
    return SECONDARY_RATE_LIMIT_WAIT_SECONDS


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value < float("inf") else None  # NaN fails every comparison


def backoff_delay(attempt: int, jitter: float) -> float:
    """Exponential backoff for ``attempt`` (1-based) with ``jitter`` in [0, 1): half fixed, half random."""
    base = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (1 << max(attempt - 1, 0)))
    return base * (0.5 + jitter / 2)


def should_retry_get(status: int | None) -> bool:
    """GETs are safe to repeat: connection errors (``None``), 429 and 5xx."""
    return status is None or status == 429 or status >= 500


def repeat_outcome(status: int | None, maybe_sent: bool, rate_limited: bool) -> str:
    """What to do after a request that is safe to repeat (a GET, creating an installation token): ``done``,
    ``retry`` (connection errors, rate limits, 429, 5xx) or ``fail``."""
    if status is not None and 200 <= status < 300:
        return "done"
    return "retry" if rate_limited or should_retry_get(status) else "fail"


def post_outcome(status: int | None, maybe_sent: bool, rate_limited: bool) -> str:
    """What to do after a dispatch POST: ``done``, ``fail``, ``retry`` (provably not started) or ``check``.

    ``check`` means the POST may have started a run (5xx, timeout, dropped connection): look for a run with the
    correlation id before posting again, so the workflow never starts twice.
    """
    if status is None:
        return "check" if maybe_sent else "retry"
    if status in (200, 201, 204):
        return "done"
    if rate_limited:
        return "retry"
    if status >= 500:
        return "check"
    return "fail"


#: hints for creating a GitHub App installation token
APP_TOKEN_HINTS = {
    401: "the GitHub App JWT was rejected: check the App id, the private key and the runner's clock (JWT clock skew)",
    403: "the GitHub App is not allowed to create installation tokens here",
    404: "GitHub App installation not found: check the installation id and that the App is installed",
}


def app_token_hint(status: int) -> str:
    """A short hint for an error status when creating an installation token."""
    return APP_TOKEN_HINTS.get(status, "")


def run_hint(status: int, config: Config, auth_kind: str) -> str:
    """A short hint for an error status when reading one run: a 404 there means the token cannot read Actions."""
    if status == 404:
        return f"the run is not visible; the token needs `actions: read` on {config.repository}"
    return hint_for(status, config, auth_kind)


def hint_for(status: int, config: Config, auth_kind: str, *, rate_limited: bool = False) -> str:
    """A short hint for an error status of a dispatch or a run search (GitHub's usual causes)."""
    if rate_limited:
        return "GitHub rate limit exceeded; wait for the reset or reduce concurrent runs"
    if status == 401:
        if auth_kind == "app":
            return "the installation token was rejected: check the GitHub App credentials and the runner's clock"
        return f"the token in {config.auth['token_env']} is invalid or expired"
    if status == 403:
        permission = "contents: write" if config.event == "repository_dispatch" else "actions: write"
        return f"the token lacks the `{permission}` permission on {config.repository} (or a rate limit applies)"
    if status == 404:
        if config.event == "repository_dispatch":
            return (
                f"repository {config.repository} not found, or the token cannot see it (private repositories "
                "answer 404)"
            )
        return (
            f"repository {config.repository} or workflow file {config.workflow} not found, or the token cannot see "
            "the repository (private repositories answer 404); the workflow file must exist on the default branch"
        )
    if status == 422:
        return (
            "GitHub rejected the dispatch: check for unexpected or missing inputs, that ref "
            f"{config.ref!r} exists, and that the workflow has a workflow_dispatch trigger on the default branch"
        )
    if status == 400:
        return "GitHub rejected the request body or the API version header"
    if status in (301, 302, 307, 308):
        return f"the repository {config.repository} moved or was renamed; use its new owner/name"
    if status >= 500:
        return "GitHub had a server error; try again later"
    return ""


# --------------------------------------------------------------------------------------------- the client


class Client:
    """Dispatch, find and wait for one run, with bounded retries."""

    def __init__(self, config: Config, http: Http, auth_kind: str, clock: Clock | None = None) -> None:
        self.config = config
        self.http = http
        self.clock = clock or Clock()
        self.auth_kind = auth_kind
        self.rate_limit_waited = 0.0
        owner, repo = config.repository.split("/", 1)
        self.repo_url = f"{config.api_url}/repos/{_q(owner)}/{_q(repo)}"

    def log(self, message: str) -> None:
        """A progress line on stdout."""
        log(self.config, message)

    def _wait_rate_limit(self, method: str, url: str, response: Response, attempt: int) -> None:
        delay = rate_limit_delay(response.headers, self.clock.wall())
        if delay is None:
            delay = self.clock.backoff(attempt)
        if attempt >= MAX_ATTEMPTS or self.rate_limit_waited + delay > MAX_TOTAL_RATE_LIMIT_WAIT_SECONDS:
            hint = hint_for(response.status, self.config, self.auth_kind, rate_limited=True)
            raise ApiError(method, url, response.status, response.message, hint)
        self.log(f"rate limited ({response.status}); retrying in {delay:g} s")
        self.rate_limit_waited += delay
        self.clock.pause(delay)

    def call(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        token: str | None = None,
        hint: Callable[[int], str] | None = None,
        outcome: Callable[[int | None, bool, bool], str] = repeat_outcome,
        check: Callable[[DispatchError, str], dict[str, Any] | None] | None = None,
    ) -> Any:
        """The one retry loop: send until ``outcome`` says ``done`` (return the response) or ``fail``, at most
        ``MAX_ATTEMPTS`` times, waiting out rate limits and backing off after ``retry``.

        ``check`` is for a request that must not be repeated blindly (the dispatch): after a ``check`` outcome (the
        request may have started something) it looks for the result and returns it, or None to send again. A
        failure then carries ``hint(status)`` (by default the hints for reading a run); a ``fail`` of a checked
        request is ``definite``: GitHub refused it, nothing started.
        """
        hints = hint or (lambda status: run_hint(status, self.config, self.auth_kind))
        attempt = 0
        failure: DispatchError
        while True:
            attempt += 1
            try:
                response = self.http.request(method, url, body, token=token)
            except TransportError as exc:
                if exc.permanent:
                    raise
                action, failure, status_text = outcome(None, exc.maybe_sent, False), exc, exc.reason
            else:
                message = response.message if response.status >= 300 else ""
                limited = is_rate_limited(response.status, response.headers, message)
                action = outcome(response.status, True, limited)
                if action == "done":
                    return response
                if action == "retry" and limited:
                    self._wait_rate_limit(method, url, response, attempt)
                    continue
                failure = ApiError(method, url, response.status, message, hints(response.status))
                failure.definite = action == "fail" and check is not None
                status_text = str(response.status)
            if action == "fail":
                raise failure
            if action == "check" and check is not None:
                found = check(failure, status_text)
                if found is not None:
                    return found
            if attempt >= MAX_ATTEMPTS:
                raise failure
            if action == "retry":
                self.clock.pause(self.clock.backoff(attempt))
            if check is not None:
                self.log(f"sending the dispatch again (attempt {attempt + 1} of {MAX_ATTEMPTS})")

    def get(self, url: str, hint: Callable[[int], str] | None = None) -> Any:
        """GET JSON with the retries of :meth:`call`."""
        return self.call("GET", url, hint=hint).json()

    def dispatch(self, inputs: Mapping[str, str], correlation_id: str, settle_seconds: float) -> tuple[Any, str]:
        """POST the dispatch once (modulo provably safe retries); return ``(run_id or None, html_url or "")``."""
        config = self.config
        if config.event == "workflow_dispatch":
            url = f"{self.repo_url}/actions/workflows/{_q(config.workflow or '')}/dispatches"
            body: dict[str, Any] = {"ref": config.ref, "inputs": dict(inputs)}
            if config.return_run_details:
                body["return_run_details"] = True
        else:
            url = f"{self.repo_url}/dispatches"
            body = {"event_type": config.event_type, "client_payload": dict(inputs)}
        started = self.clock.wall()

        def check(failure: DispatchError, status_text: str) -> dict[str, Any] | None:
            if not config.correlation_input:
                raise DispatchError(
                    f"{failure} (the dispatch may have started a run; not sent again so the workflow cannot "
                    "start twice; hint: set correlation_input and use it in the workflow's run-name so the "
                    "dispatcher can check)"
                )
            self.log(f"dispatch answered {status_text}; checking whether the run started anyway")
            try:
                return self.find_run(correlation_id, started, settle_seconds)
            except DispatchError as exc:
                raise DispatchError(
                    f"{failure} (the dispatch may have started a run and checking failed, so it is not sent "
                    f"again: {exc})"
                ) from None

        while True:
            try:
                answer = self.call("POST", url, body, hint=self._dispatch_hint, outcome=post_outcome, check=check)
                break
            except ApiError as exc:
                # GHES before 3.21 rejects the key; resent once without it (the module says so up front for GHES).
                unsupported = exc.status in (400, 422) and "return_run_details" in exc.message
                if not unsupported or body.pop("return_run_details", None) is None:
                    raise
                self.log("the server does not support return_run_details; resending without it")
        if isinstance(answer, dict):  # found by the check after a lost answer
            return answer["id"], str(answer.get("html_url") or "")
        details = answer.json() if answer.status == 200 else None
        if isinstance(details, dict) and details.get("workflow_run_id") is not None:
            return details["workflow_run_id"], str(details.get("html_url") or "")
        return None, ""

    def _dispatch_hint(self, status: int) -> str:
        return hint_for(status, self.config, self.auth_kind)

    def runs_url(self, since: float) -> str:
        """The run list to search for the dispatched run, filtered by event, ref and creation time."""
        config = self.config
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since - LIST_LOOKBACK_SECONDS))
        query: dict[str, Any] = {"event": config.event, "created": f">={created}", "per_page": 50}
        if config.event == "workflow_dispatch":
            # A run's head_branch is the short name even when the dispatch named refs/heads/... or refs/tags/...
            ref = config.ref
            for prefix in ("refs/heads/", "refs/tags/"):
                ref = ref[len(prefix) :] if ref.startswith(prefix) else ref
            query["branch"] = ref
        base = (
            f"{self.repo_url}/actions/workflows/{_q(config.workflow)}/runs"
            if config.workflow
            else f"{self.repo_url}/actions/runs"
        )
        return f"{base}?{'&'.join(f'{key}={_q(str(value))}' for key, value in query.items())}"

    def find_run(self, correlation_id: str, since: float, seconds: float) -> dict[str, Any] | None:
        """Poll the run list until a run's title carries ``correlation_id`` or ``seconds`` pass.

        A new run shows in the list after a few seconds, sometimes much later: the polls back off from one second
        to ``LIST_POLL_CAP_SECONDS`` so that a long search stays cheap.
        """
        url = self.runs_url(since)
        deadline = self.clock.monotonic() + seconds
        delay = 1.0
        while True:
            data = self.get(url, self._dispatch_hint)
            runs = data.get("workflow_runs") if isinstance(data, dict) else None
            run = match_run(runs or [], correlation_id)
            if run is not None:
                return run
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                return None
            self.clock.pause(min(delay, remaining))
            delay = min(delay * 2, LIST_POLL_CAP_SECONDS)

    def wait(self, run_id: Any, html_url: str, started: float) -> None:
        """Poll the run until ``completed``; raise unless it concludes ``success`` within the wait timeout.

        The first poll comes a second after the dispatch and the gaps double up to ``poll_interval``: a short run is
        seen finished within about a second, a long one costs a request per interval.
        """
        config = self.config
        url = f"{self.repo_url}/actions/runs/{_q(str(run_id))}"
        deadline = started + config.wait_timeout
        last_status = None
        last_line = self.clock.monotonic()
        delay = 1.0
        while True:
            self.clock.pause(min(delay, config.poll_interval, max(deadline - self.clock.monotonic(), 0.0)))
            delay *= 2
            run = self.get(url)
            run = run if isinstance(run, dict) else {}
            html_url = str(run.get("html_url") or html_url)
            status = run.get("status")
            now = self.clock.monotonic()
            if status == "completed":
                conclusion = run.get("conclusion")
                if conclusion == "success":
                    self.log(f"run {run_id} completed: success {html_url}")
                    return
                failed = DispatchError(f"workflow run {run_id} concluded {conclusion}: {html_url}")
                failed.definite = True
                raise failed
            if status != last_status or now - last_line >= PROGRESS_EVERY_SECONDS:
                self.log(f"run {run_id} {status} ({int(now - started)} s elapsed) {html_url}")
                last_status, last_line = status, now
            remaining = deadline - now
            if remaining <= 0:
                raise DispatchError(
                    f"timed out after {config.wait_timeout:g} s waiting for {html_url or url}; "
                    "the run continues on GitHub"
                )


def match_run(runs: list[Any], correlation_id: str) -> dict[str, Any] | None:
    """The first run whose ``display_title`` (or ``name``) contains the correlation id."""
    for run in runs:
        if not isinstance(run, dict):
            continue
        title = str(run.get("display_title") or "") + " " + str(run.get("name") or "")
        if correlation_id in title and run.get("id") is not None:
            return run
    return None


def _q(value: str) -> str:
    return _percent(value, "")


# --------------------------------------------------------------------------------------------- authentication


def _b64url(data: bytes) -> str:
    import binascii

    encoded = binascii.b2a_base64(data, newline=False).rstrip(b"=")
    return encoded.replace(b"+", b"-").replace(b"/", b"_").decode("ascii")


def jwt_claims(app_id: str, now: float) -> dict[str, Any]:
    """GitHub App JWT claims: issued 60 s in the past against clock drift, expiring in 9 minutes (limit 10)."""
    issuer: Any = int(app_id) if app_id.isdigit() else app_id
    return {"iat": int(now) - 60, "exp": int(now) + 540, "iss": issuer}


def load_private_key(value: str) -> bytes:
    """The App private key from PEM text (literal ``\\n`` allowed) or from the path of a PEM file."""
    text = value.strip()
    if "-----BEGIN" not in text and os.path.isfile(text):
        try:
            with open(text, "rb") as handle:
                text = handle.read().decode("utf-8", "replace").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the GitHub App private key file: {exc.strerror}") from None
    if "-----BEGIN" not in text:
        raise ConfigError("the GitHub App private key is neither PEM text nor the path of a readable PEM file")
    return (text.replace("\\n", "\n").strip() + "\n").encode("ascii", "replace")


# SHA-256's DigestInfo prefix for EMSA-PKCS1-v1_5 (RFC 8017, section 9.2, note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
RSA_ENCRYPTION_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1


def _der_items(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """The DER elements between ``start`` and ``end``, each as (tag, content start, content end)."""
    items = []
    while start < end:
        if start + 2 > end:
            raise ValueError("truncated DER")
        tag, length, start = data[start], data[start + 1], start + 2
        if length & 0x80:
            size = length & 0x7F
            if not 0 < size <= 4 or start + size > end:
                raise ValueError("bad DER length")
            length, start = int.from_bytes(data[start : start + size], "big"), start + size
        if start + length > end:
            raise ValueError("truncated DER")
        items.append((tag, start, start + length))
        start += length
    return items


def _der_sequence(data: bytes, item: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    if item[0] != 0x30:
        raise ValueError("expected a DER SEQUENCE")
    return _der_items(data, item[1], item[2])


def rsa_numbers(pem: bytes) -> list[int]:
    """``[n, e, d, p, q, dP, dQ, qInv]`` of an unencrypted RSA key in PKCS#1 or PKCS#8 PEM form."""
    import binascii

    text = pem.decode("ascii", "replace")
    begin = text.find("-----BEGIN ") + 11
    label = text[begin : text.find("-----", begin)]
    if "ENCRYPTED" in label or "Proc-Type: 4,ENCRYPTED" in text:
        raise ConfigError("the GitHub App private key is encrypted; use an unencrypted PKCS#1 or PKCS#8 key")
    if label not in ("RSA PRIVATE KEY", "PRIVATE KEY"):
        raise ConfigError(f"the GitHub App private key is a {label[:30]!r} PEM, not an RSA private key")
    body = "".join(line for line in text.splitlines() if line and not line.startswith("-----"))
    try:
        der = binascii.a2b_base64(body.encode("ascii", "replace"))
        (top,) = _der_items(der, 0, len(der))
        items = _der_sequence(der, top)
        if label == "PRIVATE KEY":  # PKCS#8 PrivateKeyInfo: version, AlgorithmIdentifier, privateKey OCTET STRING
            oid = _der_sequence(der, items[1])[0]
            if oid[0] != 0x06 or der[oid[1] : oid[2]] != RSA_ENCRYPTION_OID:
                raise ConfigError("the GitHub App private key is not an RSA key")
            if items[2][0] != 0x04:
                raise ValueError("expected an OCTET STRING")
            (top,) = _der_items(der, items[2][1], items[2][2])
            items = _der_sequence(der, top)
        numbers = [int.from_bytes(der[start:end], "big") for tag, start, end in items[1:9] if tag == 0x02]
        if len(numbers) != 8 or der[items[0][1] : items[0][2]] != b"\x00":
            raise ValueError("not a two-prime RSAPrivateKey")
    except (ValueError, IndexError, binascii.Error):
        raise ConfigError("the GitHub App private key cannot be parsed (expected an RSA key in PEM form)") from None
    return numbers


def sign_rs256_stdlib(pem: bytes, data: bytes) -> bytes:
    """RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017, 8.2.1) with the standard library, using the CRT parameters."""
    import hashlib

    n, e, _, p, q, dp, dq, qinv = rsa_numbers(pem)
    size = (n.bit_length() + 7) // 8
    digest_info = SHA256_DIGEST_INFO + hashlib.sha256(data).digest()
    if size < len(digest_info) + 11:
        raise ConfigError("the GitHub App private key is too short for RS256")
    encoded = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
    message = int.from_bytes(encoded, "big")
    s1, s2 = pow(message, dp, p), pow(message, dq, q)
    signature = s2 + ((qinv * (s1 - s2)) % p) * q
    # Check before use: a key with inconsistent parameters would otherwise send a signature that leaks a factor.
    if pow(signature, e, n) != message:
        raise ConfigError("the GitHub App private key is inconsistent (its RSA parameters do not match)")
    return signature.to_bytes(size, "big")


def sign_rs256(pem: bytes, data: bytes, environ: Mapping[str, str]) -> bytes:
    """RS256 signature with ``cryptography`` when importable, else with the standard library.

    ``MESHPIPE_DISPATCH_NO_CRYPTOGRAPHY=1`` forces the standard library path (the runner image cannot rely on
    ``cryptography``). Both paths refuse encrypted, non-RSA and unparsable keys with the same line.
    """
    if environ.get("MESHPIPE_DISPATCH_NO_CRYPTOGRAPHY") != "1":
        try:
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding, rsa
        except ImportError:
            pass
        else:
            rsa_numbers(pem)  # the same checks and messages as the standard library path
            try:
                key = serialization.load_pem_private_key(pem, password=None)
            except (ValueError, TypeError):
                raise ConfigError(
                    "the GitHub App private key cannot be parsed (expected an RSA key in PEM form)"
                ) from None
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ConfigError("the GitHub App private key is not an RSA key")
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return sign_rs256_stdlib(pem, data)


def make_jwt(app_id: str, pem: bytes, now: float, environ: Mapping[str, str]) -> str:
    """An RS256 JWT for the GitHub App."""
    header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = _b64url(json.dumps(jwt_claims(app_id, now), separators=(",", ":")).encode())
    signing_input = f"{header}.{claims}".encode("ascii")
    return f"{header}.{claims}.{_b64url(sign_rs256(pem, signing_input, environ))}"


def choose_auth(config: Config, environ: Mapping[str, str]) -> str:
    """``token`` or ``app`` from the auth mode and which variables are set; names what is missing otherwise."""
    auth = config.auth
    app_vars = [auth["app_id_env"], auth["installation_id_env"], auth["private_key_env"]]
    has_token = bool(environ.get(auth["token_env"]))
    if auth["mode"] == "token" or (auth["mode"] == "auto" and has_token):
        if not has_token:
            raise ConfigError(f"no GitHub token: set the environment variable {auth['token_env']}")
        return "token"
    missing = [name for name in app_vars if not environ.get(name)]
    if missing and auth["mode"] == "auto" and len(missing) == len(app_vars):
        raise ConfigError(
            f"no GitHub credentials: set {auth['token_env']}, or {', '.join(app_vars[:-1])} and {app_vars[-1]}"
        )
    if missing:
        raise ConfigError(f"GitHub App credentials incomplete: set {', '.join(missing)}")
    return "app"


def check_token(value: str, source: str) -> str:
    """``value`` without surrounding whitespace; one line naming ``source`` (never the value) unless printable ASCII.

    An HTTP header cannot carry a control character, and http.client would quote the whole header in its error.
    """
    token = value.strip()
    if not token:
        raise ConfigError(f"{source} is empty")
    for char in token:
        if not "\x21" <= char <= "\x7e":
            kind = (
                "a space"
                if char == " "
                else "a control character"
                if char < " " or char == "\x7f"
                else ("a character outside Latin-1" if ord(char) > 0xFF else "a non-ASCII character")
            )
            raise ConfigError(f"{source} contains {kind}; a token is printable ASCII (value not shown)")
    return token


def resolve_token(config: Config, environ: Mapping[str, str], client: Client, auth_kind: str) -> str:
    """The bearer token: from the token variable, or an installation token of the GitHub App."""
    auth = config.auth
    if auth_kind == "token":
        add_secret(environ[auth["token_env"]])
        return check_token(environ[auth["token_env"]], auth["token_env"])
    app_id = check_token(environ[auth["app_id_env"]], auth["app_id_env"])
    installation = check_token(environ[auth["installation_id_env"]], auth["installation_id_env"])
    key_value = environ[auth["private_key_env"]]
    add_secret(key_value)
    pem = load_private_key(key_value)
    add_secret(pem.decode("ascii", "replace").strip())
    jwt = make_jwt(app_id, pem, client.clock.wall(), environ)
    add_secret(jwt)
    url = f"{config.api_url}/app/installations/{_q(installation)}/access_tokens"
    # Creating an installation token has no side effect worth guarding: it is repeated like a GET.
    response = client.call("POST", url, token=jwt, hint=app_token_hint)
    data = response.json()
    issued = data.get("token") if isinstance(data, dict) else None
    if not isinstance(issued, str) or not issued:
        raise ApiError("POST", url, response.status, "no token in the response")
    add_secret(issued)
    return check_token(issued, f"the installation token from POST {url}")


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


# --------------------------------------------------------------------------------------------- exactly once


def _jitter() -> float:
    return int.from_bytes(os.urandom(7), "big") / (1 << 56)


class Clock:
    """Time for the loops: sleeping, monotonic and wall time, backoff jitter, and whether terraform is still there.

    The seam tests replace (a fake whose sleep advances its time) to run the loops without waiting. ``parent_pid``
    is terraform's pid when the dispatcher started; None (unit tests) skips the check.
    """

    def __init__(
        self,
        parent_pid: int | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        jitter: Callable[[], float] = _jitter,
        check_every: float = PARENT_CHECK_SECONDS,
    ) -> None:
        self.parent_pid, self.check_every = parent_pid, check_every
        self.sleep, self.monotonic, self.wall, self.jitter = sleep, monotonic, wall, jitter

    def check_parent(self) -> None:
        """Stop when terraform, which started the dispatcher, is gone (it was killed): nobody reads the outcome."""
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            raise DispatchError("terraform (the parent process) is gone: stopping; a started run continues on GitHub")

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` in slices, checking between them that terraform is still there."""
        end = self.monotonic() + seconds
        while True:
            self.check_parent()
            left = end - self.monotonic()
            if left <= 0:
                return
            self.sleep(min(left, self.check_every))

    def backoff(self, attempt: int) -> float:
        """The backoff delay before ``attempt`` + 1, with this clock's jitter."""
        return backoff_delay(attempt, self.jitter())


def correlation_id(config: Config, context: RunContext, phase: str) -> tuple[str, bool]:
    """The correlation id of this logical dispatch and whether it is deterministic.

    Derived from the building block, the meshStack run, the fingerprint and the target when the run is known, so
    that every attempt at the same dispatch (a retry, a re-apply, a new process) carries the same id; random
    otherwise.
    """
    if not context.run_id:
        return os.urandom(16).hex(), False
    import hashlib

    parts = (phase, config.api_url, config.repository, config.target, context.building_block_id, context.run_id)
    basis = "\n".join(["meshpipe-dispatch/1", *(part or "" for part in parts), config.fingerprint or ""])
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32], True


class Marker:
    """The intent marker of one logical dispatch, a file in terraform's working directory.

    Written before the POST and updated once the run is known; removed when the outcome is certain (success, a
    refused dispatch, a failed run). A process that finds it is a later attempt at the same dispatch.
    """

    def __init__(self, correlation_id: str) -> None:
        self.path = f".meshpipe-dispatch-{correlation_id}.json"

    def load(self) -> dict[str, Any] | None:
        """The earlier attempt's record, or None."""
        try:
            with open(self.path, "rb") as handle:
                data = json.loads(handle.read(MAX_RUN_FILE_BYTES).decode("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            warn(f"{self.path}: unreadable ({type(exc).__name__}); treated as an attempt whose outcome is unknown")
            return {"state": "intent", "created": 0.0}
        return data if isinstance(data, dict) else {"state": "intent", "created": 0.0}

    def save(self, **record: Any) -> None:
        """Record the attempt (atomically, mode 0600); a read-only directory only costs the protection."""
        temporary = f"{self.path}.{os.getpid()}.tmp"
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump({"version": 1, **record}, handle)
            os.replace(temporary, self.path)
        except OSError as exc:
            warn(f"cannot write {self.path} ({_reason(exc)}): a later attempt could not recognise this dispatch")

    def forget(self) -> None:
        """The outcome is certain: a later apply is a new dispatch."""
        import contextlib

        with contextlib.suppress(OSError):
            os.unlink(self.path)


def locate_run(client: Client, correlation_id: str, dispatched_at: float) -> tuple[Any, str]:
    """Find the dispatched run by correlation id, to wait for it."""
    config = client.config
    find_for = min(config.wait_timeout, FIND_DEADLINE_SECONDS)
    found = client.find_run(correlation_id, dispatched_at, find_for)
    if found is None:
        source = "inputs" if config.event == "workflow_dispatch" else "github.event.client_payload"
        raise DispatchError(
            f"dispatched {config.target} but found no run with correlation id {correlation_id} within "
            f"{find_for:g} s (hint: the workflow's run-name must contain "
            f"${{{{ {source}.{config.correlation_input} }}}})"
        )
    return found["id"], str(found.get("html_url") or "")


def resume(client: Client, marker: Marker, earlier: Mapping[str, Any], cid: str, settle: float) -> tuple[Any, str]:
    """Continue a dispatch an earlier process started; ``(None, "")`` when it provably started nothing yet."""
    config = client.config
    if earlier.get("run_id") is not None:
        client.log(f"an earlier attempt already dispatched this (correlation id {cid}): run {earlier['run_id']}")
        return earlier["run_id"], str(earlier.get("html_url") or "")
    if earlier.get("state") == "sent":
        client.log(f"an earlier attempt already dispatched this (correlation id {cid}); not sending it again")
        return None, ""
    if not config.correlation_input:
        raise DispatchError(
            f"an earlier attempt at this dispatch may have started a run ({marker.path}), and without "
            "correlation_input it cannot be checked: not sent again so the workflow cannot start twice (hint: set "
            f"correlation_input, or delete {marker.path} to send it anyway)"
        )
    created = float(earlier.get("created") or 0.0)
    client.log(f"an earlier attempt at this dispatch may have started a run; looking for correlation id {cid}")
    found = client.find_run(cid, created, max(created + settle - client.clock.wall(), 0.0))
    return (found["id"], str(found.get("html_url") or "")) if found else (None, "")


def run(argv: list[str], environ: Mapping[str, str], clock: Clock | None = None) -> None:
    """Do the work of :func:`main`; raise :class:`DispatchError` on failure."""
    phase = argv[1] if len(argv) > 1 else ""
    if phase not in PHASES or len(argv) > 2:
        raise ConfigError(f"usage: dispatch.py {{{'|'.join(PHASES)}}} (got {' '.join(argv[1:]) or 'nothing'})")
    config = Config.from_env(environ, phase)
    # Register the credentials first so that no later message can carry them, whatever fails.
    add_secret(environ.get(config.auth["token_env"]))
    add_secret(environ.get(config.auth["private_key_env"]))
    if phase == "destroy" and not config.has_target:
        # The module's destroy hook always runs; a version without a destroy workflow disables the teardown.
        what = "workflow" if config.event == "workflow_dispatch" else "event type"
        log(config, f"no destroy {what} configured: nothing to fire")
        return
    context = RunContext(config, read_run_file(config, phase))
    if phase == "apply" and context.behavior in ("DESTROY", "DETECT"):
        why = "a DESTROY run applies before destroying" if context.behavior == "DESTROY" else "DETECT only plans"
        log(config, f"behavior {context.behavior}: not dispatching the apply workflow ({why})")
        return
    if phase == "apply" and context.behavior not in (None, *BEHAVIORS):
        warn(f"unknown behavior {context.behavior!r}: treated like APPLY")
    cid, deterministic = correlation_id(config, context, phase)
    if not deterministic:
        log(config, "no meshStack run id known: the correlation id is random, a later attempt cannot recognise it")
    inputs = build_inputs(config, environ, cid, context)
    auth_kind = choose_auth(config, environ)
    deadline = _seconds(environ, "MESHPIPE_DISPATCH_HTTP_TIMEOUT_SECONDS", HTTP_TIMEOUT_SECONDS, 0.1)
    clock = clock or Clock()
    http = Http(f"meshpipe-dispatch/{__version__} ({config.module})", environ=environ, deadline=deadline, clock=clock)
    client = Client(config, http, auth_kind, clock)
    http.token = resolve_token(config, environ, client, auth_kind)
    marker = Marker(cid) if deterministic else None
    try:
        dispatch_and_wait(client, inputs, cid, marker, settle_seconds(environ))
    except DispatchError as exc:
        if marker is not None and exc.definite:
            marker.forget()
        raise
    if marker is not None:
        marker.forget()


def dispatch_and_wait(
    client: Client, inputs: Mapping[str, str], cid: str, marker: Marker | None, settle: float
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
                f"dispatched {config.target} but GitHub returned no run id, so the run cannot be awaited "
                "(hint: set correlation_input and use it in the workflow's run-name)"
            )
        suffix = f" (correlation id {cid})" if config.correlation_input else ""
        client.log(f"dispatched {config.target}: run id unknown{suffix}")
        return
    client.log(f"dispatched {config.target}: run {run_id} {html_url}".rstrip())
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
