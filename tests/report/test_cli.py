"""``meshpipe run ...`` as a subprocess against the fake meshStack over 127.0.0.1."""

from __future__ import annotations

import base64
import json
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from meshpipe.fakes.meshstack import FakeMeshStack
from tests.report.conftest import CLI, Job, base_env, run_cli

DELIM = r"ghadelimiter_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _unmask(stdout: str, token: str) -> str:
    """The stdout after the one ``::add-mask::`` line that must come first when a token is read on a runner."""
    mask = f"::add-mask::{token}\n"
    assert stdout.startswith(mask), stdout[:200]
    rest = stdout[len(mask) :]
    assert token not in rest
    return rest


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


def test_end_to_end_register_step_exec_show_finish(job: Job) -> None:
    _ok(job("register", "--step", "plan=Terraform plan", "--step", "apply=Terraform apply"))
    _ok(job("step", "plan", "--status", "IN_PROGRESS"))
    _ok(
        job(
            "step",
            "plan",
            "--status",
            "SUCCEEDED",
            "--user-message",
            "Plan: 3 to add",
            "--output",
            "changes=3:INTEGER",
            "--output",
            "console=https://c.example:8443/x",
        )
    )
    result = job(
        "exec",
        "apply",
        "--user-message",
        "Bucket created",
        "--",
        sys.executable,
        "-c",
        "print('creating bucket'); print('done')",
    )
    assert result.returncode == 0, result.stderr
    assert _unmask(result.stdout, job.run.run_token) == "creating bucket\ndone\n"
    shown = _ok(job("show", "--json"))
    assert json.loads(shown.stdout)["inputs"] == {"bucket_name": "alpha", "replicas": 2}
    _ok(job("finish", "--job-status", "success"))

    source = job.fake.run(job.run.uuid).sources["github"]
    assert source["externalRunId"] == "4242"
    assert source["externalRunUrl"] == "https://github.com/acme/blocks/actions/runs/4242"
    assert source["status"] == "SUCCEEDED"
    assert [(s["id"], s["status"], s["userMessage"]) for s in source["steps"]] == [
        ("plan", "SUCCEEDED", "Plan: 3 to add"),
        ("apply", "SUCCEEDED", "Bucket created"),
    ]
    assert source["steps"][1]["systemMessage"] == "creating bucket\ndone"
    assert job.fake.run(job.run.uuid).outputs == {
        "changes": {"value": 3, "type": "INTEGER", "isSensitive": False},
        "console": {"value": "https://c.example:8443/x", "type": "STRING", "isSensitive": False},
    }
    assert job.fake.run(job.run.uuid).status == "SUCCEEDED"
    assert job.summary.read_text() == (
        "### meshStack run SUCCEEDED\n\n"
        f"Run: {job.run.url}\n\n"
        "| Step | Status | Message |\n"
        "| --- | --- | --- |\n"
        "| Terraform plan (`plan`) | SUCCEEDED | Plan: 3 to add |\n"
        "| Terraform apply (`apply`) | SUCCEEDED | Bucket created |\n\n"
    )


def test_show_github_output_writes_inputs_with_random_delimiters(make_job: Callable[..., Job]) -> None:
    job = make_job(
        behavior="DESTROY",
        inputs=[
            {"key": "bucket_name", "value": "alpha", "type": "STRING", "isSensitive": False, "isEnvironment": False},
            {"key": "tags", "value": "a\nb", "type": "CODE", "isSensitive": False, "isEnvironment": False},
            {"key": "versioning", "value": True, "type": "BOOLEAN", "isSensitive": False, "isEnvironment": False},
        ],
    )
    _ok(job("show", "--github-output"))
    text = job.output.read_text()
    pattern = "".join(
        rf"{name}<<({DELIM})\n{re.escape(value)}\n\{i}\n"
        for i, (name, value) in enumerate(
            [
                ("behavior", "DESTROY"),
                ("run_url", job.run.url),
                ("bucket_name", "alpha"),
                ("tags", "a\nb"),
                ("versioning", "true"),
            ],
            start=1,
        )
    )
    assert re.fullmatch(pattern, text), text
    assert len(set(re.findall(DELIM, text))) == 5


def test_show_cannot_be_made_to_print_a_workflow_command_by_an_input(make_job: Callable[..., Job]) -> None:
    # Inputs are typed by the consuming workspace; the runner obeys any stdout line that starts with `::`.
    evil = "alpha\n::error::injected\r::add-mask::x\n  ::warning::also"
    job = make_job(inputs=[{"key": "bucket_name", "value": evil, "type": "STRING"}])
    out = _unmask(_ok(job("show")).stdout, job.run.run_token)
    assert not [line for line in re.split(r"\r\n|\r|\n", out) if line.lstrip().startswith("::")], out
    assert f"input:    bucket_name = {json.dumps(evil)}\n" in out  # still shown, escaped


def test_show_masks_sensitive_inputs_before_writing_them(make_job: Callable[..., Job]) -> None:
    job = make_job(
        inputs=[
            {"key": "password", "value": "canary-pw", "type": "STRING", "isSensitive": True, "isEnvironment": False}
        ]
    )
    legacy = json.loads(json.dumps(job.run.object))  # the legacy object carries decrypted sensitive inputs
    legacy["spec"]["buildingBlock"]["spec"]["inputs"][0]["value"] = "canary-pw"
    b64 = base64.b64encode(json.dumps(legacy).encode()).decode()
    result = _ok(job("show", "--github-output", "--run-b64", b64, MESHSTACK_RUN_URL=""))
    assert "::add-mask::canary-pw\n" in result.stdout
    assert "canary-pw" not in result.stdout.replace("::add-mask::canary-pw\n", "")
    assert re.search(rf"password<<({DELIM})\ncanary-pw\n\1\n", job.output.read_text())


def test_show_reads_the_run_from_base64_without_a_request(job: Job) -> None:
    result = _ok(job("show", "--run-b64", job.run.b64, MESHSTACK_RUN_URL="", MESHSTACK_RUN_TOKEN=""))
    assert "behavior: APPLY" in result.stdout
    assert job.fake.log() == []


def test_register_twice_is_success(job: Job) -> None:
    _ok(job("register", "--step", "a=A"))
    _ok(job("register", "--step", "a=A"))
    assert [r.status for r in job.fake.log(method="POST")] == [200, 409]


def test_two_503_then_success(job: Job) -> None:
    _ok(job("register", "--step", "a=A"))
    job.fake.add_fault(status=503, times=2, method="PATCH")
    _ok(job("step", "a", "--status", "SUCCEEDED"))
    assert [r.status for r in job.fake.log(method="PATCH")] == [503, 503, 200]
    assert job.steps()[0]["status"] == "SUCCEEDED"


def test_429_with_retry_after_is_honoured(job: Job) -> None:
    job.fake.add_fault(status=429, times=1, retry_after=0.5, method="POST")
    started = time.monotonic()
    _ok(job("register", "--step", "a=A"))
    posts = job.fake.log(method="POST")
    assert [r.status for r in posts] == [429, 200]
    assert posts[1].time - posts[0].time >= 0.45  # waited for the server, not the 0.01 s test backoff
    assert time.monotonic() - started < 30


def test_401_exits_1_with_one_clear_line_naming_the_credential_used(job: Job) -> None:
    """Issue 9 item 12: a 401 says which credential was used (the hint used to list every variable)."""
    result = job("register", "--step", "a=A", MESHSTACK_RUN_TOKEN="canary-wrong-token")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        rf"meshpipe: error: POST {re.escape(job.run.url)}/status/source -> 401 Unauthorized: .+ \(hint: the run "
        r"token \(MESHSTACK_RUN_TOKEN\) was used and rejected.*\)",
        lines[0],
    ), lines[0]
    assert "canary-wrong-token" not in result.stderr
    assert _unmask(result.stdout, "canary-wrong-token").startswith("::error title=meshpipe::POST ")


def test_run_token_used_on_another_run_is_a_clear_403(job: Job, fake_meshstack: FakeMeshStack) -> None:
    other = fake_meshstack.create_run()
    result = job("step", "a", "--status", "SUCCEEDED", MESHSTACK_RUN_URL=other.url)
    assert result.returncode == 1
    assert re.fullmatch(
        r"meshpipe: error: PATCH \S+/status/source/github -> 403 Forbidden: .+ \(hint: a run token "
        r"only works for its own run.*\)\n",
        result.stderr,
    ), result.stderr
    assert job.run.run_token not in result.stderr
    _unmask(result.stdout, job.run.run_token)


def test_api_key_login_token_file_reuse_and_relogin_after_expiry(job: Job, fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_key("key-1", "canary-key-secret")
    env = {"MESHSTACK_RUN_TOKEN": "", "MESHSTACK_CLIENT_ID": "key-1", "MESHSTACK_CLIENT_SECRET": "canary-key-secret"}
    first = _ok(job("register", "--step", "a=A", **env))
    token_file = job.temp / "meshstack_token.json"
    data = json.loads(token_file.read_text())
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert first.stdout.startswith(f"::add-mask::{data['token']}\n")
    assert data["baseUrl"] == fake_meshstack.url
    _ok(job("step", "a", "--status", "IN_PROGRESS", **env))
    assert len(fake_meshstack.log(path="/api/login")) == 1  # the second process reused the cached login
    fake_meshstack.expire_tokens()
    _ok(job("step", "a", "--status", "SUCCEEDED", **env))
    assert len(fake_meshstack.log(path="/api/login")) == 2
    assert [r.status for r in fake_meshstack.log(method="PATCH")] == [200, 401, 200]
    assert json.loads(token_file.read_text())["token"] != data["token"]
    for result in (first,):
        assert "canary-key-secret" not in result.stdout + result.stderr


def test_official_token_file_is_enough(job: Job) -> None:
    (job.temp / "meshstack_token.json").write_text(json.dumps({"token": job.run.run_token}))
    result = _ok(job("register", "--step", "a=A", MESHSTACK_RUN_TOKEN=""))
    assert result.stdout.startswith(f"::add-mask::{job.run.run_token}\n")


def test_exec_failing_command_reports_failed_and_returns_its_code(job: Job) -> None:
    _ok(job("register", "--step", "apply=Terraform apply"))
    result = job(
        "exec",
        "apply",
        "--",
        sys.executable,
        "-c",
        "import sys; print('x' * 9000); print('Error: quota exceeded', file=sys.stderr); sys.exit(3)",
    )
    assert result.returncode == 3
    step = job.steps()[0]
    assert step["status"] == "FAILED"
    assert step["userMessage"] == "Terraform apply failed (exit code 3)"
    message = str(step["systemMessage"])
    assert len(message) <= 4000 and message.startswith("[… truncated")
    assert message.endswith("Error: quota exceeded\n[meshpipe] exit code 3")


def test_exec_options_after_the_step_id_are_options_not_the_command(job: Job) -> None:
    _ok(job("register", "--step", "apply=Terraform apply"))
    _ok(job("exec", "apply", "--user-message", "Bucket created", "--", sys.executable, "-c", "print('ok')"))
    step = job.steps()[0]
    assert step["status"] == "SUCCEEDED"
    assert step["userMessage"] == "Bucket created"


def test_exec_unknown_command_fails_the_step_with_127(job: Job) -> None:
    result = job("exec", "apply", "--", "no-such-command-meshpipe")
    assert result.returncode == 127
    assert job.steps()[0]["status"] == "FAILED"


def test_exec_sigterm_is_forwarded_and_reports_aborted(job: Job) -> None:
    _ok(job("register", "--step", "apply=Apply"))
    child = (
        "import signal, sys, time\n"
        "def bye(*_):\n    print('child got SIGTERM', flush=True); sys.exit(143)\n"
        "signal.signal(signal.SIGTERM, bye)\nprint('working', flush=True)\ntime.sleep(30)\n"
    )
    proc = subprocess.Popen(
        [*CLI, "exec", "apply", "--", sys.executable, "-c", child],
        env=job.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == f"::add-mask::{job.run.run_token}\n"
    assert proc.stdout.readline() == "working\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "child got SIGTERM" in out
    step = job.steps()[0]
    assert step["status"] == "ABORTED"
    assert str(step["systemMessage"]).endswith(
        "child got SIGTERM\n[meshpipe] received SIGTERM; the command was stopped"
    )
    run = job.fake.run(job.run.uuid)
    assert run.sources["github"]["status"] == "ABORTED"
    # the `if: always()` finish step afterwards leaves the run alone
    result = _ok(job("finish", "--job-status", "cancelled"))
    assert "already finished with ABORTED" in result.stdout


def test_exec_sigterm_reaches_a_shell_commands_children_and_reports_promptly(job: Job) -> None:
    # `sh -c` is how most steps run; its child (here `sleep`) holds the output pipe. If only the shell got the
    # signal, meshpipe would wait for the child to finish on its own and the runner would kill it unreported.
    _ok(job("register", "--step", "apply=Apply"))
    proc = subprocess.Popen(
        [*CLI, "exec", "apply", "--", "sh", "-c", "echo working; sleep 60; echo not reached"],
        env=job.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == f"::add-mask::{job.run.run_token}\n"
    assert proc.stdout.readline() == "working\n"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 8, "meshpipe waited for the shell's child instead of stopping it"
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "not reached" not in out
    assert job.steps()[0]["status"] == "ABORTED"
    assert job.fake.run(job.run.uuid).sources["github"]["status"] == "ABORTED"


def test_exec_sigterm_while_reporting_the_start_still_ends_aborted_without_running_the_command(
    job: Job, tmp_path: Path
) -> None:
    # Cancellation can land while the IN_PROGRESS update is still on its way (slow meshStack, retries); the default
    # SIGTERM action would kill meshpipe there and leave the step IN_PROGRESS with no terminal status.
    _ok(job("register", "--step", "apply=Apply"))
    job.fake.add_fault(delay=2, method="PATCH", times=1)
    ran = tmp_path / "ran"
    proc = subprocess.Popen(
        [*CLI, "exec", "apply", "--", sys.executable, "-c", f"open({str(ran)!r}, 'w').close()"],
        env=job.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == f"::add-mask::{job.run.run_token}\n"  # the transport is up: PATCH under way
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert not ran.exists()
    step = job.steps()[0]
    assert (step["status"], step["userMessage"]) == ("ABORTED", "Apply was cancelled")
    assert job.fake.run(job.run.uuid).sources["github"]["status"] == "ABORTED"


def test_terminal_status_is_sent_exactly_once(job: Job) -> None:
    _ok(job("register", "--step", "a=A"))
    _ok(job("step", "a", "--status", "SUCCEEDED"))
    _ok(job("finish", "--status", "SUCCEEDED"))
    again = job("finish", "--status", "FAILED")
    assert again.returncode == 1
    assert "already finished with SUCCEEDED" in again.stderr and len(again.stderr.splitlines()) == 1
    late = job("step", "a", "--status", "FAILED")
    assert late.returncode == 1
    _ok(job("finish", "--job-status", "failure"))
    assert [u.get("status") for u in job.fake.run(job.run.uuid).updates] == [None, "SUCCEEDED"]


def test_finish_succeeded_with_unfinished_step_warns(job: Job) -> None:
    _ok(job("register", "--step", "a=A", "--step", "b=B"))
    _ok(job("step", "a", "--status", "SUCCEEDED"))
    result = _ok(job("finish", "--status", "SUCCEEDED"))
    assert "meshpipe: warning: run finished SUCCEEDED but step 'b' (B) is PENDING" in result.stderr
    assert "::warning title=meshpipe::run finished SUCCEEDED but step 'b' (B) is PENDING" in result.stdout


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_best_effort_when_meshstack_is_down(job: Job) -> None:
    url = f"http://127.0.0.1:{_unused_port()}/api/meshobjects/meshbuildingblockruns/r1"
    result = job("step", "a", "--status", "SUCCEEDED", "--best-effort", MESHSTACK_RUN_URL=url)
    assert result.returncode == 0
    assert re.search(
        r"meshpipe: warning: meshStack could not be reached, continuing \(--best-effort\): PATCH "
        rf"{re.escape(url)}/status/source/github -> could not connect",
        result.stderr,
    )
    assert "::warning title=meshpipe::meshStack could not be reached" in result.stdout
    strict = job("step", "a", "--status", "SUCCEEDED", MESHSTACK_RUN_URL=url)
    assert strict.returncode == 1 and "could not connect" in strict.stderr


def test_best_effort_exec_still_runs_the_command(job: Job) -> None:
    url = f"http://127.0.0.1:{_unused_port()}/api/meshobjects/meshbuildingblockruns/r1"
    result = job("exec", "a", "--best-effort", "--", sys.executable, "-c", "raise SystemExit(5)", MESHSTACK_RUN_URL=url)
    assert result.returncode == 5


def test_best_effort_does_not_hide_a_401(job: Job) -> None:
    result = job("step", "a", "--status", "SUCCEEDED", "--best-effort", MESHSTACK_RUN_TOKEN="wrong")
    assert result.returncode == 1


def test_state_is_shared_across_processes_via_runner_temp(job: Job) -> None:
    _ok(job("register", "--source-id", "pipeline", "--step", "a=Alpha"))
    no_url = {"MESHSTACK_RUN_URL": ""}
    _ok(job("step", "a", "--status", "SUCCEEDED", **no_url))
    _ok(job("finish", "--job-status", "success", **no_url))
    run = job.fake.run(job.run.uuid)
    assert list(run.sources) == ["pipeline"]
    assert run.sources["pipeline"]["status"] == "SUCCEEDED"
    assert "| Alpha (`a`) | SUCCEEDED |  |" in job.summary.read_text()


def test_missing_run_is_a_one_line_error() -> None:
    result = run_cli(base_env(), "step", "a", "--status", "SUCCEEDED")
    assert result.returncode == 1
    assert result.stderr.startswith("meshpipe: error: no meshStack run given") and len(result.stderr.splitlines()) == 1
    assert "::error" not in result.stdout  # off a runner: no workflow command


def test_a_run_that_cannot_be_opened_is_annotated_on_a_runner() -> None:
    """The guard has no run (hence no settings) to ask; it learns ``GITHUB_ACTIONS`` through the settings module."""
    result = run_cli(base_env(GITHUB_ACTIONS="true"), "step", "a", "--status", "SUCCEEDED")
    assert result.returncode == 1
    assert result.stdout.startswith("::error title=meshpipe::no meshStack run given"), result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("step", "a"),
        ("step", "a", "--status", "DONE"),
        ("finish",),
        ("finish", "--status", "IN_PROGRESS"),  # not a terminal status: refused by the option itself
        ("finish", "--status", "FAILED", "--job-status", "failure"),
        ("exec", "a"),
        ("nope",),
    ],
)
def test_usage_errors_exit_2(job: Job, args: tuple[str, ...]) -> None:
    assert job(*args).returncode == 2


@pytest.mark.parametrize("command", ["register", "step", "exec", "finish", "show"])
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = run_cli(base_env(), command, "--help")
    assert result.returncode == 0
    assert "Example:" in result.stdout and f"meshpipe run {command}" in result.stdout


def test_startup_does_not_import_heavy_modules() -> None:
    probe = (
        "import sys\n"
        "from meshpipe.cli import cli\n"
        "cmd = cli.get_command(None, 'run')\n"
        "import meshpipe.report.cli, meshpipe.report._exec\n"
        "heavy = ('jinja2', 'yaml', 'requests', 'meshpipe.generator', 'meshpipe.fakes')\n"
        "bad = [m for m in heavy if m in sys.modules]\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout == "[]\n"


def test_a_step_sent_over_http_imports_no_third_party_http_client(job: Job) -> None:
    """Issue 10 item 3: ``requests``/``urllib3`` were half of a ``meshpipe run step`` process's start-up; the one
    transport is the standard library's ``http.client`` (and ``ssl`` only for https)."""
    probe = (
        "import sys\n"
        "from meshpipe.cli import cli\n"
        "try:\n    cli.main(args=sys.argv[1:], standalone_mode=False)\nfinally:\n"
        "    print([m for m in ('requests', 'urllib3', 'jinja2', 'yaml') if m in sys.modules], file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, "run", "step", "a", "--status", "SUCCEEDED"],
        capture_output=True,
        text=True,
        env=job.env,
        check=True,
    )
    assert result.stderr == "[]\n"
    assert job.steps()[0]["status"] == "SUCCEEDED"


def test_show_from_b64_runs_without_importing_requests(job: Job) -> None:
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['meshpipe', 'run', 'show', '--run-b64', sys.argv[1]]\n"
        "from meshpipe.cli import cli\n"
        "try:\n    cli.main(args=sys.argv[1:], standalone_mode=False)\nfinally:\n"
        "    print([m for m in ('requests', 'jinja2', 'yaml') if m in sys.modules], file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, job.run.b64], capture_output=True, text=True, env=base_env(), check=True
    )
    assert result.stderr == "[]\n"


def test_show_json_keeps_stdout_pure_json_on_a_runner(job: Job) -> None:
    result = _ok(job("show", "--json"))
    assert json.loads(result.stdout)["behavior"] == "APPLY"
    assert result.stderr == f"::add-mask::{job.run.run_token}\n"


@pytest.mark.parametrize(("job_status", "run_status"), [("failure", "FAILED"), ("cancelled", "ABORTED")])
def test_finish_maps_the_job_status(job: Job, job_status: str, run_status: str) -> None:
    _ok(job("register", "--step", "a=A"))
    _ok(job("finish", "--job-status", job_status))
    assert job.fake.run(job.run.uuid).sources["github"]["status"] == run_status
    assert job.summary.read_text().startswith(f"### meshStack run {run_status}\n")


def test_exec_never_sends_the_token_in_the_log_tail(job: Job) -> None:
    # GitHub masks the token in its log after ::add-mask::, but the tail also goes to meshStack as system message.
    _ok(job("register", "--step", "apply=Apply"))
    script = "import os, sys; print('auth: Bearer ' + os.environ['MESHSTACK_RUN_TOKEN']); sys.exit(1)"
    result = job("exec", "apply", "--", sys.executable, "-c", script)
    assert result.returncode == 1
    message = str(job.steps()[0]["systemMessage"])
    assert job.run.run_token not in message
    assert message.startswith("auth: Bearer ***")
