"""The dispatcher's signed-webhook target: one JSON POST, signed with HMAC-SHA256, to any receiver (Jenkins Generic
Webhook Trigger behind a verifying proxy, Argo Events, an in-house service), and optionally waiting on the status URL
the receiver answers.

The wire (meshpipe's own protocol; the README's webhook section and ``meshpipe.webhook`` describe the receiver side):
``POST {url}`` with compact UTF-8 JSON ``{"version": 1, "event", "phase", "module", "correlation_id", "inputs"}`` and
the headers ``X-Meshpipe-Event``, ``X-Meshpipe-Timestamp`` (Unix seconds), ``X-Meshpipe-Signature-256``
(``sha256=`` + hex HMAC-SHA256 of ``"<timestamp>.<body>"`` with the secret), ``Idempotency-Key`` (the correlation
id) and, when a token variable is named, ``Authorization: Bearer``. Any 2xx accepts the delivery.

Exactly once is shared with the receiver: the ``Idempotency-Key`` is the same for every attempt at one dispatch
(also from a later process: the correlation id is deterministic when the meshStack run is known), so after a lost
answer, a timeout, a 5xx, a 408/409/425 or a rate limit (429, or 503 with ``Retry-After``, waited out within the
shared bounds) the delivery is simply sent again and the receiver answers the repeat with its first answer. Each
attempt is signed afresh with a later timestamp, so a receiver's replay guard never sees one signature twice. A
receiver that ignores the key may run the job twice; nothing on this side can search a receiver for an earlier
job.

Waiting: the receiver's answer ``{"status_url": ...}`` (same scheme, host and port as the URL: a signed poll must
not go elsewhere) is polled with signed GETs (signature over ``"<timestamp>."``) until ``status`` is ``succeeded``,
``failed`` or ``cancelled``. The secret is never sent, logged or part of an error; the token is masked like every
credential.

Part of the bundled dispatcher (see ``dispatch.py``); ``hmac`` and ``hashlib`` are imported when the first delivery
is signed, so that a DETECT run or a destroy without a destroy event loads neither.
"""

from __future__ import annotations

import json

from dispatch_base import (
    DEFAULT_WEBHOOK_AUTH,
    WEBHOOK_EVENT_HEADER,
    WEBHOOK_IDEMPOTENCY_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    Clock,
    ConfigError,
    DispatchError,
    add_secret,
    credential,
    http_url,
    opt_string,
    rule,
    section,
    string,
)
from dispatch_client import BaseClient, retry_after_delay

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from dispatch import Config
    from dispatch_net import Http, Response

__all__ = [
    "JOB_STATUSES",
    "PROTOCOL_VERSION",
    "TARGET",
    "WEBHOOK_KEYS",
    "Settings",
    "WebhookClient",
    "delivery_outcome",
    "encode_body",
    "make_client",
    "parse_settings",
    "same_origin",
    "sign",
]

TARGET = "webhook"
PROTOCOL_VERSION = 1
#: the keys of the configuration's ``webhook`` object
WEBHOOK_KEYS = ("url", "event", "auth")
#: a status URL's ``status`` values: still running, then the three ends
JOB_STATUSES = {"queued": None, "in_progress": None, "succeeded": True, "failed": False, "cancelled": False}
#: statuses after which a delivery is sent again with the same key: 408 Request Timeout, 409 Conflict (the key's
#: first request is still being processed, draft-ietf-httpapi-idempotency-key-header section 2.7), 425 Too Early
RESEND_STATUSES = (408, 409, 425)
_MAX_EVENT = 200


# --------------------------------------------------------------------------------------------- settings


class Settings:
    """The webhook's part of the configuration: the URL, the event of this phase and the credential variables."""

    def __init__(self, data: Mapping[str, Any], phase: str) -> None:
        hook = section(data, "webhook", WEBHOOK_KEYS, phase)
        rule(hook or phase == "destroy", "webhook", "required with target webhook (an object with url and event)")
        self.phase = phase
        self.event = opt_string(hook, "event", path="webhook.")
        # Only the destroy phase may have no event: the module then has no destroy delivery and fires nothing.
        rule(self.event or phase == "destroy", "webhook.event", "required in the apply configuration")
        if self.event is not None:
            rule(_header_safe(self.event), "webhook.event", "expected 1-200 printable ASCII characters", self.event)
        self.url = http_url(hook, "url", path="webhook.") if self.event else str(hook.get("url") or "")
        # A token in the URL would sit in Terraform state and every log line naming the URL.
        query = self.url.partition("?")[2].lower()
        rule(
            not any(part.split("=", 1)[0] in ("token", "secret") for part in query.split("&")),
            "webhook.url",
            "expected no token in the URL; name its variable in webhook.auth.token_env (sent as Authorization: "
            "Bearer, which Jenkins' Generic Webhook Trigger also accepts)",
        )
        auth = section(hook, "auth", DEFAULT_WEBHOOK_AUTH, phase, path="webhook.")
        self.secret_env = string(auth, "secret_env", DEFAULT_WEBHOOK_AUTH["secret_env"], path="webhook.auth.")
        self.token_env = opt_string(auth, "token_env", path="webhook.auth.") or ""

    @property
    def has_target(self) -> bool:
        """Whether there is something to deliver (False only in a destroy configuration without an event)."""
        return bool(self.event)

    @property
    def subject(self) -> str:
        """What is delivered, for log lines."""
        return f"webhook {self.event!r} to {self.url.partition('?')[0]}"

    @property
    def identity(self) -> tuple[str, ...]:
        """What the correlation id hashes besides phase, run and fingerprint."""
        return (TARGET, self.url, self.event or "")

    @property
    def secret_envs(self) -> tuple[str, ...]:
        """The variables holding credentials: the HMAC secret and the optional bearer token."""
        return (self.secret_env, self.token_env)


def _header_safe(text: str) -> bool:
    return 0 < len(text) <= _MAX_EVENT and text == text.strip() and all(" " <= char <= "~" for char in text)


def parse_settings(data: Mapping[str, Any], phase: str) -> Settings:
    """Validate the configuration's ``webhook`` object for ``phase`` (ConfigError naming the key)."""
    return Settings(data, phase)


def make_client(config: Config, environ: Mapping[str, str], http_deadline: float, clock: Clock) -> WebhookClient:
    """A webhook client with the secret (and the optional token) read from the environment by name."""
    from dispatch_net import Http

    settings: Settings = config.settings
    secret = _secret(environ, settings.secret_env)
    token = credential(environ, settings.token_env, "bearer token for the webhook") if settings.token_env else None
    http = Http(
        config.user_agent,
        environ=environ,
        deadline=http_deadline,
        clock=clock,
        base_headers={"Accept": "application/json"},
    )
    return WebhookClient(config, http, secret, token, clock)


def _secret(environ: Mapping[str, str], name: str) -> str:
    """The HMAC key, exactly as set (any printable text: it is never sent, so it need not be a header value)."""
    value = environ.get(name)
    add_secret(value)
    if not value or not value.strip():
        raise ConfigError(f"no HMAC secret for the webhook: set the environment variable {name}")
    if any(char < " " or char == "\x7f" for char in value):
        raise ConfigError(
            f"{name} contains a control character; the webhook's secret is printable text (value not shown)"
        )
    return value


# --------------------------------------------------------------------------------------------- the wire


def encode_body(settings: Settings, module: str, correlation_id: str, inputs: Mapping[str, Any]) -> bytes:
    """The delivery's body: compact UTF-8 JSON; strings byte for byte, other input values with their JSON types."""
    body = {
        "version": PROTOCOL_VERSION,
        "event": settings.event,
        "phase": settings.phase,
        "module": module,
        "correlation_id": correlation_id,
        "inputs": dict(inputs),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``."""
    import hashlib
    import hmac

    message = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def same_origin(url: str, other: str) -> bool:
    """Whether two http(s) URLs share scheme, host and port (the port defaulted by the scheme)."""

    def origin(text: str) -> tuple[str, str, str]:
        scheme, _, rest = text.partition("://")
        netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].lower()
        host, colon, port = netloc.rpartition(":") if not netloc.endswith("]") else (netloc, "", "")
        if not colon or not port.isdigit():
            host, port = netloc, {"http": "80", "https": "443"}.get(scheme.lower(), "")
        return scheme.lower(), host, port

    if "://" not in other or "@" in other.partition("://")[2].split("/", 1)[0]:
        return False
    return origin(url) == origin(other)


def delivery_outcome(status: int | None, rate_limited: bool) -> str:
    """After one attempt: ``done`` (2xx), ``wait`` (a rate limit), ``resend`` (no answer, 5xx, 408/409/425: the
    receiver deduplicates by key) or ``fail``."""
    if status is None:
        return "resend"
    if 200 <= status < 300:
        return "done"
    if rate_limited:
        return "wait"
    if status >= 500 or status in RESEND_STATUSES:
        return "resend"
    return "fail"


# --------------------------------------------------------------------------------------------- the client


class WebhookClient(BaseClient):
    """Deliver one signed event, re-sent with the same key until the receiver answers, and wait on its status URL."""

    service = "the webhook receiver"
    run_word = "job"
    run_title = "webhook job"

    def __init__(self, config: Config, http: Http, secret: str, token: str | None, clock: Clock | None = None) -> None:
        super().__init__(config, http, clock)
        self.settings: Settings = config.settings
        self._secret = secret
        self._token = token
        self._last_stamp = 0

    def __repr__(self) -> str:
        return f"WebhookClient({self.settings.subject})"

    # ----------------------------------------------------------------------------------------- hooks

    def is_rate_limited(self, status: int, headers: Mapping[str, str], message: str) -> bool:
        """429, or a 503 that says when to come back."""
        return status == 429 or (status == 503 and "retry-after" in headers)

    def rate_limit_delay(self, headers: Mapping[str, str], now: float) -> float | None:
        return retry_after_delay(headers, default=None)

    def hint(self, status: int) -> str:
        settings = self.settings
        if status == 401:
            token = f" and that {settings.token_env} holds its token" if settings.token_env else ""
            return (
                f"the receiver refused the signature: check that {settings.secret_env} holds the receiver's secret"
                f"{token}, and the runner's clock (receivers refuse timestamps more than 300 s away)"
            )
        if status == 403:
            return "the receiver refused this sender (a token, an allow-list of source addresses)"
        if status in (404, 405):
            return f"no webhook that takes POST at {settings.url.partition('?')[0]}: check webhook.url"
        if status == 413:
            return "the receiver refused the body's size; send fewer or shorter inputs"
        if status == 415:
            return "the receiver refused the media type; meshpipe sends Content-Type: application/json"
        if status in (400, 422):
            return "the receiver refused the body (see its message)"
        if status in (301, 302, 303, 307, 308):
            return (
                "the receiver redirected; put the final URL in webhook.url (a signed delivery is not re-sent elsewhere)"
            )
        return super().hint(status)

    def read_hint(self, status: int) -> str:
        if status == 404:
            return "the status_url answered 404: the receiver no longer knows the job"
        return self.hint(status)

    def rate_limit_hint(self, status: int) -> str:
        return f"the receiver kept answering {status}: it is overloaded or limits this sender; try again later"

    def correlation_hint(self) -> str:
        return 'have the receiver answer {"status_url": ...} to be awaited'

    def find_run(self, correlation_id: str, since: float, seconds: float) -> dict[str, Any] | None:
        """Nothing to search: an earlier attempt's job is found by sending again with the same key."""
        return None

    def search(self, correlation_id: str, since: float) -> dict[str, Any] | None:
        return None

    # ----------------------------------------------------------------------------------------- the delivery

    def _signed(self, body: bytes, *, fresh: bool = True) -> dict[str, str]:
        """The timestamp and signature headers; ``fresh``: a timestamp later than every earlier delivery attempt's,
        so that no two attempts carry one signature (a receiver's replay guard would refuse the second)."""
        stamp = int(self.clock.wall())
        if fresh and stamp <= self._last_stamp:  # waiting for the next second costs less than a second
            self.clock.pause(self._last_stamp + 1 - self.clock.wall())
            stamp = max(int(self.clock.wall()), self._last_stamp + 1)
        if fresh:
            self._last_stamp = stamp
        return {WEBHOOK_TIMESTAMP_HEADER: str(stamp), WEBHOOK_SIGNATURE_HEADER: sign(self._secret, stamp, body)}

    def dispatch(self, inputs: Mapping[str, str], correlation_id: str, settle_seconds: float) -> tuple[Any, str]:
        """Deliver once as far as the receiver can tell; return ``(status_url or None, url or "")``."""
        settings = self.settings
        body = encode_body(settings, self.config.module, correlation_id, inputs)
        fixed = {
            "Content-Type": "application/json",
            WEBHOOK_EVENT_HEADER: settings.event or "",
            WEBHOOK_IDEMPOTENCY_HEADER: correlation_id,
        }
        response = self._deliver(settings.url, body, fixed)
        return self._accepted(response)

    def _deliver(self, url: str, body: bytes, fixed: Mapping[str, str]) -> Response:
        response: Response = self.call(
            "POST",
            url,
            token=self._token,
            headers=lambda: {**fixed, **self._signed(body)},  # every attempt signs afresh
            data=body,
            hint=self.hint,
            outcome=self._outcome,
            check=lambda failure, status_text: None,  # nothing to look up: the key makes a resend safe
        )
        return response

    def _outcome(self, status: int | None, maybe_sent: bool, rate_limited: bool) -> str:
        """:func:`delivery_outcome` in :meth:`BaseClient.call`'s words, saying why a delivery goes out again."""
        action = delivery_outcome(status, rate_limited)
        if action == "resend":
            why = f"was answered {status}" if status is not None else "got no answer"
            if status is None and maybe_sent:
                why += " (it may have arrived)"
            self.log(f"the delivery {why}; the same {WEBHOOK_IDEMPOTENCY_HEADER} lets the receiver spot a repeat")
        return "retry" if action in ("resend", "wait") else action

    def _accepted(self, response: Response) -> tuple[Any, str]:
        answer = response.json()
        answer = answer if isinstance(answer, dict) else {}
        job = answer.get("id")
        repeat = " (a repeat: the receiver had accepted this key already)" if answer.get("duplicate") is True else ""
        self.log(f"the receiver accepted the delivery ({response.status}){f', job {job}' if job else ''}{repeat}")
        status_url = answer.get("status_url")
        if not self.config.wait:
            return None, ""
        if not isinstance(status_url, str) or not status_url:
            failed = DispatchError(
                f"delivered {self.settings.subject}, but the receiver answered no status_url, so the job cannot be "
                'awaited (hint: set wait to false, or have the receiver answer {"status_url": ...})'
            )
            failed.definite = True
            raise failed
        if not same_origin(self.settings.url, status_url):
            failed = DispatchError(
                f"delivered {self.settings.subject}, but the receiver's status_url {status_url} is not on the "
                "webhook's scheme, host and port; signed polls only go there (hint: answer a status_url on the "
                "webhook's host)"
            )
            failed.definite = True
            raise failed
        return status_url, ""

    def run_state(self, run_id: Any) -> tuple[str, bool, bool, str]:
        """One signed poll of the status URL: ``(status, done, succeeded, url)``."""
        url = str(run_id)
        answer = self.get(url, headers=self._signed(b"", fresh=False))
        answer = answer if isinstance(answer, dict) else {}
        status = answer.get("status")
        if status not in JOB_STATUSES:
            raise DispatchError(
                f"GET {url}: the receiver answered status {status!r}; expected one of {', '.join(JOB_STATUSES)}"
            )
        outcome = JOB_STATUSES[status]
        link = answer.get("url")
        return status, outcome is not None, bool(outcome), link if isinstance(link, str) else ""
