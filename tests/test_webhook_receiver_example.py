"""The README's webhook receiver example works: the real dispatcher's deliveries pass it, a retried dispatch starts
its job once, a wrong secret is refused with the rule it broke."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.local_process import free_port, listening

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- meshpipe:webhook-receiver-example"
SCRIPT = ROOT / "src" / "meshpipe" / "generator" / "assets" / "dispatch.py"
SECRET = "whsec-example-0123456789"


def example() -> str:
    """The python block after the marker in the README's webhook section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert MARKER in text, "the README holds no webhook receiver example"
    block = re.search(r"```python\n(.*?)```", text[text.index(MARKER) :], re.S)
    assert block, "README.md: no python block after the example marker"
    return block.group(1)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The example running in ``tmp_path`` with a ``deploy.sh`` that records each job."""
    (tmp_path / "receiver.py").write_text(example(), encoding="utf-8")
    deploy = tmp_path / "deploy.sh"
    deploy.write_text('#!/bin/sh\nprintf "%s %s\\n" "$1" "$MESHSTACK_RUN_URL" >> jobs.txt\n', encoding="utf-8")
    deploy.chmod(0o755)
    port = free_port()
    env = {"PATH": os.environ["PATH"], "MESHPIPE_WEBHOOK_SECRET": SECRET, "PORT": str(port)}
    with listening([sys.executable, "receiver.py"], tmp_path, env, port, what="the example receiver"):
        yield f"http://127.0.0.1:{port}/hook", tmp_path


def dispatch(url: str, cwd: Path, secret: str = SECRET) -> subprocess.CompletedProcess[str]:
    config: dict[str, Any] = {
        "version": 1,
        "module": "example",
        "target": "webhook",
        "webhook": {"url": url, "event": "apply", "auth": {"secret_env": "MESHPIPE_WEBHOOK_SECRET", "token_env": ""}},
        "inputs": {"buildingBlockRunUrl": "https://meshstack.example/runs/1"},
        "correlation_input": "correlation_id",
        "run_id": "run-1",
        "building_block_id": "bb-1",
    }
    env = {
        "PATH": os.environ["PATH"],
        "MESHPIPE_WEBHOOK_SECRET": secret,
        "MESHPIPE_DISPATCH_B64_0": base64.b64encode(json.dumps(config).encode()).decode(),
    }
    return subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), "apply"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_readme_receiver_accepts_once_per_dispatch_and_refuses_a_wrong_secret(
    receiver: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    url, home = receiver
    for attempt in range(2):  # the same meshStack run twice, from fresh directories: the same key
        result = dispatch(url, tmp_path_factory.mktemp(f"terraform-{attempt}"))
        assert result.returncode == 0, result.stderr
        assert "the receiver accepted the delivery (202), job 1" in result.stdout
    refused = dispatch(url, tmp_path_factory.mktemp("wrong"), secret="whsec-wrong-0123456789")
    assert refused.returncode == 1 and "-> 401: X-Meshpipe-Signature-256 does not match the body" in refused.stderr
    deadline = time.monotonic() + 10
    while not (home / "jobs.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (home / "jobs.txt").read_text(encoding="utf-8") == "apply https://meshstack.example/runs/1\n"


def test_the_readme_receiver_remembers_a_key_only_once_its_job_started(receiver: tuple[str, Path]) -> None:
    from tests.test_webhook_receiver_sketch import deliver, wait_for

    url, home = receiver
    deploy = home / "deploy.sh"
    deploy.chmod(0o644)  # cannot start: the key must stay unknown
    status, body = deliver(url, "cid-readme", secret=SECRET)
    assert status == 500 and "cannot start the job" in str(body["message"])
    deploy.chmod(0o755)
    status, body = deliver(url, "cid-readme", secret=SECRET)  # the dispatcher's retry: now the job starts
    assert status == 202, body
    assert wait_for(home / "jobs.txt") == "apply https://meshstack.example/runs/1\n"
