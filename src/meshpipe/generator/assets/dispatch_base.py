"""The dispatcher's foundations: its errors, the secret registry and every line it writes, and its clock.

Part of the bundled dispatcher (see ``dispatch.py``, the entry point, for the whole story): standard library only,
and nothing here imports HTTP, TLS or hashing code, so that a run that sends nothing starts fast.
"""

from __future__ import annotations

import json
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from dispatch import Config

# [[[contract: generated from meshpipe/contract.py by `make render`; edit it there
PHASES = ("apply", "destroy")
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
TARGETS = ("github", "gitlab", "azure_devops", "webhook")
PHASE_INPUT = "meshpipe_phase"
GITLAB_AUTH_MODES = ("auto", "trigger_token", "access_token")
DEFAULT_GITLAB_AUTH = {
    "mode": "auto",
    "trigger_token_env": "GITLAB_TRIGGER_TOKEN",
    "token_env": "GITLAB_TOKEN",
}
AZURE_AUTH_MODES = ("auto", "pat", "entra")
DEFAULT_AZURE_AUTH = {
    "mode": "auto",
    "pat_env": "AZURE_DEVOPS_PAT",
    "token_env": "AZURE_DEVOPS_TOKEN",
}
DEFAULT_WEBHOOK_AUTH = {
    "secret_env": "MESHPIPE_WEBHOOK_SECRET",
    "token_env": "",
}
WEBHOOK_SIGNATURE_HEADER = "X-Meshpipe-Signature-256"
WEBHOOK_TIMESTAMP_HEADER = "X-Meshpipe-Timestamp"
WEBHOOK_IDEMPOTENCY_HEADER = "Idempotency-Key"
WEBHOOK_EVENT_HEADER = "X-Meshpipe-Event"
# ]]]contract

MIN_SECRET_LENGTH = 4
ERROR_PREFIX = "meshpipe-dispatch: error: "
WARNING_PREFIX = "meshpipe-dispatch: warning: "
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
PARENT_CHECK_SECONDS = 1.0
#: the bound of every small JSON file the dispatcher reads (the run file, an intent marker)
MAX_RUN_FILE_BYTES = 64 * 1024
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


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


def _reason(exc: object) -> str:
    if isinstance(exc, BaseException):
        return f"{type(exc).__name__}: {exc}".rstrip(": ")
    return str(exc)


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


def credential(environ: Mapping[str, str], name: str, what: str) -> str:
    """The credential in the environment variable ``name``, registered as a secret and checked by
    :func:`check_token`; one line naming the variable (and ``what`` it should hold) when it is unset or empty."""
    value = environ.get(name)
    if not value or not value.strip():
        raise ConfigError(f"no {what}: set the environment variable {name}")
    add_secret(value)
    return check_token(value, name)


# --------------------------------------------------------------------------------------------- configuration rules


def printable(text: str) -> bool:
    """Printable ASCII without spaces."""
    return bool(text) and all("\x21" <= char <= "\x7e" for char in text)


def rule(ok: object, key: str, problem: str, *got: object) -> None:
    """One rule of the configuration: unless ``ok``, fail with ``MESHPIPE_DISPATCH.<key>: <problem>[, got <value>]``."""
    if not ok:
        raise ConfigError(f"MESHPIPE_DISPATCH.{key}: {problem}" + "".join(f", got {value!r}" for value in got))


def string(data: Mapping[str, Any], key: str, default: str | None = None, path: str = "") -> str:
    """The non-empty string ``data[key]`` (``default`` when absent or null); ``path`` prefixes the key in messages."""
    value = default if data.get(key) is None else data[key]
    rule(isinstance(value, str) and value, path + key, "expected a non-empty string", value)
    return str(value)


def opt_string(data: Mapping[str, Any], key: str, path: str = "") -> str | None:
    """The string ``data[key]``, or None when absent, null or empty."""
    value = data.get(key)
    rule(value is None or isinstance(value, str), path + key, "expected a string or null", value)
    return value or None


def string_map(data: Mapping[str, Any], key: str, path: str = "") -> dict[str, str]:
    """The object of strings ``data[key]`` (empty when absent or null)."""
    value = data.get(key) or {}
    rule(isinstance(value, dict), path + key, "expected an object of strings")
    for name, item in value.items():
        rule(isinstance(item, str), f"{path}{key}.{name}", f"expected a string, got {type(item).__name__}")
    return dict(value)


def value_map(data: Mapping[str, Any], key: str, path: str = "") -> dict[str, Any]:
    """The object of JSON values ``data[key]`` (empty when absent or null); a null member is an error."""
    value = data.get(key) or {}
    rule(isinstance(value, dict), path + key, "expected an object")
    for name, item in value.items():
        rule(item is not None, f"{path}{key}.{name}", "expected a value, got null")
    return dict(value)


def positive(data: Mapping[str, Any], key: str, default: float, path: str = "") -> float:
    """The positive number ``data[key]`` (``default`` when absent or null); booleans are not numbers."""
    value = default if data.get(key) is None else data[key]
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0
    rule(ok, path + key, "expected a positive number", value)
    return float(value)


def http_url(data: Mapping[str, Any], key: str, default: str | None = None, path: str = "", base: bool = False) -> str:
    """The http(s) URL ``data[key]`` without a trailing slash, with a printable host and no credentials in it.

    ``base``: the URL is an API base that paths are appended to, so a query or fragment in it is refused too.
    """
    url = string(data, key, default, path).rstrip("/")
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    rule(scheme in ("http", "https") and printable(host), path + key, "expected an http(s) URL", url)
    rule("@" not in host, path + key, "expected a URL without credentials (they come from the environment)")
    rule(not base or not ("?" in url or "#" in url), path + key, "expected an API base URL without ? or #", url)
    return url


def section(data: Mapping[str, Any], name: str, known: Any, phase: str, path: str = "") -> dict[str, Any]:
    """The nested object ``data[name]`` (empty when absent or null) with only ``known`` keys.

    An unknown key fails an apply and only warns in a destroy (a destroy must stay possible), like the top level's.
    Messages name the whole path: ``MESHPIPE_DISPATCH.gitlab.auth.mode: ...``.
    """
    value = data.get(name)
    if value is None:
        return {}
    rule(isinstance(value, dict), path + name, "expected an object", type(value).__name__)
    unknown = sorted(set(value) - set(known))
    if unknown:
        message = f"MESHPIPE_DISPATCH.{path}{name}.{unknown[0]}: unknown key; known: {', '.join(known)}"
        if phase != "destroy":
            raise ConfigError(message)
        warn(message + " (ignored: a destroy must stay possible)")
    return {key: item for key, item in value.items() if key in known}


# --------------------------------------------------------------------------------------------- time


def backoff_delay(attempt: int, jitter: float) -> float:
    """Exponential backoff for ``attempt`` (1-based) with ``jitter`` in [0, 1): half fixed, half random."""
    base = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (1 << max(attempt - 1, 0)))
    return base * (0.5 + jitter / 2)


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
            raise DispatchError("terraform (the parent process) is gone: stopping; a started run continues")

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
