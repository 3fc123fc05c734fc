"""Fake webhook receiver: signature, timestamp, replay, media type, schema and idempotency rules over real HTTP."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import jsonschema
import pytest
import requests

from meshpipe.fakes.webhook import FakeWebhookReceiver
from tests.fakes.webhook_support import (
    SCHEMA_PATH,
    deliver,
    encode,
    payload,
    schema,
    signature,
    signed_get,
    signed_headers,
    wait_for_status,
)


def refused(response: requests.Response, status: int, rule: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["rule"] == rule, body
    return str(body["message"])


# ------------------------------------------------------------------------------------------- accepting, deduping


def test_a_signed_delivery_starts_one_job_and_answers_202(fake_webhook: FakeWebhookReceiver) -> None:
    response = deliver(fake_webhook)
    assert response.status_code == 202, response.text
    assert response.json() == {"id": "1", "duplicate": False}
    assert fake_webhook.accepted_count("mp-0123456789abcdef") == 1
    (delivery,) = fake_webhook.deliveries_for("mp-0123456789abcdef")
    assert delivery.payload == payload() and not delivery.duplicate
    assert delivery.body == encode(payload())


def test_a_repeated_key_gets_the_first_answer_and_starts_nothing(fake_webhook: FakeWebhookReceiver) -> None:
    fake_webhook.configure(status_url=True)
    first = deliver(fake_webhook, timestamp=int(time.time()) - 2)
    again = deliver(fake_webhook, timestamp=int(time.time()) - 1)  # a retry: fresh timestamp, fresh signature
    assert first.status_code == again.status_code == 202
    assert again.json() == {**first.json(), "duplicate": True}
    assert fake_webhook.accepted_count("mp-0123456789abcdef") == 1
    assert len(fake_webhook.deliveries_for("mp-0123456789abcdef")) == 2
    assert len(fake_webhook.jobs) == 1


def test_a_receiver_that_ignores_the_key_runs_twice(fake_webhook: FakeWebhookReceiver) -> None:
    fake_webhook.configure(dedupe=False)
    deliver(fake_webhook, timestamp=int(time.time()) - 2)
    deliver(fake_webhook, timestamp=int(time.time()) - 1)
    assert fake_webhook.accepted_count("mp-0123456789abcdef") == 2


def test_distinct_keys_start_distinct_jobs(fake_webhook: FakeWebhookReceiver) -> None:
    deliver(fake_webhook, payload(correlation_id="mp-a"))
    deliver(fake_webhook, payload(correlation_id="mp-b"))
    assert [fake_webhook.accepted_count(k) for k in ("mp-a", "mp-b", "mp-c")] == [1, 1, 0]


def test_accept_status_can_be_200_like_jenkins_and_argo(fake_webhook: FakeWebhookReceiver) -> None:
    fake_webhook.configure(accept_status=200)
    assert deliver(fake_webhook).status_code == 200


# ----------------------------------------------------------------------------------------- signature and time


def test_wrong_secret_is_refused_without_echoing_any_signature(fake_webhook: FakeWebhookReceiver) -> None:
    response = deliver(fake_webhook, secret="not-the-secret")
    message = refused(response, 401, "signature-mismatch")
    assert fake_webhook.secret not in response.text
    assert signature(fake_webhook.secret, int(time.time()), encode(payload()))[7:20] not in message
    assert fake_webhook.jobs == []


def test_a_body_changed_after_signing_is_refused(fake_webhook: FakeWebhookReceiver) -> None:
    stamp = int(time.time())
    signed = signature(fake_webhook.secret, stamp, encode(payload()))
    tampered = payload(inputs={"name": "other"})
    response = deliver(fake_webhook, tampered, timestamp=stamp, headers={"X-Meshpipe-Signature-256": signed})
    refused(response, 401, "signature-mismatch")


@pytest.mark.parametrize(
    ("headers", "rule"),
    [
        ({"X-Meshpipe-Signature-256": None}, "signature-missing"),
        ({"X-Meshpipe-Signature-256": "sha1=" + "0" * 40}, "signature-format"),
        ({"X-Meshpipe-Signature-256": "sha256=" + "A" * 64}, "signature-format"),
        ({"X-Meshpipe-Timestamp": None}, "timestamp-missing"),
        ({"X-Meshpipe-Timestamp": "12a"}, "timestamp-format"),
        ({"X-Meshpipe-Timestamp": "-5"}, "timestamp-format"),
    ],
)
def test_malformed_signature_headers_are_refused(
    fake_webhook: FakeWebhookReceiver, headers: dict[str, str | None], rule: str
) -> None:
    refused(deliver(fake_webhook, headers=headers), 401, rule)


@pytest.mark.parametrize(("offset", "accepted"), [(-301, False), (301, False), (-299, True), (299, True)])
def test_the_timestamp_must_be_within_300_seconds(
    fake_webhook: FakeWebhookReceiver, offset: int, accepted: bool
) -> None:
    response = deliver(fake_webhook, timestamp=int(time.time()) + offset)
    if accepted:
        assert response.status_code == 202, response.text
    else:
        refused(response, 401, "timestamp-tolerance")


def test_a_replayed_signature_of_an_accepted_key_gets_the_first_answer(fake_webhook: FakeWebhookReceiver) -> None:
    stamp = int(time.time())
    first = deliver(fake_webhook, timestamp=stamp)
    again = deliver(fake_webhook, timestamp=stamp)  # byte for byte the same request
    assert again.status_code == 202 and again.json() == {**first.json(), "duplicate": True}
    assert len(fake_webhook.jobs) == 1


def test_a_replayed_signature_that_started_nothing_is_refused(fake_webhook: FakeWebhookReceiver) -> None:
    stamp = int(time.time())
    refused(deliver(fake_webhook, timestamp=stamp, headers={"Idempotency-Key": "mp-other"}), 422, "idempotency-key")
    refused(deliver(fake_webhook, timestamp=stamp), 401, "replayed-signature")
    fake_webhook.configure(dedupe=False)  # a receiver without keys relies on the replay rule alone
    assert deliver(fake_webhook, timestamp=stamp - 1).status_code == 202
    refused(deliver(fake_webhook, timestamp=stamp - 1), 401, "replayed-signature")
    assert len(fake_webhook.jobs) == 1


def test_the_bearer_token_is_checked_first_when_configured(fake_webhook: FakeWebhookReceiver) -> None:
    fake_webhook.configure(token="gwt-token-123")
    refused(deliver(fake_webhook, headers={"Content-Type": "text/plain"}), 401, "bearer-token")
    refused(deliver(fake_webhook, headers={"Authorization": "Bearer nope"}), 401, "bearer-token")
    assert deliver(fake_webhook, headers={"Authorization": "Bearer gwt-token-123"}).status_code == 202


# ---------------------------------------------------------------------------------------- media type and body


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_only_json_is_accepted(fake_webhook: FakeWebhookReceiver, content_type: str | None) -> None:
    refused(deliver(fake_webhook, headers={"Content-Type": content_type}), 415, "media-type")


def test_a_charset_other_than_utf8_is_refused(fake_webhook: FakeWebhookReceiver) -> None:
    refused(deliver(fake_webhook, headers={"Content-Type": "application/json; charset=latin-1"}), 415, "media-type")
    assert deliver(fake_webhook, headers={"Content-Type": "application/json; charset=utf-8"}).status_code == 202


def test_a_signed_body_that_is_not_json_is_400(fake_webhook: FakeWebhookReceiver) -> None:
    refused(deliver(fake_webhook, body=b"{not json"), 400, "json")
    refused(deliver(fake_webhook, body=b"\xff\xfe"), 400, "json")


def test_a_body_over_one_mebibyte_is_413(fake_webhook: FakeWebhookReceiver) -> None:
    big = payload(inputs={"blob": "x" * (1 << 20)})
    refused(deliver(fake_webhook, big), 413, "payload-too-large")


INVALID_BODIES: list[tuple[str, Any]] = [
    ("not an object", [1, 2]),
    ("missing inputs", payload(inputs=None)),
    ("missing phase", payload(phase=None)),
    ("unknown field", {**payload(), "extra": 1}),
    ("version 2", payload(version=2)),
    ("version true", payload(version=True)),
    ("phase enum", payload(phase="plan")),
    ("event empty", payload(event="")),
    ("event with a newline", payload(event="apply\nx")),
    ("module empty", payload(module="")),
    ("correlation id with a blank", payload(correlation_id="mp 1")),
    ("correlation id too long", payload(correlation_id="m" * 256)),
    ("inputs not an object", payload(inputs=["a"])),
    ("input null", payload(inputs={"n": None})),
    ("input name empty", payload(inputs={"": "x"})),
]


@pytest.mark.parametrize(("label", "data"), INVALID_BODIES, ids=[label for label, _ in INVALID_BODIES])
def test_schema_violations_are_422_and_the_json_schema_agrees(
    fake_webhook: FakeWebhookReceiver, label: str, data: Any
) -> None:
    headers: dict[str, str | None] = {"Idempotency-Key": "k", "X-Meshpipe-Event": "apply"}
    refused(deliver(fake_webhook, data, headers=headers), 422, "schema")
    assert not jsonschema.Draft202012Validator(schema()).is_valid(data), label


VALID_BODIES: list[Any] = [
    payload(),
    payload(phase="destroy", event="destroy"),
    payload(event="Deploy Infra: v2", inputs={}),
    payload(inputs={"hostile": "$(id) `x` ; rm -rf / \"' \\ \n\u00e9\u2603\U0001f600 %s {{ }}", "-dash": ""}),
    payload(correlation_id="m" * 255, module="m" * 200),
    payload(inputs={"replicas": 2, "ratio": 0.5, "public": False, "zones": ["a", "b"], "labels": {"team": "x"}}),
]


@pytest.mark.parametrize("data", VALID_BODIES)
def test_valid_bodies_pass_the_fake_and_the_json_schema(fake_webhook: FakeWebhookReceiver, data: Any) -> None:
    jsonschema.Draft202012Validator(schema()).validate(data)
    response = deliver(fake_webhook, data)
    assert response.status_code == 202, response.text
    assert fake_webhook.deliveries[-1].payload == data


def test_the_json_schema_is_a_valid_draft_2020_12_schema_named_in_the_fixtures_readme() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    readme = (SCHEMA_PATH.parent / "README.md").read_text(encoding="utf-8")
    assert f"`{SCHEMA_PATH.name}`" in readme


def test_the_idempotency_key_must_be_present_and_equal_the_signed_correlation_id(
    fake_webhook: FakeWebhookReceiver,
) -> None:
    now = int(time.time())
    refused(deliver(fake_webhook, timestamp=now - 1, headers={"Idempotency-Key": None}), 400, "idempotency-key")
    # a captured body replayed under a new key (once the replay guard forgot it) must not start a second job
    refused(deliver(fake_webhook, timestamp=now, headers={"Idempotency-Key": "mp-other"}), 422, "idempotency-key")
    assert fake_webhook.jobs == []


def test_the_event_header_must_equal_the_body_event(fake_webhook: FakeWebhookReceiver) -> None:
    now = int(time.time())
    refused(deliver(fake_webhook, timestamp=now - 1, headers={"X-Meshpipe-Event": "destroy"}), 422, "event-header")
    refused(deliver(fake_webhook, timestamp=now, headers={"X-Meshpipe-Event": None}), 422, "event-header")


def test_other_methods_on_the_hook_are_405(fake_webhook: FakeWebhookReceiver) -> None:
    response = requests.get(fake_webhook.url, timeout=10)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


# ------------------------------------------------------------------------------------------ status URL and jobs


def test_status_url_mode_answers_a_same_host_url_that_moves_through_the_states(
    fake_webhook: FakeWebhookReceiver,
) -> None:
    fake_webhook.configure(status_url=True, duration=None)
    answer = deliver(fake_webhook).json()
    assert answer["status_url"] == f"{fake_webhook.base_url}/jobs/{answer['id']}"
    assert signed_get(fake_webhook, answer["status_url"]).json() == {
        "id": answer["id"],
        "status": "queued",
        "url": answer["status_url"],
    }
    fake_webhook.complete_job(int(answer["id"]), "failed")
    assert signed_get(fake_webhook, answer["status_url"]).json()["status"] == "failed"
    with pytest.raises(ValueError, match="already ended"):
        fake_webhook.complete_job(int(answer["id"]), "succeeded")


@pytest.mark.parametrize("conclusion", ["succeeded", "failed"])
def test_a_job_without_a_command_ends_with_the_planned_status(
    fake_webhook: FakeWebhookReceiver, conclusion: str
) -> None:
    fake_webhook.configure(status_url=True, duration=0.2, conclusion=conclusion)
    url = deliver(fake_webhook).json()["status_url"]
    seen = wait_for_status(fake_webhook, url, {"succeeded", "failed"})
    assert seen["status"] == conclusion


def test_status_polls_must_be_signed_but_may_repeat(fake_webhook: FakeWebhookReceiver) -> None:
    fake_webhook.configure(status_url=True)
    url = deliver(fake_webhook).json()["status_url"]
    refused(requests.get(url, timeout=10), 401, "signature-missing")
    refused(signed_get(fake_webhook, url, secret="wrong"), 401, "signature-mismatch")
    assert signed_get(fake_webhook, url).status_code == signed_get(fake_webhook, url).status_code == 200
    assert signed_get(fake_webhook, fake_webhook.base_url + "/jobs/999").status_code == 404


def test_without_status_url_mode_there_is_no_status_endpoint(fake_webhook: FakeWebhookReceiver) -> None:
    deliver(fake_webhook)
    assert signed_get(fake_webhook, fake_webhook.base_url + "/jobs/1").status_code == 404


def run_job(fake: FakeWebhookReceiver, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Deliver ``data`` to a fake whose command is configured, wait until its job succeeded: (answer, log lines)."""
    answer = deliver(fake, data).json()
    assert wait_for_status(fake, answer["status_url"], {"succeeded", "failed"})["status"] == "succeeded"
    return answer, fake.job(int(answer["id"])).log.splitlines()


def test_a_command_gets_the_delivery_as_its_environment(
    fake_webhook: FakeWebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOST_ONLY_SECRET", "host-canary")
    script = (
        "import json, os, sys\n"
        "keys = sorted(k for k in os.environ if k.startswith(('MESHPIPE_', 'MESHSTACK_', 'HOST_')))\n"
        "print(json.dumps({k: os.environ[k] for k in keys}))\n"
        "print(open(os.environ['MESHPIPE_PAYLOAD_FILE'], 'rb').read().hex())\n"
    )
    fake_webhook.configure(status_url=True, command=[sys.executable, "-c", script])
    hostile = "$(id) `x`; \"'\\ \u00e9\U0001f600"
    data = payload(inputs={"buildingBlockRunUrl": "https://ms.example/runs/7", "team-name": hostile, "zones": ["a"]})
    answer, log = run_job(fake_webhook, data)
    env_line, body_hex = log[:2]
    assert json.loads(env_line) == {
        "MESHPIPE_CORRELATION_ID": "mp-0123456789abcdef",
        "MESHPIPE_EVENT": "apply",
        "MESHPIPE_INPUT_BUILDINGBLOCKRUNURL": "https://ms.example/runs/7",
        "MESHPIPE_INPUT_TEAM_NAME": hostile,
        "MESHPIPE_INPUT_ZONES": '["a"]',
        "MESHPIPE_JOB_ID": answer["id"],
        "MESHPIPE_MODULE": "team-bucket",
        "MESHPIPE_PAYLOAD_FILE": json.loads(env_line)["MESHPIPE_PAYLOAD_FILE"],
        "MESHPIPE_PHASE": "apply",
        "MESHPIPE_STATE_DIR": json.loads(env_line)["MESHPIPE_STATE_DIR"],
        "MESHSTACK_RUN_URL": "https://ms.example/runs/7",
    }
    assert bytes.fromhex(body_hex) == encode(data)


def test_each_job_keeps_the_reporters_state_in_its_own_temp_dir(fake_webhook: FakeWebhookReceiver) -> None:
    """Reproduction: the job's command got no state directory, so ``meshpipe run`` in two jobs for the same run (a
    redelivery with a new key, a retry) shared one per-user state file: the second saw the first's terminal status."""
    script = (
        "import os, pathlib\n"
        "state = pathlib.Path(os.environ['MESHPIPE_STATE_DIR'])\n"
        "print(state, state.is_dir(), oct(state.stat().st_mode & 0o777), list(state.iterdir()))\n"
        "print(os.path.dirname(os.environ['MESHPIPE_PAYLOAD_FILE']))\n"
    )
    fake_webhook.configure(status_url=True, command=[sys.executable, "-c", script])
    inputs = {"buildingBlockRunUrl": "https://ms.example/runs/7"}
    seen = []
    for key in ("mp-00000000000000a1", "mp-00000000000000a2"):
        state_line, workdir = run_job(fake_webhook, payload(inputs=inputs, correlation_id=key))[1][:2]
        state, is_dir, mode, entries = state_line.split(" ", 3)
        assert state.startswith(workdir + "/") and (is_dir, mode, entries) == ("True", "0o700", "[]")
        seen.append(state)
    assert seen[0] != seen[1]


def test_a_failing_command_fails_the_job(fake_webhook: FakeWebhookReceiver) -> None:
    fake_webhook.configure(status_url=True, command=[sys.executable, "-c", "raise SystemExit(3)"])
    url = deliver(fake_webhook).json()["status_url"]
    assert wait_for_status(fake_webhook, url, {"succeeded", "failed"})["status"] == "failed"


# ---------------------------------------------------------------------------------- faults and control plane


def test_a_scripted_503_starts_nothing_and_carries_retry_after(fake_webhook: FakeWebhookReceiver) -> None:
    fake_webhook.add_fault(status=503, retry_after=2, method="POST")
    response = deliver(fake_webhook)
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert fake_webhook.jobs == []
    assert deliver(fake_webhook, timestamp=int(time.time()) - 1).status_code == 202


def test_a_lost_answer_has_started_the_job_and_the_retry_is_a_duplicate(fake_webhook: FakeWebhookReceiver) -> None:
    fake_webhook.add_fault(drop=True, after=True, method="POST")
    with pytest.raises(requests.ConnectionError):
        deliver(fake_webhook, timestamp=int(time.time()) - 1)
    assert fake_webhook.accepted_count("mp-0123456789abcdef") == 1
    assert deliver(fake_webhook).json()["duplicate"] is True
    assert fake_webhook.accepted_count("mp-0123456789abcdef") == 1


def test_the_request_log_keeps_refusals_with_their_status(fake_webhook: FakeWebhookReceiver) -> None:
    deliver(fake_webhook, secret="wrong")
    deliver(fake_webhook)
    assert [r.status for r in fake_webhook.log(method="POST")] == [401, 202]


def test_the_control_plane_configures_lists_and_completes(fake_webhook: FakeWebhookReceiver) -> None:
    headers = fake_webhook.control_headers()
    base = fake_webhook.base_url + "/_fake"
    options = requests.post(
        base + "/receiver", json={"status_url": True, "duration": None}, headers=headers, timeout=10
    )
    assert options.status_code == 200 and options.json()["status_url"] is True
    bad = requests.post(base + "/receiver", json={"nope": 1}, headers=headers, timeout=10)
    assert bad.status_code == 400 and "unknown option" in bad.json()["message"]
    deliver(fake_webhook)
    assert requests.get(base + "/deliveries", headers=headers, timeout=10).json()[0]["job_id"] == 1
    done = requests.post(base + "/jobs/1/complete", json={"status": "cancelled"}, headers=headers, timeout=10)
    assert done.json()["status"] == "cancelled"
    again = requests.post(base + "/jobs/1/complete", json={"status": "failed"}, headers=headers, timeout=10)
    assert again.status_code == 409
    assert "job 1" in requests.get(base + "/jobs/1/log", headers=headers, timeout=10).text
    state = requests.get(base + "/state", headers=headers, timeout=10)
    assert fake_webhook.secret not in state.text and state.json()["jobs"][0]["status"] == "cancelled"
    assert requests.get(base + "/jobs", timeout=10).status_code == 403  # the control plane needs its secret


def test_reset_forgets_deliveries_and_restores_the_options(fake_webhook: FakeWebhookReceiver) -> None:
    fake_webhook.configure(status_url=True, token="t")
    deliver(fake_webhook, headers={"Authorization": "Bearer t"})
    fake_webhook.reset()
    assert fake_webhook.deliveries == [] and fake_webhook.jobs == [] and fake_webhook.token is None
    assert fake_webhook.status_url is False


def test_constructor_options_are_validated() -> None:
    with pytest.raises(ValueError, match="empty"):
        FakeWebhookReceiver("")
    with pytest.raises(ValueError, match="path"):
        FakeWebhookReceiver("s", path="/_fake/x")
    with pytest.raises(ValueError, match="accept_status"):
        FakeWebhookReceiver("s", accept_status=302)
    with pytest.raises(ValueError, match="unknown option"):
        FakeWebhookReceiver("s", colour="red")


def test_a_custom_path_like_jenkins_generic_webhook_trigger() -> None:
    with FakeWebhookReceiver("s3cret", path="/generic-webhook-trigger/invoke") as fake:
        assert fake.url.endswith("/generic-webhook-trigger/invoke")
        assert deliver(fake).status_code == 202


# ---------------------------------------------------------------------------------------------------- as a process


def test_meshpipe_fake_webhook_runs_a_receiver_with_the_secret_from_the_environment() -> None:
    from tests.fakes.test_github_cli import start

    secret = "cli-receiver-secret-0123"
    process, url, control = start("webhook", "--status-url", env={"MESHPIPE_WEBHOOK_SECRET": secret})
    try:
        assert url.endswith("/hooks/meshpipe")
        body = encode(payload())
        answer = requests.post(
            url, data=body, headers=signed_headers(secret, body, key="mp-0123456789abcdef"), timeout=10
        )
        assert answer.status_code == 202 and answer.json()["status_url"].startswith(url.removesuffix("/hooks/meshpipe"))
        base = url.removesuffix("/hooks/meshpipe")
        jobs = requests.get(base + "/_fake/jobs", headers={"X-Meshpipe-Fake-Control": control}, timeout=10).json()
        assert [job["idempotency_key"] for job in jobs] == ["mp-0123456789abcdef"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert secret not in " ".join(process.args)


def test_meshpipe_fake_webhook_refuses_to_start_without_a_secret() -> None:
    from click.testing import CliRunner

    from meshpipe.fakes.cli import fake

    result = CliRunner().invoke(fake, ["webhook", "--secret-env", "NO_SUCH_SECRET_VARIABLE"])
    assert result.exit_code == 2 and "NO_SUCH_SECRET_VARIABLE" in result.output
