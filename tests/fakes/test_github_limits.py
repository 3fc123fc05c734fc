"""Fake GitHub: rate-limit headers and exhaustion, scripted faults and the request log."""

from __future__ import annotations

import time

import pytest
import requests

from meshpipe.fakes.github import FakeGitHub
from tests.fakes.test_github_dispatch import DISPATCH, TOKEN, call


def setup(fake: FakeGitHub) -> None:
    fake.add_token(TOKEN)
    fake.add_token("ghp_second")
    fake.add_workflow("acme/infra", "apply.yml")


def test_every_api_answer_carries_rate_limit_headers(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    first = call(fake_github, "GET", "/repos/acme/infra")
    second = call(fake_github, "POST", DISPATCH, json={"ref": "nope"})
    missing = call(fake_github, "GET", "/repos/acme/infra/actions/runs/1")
    for response in (first, second, missing):
        for name in (
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "x-ratelimit-used",
            "x-ratelimit-resource",
        ):
            assert name in response.headers, (response.status_code, name)
    assert first.headers["x-ratelimit-limit"] == "5000"
    assert (first.headers["x-ratelimit-used"], first.headers["x-ratelimit-remaining"]) == ("1", "4999")
    assert (missing.headers["x-ratelimit-used"], missing.headers["x-ratelimit-remaining"]) == ("3", "4997")
    assert first.headers["x-ratelimit-resource"] == "core"
    assert int(first.headers["x-ratelimit-reset"]) > time.time()


def test_exhausted_primary_rate_limit_answers_403_with_remaining_0_and_reset(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    fake_github.set_rate_limit(2, window_seconds=120)
    assert call(fake_github, "GET", "/repos/acme/infra").status_code == 200
    assert call(fake_github, "POST", DISPATCH, json={"ref": "main"}).status_code == 204
    limited = call(fake_github, "POST", DISPATCH, json={"ref": "main"})
    assert limited.status_code == 403
    assert limited.json()["message"].startswith("API rate limit exceeded for ")
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert time.time() < int(limited.headers["x-ratelimit-reset"]) <= time.time() + 121
    assert len(fake_github.dispatches) == 1
    assert call(fake_github, "GET", "/repos/acme/infra", token="ghp_second").status_code == 200  # counted per token


def test_rate_limit_window_resets(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    fake_github.set_rate_limit(1, window_seconds=0.3)
    assert call(fake_github, "GET", "/repos/acme/infra").status_code == 200
    assert call(fake_github, "GET", "/repos/acme/infra").status_code == 403
    time.sleep(0.35)
    assert call(fake_github, "GET", "/repos/acme/infra").status_code == 200


def test_rate_limit_can_be_set_through_the_control_plane(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    response = requests.post(
        f"{fake_github.url}/_fake/rate-limit", json={"limit": 0}, headers=fake_github.control_headers(), timeout=10
    )
    assert response.status_code == 200
    assert call(fake_github, "GET", "/repos/acme/infra").status_code == 403


@pytest.mark.parametrize("status", [429, 403])
def test_scripted_secondary_rate_limit_answers_with_retry_after_and_starts_no_run(
    fake_github: FakeGitHub, status: int
) -> None:
    setup(fake_github)
    message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    fake_github.add_fault(status=status, retry_after=2, method="POST", path="/dispatches$", body={"message": message})
    limited = call(fake_github, "POST", DISPATCH, json={"ref": "main"})
    assert limited.status_code == status
    assert limited.headers["Retry-After"] == "2"
    assert limited.json()["message"] == message
    assert "x-ratelimit-remaining" in limited.headers
    assert fake_github.runs == []
    assert call(fake_github, "POST", DISPATCH, json={"ref": "main"}).status_code == 204
    assert len(fake_github.runs) == 1


def test_scripted_503_with_retry_after_in_github_error_format(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    fake_github.add_fault(status=503, retry_after=1, times=2)
    for _ in range(2):
        response = call(fake_github, "GET", "/repos/acme/infra")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json()["status"] == "503"
    assert call(fake_github, "GET", "/repos/acme/infra").status_code == 200


def test_dropped_connection_reaches_the_client_as_a_connection_error(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    fake_github.add_fault(drop=True, method="POST")
    with pytest.raises(requests.ConnectionError):
        call(fake_github, "POST", DISPATCH, json={"ref": "main"})
    assert fake_github.runs == []


def test_lost_response_after_the_dispatch_still_started_the_run(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    fake_github.add_fault(status=502, after=True, method="POST", path="/dispatches$")
    response = call(fake_github, "POST", DISPATCH, json={"ref": "main"})
    assert response.status_code == 502
    assert len(fake_github.runs) == 1 and len(fake_github.dispatches) == 1


def test_faults_can_be_scripted_through_the_control_plane(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    response = requests.post(
        f"{fake_github.url}/_fake/faults",
        json={"status": 500, "times": 1, "path": "/repos/"},
        headers=fake_github.control_headers(),
        timeout=10,
    )
    assert response.status_code == 201
    assert call(fake_github, "GET", "/repos/acme/infra").status_code == 500
    assert call(fake_github, "GET", "/repos/acme/infra").status_code == 200


@pytest.mark.parametrize(
    "fault",
    [{"path": "/repos/("}, {"status": "503"}, {"status": 42}, {"times": "2"}, {"delay": "slow"}, {"retry_after": "1"}],
)
def test_a_malformed_fault_is_refused_instead_of_breaking_every_later_request(
    fake_github: FakeGitHub, fault: dict[str, object]
) -> None:
    setup(fake_github)
    response = requests.post(
        f"{fake_github.url}/_fake/faults", json=fault, headers=fake_github.control_headers(), timeout=10
    )
    assert response.status_code == 400, response.text
    assert call(fake_github, "GET", "/repos/acme/infra").status_code == 200
    assert fake_github.errors == []


def test_request_log_records_method_path_headers_body_and_status(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    call(fake_github, "POST", DISPATCH, json={"ref": "main"})
    [entry] = fake_github.log(method="POST", path="/dispatches$")
    assert entry.status == 204
    assert entry.json() == {"ref": "main"}
    assert entry.headers["authorization"] == f"Bearer {TOKEN}"
    logged = requests.get(f"{fake_github.url}/_fake/requests", headers=fake_github.control_headers(), timeout=10).json()
    assert [item["path"] for item in logged] == ["/repos/acme/infra/actions/workflows/apply.yml/dispatches"]
