"""meshpipe.webhook: the receiver-side verification users and the fake receiver share."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys

import pytest

from meshpipe import contract, webhook
from meshpipe.webhook import ReplayGuard, VerificationError, sign, verify

SECRET = "whsec-CANARY-0123456789"
BODY = b'{"version":1,"event":"apply"}'
NOW = 1_767_000_000


def headers(body: bytes = BODY, stamp: int = NOW, secret: str = SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Meshpipe-Signature-256": f"sha256={mac}",
        "X-Meshpipe-Timestamp": str(stamp),
        "Idempotency-Key": "mp-1",
        "X-Meshpipe-Event": "apply",
    }


def rule_of(exc_info: pytest.ExceptionInfo[VerificationError]) -> str:
    return exc_info.value.rule


def test_the_header_names_are_the_contracts() -> None:
    assert webhook.SIGNATURE_HEADER == contract.WEBHOOK_SIGNATURE_HEADER
    assert webhook.TIMESTAMP_HEADER == contract.WEBHOOK_TIMESTAMP_HEADER
    assert webhook.IDEMPOTENCY_HEADER == contract.WEBHOOK_IDEMPOTENCY_HEADER
    assert webhook.EVENT_HEADER == contract.WEBHOOK_EVENT_HEADER


def test_sign_is_hmac_sha256_over_timestamp_dot_body() -> None:
    assert sign(SECRET, NOW, BODY) == headers()["X-Meshpipe-Signature-256"]
    assert sign(SECRET.encode(), str(NOW), BODY) == sign(SECRET, NOW, BODY)


def test_verify_returns_the_delivery_and_reads_headers_in_any_case() -> None:
    lowered = {key.lower(): value for key, value in headers().items()}
    delivery = verify(SECRET, lowered, BODY, now=NOW + 10)
    assert (delivery.timestamp, delivery.idempotency_key, delivery.event) == (NOW, "mp-1", "apply")
    assert SECRET not in repr(delivery)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"X-Meshpipe-Signature-256": None}, "signature-missing"),
        ({"X-Meshpipe-Signature-256": "sha256=zz"}, "signature-format"),
        ({"X-Meshpipe-Signature-256": "sha512=" + "0" * 64}, "signature-format"),
        ({"X-Meshpipe-Timestamp": None}, "timestamp-missing"),
        ({"X-Meshpipe-Timestamp": "1.5"}, "timestamp-format"),
        ({"X-Meshpipe-Timestamp": "\u0661\u0662"}, "timestamp-format"),  # Arabic-Indic digits pass str.isdigit
        ({"X-Meshpipe-Timestamp": "9" * 13}, "timestamp-format"),
        ({"X-Meshpipe-Timestamp": str(NOW + 1)}, "signature-mismatch"),  # the signature covers the timestamp
    ],
)
def test_verify_names_the_rule_a_request_breaks(change: dict[str, str | None], rule: str) -> None:
    sent = {**headers(), **change}
    with pytest.raises(VerificationError) as caught:
        verify(SECRET, {k: v for k, v in sent.items() if v is not None}, BODY, now=NOW)
    assert rule_of(caught) == rule


def test_verify_refuses_another_secret_and_a_changed_body_without_leaking_either() -> None:
    with pytest.raises(VerificationError) as caught:
        verify("other", headers(), BODY, now=NOW)
    assert rule_of(caught) == "signature-mismatch"
    with pytest.raises(VerificationError) as changed:
        verify(SECRET, headers(), BODY + b" ", now=NOW)
    assert rule_of(changed) == "signature-mismatch"
    for text in (str(caught.value), str(changed.value)):
        assert SECRET not in text and headers()["X-Meshpipe-Signature-256"][7:] not in text


@pytest.mark.parametrize(("skew", "ok"), [(300, True), (-300, True), (301, False), (-301, False)])
def test_the_tolerance_is_300_seconds_either_way(skew: int, ok: bool) -> None:
    if ok:
        verify(SECRET, headers(), BODY, now=NOW + skew)
        return
    with pytest.raises(VerificationError) as caught:
        verify(SECRET, headers(), BODY, now=NOW + skew)
    assert rule_of(caught) == "timestamp-tolerance"


def test_an_empty_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        verify("", headers(), BODY, now=NOW)


def test_the_replay_guard_refuses_a_repeat_and_forgets_after_twice_the_tolerance() -> None:
    guard = ReplayGuard()
    delivery = verify(SECRET, headers(), BODY, now=NOW)
    guard.check(delivery, now=NOW)
    with pytest.raises(VerificationError) as caught:
        guard.check(verify(SECRET, headers(), BODY, now=NOW), now=NOW + 1)
    assert rule_of(caught) == "replayed-signature"
    guard.check(verify(SECRET, headers(stamp=NOW + 1), BODY, now=NOW + 1), now=NOW + 1)  # a retry re-signs
    guard.check(delivery, now=NOW + 601)  # forgotten; verify's tolerance refuses such a delivery anyway


def test_importing_it_loads_only_hmac_hashlib_and_time() -> None:
    code = (
        "import sys; before = set(sys.modules); import meshpipe.webhook; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    assert loaded <= {
        "__future__",
        "_blake2",
        "_hashlib",
        "hashlib",
        "hmac",
        "meshpipe",
        "meshpipe.webhook",
        "warnings",
    }
