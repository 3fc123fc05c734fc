"""PyGithub's workflow, run, re-run, job, log and App calls against the fake GitHub, in both flavours, with every
answer the fake sends held against the description's response schema (issue 14.3, 14.4).

Before: ``get_workflows()``, ``rerun()``, ``rerun_failed_jobs()``, force-cancel, run logs, ``get_attempt()``,
``get_workflow_job()``, ``GET /app`` and ``GET /app/installations[/{id}]`` answered 404; ``check_suite_id`` was
ignored; ``permissions.actions = "admin"`` was accepted and echoed; ``GET /repos/{o}/{r}`` lacked
``network_count`` and ``subscribers_count``.
"""

from __future__ import annotations

import io
import sys
import time
import zipfile
from collections.abc import Iterator

import github
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, Github, GithubIntegration

from meshpipe.fakes.github import FakeGitHub
from meshpipe.fakes.github_control import PERMISSION_LEVELS
from tests.fakes.github_responses import check_every_answer, operations, to_json_schema
from tests.fakes.test_github_app import APP_ID, INSTALLATION_ID, make_jwt, public_pem

TOKEN = "ghp_clients0001"
BODY_OUTPUT = "hello from the workflow body"


@pytest.fixture(params=["github", "ghes"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeGitHub]:
    server: FakeGitHub = request.getfixturevalue(f"fake_{request.param}")
    server.add_token(TOKEN)
    server.add_repository("acme/infra")
    server.add_workflow("acme/infra", "apply.yml", inputs={"note": {"type": "string"}}, duration=0.2)
    server.add_workflow("acme/infra", "broken.yml", conclusion="failure", duration=0.05)
    server.add_workflow("acme/infra", "body.yml", command=[sys.executable, "-c", f"print({BODY_OUTPUT!r})"])
    server.add_workflow("acme/infra", "slow.yml", duration=None)
    yield server
    server.raise_errors()


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def client(fake: FakeGitHub) -> Github:
    return Github(
        base_url=fake.api_url, auth=Auth.Token(TOKEN), retry=None, seconds_between_requests=0, seconds_between_writes=0
    )


def wait_completed(run: github.WorkflowRun.WorkflowRun, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while run.status != "completed":
        assert time.monotonic() < deadline, f"run {run.id} did not complete"
        time.sleep(0.05)
        run.update()


def test_workflows_runs_filters_and_the_full_repository(fake: FakeGitHub) -> None:
    repo = client(fake).get_repo("acme/infra")
    assert repo.raw_data["network_count"] == 0 and repo.raw_data["subscribers_count"] == 0
    workflows = list(repo.get_workflows())
    assert [w.path for w in workflows] == [
        f".github/workflows/{f}" for f in ("apply.yml", "broken.yml", "body.yml", "slow.yml")
    ]
    apply = repo.get_workflow("apply.yml")
    assert apply.create_dispatch("main", {"note": "a"}) is True
    assert apply.create_dispatch("main", {"note": "b"}) is True
    runs = list(apply.get_runs())
    assert len(runs) == 2
    first = runs[1]
    by_suite = list(repo.get_workflow_runs(check_suite_id=first.check_suite_id))
    assert [r.id for r in by_suite] == [first.id]
    assert list(apply.get_runs(check_suite_id=first.check_suite_id + 10_000)) == []
    assert check_every_answer(fake) >= {
        "/repos/{owner}/{repo}",
        "/repos/{owner}/{repo}/actions/workflows",
        "/repos/{owner}/{repo}/actions/runs",
    }


def test_rerun_makes_attempt_two_of_the_same_run(fake: FakeGitHub) -> None:
    repo = client(fake).get_repo("acme/infra")
    broken = repo.get_workflow("broken.yml")
    broken.create_dispatch("main")
    run = repo.get_workflow_run(fake.runs[0].id)
    wait_completed(run)
    assert (run.conclusion, run.run_attempt) == ("failure", 1)
    first_job = next(iter(run.jobs()))
    assert run.rerun_failed_jobs() is True
    run.update()
    assert run.run_attempt == 2 and run.status != "completed"
    assert run.previous_attempt_url.endswith("/attempts/1")
    wait_completed(run)
    assert len(fake.runs) == 1  # the same run, not a new one
    attempt = run.get_attempt(1)
    assert (attempt.run_attempt, attempt.conclusion, attempt.id) == (1, "failure", run.id)
    jobs = list(run.jobs("all"))
    assert [j.run_attempt for j in jobs] == [2, 1]
    assert jobs[1].id == first_job.id != jobs[0].id
    assert repo.get_workflow_job(first_job.id).run_attempt == 1
    assert run.rerun() is True
    assert fake.runs[0].run_attempt == 3
    check_every_answer(fake)


def test_a_run_that_is_still_running_cannot_be_rerun(fake: FakeGitHub) -> None:
    repo = client(fake).get_repo("acme/infra")
    repo.get_workflow("slow.yml").create_dispatch("main")
    run = repo.get_workflow_run(fake.runs[0].id)
    assert run.rerun() is False  # PyGithub reports anything but 201 as False
    assert fake.log(method="POST", path="/rerun$")[-1].status == 403
    assert fake.runs[0].run_attempt == 1


def test_rerun_failed_jobs_of_a_successful_run_is_refused(fake: FakeGitHub) -> None:
    repo = client(fake).get_repo("acme/infra")
    repo.get_workflow("apply.yml").create_dispatch("main", {"note": "ok"})
    run = repo.get_workflow_run(fake.runs[0].id)
    wait_completed(run)
    assert run.rerun_failed_jobs() is False
    assert fake.log(method="POST", path="/rerun-failed-jobs$")[-1].status == 403
    assert fake.runs[0].run_attempt == 1


def test_cancel_and_force_cancel(fake: FakeGitHub) -> None:
    gh = client(fake)
    repo = gh.get_repo("acme/infra")
    slow = repo.get_workflow("slow.yml")
    slow.create_dispatch("main")
    slow.create_dispatch("main")
    first, second = (repo.get_workflow_run(r.id) for r in fake.runs)
    assert first.cancel() is True
    status, _, _ = gh.requester.requestJson("POST", f"{second.url}/force-cancel")
    assert status == 202
    second.update()
    assert (second.status, second.conclusion) == ("completed", "cancelled")
    status, _, _ = gh.requester.requestJson("POST", f"{second.url}/force-cancel")
    assert status == 409
    check_every_answer(fake)


def test_run_and_job_logs_hold_the_bodys_output(fake: FakeGitHub) -> None:
    repo = client(fake).get_repo("acme/infra")
    repo.get_workflow("body.yml").create_dispatch("main")
    run = repo.get_workflow_run(fake.runs[0].id)
    wait_completed(run)
    headers = {"Authorization": f"Bearer {TOKEN}", "User-Agent": "meshpipe-tests"}
    redirect = requests.get(run.logs_url, headers=headers, allow_redirects=False, timeout=10)
    assert redirect.status_code == 302
    archive = requests.get(redirect.headers["Location"], timeout=10)
    assert archive.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as logs:
        assert all(BODY_OUTPUT in logs.read(name).decode() for name in logs.namelist())
    job = next(iter(run.jobs()))
    text = requests.get(job.logs_url(), timeout=10)
    assert BODY_OUTPUT in text.text
    attempt_logs = requests.get(f"{run.url}/attempts/1/logs", headers=headers, timeout=10)
    assert attempt_logs.status_code == 200 and attempt_logs.content[:2] == b"PK"
    check_every_answer(fake)


def test_log_download_links_expire(fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = client(fake).get_repo("acme/infra")
    repo.get_workflow("body.yml").create_dispatch("main")
    run = repo.get_workflow_run(fake.runs[0].id)
    headers = {"Authorization": f"Bearer {TOKEN}", "User-Agent": "meshpipe-tests"}
    location = requests.get(run.logs_url, headers=headers, allow_redirects=False, timeout=10).headers["Location"]
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 61)
    assert requests.get(location, timeout=10).status_code == 404


def test_app_calls(fake: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    fake.add_app(APP_ID, INSTALLATION_ID, public_pem(key), repositories=["acme/infra"])
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    integration = GithubIntegration(
        base_url=fake.api_url, auth=Auth.AppAuth(APP_ID, pem), retry=None, seconds_between_requests=0
    )
    app = integration.get_app()
    assert app.id == APP_ID and app.slug
    installations = list(integration.get_installations())
    assert [i.id for i in installations] == [INSTALLATION_ID]
    assert integration.get_app_installation(INSTALLATION_ID).id == INSTALLATION_ID
    assert integration.get_repo_installation("acme", "infra").id == INSTALLATION_ID
    token = integration.get_access_token(INSTALLATION_ID, permissions={"actions": "write"})
    assert token.permissions == {"actions": "write"}
    with pytest.raises(github.GithubException) as raised:
        integration.get_access_token(INSTALLATION_ID, permissions={"actions": "admin"})
    assert raised.value.status == 422
    with pytest.raises(github.UnknownObjectException):
        integration.get_app_installation(INSTALLATION_ID + 1)
    installed = Github(base_url=fake.api_url, auth=Auth.Token(token.token), retry=None).get_repo("acme/infra")
    assert installed.get_workflow("apply.yml").create_dispatch("main") is True
    check_every_answer(fake)


def test_permission_levels_follow_the_descriptions_enums(fake: FakeGitHub) -> None:
    schema = operations(fake.flavour)["/app/installations/{installation_id}/access_tokens"]["post"]
    properties = to_json_schema(schema["requestBody"]["content"]["application/json"]["schema"])["properties"]
    for name, spec in properties["permissions"]["properties"].items():
        assert set(PERMISSION_LEVELS.get(name, ("read", "write"))) == set(spec["enum"]), name


def test_access_token_levels_outside_the_enum_are_refused(fake: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    fake.add_app(APP_ID, INSTALLATION_ID, public_pem(key))
    url = f"{fake.api_url}/app/installations/{INSTALLATION_ID}/access_tokens"
    headers = {"Authorization": f"Bearer {make_jwt(key)}", "User-Agent": "meshpipe-tests"}
    for permissions, status in (
        ({"actions": "admin"}, 422),
        ({"workflows": "read"}, 422),
        ({"organization_plan": "write"}, 422),
        ({"repository_projects": "admin"}, 201),
        ({"actions": "read", "contents": "write"}, 201),
    ):
        response = requests.post(url, json={"permissions": permissions}, headers=headers, timeout=10)
        assert response.status_code == status, (permissions, response.text)
        if status == 201:
            assert response.json()["permissions"] == permissions
    check_every_answer(fake)
