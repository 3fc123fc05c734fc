"""Issue 9 items 9-12: the reporter behaves the same on a laptop and on other CI, and says what it does."""

from __future__ import annotations

import json
import re
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from meshpipe.fakes.meshstack import FakeMeshStack
from tests.report.conftest import Job, base_env, run_cli


class Laptop:
    """``meshpipe run`` on a laptop: no ``RUNNER_TEMP``, no ``GITHUB_*``; a private ``XDG_RUNTIME_DIR``."""

    def __init__(self, fake: FakeMeshStack, tmp_path: Path) -> None:
        self.fake = fake
        self.run = fake.create_run()
        self.runtime = tmp_path / "xdg"
        self.runtime.mkdir(mode=0o700)
        self.env = base_env(
            MESHSTACK_RUN_URL=self.run.url, MESHSTACK_RUN_TOKEN=self.run.run_token, XDG_RUNTIME_DIR=str(self.runtime)
        )

    def __call__(self, *args: str, **env: str):  # type: ignore[no-untyped-def]
        return run_cli({**self.env, **env}, *args)

    def source(self, name: str) -> dict[str, object]:
        return dict(self.fake.run(self.run.uuid).sources[name])


@pytest.fixture
def laptop(fake_meshstack: FakeMeshStack, tmp_path: Path) -> Laptop:
    return Laptop(fake_meshstack, tmp_path)


def test_guard_rails_work_without_runner_temp(laptop: Laptop) -> None:
    """Reproduction: without ``$RUNNER_TEMP`` there was no state: finishing SUCCEEDED with a PENDING step did not
    warn, and the second ``finish --job-status`` was sent and failed with 409."""
    assert laptop("register", "--step", "a=A", "--step", "b=B").returncode == 0
    assert laptop("step", "a", "--status", "SUCCEEDED").returncode == 0
    finished = laptop("finish", "--status", "SUCCEEDED")
    assert finished.returncode == 0, finished.stderr
    assert "warning: run finished SUCCEEDED but step 'b' (B) is PENDING" in finished.stderr
    again = laptop("finish", "--job-status", "failure")
    assert again.returncode == 0, again.stderr
    assert "already finished with SUCCEEDED; nothing to send" in again.stdout
    [state] = (laptop.runtime / "meshpipe").glob("run-*.json")
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700
    assert json.loads(state.read_text())["run_url"] == laptop.run.url


def test_each_run_has_its_own_state_off_the_runner(laptop: Laptop, fake_meshstack: FakeMeshStack) -> None:
    other = fake_meshstack.create_run()
    assert laptop("register", "--step", "a=A").returncode == 0
    assert laptop("finish", "--status", "FAILED").returncode == 0
    result = laptop("register", "--step", "a=A", MESHSTACK_RUN_URL=other.url, MESHSTACK_RUN_TOKEN=other.run_token)
    assert result.returncode == 0, result.stderr
    assert len(list((laptop.runtime / "meshpipe").glob("run-*.json"))) == 2


def test_a_shared_state_directory_that_is_not_private_is_refused(laptop: Laptop) -> None:
    (laptop.runtime / "meshpipe").mkdir(mode=0o777)
    (laptop.runtime / "meshpipe").chmod(0o777)
    result = laptop("register", "--step", "a=A")
    assert result.returncode == 1
    assert re.fullmatch(r"meshpipe: error: the state directory \S+ is not a private directory of this user; .*\n",
                        result.stderr)  # fmt: skip
    assert laptop.fake.log() == []


def test_the_registered_source_id_is_used_by_later_commands(laptop: Laptop) -> None:
    """Reproduction: ``register --source-id gitlab`` then ``step``/``finish`` reported to a new ``github`` source,
    leaving the registered steps PENDING forever."""
    assert laptop("register", "--source-id", "gitlab", "--step", "a=A").returncode == 0
    assert laptop("step", "a", "--status", "SUCCEEDED").returncode == 0
    assert laptop("finish", "--status", "SUCCEEDED").returncode == 0
    run = laptop.fake.run(laptop.run.uuid)
    assert list(run.sources) == ["gitlab"]
    assert run.sources["gitlab"]["steps"][0]["status"] == "SUCCEEDED"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_every_command_takes_the_source_id(laptop: Laptop, how: str) -> None:
    flag = ["--source-id", "azure"] if how == "flag" else []
    env = {"MESHSTACK_SOURCE_ID": "azure"} if how == "env" else {}
    assert laptop("step", "a", "--status", "IN_PROGRESS", *flag, **env).returncode == 0
    assert laptop("exec", "a", *flag, "--", sys.executable, "-c", "pass", **env).returncode == 0
    assert laptop("finish", "--status", "SUCCEEDED", *flag, **env).returncode == 0
    assert list(laptop.fake.run(laptop.run.uuid).sources) == ["azure"]


def test_meshpipe_state_dir_locates_the_run_like_runner_temp(laptop: Laptop, tmp_path: Path) -> None:
    state = tmp_path / "ci-job"
    assert laptop("register", "--step", "a=A", MESHPIPE_STATE_DIR=str(state)).returncode == 0
    done = laptop("step", "a", "--status", "SUCCEEDED", MESHPIPE_STATE_DIR=str(state), MESHSTACK_RUN_URL="")
    assert done.returncode == 0, done.stderr
    steps = laptop.source("github")["steps"]
    assert [(s["id"], s["status"]) for s in steps] == [("a", "SUCCEEDED")]  # type: ignore[attr-defined]


def test_show_lists_the_steps_and_their_statuses(laptop: Laptop) -> None:
    assert laptop("register", "--step", "plan=Plan", "--step", "apply=Apply").returncode == 0
    assert laptop("step", "plan", "--status", "SUCCEEDED").returncode == 0
    text = laptop("show").stdout
    assert "source:   github (steps as reported from this job)\n" in text
    assert "step:     plan (Plan) SUCCEEDED\nstep:     apply (Apply) PENDING\n" in text
    document = json.loads(laptop("show", "--json").stdout)
    assert document["steps"] == [
        {"id": "plan", "displayName": "Plan", "status": "SUCCEEDED"},
        {"id": "apply", "displayName": "Apply", "status": "PENDING"},
    ]
    assert (document["source"], document["terminal_status"]) == ("github", None)


def test_step_confirms_what_it_did(laptop: Laptop) -> None:
    result = laptop("step", "a", "--status", "SUCCEEDED", "--output", "n=3:INTEGER")
    assert result.returncode == 0
    assert result.stdout == "meshpipe: step 'a' of source 'github' is SUCCEEDED with 1 output(s)\n"


def test_exec_of_a_failing_command_says_why_it_exits_1(laptop: Laptop) -> None:
    result = laptop("exec", "a", "--", sys.executable, "-c", "raise SystemExit(1)")
    assert result.returncode == 1
    assert (
        result.stderr == f"meshpipe: {sys.executable} exited with code 1, so step 'a' failed; meshpipe exits with 1\n"
    )


def test_a_capped_message_says_so_on_stderr(laptop: Laptop) -> None:
    result = laptop("step", "a", "--status", "FAILED", "--user-message", "x" * 600)
    assert result.returncode == 0
    assert "meshpipe: note: the user message has 600 characters; sent cut to 500 (its start is kept)\n" in result.stderr


def test_one_progress_line_per_retry(laptop: Laptop) -> None:
    """Reproduction: retrying an unreachable meshStack printed nothing for 10 s."""
    laptop.fake.add_fault(status=503, times=2, method="PATCH")
    result = laptop("step", "a", "--status", "SUCCEEDED")
    assert result.returncode == 0
    lines = [line for line in result.stderr.splitlines() if "retry" in line]
    assert [re.sub(r"in \d+\.\d s$", "in N s", line) for line in lines] == [
        f"meshpipe: PATCH {laptop.run.url}/status/source/github -> 503; retry {n} of 4 in N s" for n in (1, 2)
    ]


@pytest.mark.parametrize(
    ("env", "label"),
    [
        ({"MESHSTACK_API_TOKEN": "wrong"}, "the API token (MESHSTACK_API_TOKEN)"),
        ({"MESHSTACK_CLIENT_ID": "nobody", "MESHSTACK_CLIENT_SECRET": "wrong"}, "the API key (MESHSTACK_CLIENT_ID"),
    ],
)
def test_a_401_names_the_credential_kind_used(laptop: Laptop, env: dict[str, str], label: str) -> None:
    result = laptop("register", "--step", "a=A", MESHSTACK_RUN_TOKEN="", **env)
    assert result.returncode == 1
    assert "-> 401 Unauthorized" in result.stderr and f"(hint: {label}" in result.stderr, result.stderr


def test_a_token_file_401_names_the_token_file(make_job: Callable[..., Job]) -> None:
    job = make_job()
    (job.temp / "meshstack_token.json").write_text(json.dumps({"token": "wrong"}))
    result = job("register", "--step", "a=A", MESHSTACK_RUN_TOKEN="")
    assert "(hint: the token file ($RUNNER_TEMP/meshstack_token.json) was used" in result.stderr, result.stderr


@pytest.mark.parametrize("variable", ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"])
def test_an_unwritable_runner_file_is_one_line_not_a_traceback(job: Job, variable: str) -> None:
    command = ("show", "--github-output") if variable == "GITHUB_OUTPUT" else ("finish", "--status", "FAILED")
    result = job(*command, **{variable: "/proc/no/such/file"})
    assert result.returncode == 1
    assert (
        result.stderr
        == f"meshpipe: error: cannot write to ${variable} (/proc/no/such/file): No such file or directory\n"
    )
