"""``meshpipe fake github|meshstack`` run a fake as a process that prints its URL and serves until stopped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from meshpipe.fakes._http import CONTROL_HEADER
from tests.fakes.test_github_dispatch import HEADERS


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str, str]:
    """Start ``meshpipe fake ARGS``; (process, URL, control secret) from the two lines it prints first."""
    process = subprocess.Popen(
        [sys.executable, "-m", "meshpipe", "fake", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+\S*)", line)
    if not match:
        process.kill()
        raise AssertionError(f"no URL in {line!r}; stderr: {process.stderr.read() if process.stderr else ''}")
    secret = re.search(r"control secret: (\S+)", process.stdout.readline())
    assert secret, "the control secret is printed on the second line"
    return process, match.group(1), secret.group(1)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def test_fake_github_process_serves_the_ghes_api_with_the_token_from_the_environment(
    processes: list[subprocess.Popen[str]],
) -> None:
    process, api_url, secret = start(
        "github",
        "--flavour",
        "ghes",
        "--workflow",
        "acme/infra:apply.yml",
        env={"MESHPIPE_FAKE_GITHUB_TOKEN": "ghp_cli"},
    )
    processes.append(process)
    assert api_url.endswith("/api/v3")
    headers = {**HEADERS, "Authorization": "Bearer ghp_cli"}
    response = requests.post(
        f"{api_url}/repos/acme/infra/actions/workflows/apply.yml/dispatches",
        json={"ref": "main"},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 204
    state_url = api_url.removesuffix("/api/v3") + "/_fake/state"
    assert requests.get(state_url, timeout=10).status_code == 403
    state = requests.get(state_url, headers={CONTROL_HEADER: secret}, timeout=10).json()
    assert state["flavour"] == "ghes" and len(state["runs"]) == 1


def test_fake_github_rejects_a_malformed_workflow_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "meshpipe", "fake", "github", "--workflow", "no-colon"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "OWNER/NAME:FILE" in result.stderr


def test_fake_meshstack_process_prints_its_url_and_serves(processes: list[subprocess.Popen[str]]) -> None:
    process, url, secret = start("meshstack")
    processes.append(process)
    assert requests.get(f"{url}/_fake/state", headers={CONTROL_HEADER: secret}, timeout=10).status_code == 200


def test_fake_meshstack_process_takes_its_control_secret_from_the_environment(
    processes: list[subprocess.Popen[str]],
) -> None:
    process, url, secret = start("meshstack", env={"MESHPIPE_FAKE_CONTROL_TOKEN": "fixed-secret"})
    processes.append(process)
    assert secret == "fixed-secret"
    assert requests.get(f"{url}/_fake/state", headers={CONTROL_HEADER: "fixed-secret"}, timeout=10).status_code == 200
    assert requests.get(f"{url}/_fake/state", headers={CONTROL_HEADER: "other"}, timeout=10).status_code == 403
