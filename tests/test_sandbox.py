"""``meshpipe sandbox`` and the :class:`Sandbox` behind it: both fakes up, seeded, and stopped cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from meshpipe.sandbox import Sandbox, load_workflow

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / "examples" / "team-bucket" / ".github" / "workflows"


class SandboxProcess:
    """``meshpipe sandbox`` as a subprocess; reads its banner up to the last export line."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "meshpipe", "sandbox", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.banner: list[str] = []
        reader = threading.Thread(target=self._read_banner, daemon=True)
        reader.start()
        reader.join(20)
        if not any(line.startswith("export MESHSTACK_CLIENT_SECRET=") for line in self.banner):
            self.process.kill()
            raise AssertionError("no banner: " + "".join(self.banner) + self.process.stderr.read())  # type: ignore[union-attr]

    def _read_banner(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.banner.append(line)
            if line.startswith("export MESHSTACK_CLIENT_SECRET="):
                return

    @property
    def exports(self) -> dict[str, str]:
        pairs = (re.match(r"^export (\w+)=(\S+)$", line.strip()) for line in self.banner)
        return {match.group(1): match.group(2).strip("'") for match in pairs if match}

    def stop(self, signum: int) -> tuple[int, str]:
        self.process.send_signal(signum)
        _, stderr = self.process.communicate(timeout=20)
        return self.process.returncode, stderr


@pytest.fixture
def sandbox_process() -> Iterator[SandboxProcess]:
    process = SandboxProcess()
    yield process
    if process.process.poll() is None:
        process.process.kill()
        process.process.wait()


def test_sandbox_prints_export_lines_and_stops_cleanly_on_ctrl_c(sandbox_process: SandboxProcess) -> None:
    exports = sandbox_process.exports
    assert set(exports) >= {
        "GITHUB_TOKEN",
        "TF_VAR_github_api_url",
        "MESHSTACK_ENDPOINT",
        "MESHSTACK_CLIENT_ID",
        "MESHSTACK_CLIENT_SECRET",
    }
    banner = "".join(sandbox_process.banner)
    assert f"status page:               {exports['MESHSTACK_ENDPOINT']}/" in banner
    # The printed credentials work against the running fakes.
    repo = requests.get(
        f"{exports['TF_VAR_github_api_url']}/repos/acme/team-bucket/actions/workflows/apply.yml",
        headers={"Authorization": f"Bearer {exports['GITHUB_TOKEN']}"},
        timeout=5,
    )
    assert repo.status_code == 200, repo.text
    login = requests.post(
        f"{exports['MESHSTACK_ENDPOINT']}/api/login",
        json={"clientId": exports["MESHSTACK_CLIENT_ID"], "clientSecret": exports["MESHSTACK_CLIENT_SECRET"]},
        timeout=5,
    )
    assert login.status_code == 200, login.text
    code, stderr = sandbox_process.stop(signal.SIGINT)
    assert code == 0
    assert stderr.strip().splitlines()[-1] == "sandbox stopped (SIGINT)"
    assert "Traceback" not in stderr


def test_sandbox_stops_cleanly_on_sigterm(sandbox_process: SandboxProcess) -> None:
    code, stderr = sandbox_process.stop(signal.SIGTERM)
    assert code == 0
    assert stderr.strip().splitlines()[-1] == "sandbox stopped (SIGTERM)"


def test_ghes_flavour_serves_the_api_under_api_v3() -> None:
    process = SandboxProcess("--flavour", "ghes")
    try:
        assert process.exports["TF_VAR_github_api_url"].endswith("/api/v3")
    finally:
        assert process.stop(signal.SIGINT)[0] == 0


def test_sandbox_seeds_the_examples_workflows_with_their_declared_inputs() -> None:
    with Sandbox() as box:
        state = requests.get(f"{box.github.url}/_fake/state", headers=box.github.control_headers(), timeout=5).json()
        text = str(state)
        for path in WORKFLOWS.glob("*.yml"):
            workflow = load_workflow(path)
            assert workflow.file in text
            assert "buildingBlockRunUrl" in workflow.inputs and workflow.inputs["buildingBlockRunUrl"]["required"]
        assert requests.get(box.status_url, timeout=5).status_code == 200


def test_workflow_body_gets_meshstack_credentials_but_no_github_token() -> None:
    with Sandbox() as box:
        env = box.workflow_env()
        assert env["MESHSTACK_CLIENT_SECRET"] == box.credentials.client_secret
        assert box.credentials.github_token not in env.values()
        assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


def test_stopping_twice_is_harmless_and_a_stopped_sandbox_says_so() -> None:
    box = Sandbox().start()
    box.stop()
    box.stop()
    from meshpipe.errors import MeshpipeError

    with pytest.raises(MeshpipeError, match="not running"):
        _ = box.github


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sandbox_listens_on_the_ports_it_is_given() -> None:
    github_port, meshstack_port = _free_port(), _free_port()
    process = SandboxProcess("--github-port", str(github_port), "--meshstack-port", str(meshstack_port))
    try:
        assert process.exports["TF_VAR_github_api_url"] == f"http://127.0.0.1:{github_port}"
        assert process.exports["MESHSTACK_ENDPOINT"] == f"http://127.0.0.1:{meshstack_port}"
    finally:
        assert process.stop(signal.SIGINT)[0] == 0


def test_an_unknown_example_is_one_line_and_exit_1() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "meshpipe", "sandbox", "--example", "no-such-example"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("meshpipe: error: example not found: no-such-example")
    assert "Traceback" not in result.stderr
