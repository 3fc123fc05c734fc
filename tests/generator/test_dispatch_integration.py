"""The bundled dispatcher as the Trigger Module runs it: a subprocess against the fake GitHub over 127.0.0.1."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from meshpipe.fakes.github import FakeGitHub
from tests.generator.support import DISPATCH_PYTHON as PYTHON
from tests.generator.support import assert_not_shown, one_error_line, run_dispatch_script

CANARY = "ghp_CANARY0token0never0printed0123456789"
SECRET_CANARY = "s3cret-input-CANARY-value"
REPO = "acme/infra"
MODULE = "github-workflow-trigger"
WORKFLOW_INPUTS = {
    "name": {"type": "string", "required": True},
    "correlation_id": {"type": "string", "required": False},
}
RUN_NAME = "deploy ${{ inputs.correlation_id }}"


def setup_repo(fake: FakeGitHub, **workflow: Any) -> None:
    fake.add_token(CANARY)
    options: dict[str, Any] = {"inputs": WORKFLOW_INPUTS, "run_name": RUN_NAME, "duration": 0.3}
    options.update(workflow)
    fake.add_workflow(REPO, "apply.yml", **options)


def run_dispatcher(
    fake: FakeGitHub,
    cwd: Path,
    phase: str = "apply",
    *,
    env: dict[str, str] | None = None,
    token: str | None = CANARY,
    python_flags: tuple[str, ...] = (),
    **overrides: Any,
) -> subprocess.CompletedProcess[str]:
    config: dict[str, Any] = {
        "version": 1,
        "module": MODULE,
        "api_url": fake.api_url,
        "repository": REPO,
        "ref": "main",
        "event": "workflow_dispatch",
        "workflow": "apply.yml",
        "event_type": None,
        "inputs": {"name": "team-bucket"},
        "secret_inputs": {},
        "correlation_input": "correlation_id",
        "behavior": "APPLY",
        "wait": False,
        "wait_timeout_seconds": 10,
        "poll_interval_seconds": 0.1,
        "auth": {"mode": "auto", "token_env": "GITHUB_TOKEN"},
    }
    config.update(overrides)
    environ = {"MESHPIPE_DISPATCH_SETTLE_SECONDS": "0.5"}
    if token is not None:
        environ["GITHUB_TOKEN"] = token
    environ.update(env or {})
    return run_dispatch_script(config, cwd, phase, env=environ, variable="MESHPIPE_DISPATCH", python_flags=python_flags)


def assert_no_secrets(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    assert_not_shown(result, CANARY, *secrets)


def post_paths(fake: FakeGitHub) -> list[int]:
    return [r.status for r in fake.log(method="POST") if r.path.endswith("/dispatches")]


# ------------------------------------------------------------------------------------------------ happy paths


def test_dispatch_sends_exact_headers_and_body_and_reports_the_run(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    result = run_dispatcher(fake_github, tmp_path)
    assert result.returncode == 0, result.stderr
    (dispatch,) = fake_github.dispatches
    assert dispatch.headers["accept"] == "application/vnd.github+json"
    assert dispatch.headers["x-github-api-version"] == "2022-11-28"
    assert dispatch.headers["authorization"] == f"Bearer {CANARY}"
    assert dispatch.headers["user-agent"] == f"meshpipe-dispatch/0.1.0 ({MODULE})"
    assert dispatch.headers["content-type"] == "application/json"
    assert set(dispatch.body) == {"ref", "inputs", "return_run_details"}
    assert dispatch.body["ref"] == "main"
    assert dispatch.body["return_run_details"] is True
    assert set(dispatch.inputs) == {"name", "correlation_id"}
    assert all(isinstance(value, str) for value in dispatch.inputs.values())
    assert re.fullmatch(r"[0-9a-f]{32}", dispatch.inputs["correlation_id"])
    (run,) = fake_github.runs
    assert result.stdout.splitlines() == [
        f"[{MODULE}] no meshStack run id known: the correlation id is random, a later attempt cannot recognise it",
        f"[{MODULE}] dispatched apply.yml on main: run {run.id} {run.html_url}",
    ]
    assert [r.method for r in fake_github.log()] == ["POST"]  # the run id came with the answer
    assert_no_secrets(result)


def test_ghes_falls_back_without_return_run_details_and_waits_by_correlation(
    fake_ghes: FakeGitHub, tmp_path: Path
) -> None:
    setup_repo(fake_ghes)
    result = run_dispatcher(fake_ghes, tmp_path, wait=True)
    assert result.returncode == 0, result.stderr
    assert post_paths(fake_ghes) == [400, 204]
    (dispatch,) = fake_ghes.dispatches
    assert "return_run_details" not in dispatch.body
    (run,) = fake_ghes.runs
    assert dispatch.inputs["correlation_id"] in run.display_title
    assert run.html_url in result.stdout
    assert f"run {run.id} completed: success" in result.stdout
    listed = [r for r in fake_ghes.log(method="GET") if r.path.endswith("/runs")]
    assert listed and listed[0].query["event"] == ["workflow_dispatch"] and listed[0].query["branch"] == ["main"]
    assert_no_secrets(result)


def test_waiting_succeeds_with_progress_lines(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github, duration=0.5)
    result = run_dispatcher(fake_github, tmp_path, wait=True)
    assert result.returncode == 0, result.stderr
    (run,) = fake_github.runs
    lines = result.stdout.splitlines()[1:]  # after the line about the random correlation id
    assert lines[0] == f"[{MODULE}] dispatched apply.yml on main: run {run.id} {run.html_url}"
    assert any(re.fullmatch(rf"\[{MODULE}\] run {run.id} (queued|in_progress) \(\d+ s elapsed\) .+", x) for x in lines)
    assert lines[-1] == f"[{MODULE}] run {run.id} completed: success {run.html_url}"


def test_waiting_fails_with_run_url_and_conclusion(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github, conclusion="failure")
    result = run_dispatcher(fake_github, tmp_path, wait=True)
    line = one_error_line(result)
    (run,) = fake_github.runs
    assert line == f"meshpipe-dispatch: error: workflow run {run.id} concluded failure: {run.html_url}"


def test_waiting_times_out_within_its_bound(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github, duration=None)
    started = time.monotonic()
    result = run_dispatcher(fake_github, tmp_path, wait=True, wait_timeout_seconds=0.5)
    elapsed = time.monotonic() - started
    line = one_error_line(result)
    (run,) = fake_github.runs
    assert line.endswith(f"timed out after 0.5 s waiting for {run.html_url}; the run continues on GitHub")
    assert elapsed < 10
    assert fake_github.run(run.id).status != "completed"


def test_destroy_phase_fires_for_a_destroy_run(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    fake_github.add_workflow(REPO, "destroy.yml", inputs=WORKFLOW_INPUTS, run_name=RUN_NAME)
    result = run_dispatcher(fake_github, tmp_path, "destroy", workflow="destroy.yml", behavior="DESTROY")
    assert result.returncode == 0, result.stderr
    assert [d.workflow for d in fake_github.dispatches] == ["destroy.yml"]


@pytest.mark.parametrize("behavior", ["DESTROY", "DETECT"])
def test_apply_phase_skips_destroy_and_detect_runs(fake_github: FakeGitHub, tmp_path: Path, behavior: str) -> None:
    setup_repo(fake_github)
    result = run_dispatcher(fake_github, tmp_path, behavior=behavior)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert f"behavior {behavior}" in result.stdout
    assert fake_github.log() == []


def test_without_correlation_and_run_id_not_waiting_succeeds_with_unknown_run(
    fake_ghes: FakeGitHub, tmp_path: Path
) -> None:
    setup_repo(fake_ghes)
    result = run_dispatcher(fake_ghes, tmp_path, correlation_input=None)
    assert result.returncode == 0, result.stderr
    assert "dispatched apply.yml on main: run id unknown" in result.stdout
    assert len(fake_ghes.runs) == 1


def test_without_correlation_and_run_id_waiting_fails_with_hint(fake_ghes: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_ghes)
    result = run_dispatcher(fake_ghes, tmp_path, correlation_input=None, wait=True)
    line = one_error_line(result)
    assert "set correlation_input and use it in the workflow's run-name" in line
    assert len(fake_ghes.runs) == 1


def test_repository_dispatch_sends_client_payload_and_waits_by_correlation(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    fake_github.add_token(CANARY)
    fake_github.add_workflow(
        REPO,
        "deploy.yml",
        workflow_dispatch=False,
        repository_dispatch_types=["deploy"],
        run_name="deploy ${{ github.event.client_payload.correlation_id }}",
    )
    result = run_dispatcher(
        fake_github, tmp_path, event="repository_dispatch", event_type="deploy", workflow="deploy.yml", wait=True
    )
    assert result.returncode == 0, result.stderr
    (dispatch,) = fake_github.dispatches
    assert set(dispatch.body) == {"event_type", "client_payload"}
    assert dispatch.body["event_type"] == "deploy"
    assert dispatch.client_payload is not None
    assert dispatch.client_payload["name"] == "team-bucket"
    (run,) = fake_github.runs
    assert dispatch.client_payload["correlation_id"] in run.display_title
    assert f"run {run.id} completed: success" in result.stdout


# ------------------------------------------------------------------------------------------------ retries


def test_429_with_retry_after_then_success_starts_exactly_one_run(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    fake_github.add_fault(status=429, retry_after=0.2, method="POST", path=r"/dispatches$")
    result = run_dispatcher(fake_github, tmp_path)
    assert result.returncode == 0, result.stderr
    assert post_paths(fake_github) == [429, 200]
    assert len(fake_github.runs) == 1
    assert "rate limited (429); retrying in 0.2 s" in result.stdout


def test_secondary_rate_limit_403_waits_for_reset_then_succeeds(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()))}
    fake_github.add_fault(status=403, headers=headers, method="POST", path=r"/dispatches$")
    result = run_dispatcher(fake_github, tmp_path)
    assert result.returncode == 0, result.stderr
    assert post_paths(fake_github) == [403, 200]
    assert len(fake_github.runs) == 1


def test_502_after_the_run_started_does_not_start_a_second_run(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    fake_github.add_fault(status=502, after=True, method="POST", path=r"/dispatches$")
    result = run_dispatcher(fake_github, tmp_path, wait=True)
    assert result.returncode == 0, result.stderr
    assert post_paths(fake_github) == [200]  # recorded by the handler; the client saw 502
    (run,) = fake_github.runs
    assert "checking whether the run started anyway" in result.stdout
    assert f"run {run.id} completed: success" in result.stdout


def test_lost_response_dropped_connection_does_not_start_a_second_run(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    fake_github.add_fault(drop=True, after=True, method="POST", path=r"/dispatches$")
    result = run_dispatcher(fake_github, tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(fake_github.runs) == 1
    assert len(fake_github.dispatches) == 1


def test_502_before_the_handler_posts_again_once_and_starts_one_run(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    fake_github.add_fault(status=502, method="POST", path=r"/dispatches$")
    result = run_dispatcher(fake_github, tmp_path)
    assert result.returncode == 0, result.stderr
    assert post_paths(fake_github) == [502, 200]
    assert len(fake_github.runs) == 1
    (first, second) = [r.json() for r in fake_github.log(method="POST")]
    assert first["inputs"]["correlation_id"] == second["inputs"]["correlation_id"]


def test_502_without_correlation_input_fails_instead_of_posting_twice(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    fake_github.add_fault(status=502, after=True, method="POST", path=r"/dispatches$")
    result = run_dispatcher(fake_github, tmp_path, correlation_input=None)
    line = one_error_line(result)
    assert "-> 502" in line and "not sent again" in line
    assert len(fake_github.runs) == 1


# ------------------------------------------------------------------------------------------------ errors


def test_404_unknown_workflow_is_one_line_with_hint(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    result = run_dispatcher(fake_github, tmp_path, workflow="missing.yml")
    line = one_error_line(result)
    url = f"{fake_github.api_url}/repos/{REPO}/actions/workflows/missing.yml/dispatches"
    assert line.startswith(f"meshpipe-dispatch: error: POST {url} -> 404: Not Found (hint: ")
    assert "private repositories answer 404" in line and "default branch" in line
    assert_no_secrets(result)


def test_401_bad_token_is_one_line_with_hint(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    result = run_dispatcher(fake_github, tmp_path, token="ghp_not_a_known_token_CANARY2")
    line = one_error_line(result)
    assert "-> 401: Bad credentials" in line
    assert "GITHUB_TOKEN is invalid or expired" in line
    assert_no_secrets(result, "ghp_not_a_known_token_CANARY2")


# Same shape as the 401 test above on purpose: one status, its hint, no secret in the output.
def test_403_read_only_token_names_actions_write(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    fake_github.add_token("ghp_readonly_CANARY3", permissions="read")
    result = run_dispatcher(fake_github, tmp_path, token="ghp_readonly_CANARY3")
    line = one_error_line(result)
    assert "-> 403: Resource not accessible by personal access token" in line
    assert "actions: write" in line
    assert_no_secrets(result, "ghp_readonly_CANARY3")


def test_422_unexpected_input_echoes_the_server_message(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    result = run_dispatcher(fake_github, tmp_path, inputs={"name": "x", "surplus": "y"})
    line = one_error_line(result)
    assert "-> 422: " in line and "surplus" in line
    assert "unexpected or missing inputs" in line
    assert fake_github.runs == []


def test_missing_token_names_the_expected_variables(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    result = run_dispatcher(fake_github, tmp_path, token=None)
    line = one_error_line(result)
    for name in ("GITHUB_TOKEN", "GITHUB_APP_ID", "GITHUB_APP_INSTALLATION_ID", "GITHUB_APP_PEM_FILE"):
        assert name in line
    assert fake_github.log() == []


def test_secret_inputs_are_sent_but_never_printed_even_when_the_server_echoes_them(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    setup_repo(fake_github, inputs={**WORKFLOW_INPUTS, "api_key": {"type": "string", "required": True}})
    fake_github.add_fault(
        status=422, method="POST", path=r"/dispatches$", body={"message": f"bad value {SECRET_CANARY} {CANARY}"}
    )
    env = {"DEPLOY_KEY": SECRET_CANARY}
    failed = run_dispatcher(fake_github, tmp_path, env=env, secret_inputs={"api_key": "DEPLOY_KEY"})
    assert "bad value *** ***" in one_error_line(failed)
    assert_no_secrets(failed, SECRET_CANARY)
    ok = run_dispatcher(fake_github, tmp_path, env=env, secret_inputs={"api_key": "DEPLOY_KEY"}, wait=True)
    assert ok.returncode == 0, ok.stderr
    (dispatch,) = fake_github.dispatches
    assert dispatch.inputs["api_key"] == SECRET_CANARY
    assert_no_secrets(ok, SECRET_CANARY)


def test_missing_secret_input_variable_is_named(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    result = run_dispatcher(fake_github, tmp_path, secret_inputs={"api_key": "DEPLOY_KEY"})
    assert "environment variable DEPLOY_KEY is not set" in one_error_line(result)
    assert fake_github.log() == []


# ------------------------------------------------------------------------------------------------ hostile inputs


HOSTILE = {
    "shell": "; touch marker && echo pwned | cat > marker2 & rm -rf / #",
    "quotes": "it's \"quoted\" 'twice'",
    "backticks": "`touch marker`",
    "subshell": "$(touch marker)",
    "newlines": "line1\nline2\r\nline3\n",
    "dollar": "${HOME} ${{ secrets.GITHUB_TOKEN }} $GITHUB_TOKEN",
    "percent": "%{ for x in y }%{ endfor } %s %n %%",
    "unicode": "grüße 日本語 🚀 \u202e\u0000 \\x00 \\n",
    "big": "x" * 60 * 1024,
}


def test_hostile_inputs_arrive_byte_exact_without_side_effects(fake_github: FakeGitHub, tmp_path: Path) -> None:
    inputs = {name: {"type": "string", "required": True} for name in HOSTILE}
    setup_repo(fake_github, inputs={**inputs, "correlation_id": {"type": "string", "required": False}})
    result = run_dispatcher(fake_github, tmp_path, inputs=HOSTILE, wait=True)
    assert result.returncode == 0, result.stderr
    (dispatch,) = fake_github.dispatches
    sent = dict(dispatch.inputs)
    sent.pop("correlation_id")
    assert sent == HOSTILE
    assert not (tmp_path / "marker").exists()
    assert not (tmp_path / "marker2").exists()
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------ GitHub App


@pytest.fixture(scope="module")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.mark.parametrize("form", ["text", "escaped", "path", "stdlib", "bare-interpreter"])
def test_github_app_authentication_end_to_end(
    fake_github: FakeGitHub, tmp_path: Path, app_key: rsa.RSAPrivateKey, form: str
) -> None:
    fake_github.add_workflow(REPO, "apply.yml", inputs=WORKFLOW_INPUTS, run_name=RUN_NAME)
    public = app_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fake_github.add_app(4242, 777, public.decode())
    pem = _pem(app_key)
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {"GITHUB_APP_ID": "4242", "GITHUB_APP_INSTALLATION_ID": "777", "GITHUB_APP_PEM_FILE": pem}
    if form == "escaped":
        env["GITHUB_APP_PEM_FILE"] = pem.strip().replace("\n", "\\n")
    elif form == "path":
        key_file = tmp_path / "app.pem"
        key_file.write_text(pem)
        env["GITHUB_APP_PEM_FILE"] = str(key_file)
    elif form == "stdlib":
        env["MESHPIPE_DISPATCH_NO_CRYPTOGRAPHY"] = "1"
    flags: tuple[str, ...] = ()
    if form == "bare-interpreter":
        # As on the runner image: no openssl on PATH and an interpreter that cannot import cryptography.
        empty_bin = tmp_path / "bin"
        empty_bin.mkdir()
        env["PATH"] = str(empty_bin)
        flags = ("-I", "-S")
        probe = subprocess.run([PYTHON, *flags, "-c", "import cryptography"], capture_output=True, check=False)
        assert probe.returncode == 1 and b"ModuleNotFoundError" in probe.stderr
    result = run_dispatcher(fake_github, workdir, token=None, env=env, wait=True, python_flags=flags)
    assert result.returncode == 0, result.stderr
    exchange = [r for r in fake_github.log(method="POST") if r.path.endswith("/access_tokens")]
    assert [r.status for r in exchange] == [201]
    assert exchange[0].path == "/app/installations/777/access_tokens"
    (dispatch,) = fake_github.dispatches
    bearer = dispatch.headers["authorization"].removeprefix("Bearer ")
    assert bearer.count(".") != 2  # an installation token, not the JWT
    body_line = pem.strip().splitlines()[1]
    for text in (result.stdout, result.stderr):
        assert body_line not in text and bearer not in text
    assert list(workdir.iterdir()) == []


def test_github_app_with_wrong_key_fails_with_clock_and_key_hint(
    fake_github: FakeGitHub, tmp_path: Path, app_key: rsa.RSAPrivateKey
) -> None:
    setup_repo(fake_github)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = app_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fake_github.add_app(4242, 777, public.decode())
    env = {"GITHUB_APP_ID": "4242", "GITHUB_APP_INSTALLATION_ID": "777", "GITHUB_APP_PEM_FILE": _pem(other)}
    result = run_dispatcher(fake_github, tmp_path, token=None, env=env)
    line = one_error_line(result)
    assert "/app/installations/777/access_tokens -> 401" in line
    assert "clock" in line
    assert fake_github.dispatches == []


# ------------------------------------------------------------------------------------------------ fidelity

SPECS = Path(__file__).parent.parent / "fixtures" / "specs"
WORKFLOW_DISPATCH_PATH = "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"
REPOSITORY_DISPATCH_PATH = "/repos/{owner}/{repo}/dispatches"


def request_schema(spec_file: str, path: str) -> dict[str, Any]:
    spec = json.loads((SPECS / spec_file).read_text(encoding="utf-8"))
    schema: dict[str, Any] = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return schema


def assert_matches_schema(body: Any, schema: dict[str, Any]) -> None:
    jsonschema.validate(body, schema)
    assert set(body) <= set(schema["properties"])  # no field the server does not know (GHES answers 400)


def test_accepted_request_bodies_validate_against_the_official_descriptions(
    fake_github: FakeGitHub, fake_ghes: FakeGitHub, tmp_path: Path
) -> None:
    setup_repo(fake_github)
    assert run_dispatcher(fake_github, tmp_path).returncode == 0
    fake_github.add_workflow(REPO, "deploy.yml", workflow_dispatch=False, repository_dispatch_types=["deploy"])
    result = run_dispatcher(fake_github, tmp_path, event="repository_dispatch", event_type="deploy", workflow=None)
    assert result.returncode == 0, result.stderr
    workflow_body, repository_body = (d.body for d in fake_github.dispatches)
    assert_matches_schema(workflow_body, request_schema("github-api.github.com-openapi.json", WORKFLOW_DISPATCH_PATH))
    assert_matches_schema(
        repository_body, request_schema("github-api.github.com-openapi.json", REPOSITORY_DISPATCH_PATH)
    )
    setup_repo(fake_ghes)
    assert run_dispatcher(fake_ghes, tmp_path).returncode == 0
    (ghes_dispatch,) = fake_ghes.dispatches
    assert_matches_schema(ghes_dispatch.body, request_schema("github-ghes-3.19-openapi.json", WORKFLOW_DISPATCH_PATH))
