"""Pure rules of the transport: which failures are retried, the delay sequence, Retry-After, error lines."""

from __future__ import annotations

import http.client
import ssl
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from meshpipe.errors import MeshpipeError
from meshpipe.report import errors
from meshpipe.report.transport import MAX_RETRY_AFTER, backoff_delays, parse_retry_after, should_retry


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (200, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (415, False),
        (422, False),
        (429, True),
        (500, False),
        (501, False),
        (502, True),
        (503, True),
        (504, True),
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError("slow"), True),
        (http.client.RemoteDisconnected("gone"), True),
        (http.client.IncompleteRead(b"half"), True),
        (ssl.SSLCertVerificationError("wrong certificate"), False),
        (errors.ResponseTooLarge("GET", "https://x", 10), False),
        (ValueError("bug"), False),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
def test_retry_truth_table(method: str, outcome: int | BaseException, expected: bool) -> None:
    assert should_retry(method, outcome) is expected


def test_backoff_is_exponential_bounded_and_jittered_through_the_seam() -> None:
    values = iter([0.0, 1.0, 0.5, 0.0, 1.0, 0.0])
    delays = backoff_delays(6, base=1.0, cap=10.0, random=lambda: next(values))
    assert delays == [0.5, 2.0, 3.0, 4.0, 10.0, 5.0]


def test_backoff_with_zero_retries_is_empty() -> None:
    assert backoff_delays(0, base=1.0) == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("86400", MAX_RETRY_AFTER),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_retry_after_http_date_is_relative_to_now() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()
    later = format_datetime(datetime(2026, 1, 1, 12, 0, 7, tzinfo=timezone.utc), usegmt=True)
    assert parse_retry_after(later, now=lambda: now) == 7.0
    past = format_datetime(datetime(2025, 1, 1, tzinfo=timezone.utc), usegmt=True)
    assert parse_retry_after(past, now=lambda: now) == 0.0


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.ValidationError),
        (401, errors.AuthenticationError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (406, errors.UnsupportedMediaTypeError),
        (409, errors.ConflictError),
        (415, errors.UnsupportedMediaTypeError),
        (422, errors.ValidationError),
        (429, errors.RateLimitError),
        (500, errors.ServerError),
        (503, errors.ServerError),
        (418, errors.APIError),
    ],
)
def test_status_errors_are_chosen_by_meaning(status: int, cls: type[errors.APIError]) -> None:
    error = errors.api_error("GET", "https://x", status, "m")
    assert type(error) is cls
    assert isinstance(error, errors.ReporterError) and isinstance(error, MeshpipeError)


def test_error_is_one_line_with_method_url_status_and_message() -> None:
    url = "https://mesh.example/api/meshobjects/meshbuildingblockruns/r1/status/source/github"
    error = errors.api_error("PATCH", url, 404, "Source 'github' is not registered")
    assert str(error) == f"PATCH {url} -> 404 Not Found: Source 'github' is not registered"
    assert "\n" not in str(errors.api_error("GET", url, 401, "expired"))
    assert str(errors.api_error("GET", url, 401, "expired")).startswith(
        f"GET {url} -> 401 Unauthorized: expired (hint:"
    )
