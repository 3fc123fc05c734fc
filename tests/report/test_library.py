"""The library against the fake meshStack over 127.0.0.1 (in-process, real HTTP, no real sleeping)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from meshpipe.fakes.meshstack import FakeMeshStack
from meshpipe.report import (
    AuthenticationError,
    ConnectionFailed,
    NotFoundError,
    PermissionDeniedError,
    Run,
    ServerError,
    Settings,
    TerminalStatusError,
)
from meshpipe.report.actions import ActionsRunner


def _run(env: dict[str, str], *, sleeps: list[float] | None = None, on_actions: bool = False) -> Run:
    settings = Settings.from_env(env)
    stdout, stderr = io.StringIO(), io.StringIO()
    runner = ActionsRunner(on_actions=on_actions, stdout=stdout, stderr=stderr, summary_file=None)
    if sleeps is None:
        return Run(settings, runner=runner)
    return Run(settings, runner=runner, sleep=sleeps.append, random=lambda: 1.0)  # record instead of sleeping


def _out(run: Run) -> str:
    return run.runner.stdout.getvalue()  # type: ignore[attr-defined]


def _err(run: Run) -> str:
    return run.runner.stderr.getvalue()  # type: ignore[attr-defined]


@pytest.fixture
def env(fake_meshstack: FakeMeshStack) -> dict[str, str]:
    run = fake_meshstack.create_run(inputs={"bucket_name": "alpha", "replicas": 2})
    return {"MESHSTACK_RUN_URL": run.url, "MESHSTACK_RUN_TOKEN": run.run_token, "MESHPIPE_RETRY_BASE_DELAY": "1"}


def _fake_run(fake: FakeMeshStack, env: dict[str, str]):  # type: ignore[no-untyped-def]
    return fake.run(env["MESHSTACK_RUN_URL"].rsplit("/", 1)[1])


def test_register_steps_context_manager_and_finish(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    run = _run(env)
    run.register([("plan", "Terraform plan"), ("apply", "Terraform apply")])
    with run.step("plan") as step:
        step.user_message("Plan: 3 to add")
        step.output("changes", 3)
    run.step("apply").succeed(user_message="Bucket created", outputs={"bucket_url": "https://b.example"})
    run.finish("SUCCEEDED")
    fake = _fake_run(fake_meshstack, env)
    steps = fake.sources["github"]["steps"]
    assert [(s["id"], s["status"], s["userMessage"]) for s in steps] == [
        ("plan", "SUCCEEDED", "Plan: 3 to add"),
        ("apply", "SUCCEEDED", "Bucket created"),
    ]
    assert fake.outputs["changes"] == {"value": 3, "type": "INTEGER", "isSensitive": False}
    assert fake.status == "SUCCEEDED"
    statuses = [u.get("steps", [{}])[0].get("status") for u in fake.updates]
    assert statuses == ["IN_PROGRESS", "SUCCEEDED", "SUCCEEDED", None]
    assert _err(run) == ""


def test_step_context_manager_reports_failed_with_a_summary(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    run = _run(env)
    run.register(["plan"])
    with pytest.raises(RuntimeError), run.step("plan"):
        raise RuntimeError("terraform exploded")
    step = _fake_run(fake_meshstack, env).sources["github"]["steps"][0]
    assert (step["status"], step["systemMessage"]) == ("FAILED", "RuntimeError: terraform exploded")


def test_behavior_and_inputs_are_fetched_once(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    run = _run(env)
    assert run.behavior == "APPLY"
    assert run.inputs["replicas"].value == 2
    assert len(fake_meshstack.log(method="GET")) == 1


def test_second_terminal_status_is_refused_locally(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    run = _run(env)
    run.register(["a"])
    run.step("a").succeed()
    run.finish("SUCCEEDED")
    sent = len(fake_meshstack.log())
    with pytest.raises(TerminalStatusError, match="already finished with SUCCEEDED"):
        run.finish("FAILED")
    with pytest.raises(TerminalStatusError):
        run.step("a").fail()
    assert len(fake_meshstack.log()) == sent


def test_finishing_succeeded_with_unfinished_steps_warns_on_stderr_and_as_annotation(
    fake_meshstack: FakeMeshStack, env: dict[str, str]
) -> None:
    run = _run(env, on_actions=True)
    run.register([("plan", "Plan"), ("apply", "Apply")])
    run.step("plan").succeed()
    run.finish("SUCCEEDED")
    assert "step 'apply' (Apply) is PENDING" in _err(run)
    assert "::warning title=meshpipe::run finished SUCCEEDED but step 'apply' (Apply) is PENDING" in _out(run)
    assert _fake_run(fake_meshstack, env).warnings  # meshStack itself agrees


def test_reporting_without_register_registers_on_the_fly(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    run = _run(env)
    run.step("deploy", "Deploy it").succeed()
    step = _fake_run(fake_meshstack, env).sources["github"]["steps"][0]
    assert (step["id"], step["displayName"], step["status"]) == ("deploy", "Deploy it", "SUCCEEDED")


def test_retries_503_twice_with_the_exact_backoff_then_succeeds(
    fake_meshstack: FakeMeshStack, env: dict[str, str]
) -> None:
    sleeps: list[float] = []
    run = _run(env, sleeps=sleeps)
    fake_meshstack.add_fault(status=503, times=2, method="POST")
    run.register(["a"])
    assert sleeps == [1.0, 2.0]
    assert [r.status for r in fake_meshstack.log(method="POST")] == [503, 503, 200]


def test_429_waits_for_retry_after_instead_of_backoff(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    sleeps: list[float] = []
    run = _run(env, sleeps=sleeps)
    fake_meshstack.add_fault(status=429, times=1, retry_after=7)
    run.register(["a"])
    assert sleeps == [7.0]


def test_gives_up_after_the_attempts_with_a_server_error(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    sleeps: list[float] = []
    run = _run({**env, "MESHPIPE_RETRY_ATTEMPTS": "3"}, sleeps=sleeps)
    fake_meshstack.add_fault(status=502, times=5)
    with pytest.raises(ServerError, match=r"-> 502 Bad Gateway"):
        run.register(["a"])
    assert sleeps == [1.0, 2.0]


def test_500_is_not_retried(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    sleeps: list[float] = []
    run = _run(env, sleeps=sleeps)
    fake_meshstack.add_fault(status=500, times=1)
    with pytest.raises(ServerError):
        run.register(["a"])
    assert sleeps == []


def test_dropped_connections_are_retried(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    sleeps: list[float] = []
    run = _run(env, sleeps=sleeps)
    fake_meshstack.add_fault(drop=True, times=1, method="POST")
    run.register(["a"])
    assert sleeps == [1.0]


def test_unreachable_meshstack_is_a_connection_failure() -> None:
    sleeps: list[float] = []
    run = _run(
        {
            "MESHSTACK_RUN_URL": "http://127.0.0.1:9/api/meshobjects/meshbuildingblockruns/x",
            "MESHSTACK_RUN_TOKEN": "t",
            "MESHPIPE_RETRY_ATTEMPTS": "3",
        },
        sleeps=sleeps,
    )
    with pytest.raises(ConnectionFailed, match=r"POST http://127.0.0.1:9/.* -> could not connect: .*refused"):
        run.register(["a"])
    assert len(sleeps) == 2


def test_api_key_login_relogins_once_after_401(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    fake_meshstack.add_api_key("key-id", "canary-secret-42", workspace="platform-team")
    key_env = {
        "MESHSTACK_RUN_URL": env["MESHSTACK_RUN_URL"],
        "MESHSTACK_CLIENT_ID": "key-id",
        "MESHSTACK_CLIENT_SECRET": "canary-secret-42",
        "MESHSTACK_ENDPOINT": fake_meshstack.url,
    }
    run = _run(key_env, on_actions=True)
    run.register(["a"])
    fake_meshstack.expire_tokens()
    run.step("a").succeed()
    logins = fake_meshstack.log(method="POST", path="/api/login")
    assert len(logins) == 2
    tokens = [line for line in _out(run).splitlines() if line.startswith("::add-mask::")]
    assert len(tokens) == 2 and "canary-secret-42" not in _out(run) + _err(run)


def test_relogin_30_seconds_before_expiry(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    fake_meshstack.add_api_key("short", "s3cret", expires_in=20)
    run = _run(
        {
            "MESHSTACK_RUN_URL": env["MESHSTACK_RUN_URL"],
            "MESHSTACK_CLIENT_ID": "short",
            "MESHSTACK_CLIENT_SECRET": "s3cret",
        }
    )
    run.register(["a"])
    run.step("a").succeed()
    assert len(fake_meshstack.log(path="/api/login")) == 2  # 20 s of life is below the 30 s margin


def test_wrong_api_key_fails_with_authentication_error_without_the_secret(
    fake_meshstack: FakeMeshStack, env: dict[str, str]
) -> None:
    run = _run(
        {
            "MESHSTACK_RUN_URL": env["MESHSTACK_RUN_URL"],
            "MESHSTACK_CLIENT_ID": "nobody",
            "MESHSTACK_CLIENT_SECRET": "canary-wrong-secret",
        }
    )
    with pytest.raises(AuthenticationError) as info:
        run.register(["a"])
    assert "POST http://127.0.0.1" in str(info.value) and "/api/login -> 401" in str(info.value)
    assert "canary-wrong-secret" not in str(info.value) + repr(info.value)


def test_run_token_on_another_run_is_permission_denied(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    other = fake_meshstack.create_run()
    run = _run({**env, "MESHSTACK_RUN_URL": other.url})
    with pytest.raises(PermissionDeniedError, match=r"-> 403 Forbidden: .*run token only works for its own run"):
        run.register(["a"])


def test_unknown_run_is_not_found(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    fake_meshstack.add_api_token("api-token")
    run = _run(
        {
            "MESHSTACK_RUN_URL": fake_meshstack.url + "/api/meshobjects/meshbuildingblockruns/nope",
            "MESHSTACK_API_TOKEN": "api-token",
        }
    )
    with pytest.raises(NotFoundError, match="-> 404 Not Found"):
        run.register(["a"])


def test_server_messages_never_carry_the_token(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    token = env["MESHSTACK_RUN_TOKEN"]
    run = _run(env)
    fake_meshstack.add_fault(status=400, body={"message": f"bad token {token} in request"})
    with pytest.raises(Exception) as info:
        run.register(["a"])
    assert token not in str(info.value) and token not in repr(info.value)
    assert "bad token *** in request" in str(info.value)


def test_token_file_from_the_official_auth_action_is_used_and_masked(
    fake_meshstack: FakeMeshStack, env: dict[str, str], tmp_path: Path
) -> None:
    token_file = {"token": env["MESHSTACK_RUN_TOKEN"], "baseUrl": fake_meshstack.url}
    (tmp_path / "meshstack_token.json").write_text(json.dumps(token_file))
    run = _run({"MESHSTACK_RUN_URL": env["MESHSTACK_RUN_URL"], "RUNNER_TEMP": str(tmp_path)}, on_actions=True)
    run.register(["a"])
    assert _out(run).startswith(f"::add-mask::{env['MESHSTACK_RUN_TOKEN']}\n")


def test_run_aborted_flag_is_returned(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    run = _run(env)
    run.register(["a"])
    assert run.step("a").start() is False
    fake_meshstack.set_aborted(_fake_run(fake_meshstack, env).uuid)
    assert run.step("a").fail() is True


def test_finish_without_register_registers_an_empty_source(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    run = _run(env)
    run.finish("FAILED")
    source = _fake_run(fake_meshstack, env).sources["github"]
    assert (source["status"], source["steps"]) == ("FAILED", [])


def test_keyboard_interrupt_in_a_step_reports_aborted(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    run = _run(env)
    with pytest.raises(KeyboardInterrupt), run.step("long", "Long step"):
        raise KeyboardInterrupt
    step = _fake_run(fake_meshstack, env).sources["github"]["steps"][0]
    assert (step["displayName"], step["status"]) == ("Long step", "ABORTED")


def test_empty_messages_are_omitted_not_sent_as_empty_strings(
    fake_meshstack: FakeMeshStack, env: dict[str, str]
) -> None:
    # An empty string would overwrite the message meshStack already shows; ARCHITECTURE: never sent as "".
    run = _run(env)
    run.register([("plan", "Plan")])
    run.report_step("plan", status="IN_PROGRESS", user_message="Planning", system_message="terraform init ok")
    run.report_step("plan", status="SUCCEEDED", user_message="", system_message="")
    last = _fake_run(fake_meshstack, env).updates[-1]
    assert last["steps"] == [{"id": "plan", "status": "SUCCEEDED"}]
    step = _fake_run(fake_meshstack, env).sources["github"]["steps"][0]
    assert (step["userMessage"], step["systemMessage"]) == ("Planning", "terraform init ok")


def test_step_summary_keeps_each_step_on_one_table_row(fake_meshstack: FakeMeshStack, env: dict[str, str]) -> None:
    # Markdown ends a line at CR as well as LF: a progress-style message must not split the table row.
    run = _run(env)
    run.register([("plan", "Plan | dry")])
    run.report_step("plan", status="SUCCEEDED", user_message="10%\r50%\r\n100% | done\u2028ok")
    rows = [line for line in run.summary_markdown().splitlines() if line.startswith("| Plan")]
    assert rows == ["| Plan \\| dry (`plan`) | SUCCEEDED | 10% 50% 100% \\| done ok |"]
