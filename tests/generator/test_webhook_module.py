"""A webhook Trigger Module applied and destroyed by real terraform against the fake receiver over 127.0.0.1:
exactly one accepted job per APPLY run, none on DETECT, destroy once with the latest inputs, waiting, hostile inputs
byte-exact, and canary secrets in no state, plan or log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshpipe.fakes.webhook import FakeWebhookReceiver
from tests.generator.support import Module, b64, render_inline, run_object, run_url
from tests.generator.test_module_security import hostile_corpus
from tests.generator.test_module_terraform import HOSTILE_STATIC

pytestmark = pytest.mark.terraform

SECRET = "whsec-CANARY-hmac-key-0123456789"
TOKEN = "gwt-CANARY-bearer-0123456789"
PASSWORD = "db-CANARY-password-0123456789"
FREE_TEXT = ("note", "shell", "quotes", "backticks", "subshell", "newlines", "interpolation", "directive", "unicode")


def spec() -> dict[str, Any]:
    """A webhook block: the URL as a variable, free-text inputs, a secret input, a hostile static value."""
    return {
        "name": "webhook-block",
        "description": "A signed webhook to the fake receiver.",
        "target": "webhook",
        "webhook": {"url": {"required": True}},
        "events": {"apply": "deploy", "destroy": "teardown"},
        "auth": {"secret_env": "HOOK_SECRET", "token_env": "HOOK_TOKEN"},
        "correlation_input": {"default": "meshpipe_id"},
        "wait": {
            "enabled": {"default": False},
            "timeout_seconds": {"default": 30},
            "poll_interval_seconds": {"default": 1},
        },
        "inputs": [
            *({"name": name, "type": "string", "default": "-"} for name in FREE_TEXT),
            {"name": "db_password", "sensitive": True, "env": "DB_PASSWORD"},
            {"name": "motto", "value": HOSTILE_STATIC},
        ],
    }


@pytest.fixture(scope="module")
def _receiver() -> Iterator[FakeWebhookReceiver]:
    with FakeWebhookReceiver(SECRET, token=TOKEN) as fake:
        yield fake


@pytest.fixture
def receiver(_receiver: FakeWebhookReceiver) -> Iterator[FakeWebhookReceiver]:
    _receiver.reset()
    yield _receiver
    _receiver.raise_errors()


def block(receiver: FakeWebhookReceiver, tmp_path: Path, **variables: Any) -> Module:
    env = {"HOOK_SECRET": SECRET, "HOOK_TOKEN": TOKEN, "DB_PASSWORD": PASSWORD}
    module = Module(render_inline(spec(), tmp_path), env=env)
    return module.set(webhook_url=receiver.url, poll_interval_seconds=0.2, **variables)


def phases(receiver: FakeWebhookReceiver, phase: str) -> list[dict[str, Any]]:
    """The payloads of the jobs started in ``phase``, oldest first."""
    return [job.payload for job in receiver.jobs if job.payload["phase"] == phase]


def test_one_job_per_apply_run_none_on_detect_and_none_on_a_plain_reapply(
    receiver: FakeWebhookReceiver, tmp_path: Path
) -> None:
    first = run_object()
    module = block(receiver, tmp_path, meshstack_building_block_run_b64=b64(first))
    module.apply()
    module.apply()  # the same run again: nothing is due
    module.set(meshstack_building_block_run_b64=b64(run_object("DETECT")))
    output = module.apply()
    assert "behavior DETECT: not dispatching the apply delivery" in output
    second = run_object()
    module.set(meshstack_building_block_run_b64=b64(second))
    module.apply()
    applied = phases(receiver, "apply")
    assert [p["inputs"]["buildingBlockRunUrl"] for p in applied] == [run_url(first), run_url(second)]
    assert all(p["event"] == "deploy" and p["module"] == "webhook-block" for p in applied)
    assert [receiver.accepted_count(p["correlation_id"]) for p in applied] == [1, 1]
    assert len(receiver.deliveries) == 2 and phases(receiver, "destroy") == []
    inputs = applied[0]["inputs"]
    assert inputs["motto"] == HOSTILE_STATIC and inputs["db_password"] == PASSWORD
    assert inputs["meshpipe_id"] == applied[0]["correlation_id"]


@pytest.mark.parametrize(
    "fault",
    [{"drop": True, "after": True}, {"status": 429, "retry_after": 1}, {"status": 503, "retry_after": 1}],
    ids=["lost-answer", "429", "503"],
)
def test_a_lost_answer_or_a_rate_limit_still_starts_exactly_one_job(
    receiver: FakeWebhookReceiver, tmp_path: Path, fault: dict[str, Any]
) -> None:
    receiver.add_fault(method="POST", **fault)
    module = block(receiver, tmp_path, meshstack_building_block_run_b64=b64(run_object()))
    module.apply()
    assert len(receiver.log(method="POST")) == 2
    (job,) = receiver.jobs
    assert receiver.accepted_count(job.key) == 1


def test_a_failed_apply_retried_by_terraform_still_starts_one_job(
    receiver: FakeWebhookReceiver, tmp_path: Path
) -> None:
    receiver.add_fault(method="POST", drop=True, after=True, times=5)  # every answer of the first apply is lost
    module = block(receiver, tmp_path, meshstack_building_block_run_b64=b64(run_object()))
    failed = module.apply(check=False)
    assert "no response" in failed
    module.apply()  # the same meshStack run again: its intent marker and the same Idempotency-Key
    (job,) = receiver.jobs
    assert receiver.accepted_count(job.key) == 1 and len(receiver.deliveries_for(job.key)) == 6


def test_destroy_delivers_once_with_the_latest_inputs(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    module = block(receiver, tmp_path, note="first")
    module.apply()
    module.set(note="renamed")
    module.apply()
    module.destroy()
    (teardown,) = phases(receiver, "destroy")
    assert teardown["event"] == "teardown" and teardown["inputs"]["note"] == "renamed"
    assert [p["inputs"]["note"] for p in phases(receiver, "apply")] == ["first", "renamed"]


@pytest.mark.parametrize(
    ("options", "timeout", "error"),
    [
        ({"duration": 0.5, "conclusion": "succeeded"}, 30, None),
        ({"duration": 0.5, "conclusion": "failed"}, 30, "concluded failed"),
        ({"duration": None}, 2, "timed out after 2 s waiting for"),
    ],
    ids=["succeeded", "failed", "timeout"],
)
def test_waiting_on_the_status_url(
    receiver: FakeWebhookReceiver, tmp_path: Path, options: dict[str, Any], timeout: int, error: str | None
) -> None:
    receiver.configure(status_url=True, **options)
    module = block(receiver, tmp_path, wait_for_completion=True, wait_timeout_seconds=timeout)
    output = module.apply(check=error is None)
    (job,) = receiver.jobs
    assert receiver.log(method="GET"), "the job was polled"
    if error is None:
        assert f"job {job.status_url} completed: succeeded" in output
    else:
        assert error in output


def test_hostile_inputs_arrive_byte_exact_and_cause_no_side_effect(
    receiver: FakeWebhookReceiver, tmp_path: Path
) -> None:
    marker = tmp_path / "MARKER"
    corpus = {name: value for name, value in hostile_corpus(marker).items() if name in FREE_TEXT}
    module = block(receiver, tmp_path, **corpus)
    module.apply()
    module.destroy()
    for payload in (*phases(receiver, "apply"), *phases(receiver, "destroy")):
        assert {name: payload["inputs"][name] for name in corpus} == corpus
    assert len(receiver.jobs) == 2 and not marker.exists()


def test_canary_secrets_reach_no_state_plan_or_output(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    module = block(receiver, tmp_path, meshstack_building_block_run_b64=b64(run_object()))
    plan = module.tf.run("plan", "-no-color", "-input=false", "-out=tfplan").output
    shown = module.tf.run("show", "-json", "-no-color", "tfplan").stdout
    output = plan + module.apply() + module.destroy()
    assert len(receiver.jobs) == 2  # both deliveries verified with the secret and the token
    backup = (module.tf.workdir / "terraform.tfstate.backup").read_text()
    for text in (shown, output, module.state, backup):
        for canary in (SECRET, TOKEN, PASSWORD, "RUN-OBJECT-SECRET"):
            assert canary not in text
    for request in receiver.log():
        assert SECRET not in str(request.headers) and SECRET.encode() not in request.body
