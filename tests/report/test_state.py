"""Issue 8 item 13: the job state survives parallel processes, a slow step overlapping ``finish``, and corruption."""

from __future__ import annotations

import io
import json
import stat
import subprocess
from pathlib import Path
from typing import Any

from meshpipe.fakes.meshstack import FakeMeshStack
from meshpipe.report import ConfigurationError, Run, Settings, TerminalStatusError
from meshpipe.report.actions import ActionsRunner
from meshpipe.report.credentials import StaticToken
from meshpipe.report.state import RunState
from meshpipe.report.transport import Transport
from tests.report.conftest import CLI, Job


def test_parallel_step_processes_lose_no_update(job: Job) -> None:
    """Reproduction: 12 parallel ``meshpipe run step`` processes in one job; only 2 updates survived in the state
    file, and ``finish`` then warned about 10 PENDING steps."""
    ids = [f"s{i}" for i in range(12)]
    assert job("register", *(f"--step={i}={i.upper()}" for i in ids)).returncode == 0
    procs = [
        subprocess.Popen([*CLI, "step", i, "--status", "SUCCEEDED"], env=job.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for i in ids
    ]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    state = json.loads((job.temp / "meshpipe_run_state.json").read_text())
    assert [(s["id"], s["status"]) for s in state["steps"]] == [(i, "SUCCEEDED") for i in ids]
    finished = job("finish", "--status", "SUCCEEDED")
    assert finished.returncode == 0 and "warning" not in finished.stderr, finished.stderr


class _FinishesMeanwhile(Transport):
    """A transport whose next PATCH is answered only after another process of the job finished the run."""

    other: Run | None = None

    def send(self, method: str, url: str, body: Any = None, **kwargs: Any) -> Any:
        answer = super().send(method, url, body, **kwargs)
        if method == "PATCH" and self.other is not None:
            other, self.other = self.other, None
            other.finish("SUCCEEDED", summary=False)
        return answer


def _run(env: dict[str, str], transport_class: type[Transport] = Transport) -> Run:
    settings = Settings.from_env(env)
    runner = ActionsRunner(on_actions=False, stdout=io.StringIO(), stderr=io.StringIO())
    transport = transport_class(timeout=10, attempts=1, base_delay=0, trusted_origins=settings.trusted_origins())
    token = settings.require_credentials().token
    assert token is not None
    transport.auth = StaticToken(token)
    return Run(settings, transport=transport, runner=runner)


def test_a_slow_step_overlapping_finish_cannot_reset_the_terminal_status(
    fake_meshstack: FakeMeshStack, tmp_path: Path
) -> None:
    """Reproduction: step A reads the state, its PATCH is slow, B finishes the run meanwhile; A then wrote back
    its stale copy without the terminal status, and ``finish --job-status`` sent a second terminal status."""
    fake = fake_meshstack.create_run()
    env = {"MESHSTACK_RUN_URL": fake.url, "MESHSTACK_RUN_TOKEN": fake.run_token, "RUNNER_TEMP": str(tmp_path)}
    _run(env).register(["a", "b"])
    slow = _run(env, _FinishesMeanwhile)
    assert isinstance(slow.transport, _FinishesMeanwhile)
    slow.transport.other = _run(env)
    slow.step("a").succeed()
    assert RunState.load(tmp_path / "meshpipe_run_state.json", fake.url).terminal_status == "SUCCEEDED"
    late = _run(env)
    assert late.terminal_status == "SUCCEEDED"
    try:
        late.finish("FAILED")
    except TerminalStatusError:
        pass
    else:
        raise AssertionError("a second terminal status was sent")
    assert [u.get("status") for u in fake_meshstack.run(fake.uuid).updates if u.get("status")] == ["SUCCEEDED"]


def test_a_corrupt_state_file_is_a_one_line_error_not_a_silent_fresh_start(job: Job) -> None:
    """Reproduction: a truncated state file was read as "no state": a finished run could be finished again."""
    assert job("register", "--step", "a=A").returncode == 0
    path = job.temp / "meshpipe_run_state.json"
    path.write_text(path.read_text()[:25])
    result = job("finish", "--status", "SUCCEEDED")
    assert result.returncode == 1
    assert result.stderr.startswith(f"meshpipe: error: the state file {path} is corrupt (")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert job.fake.run(job.run.uuid).status != "SUCCEEDED"


def test_a_state_file_with_the_wrong_shape_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"run_url": "https://m.example/r", "steps": [{"nope": 1}]}))
    try:
        RunState.load(path, "https://m.example/r")
    except ConfigurationError as exc:
        assert str(exc).startswith(f"the state file {path} is corrupt")
    else:
        raise AssertionError("no error")


def test_the_state_file_is_private(job: Job) -> None:
    """Issue 8 item 14: the 0600 mode was untested (writing it 0644 passed every test)."""
    assert job("register", "--step", "a=A").returncode == 0
    path = job.temp / "meshpipe_run_state.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    assert job("step", "a", "--status", "SUCCEEDED").returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_state_file_is_not_rewritten_when_nothing_changed(job: Job) -> None:
    assert job("register", "--step", "a=A").returncode == 0
    assert job("step", "a", "--status", "IN_PROGRESS").returncode == 0
    path = job.temp / "meshpipe_run_state.json"
    before = path.stat().st_ino
    assert job("step", "a", "--status", "IN_PROGRESS").returncode == 0
    assert path.stat().st_ino == before  # an atomic rewrite would have replaced the inode


def test_parallel_finish_processes_send_one_terminal_status(job: Job) -> None:
    """Two ``finish --job-status`` processes of one job at the same time (an ``if: always()`` step and a
    cancellation's ``exec``): both saw no terminal status in the state and both sent one (the second a 409)."""
    assert job("register", "--step", "a=A").returncode == 0
    job.fake.add_fault(delay=1, method="PATCH", times=1)  # the first one's request is slow: the other overlaps it
    procs = [
        subprocess.Popen([*CLI, "finish", "--job-status", status], env=job.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for status in ("success", "failure")
    ]  # fmt: skip
    outs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outs
    assert sum("nothing to send" in out for out, _ in outs) == 1, outs
    assert len([u for u in job.fake.run(job.run.uuid).updates if u.get("status")]) == 1
    assert [r.status for r in job.fake.log(method="PATCH")] == [200]
