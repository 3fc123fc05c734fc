"""Verify meshpipe's signed webhook deliveries on the receiving side (standard library only: ``hmac``, ``hashlib``).

A Trigger Module with target ``webhook`` POSTs compact UTF-8 JSON to the receiver's URL with these headers::

    Content-Type: application/json
    X-Meshpipe-Event: <event>                     (also the body's "event")
    X-Meshpipe-Timestamp: <unix seconds>          (when this attempt was signed)
    X-Meshpipe-Signature-256: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body bytes>")>
    Idempotency-Key: <correlation id>             (the same for every retry of one dispatch; the body's
                                                   "correlation_id")
    Authorization: Bearer <token>                 (only when the module names a token variable)

A receiver should, in this order: check the signature over the *raw* body bytes with :func:`verify` (it also
refuses a timestamp more than :data:`TOLERANCE_SECONDS` away from its clock), refuse a signature it has seen
before (:class:`ReplayGuard`), parse the JSON, check that ``Idempotency-Key`` equals the body's ``correlation_id``
(the header is not signed, the body is), and answer a key it has already accepted with its first answer instead of
starting a second job. The dispatcher re-sends after a lost answer, a timeout or a 5xx with the same key (and a
fresh timestamp and signature): a receiver that ignores the key may run the job twice.

Example (any framework; ``headers`` is a mapping, looked up case-insensitively)::

    from meshpipe.webhook import ReplayGuard, VerificationError, verify

    guard = ReplayGuard()
    try:
        delivery = verify(os.environ["MESHPIPE_WEBHOOK_SECRET"], request.headers, request.body)
        guard.check(delivery)
    except VerificationError as exc:
        return 401, {"message": str(exc), "rule": exc.rule}

This module imports nothing beyond ``hmac``, ``hashlib`` and ``time``: copy it into a receiver that cannot install
meshpipe.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "EVENT_HEADER",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "SIGNATURE_PREFIX",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "Delivery",
    "ReplayGuard",
    "VerificationError",
    "sign",
    "verify",
]

# Restated from meshpipe.contract (WEBHOOK_*_HEADER) so that this module stays copyable on its own;
# tests/test_webhook_library.py holds the two together.
SIGNATURE_HEADER = "X-Meshpipe-Signature-256"
TIMESTAMP_HEADER = "X-Meshpipe-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Meshpipe-Event"
SIGNATURE_PREFIX = "sha256="
#: how far a delivery's timestamp may be from the receiver's clock, either way (seconds)
TOLERANCE_SECONDS = 300
_HEX = frozenset("0123456789abcdef")
_MAX_TIMESTAMP_DIGITS = 12  # far beyond year 9999; a longer value is not a Unix time in seconds


class VerificationError(ValueError):
    """A delivery failed verification; :attr:`rule` names the rule it broke.

    Rules: ``signature-missing``, ``signature-format``, ``timestamp-missing``, ``timestamp-format``,
    ``timestamp-tolerance``, ``signature-mismatch`` (:func:`verify`) and ``replayed-signature``
    (:class:`ReplayGuard`). Answer each with 401; the message never contains the secret or the expected signature.
    """

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class Delivery:
    """The verified signature headers of one request."""

    __slots__ = ("event", "idempotency_key", "signature", "timestamp")

    def __init__(self, timestamp: int, signature: str, idempotency_key: str | None, event: str | None) -> None:
        self.timestamp = timestamp
        self.signature = signature
        self.idempotency_key = idempotency_key
        self.event = event

    def __repr__(self) -> str:
        return f"Delivery(timestamp={self.timestamp}, idempotency_key={self.idempotency_key!r}, event={self.event!r})"


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``: ``sha256=<hex HMAC-SHA256>`` over
    ``b"<timestamp>." + body`` (a status poll signs an empty body)."""
    message = str(timestamp).encode("ascii") + b"." + body
    return SIGNATURE_PREFIX + hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, item in headers.items():
        if key.lower() == wanted:
            return item
    return None


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> Delivery:
    """Check a request's signature and timestamp; return its :class:`Delivery` or raise :class:`VerificationError`.

    ``body`` must be the raw bytes as received (re-serialised JSON does not verify). ``now`` defaults to
    ``time.time()``. The comparison is constant-time. Replays within the tolerance are :class:`ReplayGuard`'s job.
    """
    key = _key(secret)
    received = _header(headers, SIGNATURE_HEADER)
    if received is None:
        raise VerificationError("signature-missing", f"no {SIGNATURE_HEADER} header")
    received = received.strip()
    digest = received[len(SIGNATURE_PREFIX) :]
    if not received.startswith(SIGNATURE_PREFIX) or len(digest) != 64 or not set(digest) <= _HEX:
        raise VerificationError(
            "signature-format", f"{SIGNATURE_HEADER} must be {SIGNATURE_PREFIX}<64 lower-case hex digits>"
        )
    stamp = _header(headers, TIMESTAMP_HEADER)
    if stamp is None:
        raise VerificationError("timestamp-missing", f"no {TIMESTAMP_HEADER} header")
    stamp = stamp.strip()
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= _MAX_TIMESTAMP_DIGITS):
        raise VerificationError("timestamp-format", f"{TIMESTAMP_HEADER} must be Unix seconds (digits only)")
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise VerificationError(
            "timestamp-tolerance",
            f"{TIMESTAMP_HEADER} {timestamp} is {current - timestamp:+.0f} s from this receiver's clock "
            f"(tolerance {tolerance:g} s): a stale or replayed delivery, or a skewed clock",
        )
    expected = hmac.new(key, stamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, digest):
        raise VerificationError(
            "signature-mismatch",
            f"{SIGNATURE_HEADER} does not match the body: wrong secret, or the body was changed on the way",
        )
    return Delivery(timestamp, received, _header(headers, IDEMPOTENCY_HEADER), _header(headers, EVENT_HEADER))


class ReplayGuard:
    """Remembers the signatures of accepted deliveries for twice the tolerance and refuses a repeat.

    The dispatcher signs every attempt afresh (a new timestamp), so an identical signature is a captured request
    played back. Keep one guard per receiver process; it is not thread-safe (guard it with a lock if needed).
    Status polls (GET, empty body) need no guard: a replayed poll reveals nothing the eavesdropper did not see.
    """

    def __init__(self, tolerance: float = TOLERANCE_SECONDS) -> None:
        self.tolerance = tolerance
        self._seen: dict[str, int] = {}

    def check(self, delivery: Delivery, *, now: float | None = None) -> None:
        """Raise ``VerificationError("replayed-signature")`` for a signature seen before, else remember it."""
        current = time.time() if now is None else now
        horizon = current - 2 * self.tolerance
        self._seen = {sig: stamp for sig, stamp in self._seen.items() if stamp >= horizon}
        if delivery.signature in self._seen:
            raise VerificationError("replayed-signature", "this signature was already used: a replayed delivery")
        self._seen[delivery.signature] = delivery.timestamp
