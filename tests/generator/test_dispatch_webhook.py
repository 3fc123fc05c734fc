"""The bundled dispatcher's webhook target as the Trigger Module runs it: a subprocess (configuration in
``MESHPIPE_DISPATCH_B64_0``) against the fake receiver over 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from meshpipe.fakes.webhook import FakeWebhookReceiver
from meshpipe.webhook import verify
from tests.fakes.webhook_support import schema
from tests.generator.support import assert_not_shown, one_error_line, run_dispatch_script

MODULE = "webhook-trigger"
SECRET_CANARY = "whsec-CANARY-never-printed-0123456789"
TOKEN_CANARY = "gwt-CANARY-token-0123456789"
INPUT_CANARY = "secret-input-CANARY-value"
RUN_URL = "https://meshstack.example/api/meshobjects/meshbuildingblockruns/run-1"
HOSTILE = (
    "$(touch /tmp/pwned) `id` ; rm -rf / && echo \"quoted\" 'single' \\back\\slash\n"
    "second line\ttab \u00e9\u00df\u2603\U0001f600 %s %n {{ .x }} ${{ inputs.x }} \u202e \x7f end"
)


@pytest.fixture
def receiver() -> Any:
    """A receiver whose secret is the dispatcher's canary, so signatures verify."""
    with FakeWebhookReceiver(SECRET_CANARY) as fake:
        yield fake
        fake.raise_errors()


def config(fake: FakeWebhookReceiver, **overrides: Any) -> dict[str, Any]:
    webhook = {"url": fake.url, "event": "apply", "auth": {"secret_env": "HOOK_SECRET", "token_env": ""}}
    webhook.update(overrides.pop("webhook", {}))
    data: dict[str, Any] = {
        "version": 1,
        "module": MODULE,
        "target": "webhook",
        "webhook": webhook,
        "inputs": {"name": "team-bucket", "buildingBlockRunUrl": RUN_URL},
        "secret_inputs": {},
        "correlation_input": "correlation_id",
        "run_url_input": "buildingBlockRunUrl",
        "behavior": "APPLY",
        "run_id": "run-1",
        "building_block_id": "bb-1",
        "wait": False,
        "wait_timeout_seconds": 10,
        "poll_interval_seconds": 0.2,
    }
    data.update(overrides)
    return data


def run_dispatcher(
    fake: FakeWebhookReceiver,
    cwd: Path,
    phase: str = "apply",
    *,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> subprocess.CompletedProcess[str]:
    environ = {"HOOK_SECRET": SECRET_CANARY, "MESHPIPE_DISPATCH_HTTP_TIMEOUT_SECONDS": "5", **(env or {})}
    return run_dispatch_script(config(fake, **overrides), cwd, phase, env=environ, python_flags=("-I", "-S"))


def posts(fake: FakeWebhookReceiver) -> list[int]:
    return [r.status for r in fake.log(method="POST")]


def assert_no_secrets(fake: FakeWebhookReceiver, result: subprocess.CompletedProcess[str]) -> None:
    """Neither credential in the output; the HMAC secret in no request at all (only its signatures travel)."""
    assert_not_shown(result, SECRET_CANARY, TOKEN_CANARY)
    for request in fake.log():
        assert SECRET_CANARY not in json.dumps(request.headers) and SECRET_CANARY.encode() not in request.body


# ------------------------------------------------------------------------------------------------ the wire


def test_one_signed_delivery_with_exact_headers_and_a_body_the_schema_accepts(
    receiver: FakeWebhookReceiver, tmp_path: Path
) -> None:
    before = int(time.time())
    result = run_dispatcher(receiver, tmp_path)
    assert result.returncode == 0, result.stderr
    (request,) = receiver.log()
    assert request.method == "POST" and request.path == "/hooks/meshpipe" and request.status == 202
    headers = request.headers
    body = json.loads(request.body)
    jsonschema.Draft202012Validator(schema()).validate(body)
    assert request.body == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()  # compact UTF-8
    assert body["version"] == 1 and body["event"] == "apply" and body["phase"] == "apply"
    assert body["module"] == MODULE
    assert body["inputs"] == {
        "name": "team-bucket",
        "buildingBlockRunUrl": RUN_URL,
        "correlation_id": body["correlation_id"],
    }
    assert headers["content-type"] == "application/json"
    assert headers["x-meshpipe-event"] == "apply"
    assert headers["idempotency-key"] == body["correlation_id"]
    assert headers["user-agent"] == f"meshpipe-dispatch/0.1.0 ({MODULE})"
    assert "authorization" not in headers
    stamp = int(headers["x-meshpipe-timestamp"])
    assert before <= stamp <= int(time.time())
    # the user's secret verifies it: independently, and with the library receivers use
    mac = hmac.new(SECRET_CANARY.encode(), f"{stamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert headers["x-meshpipe-signature-256"] == f"sha256={mac}"
    verify(SECRET_CANARY, headers, request.body)
    assert receiver.accepted_count(body["correlation_id"]) == 1
    assert f"[{MODULE}] the receiver accepted the delivery (202), job 1" in result.stdout
    assert f"[{MODULE}] dispatched webhook 'apply' to {receiver.url}: job 1" in result.stdout
    assert list(tmp_path.glob(".meshpipe-dispatch-*")) == []  # the outcome is certain: no intent marker left
    assert_no_secrets(receiver, result)


def test_hostile_input_values_arrive_byte_exact(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    inputs = {"name": HOSTILE, "buildingBlockRunUrl": RUN_URL, "empty": "", "json": '{"a": [1, "\\u0000"]}'}
    result = run_dispatcher(
        receiver,
        tmp_path,
        inputs=inputs,
        secret_inputs={"password": "DB_PASSWORD"},
        env={"DB_PASSWORD": INPUT_CANARY + HOSTILE},
    )
    assert result.returncode == 0, result.stderr
    (delivery,) = receiver.deliveries
    sent = delivery.payload["inputs"]
    assert sent["name"] == HOSTILE and sent["empty"] == "" and sent["json"] == inputs["json"]
    assert sent["password"] == INPUT_CANARY + HOSTILE
    assert "\u00e9\u00df\u2603\U0001f600".encode() in delivery.body  # not \\u-escaped: the body is UTF-8 JSON
    assert INPUT_CANARY not in result.stdout + result.stderr
    assert not Path("/tmp/pwned").exists()


def test_the_destroy_phase_sends_its_own_event(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    result = run_dispatcher(receiver, tmp_path, "destroy", behavior="DESTROY", webhook={"event": "teardown"})
    assert result.returncode == 0, result.stderr
    (delivery,) = receiver.deliveries
    assert (delivery.payload["event"], delivery.payload["phase"]) == ("teardown", "destroy")
    assert delivery.headers["x-meshpipe-event"] == "teardown"


def test_a_destroy_without_an_event_sends_nothing(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    result = run_dispatcher(
        receiver, tmp_path, "destroy", webhook={"event": None}, env={"HOOK_SECRET": ""}
    )  # no credentials needed either
    assert result.returncode == 0, result.stderr
    assert "no destroy event configured: nothing to fire" in result.stdout
    assert receiver.log() == []


@pytest.mark.parametrize("behavior", ["DETECT", "DESTROY"])
def test_the_apply_phase_sends_nothing_on_detect_and_destroy_runs(
    receiver: FakeWebhookReceiver, tmp_path: Path, behavior: str
) -> None:
    result = run_dispatcher(receiver, tmp_path, behavior=behavior)
    assert result.returncode == 0, result.stderr
    assert f"behavior {behavior}: not dispatching the apply delivery" in result.stdout
    assert receiver.log() == []


def test_a_bearer_token_is_sent_when_named(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    receiver.configure(token=TOKEN_CANARY)
    refused = run_dispatcher(receiver, tmp_path)
    line = one_error_line(refused)
    assert "-> 401" in line and "bearer-token" not in line  # the receiver's message, not its rule name
    result = run_dispatcher(
        receiver,
        tmp_path,
        webhook={"auth": {"secret_env": "HOOK_SECRET", "token_env": "HOOK_TOKEN"}},
        env={"HOOK_TOKEN": TOKEN_CANARY},
    )
    assert result.returncode == 0, result.stderr
    assert receiver.log()[-1].headers["authorization"] == f"Bearer {TOKEN_CANARY}"
    assert_no_secrets(receiver, result)
    assert_no_secrets(receiver, refused)


# ------------------------------------------------------------------------------------------ exactly once


def test_a_lost_answer_is_resent_with_the_same_key_and_starts_one_job(
    receiver: FakeWebhookReceiver, tmp_path: Path
) -> None:
    receiver.add_fault(drop=True, after=True, method="POST")
    result = run_dispatcher(receiver, tmp_path)
    assert result.returncode == 0, result.stderr
    first, second = receiver.log(method="POST")
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.body == second.body
    assert int(second.headers["x-meshpipe-timestamp"]) > int(first.headers["x-meshpipe-timestamp"])
    assert first.headers["x-meshpipe-signature-256"] != second.headers["x-meshpipe-signature-256"]
    key = first.headers["idempotency-key"]
    assert receiver.accepted_count(key) == 1 and [d.duplicate for d in receiver.deliveries_for(key)] == [False, True]
    assert "the delivery got no answer (it may have arrived); the same Idempotency-Key lets" in result.stdout
    assert "a repeat: the receiver had accepted this key already" in result.stdout


@pytest.mark.parametrize(
    ("fault", "statuses"),
    [
        ({"status": 429, "retry_after": 0.2}, [429, 202]),
        ({"status": 503, "retry_after": 0.2}, [503, 202]),
        ({"status": 503}, [503, 202]),
        ({"status": 500, "after": True}, [202, 202]),  # the receiver started the job, then failed to answer
        ({"status": 409}, [409, 202]),
    ],
)
def test_rate_limits_and_server_errors_end_in_one_accepted_job(
    receiver: FakeWebhookReceiver, tmp_path: Path, fault: dict[str, Any], statuses: list[int]
) -> None:
    receiver.add_fault(method="POST", **fault)
    result = run_dispatcher(receiver, tmp_path)
    assert result.returncode == 0, result.stderr
    assert posts(receiver) == statuses
    assert len(receiver.jobs) == 1
    if "retry_after" in fault:
        assert f"rate limited ({fault['status']}); retrying in 0.2 s" in result.stdout


def test_a_timeout_is_resent_with_the_same_key(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    receiver.add_fault(delay=1.5, method="POST")  # the receiver accepts after the dispatcher gave up
    result = run_dispatcher(receiver, tmp_path, env={"MESHPIPE_DISPATCH_HTTP_TIMEOUT_SECONDS": "0.5"})
    assert result.returncode == 0, result.stderr
    assert "the delivery got no answer (it may have arrived)" in result.stdout
    assert len(receiver.jobs) == 1
    (key,) = {d.key for d in receiver.deliveries}
    assert receiver.accepted_count(key) == 1


def test_a_refusal_is_definite_and_not_resent(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    receiver.add_fault(status=400, method="POST", body={"message": "no such job template"})
    line = one_error_line(run_dispatcher(receiver, tmp_path))
    assert line == (
        f"meshpipe-dispatch: error: POST {receiver.url} -> 400: no such job template "
        "(hint: the receiver refused the body (see its message))"
    )
    assert posts(receiver) == [400]
    assert list(tmp_path.glob(".meshpipe-dispatch-*")) == []


def test_a_wrong_secret_is_one_line_naming_the_variable_never_the_value(
    receiver: FakeWebhookReceiver, tmp_path: Path
) -> None:
    result = run_dispatcher(receiver, tmp_path, env={"HOOK_SECRET": "whsec-CANARY-wrong-value-42"})
    line = one_error_line(result)
    assert "-> 401" in line and "check that HOOK_SECRET holds the receiver's secret" in line
    assert "whsec-CANARY-wrong-value-42" not in result.stdout + result.stderr
    assert posts(receiver) == [401]


@pytest.mark.parametrize(
    ("secret_env", "value", "message"),
    [
        ("UNSET_SECRET", None, "no HMAC secret for the webhook: set the environment variable UNSET_SECRET"),
        ("HOOK_SECRET", "   ", "no HMAC secret for the webhook: set the environment variable HOOK_SECRET"),
        ("HOOK_SECRET", SECRET_CANARY + "\n", "HOOK_SECRET contains a control character; the webhook's secret is"),
    ],
)
def test_credential_problems_are_one_line_before_anything_is_sent(
    receiver: FakeWebhookReceiver, tmp_path: Path, secret_env: str, value: str | None, message: str
) -> None:
    env = {} if value is None else {"HOOK_SECRET": value}
    result = run_dispatcher(receiver, tmp_path, webhook={"auth": {"secret_env": secret_env}}, env=env)
    assert message in one_error_line(result)
    assert SECRET_CANARY not in result.stderr
    assert receiver.log() == []


@pytest.mark.parametrize(
    ("webhook", "message"),
    [
        ({"url": "http://127.0.0.1:1/hook?token=abc"}, "webhook.url: expected no token in the URL"),
        ({"url": "http://127.0.0.1:1/hook?job=x&api_key=abc"}, "webhook.url: expected no token in the URL"),
        ({"url": "http://user:pw@127.0.0.1:1/hook"}, "webhook.url: expected a URL without credentials"),
        ({"url": "ftp://127.0.0.1/hook"}, "webhook.url: expected an http(s) URL"),
        ({"event": "apply\nx"}, "webhook.event: expected 1-200 printable ASCII characters"),
        ({"event": None}, "webhook.event: required in the apply configuration"),
        ({"colour": "red"}, "MESHPIPE_DISPATCH.webhook.colour: unknown key"),
    ],
)
def test_configuration_errors_name_the_key(
    receiver: FakeWebhookReceiver, tmp_path: Path, webhook: dict[str, Any], message: str
) -> None:
    line = one_error_line(run_dispatcher(receiver, tmp_path, webhook=webhook))
    assert message in line
    assert receiver.log() == []


# ------------------------------------------------------------------------------------------------ waiting


@pytest.mark.parametrize(("conclusion", "code"), [("succeeded", 0), ("failed", 1), ("cancelled", 1)])
def test_waiting_polls_the_status_url_with_signed_gets(
    receiver: FakeWebhookReceiver, tmp_path: Path, conclusion: str, code: int
) -> None:
    receiver.configure(status_url=True, duration=0.5, conclusion=conclusion)
    result = run_dispatcher(receiver, tmp_path, wait=True)
    assert result.returncode == code, result.stderr
    (job,) = receiver.jobs
    polls = receiver.log(method="GET")
    assert polls and all(r.status == 200 and r.path == f"/jobs/{job.id}" for r in polls)
    for poll in polls:
        verify(SECRET_CANARY, poll.headers, b"")
    if code == 0:
        assert f"job {job.status_url} completed: succeeded" in result.stdout
    else:
        assert one_error_line(result) == (
            f"meshpipe-dispatch: error: webhook job {job.status_url} concluded {conclusion}: {job.status_url}"
        )


def test_waiting_times_out_within_its_bound(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    receiver.configure(status_url=True, duration=None)
    line = one_error_line(run_dispatcher(receiver, tmp_path, wait=True, wait_timeout_seconds=1))
    (job,) = receiver.jobs
    assert line.endswith(f"timed out after 1 s waiting for {job.status_url}; the job continues on the webhook receiver")
    assert job.status == "queued"


def test_waiting_a_command_job_that_reports_its_environment(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    script = "import os, sys; sys.exit(0 if os.environ['MESHSTACK_RUN_URL'] == sys.argv[1] else 5)"
    receiver.configure(status_url=True, command=[sys.executable, "-c", script, RUN_URL])
    result = run_dispatcher(receiver, tmp_path, wait=True)
    assert result.returncode == 0, result.stderr + receiver.jobs[0].log


def test_waiting_without_a_status_url_fails_with_a_hint_after_one_delivery(
    receiver: FakeWebhookReceiver, tmp_path: Path
) -> None:
    line = one_error_line(run_dispatcher(receiver, tmp_path, wait=True))
    assert "the receiver answered no status_url, so the job cannot be awaited" in line
    assert "hint: set wait to false" in line
    assert len(receiver.jobs) == 1 and receiver.log(method="GET") == []


def test_a_status_url_on_another_host_is_never_polled(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    elsewhere = {"id": "1", "status_url": f"http://localhost:{receiver.port}/jobs/1"}
    receiver.add_fault(status=202, method="POST", body=elsewhere)
    line = one_error_line(run_dispatcher(receiver, tmp_path, wait=True))
    assert "is not on the webhook's scheme, host and port" in line
    assert receiver.log(method="GET") == []


def test_credentials_echoed_by_the_receiver_are_masked(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    echo = {"message": f"token {TOKEN_CANARY} and key {SECRET_CANARY} ({json.dumps(SECRET_CANARY)[1:-1]})"}
    receiver.add_fault(status=400, method="POST", body=echo)
    result = run_dispatcher(
        receiver,
        tmp_path,
        webhook={"auth": {"secret_env": "HOOK_SECRET", "token_env": "HOOK_TOKEN"}},
        env={"HOOK_TOKEN": TOKEN_CANARY},
    )
    line = one_error_line(result)
    assert "token *** and key *** (***)" in line
    assert_no_secrets(receiver, result)
