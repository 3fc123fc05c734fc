"""Fake Azure DevOps: credentials, api-version, parameter and ref rules, run lifecycle and the agent environment."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest
import requests

from meshpipe.fakes.azure_devops import FakeAzureDevOps
from meshpipe.fakes.azure_devops_auth import SIGN_IN_MARKER
from tests.fakes.azure_support import PAT, PROJECT, basic, call, error, runs_path, setup_pipeline


def run(fake: FakeAzureDevOps, pipeline_id: int, body: Any = None, **kw: Any) -> requests.Response:
    payload = {"templateParameters": {"correlation_id": "c-1"}} if body is None else body
    return call(fake, "POST", runs_path(pipeline_id), json=payload, **kw)


def wait_completed(fake: FakeAzureDevOps, run_id: int, seconds: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        view = fake.run(run_id).to_dict()
        if view["state"] == "completed":
            return view
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not complete")


# -- credentials -----------------------------------------------------------------------------------------------
def test_pat_as_basic_with_any_user_part_runs_a_pipeline(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    answer = run(fake_azure_devops, pipeline_id, headers={"Authorization": basic(PAT, user="anyone")})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["state"] == "inProgress" and "result" not in body
    assert body["name"] == "deploy c-1"
    assert body["_links"]["web"]["href"].startswith(fake_azure_devops.org_url + "/")
    assert [r.id for r in fake_azure_devops.runs_for(PROJECT, pipeline_id)] == [body["id"]]


def test_missing_credentials_get_the_sign_in_page_with_203(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    answer = run(fake_azure_devops, pipeline_id, pat=None)
    assert answer.status_code == 203
    assert answer.headers["Content-Type"].startswith("text/html")
    assert SIGN_IN_MARKER in answer.text
    assert fake_azure_devops.runs == []


def test_suppressed_sign_in_redirect_answers_401(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    answer = run(fake_azure_devops, pipeline_id, pat=None, headers={"X-TFS-FedAuthRedirect": "Suppress"})
    assert answer.status_code == 401
    assert "TF400813" in answer.text
    assert "Basic" in answer.headers["WWW-Authenticate"]


@pytest.mark.parametrize("expired", [False, True])
def test_a_wrong_or_expired_pat_is_refused_with_401(fake_azure_devops: FakeAzureDevOps, expired: bool) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    if expired:
        fake_azure_devops.add_pat("old-pat", expires=time.time() - 1)
    answer = run(fake_azure_devops, pipeline_id, pat="old-pat")
    assert answer.status_code == 401
    assert ("expired" in answer.text) is expired
    assert fake_azure_devops.runs == []


def test_entra_id_token_as_bearer(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    fake_azure_devops.add_token("eyJ0eXAi.entra.token")
    answer = run(fake_azure_devops, pipeline_id, pat=None, headers={"Authorization": "Bearer eyJ0eXAi.entra.token"})
    assert answer.status_code == 200, answer.text
    # a PAT is no bearer token, a bearer token no PAT
    assert run(fake_azure_devops, pipeline_id, pat=None, headers={"Authorization": f"Bearer {PAT}"}).status_code == 401
    assert run(fake_azure_devops, pipeline_id, pat="eyJ0eXAi.entra.token").status_code == 401


def test_read_scope_can_read_but_not_run(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    fake_azure_devops.add_pat("reader", scopes=["vso.build"])
    assert call(fake_azure_devops, "GET", runs_path(pipeline_id), pat="reader").status_code == 200
    answer = run(fake_azure_devops, pipeline_id, pat="reader")
    assert answer.status_code == 403
    assert "vso.build_execute" in error(answer)
    fake_azure_devops.add_pat("other", scopes=["app_token"])
    assert run(fake_azure_devops, pipeline_id, pat="other").status_code == 200


def test_rate_limit_answers_429_with_retry_after(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    fake_azure_devops.set_rate_limit(1, window_seconds=30)
    assert call(fake_azure_devops, "GET", runs_path(pipeline_id)).status_code == 200
    answer = run(fake_azure_devops, pipeline_id)
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= 30
    assert answer.headers["X-RateLimit-Remaining"] == "0"
    assert {"X-RateLimit-Resource", "X-RateLimit-Delay", "X-RateLimit-Limit", "X-RateLimit-Reset"} <= set(
        answer.headers
    )
    assert fake_azure_devops.runs == []


# -- api-version -----------------------------------------------------------------------------------------------
def test_api_version_is_required(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    answer = run(fake_azure_devops, pipeline_id, version=None)
    assert answer.status_code == 400
    assert error(answer).startswith('No api-version was supplied for the "POST" request.')
    assert answer.json()["typeKey"] == "VssVersionNotSpecifiedException"


@pytest.mark.parametrize(
    ("version", "accepted"),
    [("7.1", True), ("7.1-preview.1", True), ("6.0-preview", True), ("7.2", False), ("5.1", False), ("x", False)],
)
def test_api_version_range(fake_azure_devops: FakeAzureDevOps, version: str, accepted: bool) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    answer = call(fake_azure_devops, "GET", runs_path(pipeline_id), version=version)
    assert (answer.status_code == 200) is accepted, answer.text
    if not accepted:
        assert answer.status_code == 400 and error(answer)


def test_api_version_in_the_accept_header(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    answer = call(
        fake_azure_devops,
        "GET",
        runs_path(pipeline_id),
        version=None,
        headers={"Accept": "application/json;api-version=7.1-preview.1"},
    )
    assert answer.status_code == 200


# -- lookups ---------------------------------------------------------------------------------------------------
def test_unknown_project_pipeline_and_run_are_404_in_azure_error_shape(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    answer = call(fake_azure_devops, "GET", f"Nope/_apis/pipelines/{pipeline_id}")
    assert answer.status_code == 404
    assert error(answer).startswith("TF200016: The following project does not exist: Nope.")
    answer = call(fake_azure_devops, "GET", f"{PROJECT}/_apis/pipelines/999")
    assert answer.status_code == 404 and "999" in error(answer)
    answer = call(fake_azure_devops, "GET", runs_path(pipeline_id) + "/424242")
    assert answer.status_code == 404 and "424242" in error(answer)


def test_project_by_name_case_insensitive_or_id(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    project_id = fake_azure_devops.add_project(PROJECT).id
    for project in ("platform team", project_id):
        assert call(fake_azure_devops, "GET", f"{project}/_apis/pipelines/{pipeline_id}").status_code == 200


# -- the Run Pipeline body -----------------------------------------------------------------------------------------
def test_body_is_required_and_json(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    answer = call(fake_azure_devops, "POST", runs_path(pipeline_id), headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert error(answer) == "Value cannot be null.\r\nParameter name: runParameters"
    answer = call(fake_azure_devops, "POST", runs_path(pipeline_id), data=b"{}", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415 and "text/plain" in error(answer)


@pytest.mark.parametrize(
    "body",
    [
        {"templateParameters": {"correlation_id": 5}},
        {"templateParameters": ["correlation_id"]},
        {"templateParameters": {"correlation_id": "c"}, "variables": {"x": "y"}},
        {"templateParameters": {"correlation_id": "c"}, "stagesToSkip": "build"},
        {"templateParameters": {"correlation_id": "c"}, "previewRun": "yes"},
        {"templateParameters": {"correlation_id": "c"}, "resources": {"repositories": {"self": {"refName": 1}}}},
    ],
)
def test_bodies_the_schema_rejects(fake_azure_devops: FakeAzureDevOps, body: dict[str, Any]) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    answer = run(fake_azure_devops, pipeline_id, body)
    assert answer.status_code == 400, answer.text
    assert error(answer)
    assert fake_azure_devops.runs == []


def test_parameter_problems_are_reported_together(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    body = {"templateParameters": {"surprise": "1", "environment": "staging", "dry_run": "maybe", "replicas": "many"}}
    answer = run(fake_azure_devops, pipeline_id, body)
    assert answer.status_code == 400
    assert answer.json()["typeKey"] == "PipelineValidationException"
    assert error(answer).split("\n") == [
        "Unexpected parameter 'surprise'",
        "A value for the 'correlation_id' parameter must be provided.",
        "The 'environment' parameter value 'staging' is not a valid value.",
        "The 'dry_run' parameter value 'maybe' is not a valid Boolean.",
        "The 'replicas' parameter value 'many' is not a valid Number.",
    ]


def test_parameters_are_typed_with_defaults(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    body = {"templateParameters": {"correlation_id": "c", "dry_run": "True", "replicas": "3", "settings": '{"a": 1}'}}
    answer = run(fake_azure_devops, pipeline_id, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["templateParameters"] == body["templateParameters"]
    started = fake_azure_devops.runs[-1]
    assert started.parameters == {
        "correlation_id": "c",
        "environment": "dev",
        "dry_run": True,
        "replicas": 3,
        "settings": {"a": 1},
    }


@pytest.mark.parametrize(("ref", "resolved"), [("refs/heads/dev", "refs/heads/dev"), ("dev", "refs/heads/dev")])
def test_ref_name_resolves(fake_azure_devops: FakeAzureDevOps, ref: str, resolved: str) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    body = {"templateParameters": {"correlation_id": "c"}, "resources": {"repositories": {"self": {"refName": ref}}}}
    answer = run(fake_azure_devops, pipeline_id, body)
    assert answer.json()["resources"]["repositories"]["self"]["refName"] == resolved


def test_unknown_ref_is_refused(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    body = {
        "templateParameters": {"correlation_id": "c"},
        "resources": {"repositories": {"self": {"refName": "refs/heads/nope"}}},
    }
    answer = run(fake_azure_devops, pipeline_id, body)
    assert answer.status_code == 400
    assert "refs/heads/nope" in error(answer)


def test_queue_time_variables_must_be_settable(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops, settable_variables=["region"])
    ok = {"templateParameters": {"correlation_id": "c"}, "variables": {"region": {"value": "eu"}}}
    assert run(fake_azure_devops, pipeline_id, ok).status_code == 200
    refused = {"templateParameters": {"correlation_id": "c"}, "variables": {"other": {"value": "x"}}}
    answer = run(fake_azure_devops, pipeline_id, refused)
    assert answer.status_code == 400 and "other" in error(answer)


def test_stages_to_skip_must_exist_and_preview_creates_no_run(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops, stages=["plan", "apply"])
    body = {"templateParameters": {"correlation_id": "c"}, "stagesToSkip": ["deploy"]}
    assert run(fake_azure_devops, pipeline_id, body).status_code == 400
    preview = run(fake_azure_devops, pipeline_id, {"templateParameters": {"correlation_id": "c"}, "previewRun": True})
    assert preview.status_code == 200 and "finalYaml" in preview.json()
    assert fake_azure_devops.runs == []


# -- runs --------------------------------------------------------------------------------------------------------
def test_runs_complete_after_their_duration_and_list_newest_first(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops, duration=0.2, result="failed")
    first = run(fake_azure_devops, pipeline_id, {"templateParameters": {"correlation_id": "a"}}).json()
    second = run(fake_azure_devops, pipeline_id, {"templateParameters": {"correlation_id": "b"}}).json()
    listed = call(fake_azure_devops, "GET", runs_path(pipeline_id)).json()
    assert listed["count"] == 2
    assert [r["name"] for r in listed["value"]] == ["deploy b", "deploy a"]
    wait_completed(fake_azure_devops, second["id"])
    answer = call(fake_azure_devops, "GET", f"{runs_path(pipeline_id)}/{first['id']}").json()
    assert answer["state"] == "completed" and answer["result"] == "failed" and "finishedDate" in answer


def test_default_name_counts_revisions(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops, name_template="$(Date:yyyyMMdd).$(Rev:r)")
    names = [run(fake_azure_devops, pipeline_id).json()["name"] for _ in range(2)]
    assert names[0].endswith(".1") and names[1].endswith(".2") and names[0][:8].isdigit()


def test_control_plane_completes_a_run(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops, duration=None)
    run_id = run(fake_azure_devops, pipeline_id).json()["id"]
    url = f"{fake_azure_devops.url}/_fake/runs/{run_id}/complete"
    headers = fake_azure_devops.control_headers()
    answer = requests.post(url, json={"result": "canceled"}, headers=headers, timeout=10)
    assert answer.status_code == 200 and answer.json()["result"] == "canceled"
    assert requests.post(url, json={}, headers=headers, timeout=10).status_code == 409


def test_a_command_runs_with_an_agents_environment(fake_azure_devops: FakeAzureDevOps) -> None:
    script = (
        "import json, os, sys\n"
        "keys = ['TF_BUILD', 'AGENT_TEMPDIRECTORY', 'BUILD_BUILDID', 'BUILD_BUILDNUMBER', 'BUILD_SOURCEBRANCH',\n"
        "        'SYSTEM_TEAMFOUNDATIONCOLLECTIONURI', 'SYSTEM_TEAMPROJECT', 'CORRELATION_ID', 'DRY_RUN',\n"
        "        'MESHSTACK_SECRET', 'UNMAPPED', 'SECRET_VAR', 'REGION_NAME']\n"
        "print(json.dumps({k: os.environ.get(k) for k in keys}))\n"
        "print('the secret is ' + os.environ['MESHSTACK_SECRET'])\n"
        "print('##vso[task.setsecret]masked-later')\n"
        "print('value masked-later here')\n"
        "print('##vso[task.setvariable variable=result;isOutput=true]ok')\n"
        "sys.exit(3)\n"
    )
    final = "import os; print('final sees ' + os.environ['AGENT_JOBSTATUS'])"
    pipeline_id = setup_pipeline(
        fake_azure_devops,
        command=[sys.executable, "-c", script],
        final_command=[sys.executable, "-c", final],
        secrets={"meshstack.secret": "s3cr3t-value", "unmapped": "not-for-you"},
        secret_env={"MESHSTACK_SECRET": "meshstack.secret"},
        settable_variables=["region.name", "secret.var"],
    )
    body = {
        "templateParameters": {"correlation_id": "c-9", "dry_run": "true"},
        "variables": {"region.name": {"value": "eu"}, "secret.var": {"value": "hidden", "isSecret": True}},
    }
    run_id = run(fake_azure_devops, pipeline_id, body).json()["id"]
    view = wait_completed(fake_azure_devops, run_id)
    assert view["result"] == "failed"
    log = fake_azure_devops.run(run_id).log
    env = json.loads(log.splitlines()[0])
    assert env["TF_BUILD"] == "True"
    assert env["BUILD_BUILDID"] == str(run_id) and env["BUILD_BUILDNUMBER"] == "deploy c-9"
    assert env["BUILD_SOURCEBRANCH"] == "refs/heads/main"
    assert env["SYSTEM_TEAMFOUNDATIONCOLLECTIONURI"] == fake_azure_devops.org_url + "/"
    assert env["SYSTEM_TEAMPROJECT"] == PROJECT
    assert env["CORRELATION_ID"] == "c-9" and env["DRY_RUN"] == "True" and env["REGION_NAME"] == "eu"
    assert env["MESHSTACK_SECRET"] == "***"  # mapped, and masked in the log as the agent does
    assert env["UNMAPPED"] is None and env["SECRET_VAR"] is None
    assert "s3cr3t-value" not in log and "masked-later" not in log and "value *** here" in log
    assert "final sees Failed" in log
    assert view["outputs"] == {"result": "ok"}
