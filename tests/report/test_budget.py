"""The time budget of one ``meshpipe run`` command (``MESHPIPE_DEADLINE_SECONDS``, ``--deadline``), over real HTTP
against the fake meshStack: it cuts retries and slow answers short with one line, and only GitLab's ``finish`` has
one by default (its ``after_script`` is stopped after 5 minutes)."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import pytest

from meshpipe.fakes.meshstack import FakeMeshStack
from meshpipe.report.errors import BudgetSpent, ConfigurationError, ConnectionFailed
from meshpipe.report.settings import GITLAB_FINISH_DEADLINE, Settings
from meshpipe.report.transport import Transport
from tests.report.conftest import Job, base_env, run_cli

BUDGET_SPENT = "gave up: the time budget of 1 s is spent (--deadline, MESHPIPE_DEADLINE_SECONDS)"


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("meshpipe: error: ")]
    assert len(lines) == 1, stderr
    return lines[0].removeprefix("meshpipe: error: ")


def test_a_budget_stops_retrying_before_a_pause_would_pass_it(job: Job) -> None:
    job.fake.add_fault(status=503, times=50, method="PATCH", retry_after=0.4)
    started = time.monotonic()
    result = job("step", "a", "--status", "SUCCEEDED", MESHPIPE_DEADLINE_SECONDS="1", MESHPIPE_RETRY_ATTEMPTS="10")
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    # Attempts at about 0, 0.4 and 0.8 s; a fourth would start after the budget: 3, not the 10 allowed.
    assert len(job.fake.log("PATCH")) == 3
    url = job.fake.log("PATCH")[0].path
    line = _error_line(result.stderr)
    assert line.startswith("PATCH http://") and url in line
    assert "-> 503 Service Unavailable: " in line and "(Retry-After 0.4 s); " + BUDGET_SPENT in line
    assert elapsed < 1 + 5  # the budget plus the interpreter's start-up on a busy machine, not 10 x 0.4 s
    assert "of the 1 s budget left" in result.stderr  # the progress lines say what is left


def test_a_slow_answer_is_cut_at_what_is_left_of_the_budget(job: Job) -> None:
    job.fake.add_fault(delay=4, times=1, method="PATCH")
    started = time.monotonic()
    result = job("step", "a", "--status", "SUCCEEDED", "--deadline", "1", MESHPIPE_TIMEOUT="30")
    assert time.monotonic() - started < 4
    assert result.returncode == 1, result.stderr
    line = _error_line(result.stderr)
    assert line.startswith("PATCH http://")
    assert "-> no complete answer within 1 s; " + BUDGET_SPENT in line


def test_best_effort_turns_a_spent_budget_into_a_warning(job: Job) -> None:
    job.fake.add_fault(status=503, times=50, method="PATCH", retry_after=0.6)
    result = job("step", "a", "--status", "SUCCEEDED", "--best-effort", MESHPIPE_DEADLINE_SECONDS="1")
    assert result.returncode == 0, result.stderr
    warning = "meshStack could not be reached, continuing (--best-effort): PATCH http://"
    assert warning in result.stdout and BUDGET_SPENT in result.stdout


def test_exec_does_not_charge_its_command_to_the_budget(job: Job) -> None:
    result = job("exec", "a", "--", sys.executable, "-c", "import time; time.sleep(1.5)", MESHPIPE_DEADLINE_SECONDS="1")
    assert result.returncode == 0, result.stderr
    assert [s["status"] for s in job.steps()] == ["SUCCEEDED"]


def test_transport_raises_budget_spent_naming_the_last_status(fake_meshstack: FakeMeshStack) -> None:
    run = fake_meshstack.create_run()
    fake_meshstack.add_fault(status=502, times=50, method="GET")
    transport = Transport(timeout=30, attempts=20, base_delay=0.3, deadline=0.5, random=lambda: 1.0)
    transport.auth = None
    with pytest.raises(BudgetSpent) as caught:
        transport.send("GET", run.url, auth=False)
    assert isinstance(caught.value, ConnectionFailed)  # --best-effort and callers treat it as unreachable
    assert caught.value.reason.startswith("502 Bad Gateway")
    assert str(caught.value).endswith(
        "gave up: the time budget of 0.5 s is spent (--deadline, MESHPIPE_DEADLINE_SECONDS)"
    )
    assert len(fake_meshstack.log("GET")) == 2  # pauses 0.3 then 0.6: the second would pass the budget


def _gitlab_job(job: Job, tmp_path: Path) -> dict[str, str]:
    env = base_env(
        MESHSTACK_RUN_URL=job.run.url,
        MESHSTACK_RUN_TOKEN=job.run.run_token,
        GITLAB_CI="true",
        CI="true",
        CI_JOB_ID="77",
        CI_PROJECT_DIR=str(tmp_path / "project"),
        CI_JOB_STATUS="success",
    )
    return env


def test_gitlab_finish_has_a_240_s_budget_and_other_commands_none(job: Job, tmp_path: Path) -> None:
    env = _gitlab_job(job, tmp_path)
    assert run_cli(env, "register", "--step", "a=A").returncode == 0
    job.fake.add_fault(status=503, times=1, method="PATCH", retry_after=0.1)
    step = run_cli(env, "step", "a", "--status", "SUCCEEDED")
    assert step.returncode == 0, step.stderr
    assert "retry 1 of 4" in step.stderr and "budget" not in step.stderr

    job.fake.add_fault(status=503, times=1, method="PATCH", retry_after=0.1)
    finish = run_cli(env, "finish", "--job-status", "auto")
    assert finish.returncode == 0, finish.stderr
    assert f"s of the {GITLAB_FINISH_DEADLINE:g} s budget left)" in finish.stderr
    assert job.fake.run(job.run.uuid).status == "SUCCEEDED"


def test_finish_elsewhere_has_no_budget_unless_asked(job: Job) -> None:
    job.fake.add_fault(status=503, times=1, method="PATCH", retry_after=0.1)
    result = job("finish", "--status", "SUCCEEDED")
    assert result.returncode == 0, result.stderr
    assert "retry 1 of 4" in result.stderr and "budget" not in result.stderr


@pytest.mark.parametrize(
    ("env", "flag", "command", "expected"),
    [
        ({}, None, "finish", None),
        ({"GITLAB_CI": "true"}, None, "finish", GITLAB_FINISH_DEADLINE),
        ({"GITLAB_CI": "true"}, None, "step", None),
        ({"GITLAB_CI": "true", "MESHPIPE_DEADLINE_SECONDS": "0"}, None, "finish", None),
        ({"GITLAB_CI": "true", "MESHPIPE_DEADLINE_SECONDS": "90"}, None, "finish", 90.0),
        ({"GITLAB_CI": "true", "MESHPIPE_DEADLINE_SECONDS": "90"}, 30.0, "finish", 30.0),
        ({"TF_BUILD": "True"}, None, "finish", None),
        ({"GITHUB_ACTIONS": "true", "MESHPIPE_DEADLINE_SECONDS": "2.5"}, None, "register", 2.5),
    ],
)
def test_where_the_budget_comes_from(
    env: dict[str, str], flag: float | None, command: str, expected: float | None
) -> None:
    assert Settings.from_env(env, deadline=flag, command=command).deadline == expected


@pytest.mark.parametrize(
    ("env", "flag", "message"),
    [
        ({"MESHPIPE_DEADLINE_SECONDS": "soon"}, None, "MESHPIPE_DEADLINE_SECONDS='soon' is not a number"),
        ({"MESHPIPE_DEADLINE_SECONDS": "-1"}, None, "MESHPIPE_DEADLINE_SECONDS must not be negative"),
        ({"MESHPIPE_DEADLINE_SECONDS": "nan"}, None, "MESHPIPE_DEADLINE_SECONDS='nan' is not a number"),
        ({}, -1.0, "--deadline must be a number of seconds, 0 or more"),
        ({}, math.nan, "--deadline must be a number of seconds, 0 or more"),
    ],
)
def test_a_bad_budget_is_a_one_line_error(env: dict[str, str], flag: float | None, message: str) -> None:
    with pytest.raises(ConfigurationError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        Settings.from_env(env, deadline=flag, command="finish")
