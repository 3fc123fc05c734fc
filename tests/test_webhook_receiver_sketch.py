"""The receiver sketch ``meshpipe workflow render`` writes for a webhook spec starts a delivery's job before it
remembers the idempotency key: a job that cannot start answers 500 and leaves the key unknown, so the dispatcher's
retry (same key) starts the job instead of being told it is a duplicate."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshpipe.generator.spec import load_spec
from meshpipe.generator.workflow_webhook import render_webhook_receiver
from meshpipe.webhook import sign
from tests.local_process import free_port, listening

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "webhook-jenkins-job" / "spec.yaml"
SECRET = "whsec-sketch-0123456789"


@pytest.fixture
def sketch(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The rendered sketch running in ``tmp_path``; its job command ``./job.sh`` does not exist yet."""
    (tmp_path / "receiver.py").write_text(render_webhook_receiver(load_spec(SPEC), header="# test"), encoding="utf-8")
    port = free_port()
    env = {"PATH": os.environ["PATH"], "MESHPIPE_WEBHOOK_SECRET": SECRET}
    argv = [sys.executable, "receiver.py", str(port), "--", "./job.sh"]
    with listening(argv, tmp_path, env, port, what="the sketch"):
        yield f"http://127.0.0.1:{port}/hook", tmp_path


def deliver(url: str, key: str, *, secret: str = SECRET) -> tuple[int | None, dict[str, object]]:
    """One signed delivery of the apply event with idempotency key ``key``: (status or None if no answer, body)."""
    inputs = {"job_name": "alpha-build", "buildingBlockRunUrl": "https://meshstack.example/runs/1"}
    body = json.dumps({"event": "apply", "phase": "apply", "correlation_id": key, "inputs": inputs}).encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Meshpipe-Timestamp": stamp,
        "X-Meshpipe-Signature-256": sign(secret, stamp, body),
        "X-Meshpipe-Event": "apply",
        "Idempotency-Key": key,
    }
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except (urllib.error.URLError, ConnectionError):
        return None, {}


def wait_for(path: Path) -> str:
    """The text of a file a job writes, once it has a whole line (empty after 10 s without one)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if text.endswith("\n"):
            return text
        time.sleep(0.05)
    return ""


def test_a_job_that_cannot_start_is_not_remembered_and_the_retry_starts_it(sketch: tuple[str, Path]) -> None:
    url, home = sketch
    status, body = deliver(url, "cid-1")
    assert status == 500 and "cannot start the job" in str(body["message"])
    job = home / "job.sh"
    job.write_text('#!/bin/sh\nprintf "%s %s\\n" "$MESHPIPE_PHASE" "$MESHPIPE_INPUT_JOB_NAME" >> jobs.txt\n')
    job.chmod(0o755)
    status, body = deliver(url, "cid-1")  # the dispatcher's retry of the same dispatch
    assert status == 202 and "duplicate" not in body, body
    again, repeated = deliver(url, "cid-1")
    assert again == 202 and repeated == {"id": body["id"], "duplicate": True}
    assert wait_for(home / "jobs.txt") == "apply alpha-build\n"
    time.sleep(0.2)
    assert (home / "jobs.txt").read_text(encoding="utf-8") == "apply alpha-build\n"  # one job, not two


def test_the_committed_example_sketch_starts_before_remembering() -> None:
    text = (ROOT / "examples" / "webhook-jenkins-job" / "receiver.py").read_text(encoding="utf-8")
    assert text.index("subprocess.Popen(COMMAND") < text.index("JOBS[key] = job")
