"""The fake webhook receiver's answers against their description, ``tests/fixtures/specs/meshpipe-webhook-openapi.json``
(as the GitHub, GitLab and Azure DevOps fakes' answers are held against theirs): every kind of answer is provoked
once, then every logged answer must have a documented status and match its schema."""

from __future__ import annotations

import json
import time
from typing import Any

import jsonschema
import pytest
import requests

from meshpipe.fakes.webhook import FakeWebhookReceiver
from meshpipe.fakes.webhook_jobs import JOB_STATUSES
from tests.fakes.webhook_support import (
    ANSWERS_PATH,
    answer_schema,
    answers_spec,
    check_every_answer,
    deliver,
    payload,
    signed_get,
)


def test_the_description_is_openapi_3_1_with_valid_schemas_and_named_in_the_fixtures_readme() -> None:
    spec = answers_spec()
    assert spec["openapi"] == "3.1.0"
    for name in spec["components"]["schemas"]:
        jsonschema.Draft202012Validator.check_schema(answer_schema(name))
    readme = (ANSWERS_PATH.parent / "README.md").read_text(encoding="utf-8")
    assert f"`{ANSWERS_PATH.name}`" in readme


def test_the_job_status_enum_is_the_fakes() -> None:
    assert tuple(answers_spec()["components"]["schemas"]["job"]["properties"]["status"]["enum"]) == JOB_STATUSES


def test_every_kind_of_answer_matches_the_description(fake_webhook: FakeWebhookReceiver) -> None:
    fake_webhook.configure(status_url=True, duration=None)
    accepted = deliver(fake_webhook)  # 202
    assert accepted.status_code == 202
    assert deliver(fake_webhook).json()["duplicate"] is True  # 202, a repeated key
    assert signed_get(fake_webhook, accepted.json()["status_url"]).status_code == 200
    assert signed_get(fake_webhook, f"{fake_webhook.base_url}/jobs/999").status_code == 404
    assert signed_get(fake_webhook, accepted.json()["status_url"], secret="wrong").status_code == 401
    assert deliver(fake_webhook, secret="wrong").status_code == 401
    assert deliver(fake_webhook, headers={"Content-Type": "text/plain"}).status_code == 415
    assert deliver(fake_webhook, body=b"{not json").status_code == 400
    assert deliver(fake_webhook, payload(phase="sideways", correlation_id="mp-2")).status_code == 422
    assert deliver(fake_webhook, body=b"x" * ((1 << 20) + 1)).status_code == 413
    assert requests.get(fake_webhook.url, timeout=10).status_code == 405
    assert requests.get(f"{fake_webhook.base_url}/elsewhere", timeout=10).status_code == 404
    fake_webhook.configure(accept_status=200, status_url=False)
    assert deliver(fake_webhook, payload(correlation_id="mp-3")).status_code == 200
    assert check_every_answer(fake_webhook) == 13


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("accepted", {"id": "1"}),
        ("accepted", {"id": "1", "duplicate": False, "job": 1}),
        ("job", {"id": "1", "status": "done", "url": "http://127.0.0.1/jobs/1"}),
        ("refusal", {"message": "no"}),
        ("error", {"message": "no", "rule": "x", "extra": 1}),
    ],
)
def test_the_schemas_reject_answers_the_receiver_must_not_give(name: str, body: dict[str, Any]) -> None:
    assert not jsonschema.Draft202012Validator(answer_schema(name)).is_valid(body)


def test_an_undocumented_answer_fails_the_check(fake_webhook: FakeWebhookReceiver) -> None:
    """The check can fail: an answer whose body breaks its schema is caught."""
    assert deliver(fake_webhook).status_code == 202
    (record,) = fake_webhook.log()
    record.response_body = json.dumps({"id": 1, "duplicate": False}).encode()  # id as a number
    with pytest.raises(jsonschema.ValidationError):
        check_every_answer(fake_webhook)
    record.status = 418
    with pytest.raises(AssertionError, match="undocumented 418"):
        check_every_answer(fake_webhook)


def test_a_job_moves_through_documented_statuses(fake_webhook: FakeWebhookReceiver) -> None:
    fake_webhook.configure(status_url=True, duration=0.2)
    url = deliver(fake_webhook).json()["status_url"]
    deadline = time.monotonic() + 10
    while signed_get(fake_webhook, url).json()["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert check_every_answer(fake_webhook) >= 2
