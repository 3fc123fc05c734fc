"""The fake GitLab's REST v4 rules over real HTTP: credentials and scopes, visibility, refs, ``spec:inputs``,
variables, the trigger endpoint, pagination and filters, rate limits and faults, pipelines running a command with
GitLab CI's job environment. Every answer is held against GitLab's description (``gitlab_support``)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from meshpipe.fakes.gitlab import FakeGitLab
from tests.fakes.gitlab_support import ENCODED, PROJECT, READER, TOKEN, api, check_every_answer, setup_project

CREATE = f"/projects/{ENCODED}/pipeline"
TRIGGER = f"/projects/{ENCODED}/trigger/pipeline"
LIST = f"/projects/{ENCODED}/pipelines"


@pytest.fixture
def fake(fake_gitlab: FakeGitLab) -> Iterator[FakeGitLab]:
    setup_project(fake_gitlab)
    yield fake_gitlab
    check_every_answer(fake_gitlab)


def create(fake: FakeGitLab, token: str | None = TOKEN, **body: Any) -> requests.Response:
    return api(fake, "POST", CREATE, token, json={"ref": "main", **body})


def wait_finished(fake: FakeGitLab, pipeline_id: int, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data: dict[str, Any] = api(fake, "GET", f"/projects/{ENCODED}/pipelines/{pipeline_id}").json()
        if data["status"] in ("success", "failed", "canceled"):
            return data
        assert time.monotonic() < deadline, f"pipeline {pipeline_id} still {data['status']}"
        time.sleep(0.05)


# -- credentials, scopes, visibility -----------------------------------------------------------------------------
def test_project_by_path_or_id_and_404_when_invisible(fake: FakeGitLab) -> None:
    by_path = api(fake, "GET", f"/projects/{ENCODED}").json()
    assert by_path["path_with_namespace"] == PROJECT
    assert api(fake, "GET", f"/projects/{by_path['id']}").json()["id"] == by_path["id"]
    fake.add_project("acme/secret")
    assert api(fake, "GET", "/projects/acme%2Fsecret").json() == {"message": "404 Project Not Found"}
    assert api(fake, "GET", "/projects/acme%2Fsecret", token=None).status_code == 404
    fake.add_project("acme/open", visibility="public")
    assert api(fake, "GET", "/projects/acme%2Fopen", token=None).status_code == 200


def test_credentials_bearer_private_token_unknown_expired_revoked(fake: FakeGitLab) -> None:
    bearer = api(fake, "GET", f"/projects/{ENCODED}", token=None, headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200
    unknown = api(fake, "GET", f"/projects/{ENCODED}", token="glpat-nope")
    assert (unknown.status_code, unknown.json()) == (401, {"message": "401 Unauthorized"})
    fake.add_access_token("glpat-old", projects=[PROJECT], expires_in=-1)
    expired = api(fake, "GET", f"/projects/{ENCODED}", token="glpat-old")
    assert (expired.status_code, expired.json()) == (
        401,
        {"error": "invalid_token", "error_description": "Token has expired."},
    )
    fake.add_access_token("glpat-gone", projects=[PROJECT])
    fake.revoke_access_token("glpat-gone")
    assert api(fake, "GET", f"/projects/{ENCODED}", token="glpat-gone").json()["error"] == "invalid_token"
    trigger = fake.add_trigger_token(PROJECT)
    assert api(fake, "GET", f"/projects/{ENCODED}", token=trigger).status_code == 401  # not an API token
    with pytest.raises(ValueError, match="not a trigger token"):
        fake.add_access_token(trigger)
    assert create(fake, token=None).status_code == 401  # every write needs a token


def test_read_api_cannot_create_and_reporter_cannot_either(fake: FakeGitLab) -> None:
    refused = create(fake, token=READER)
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "insufficient_scope",
        "error_description": "The request requires higher privileges than provided by the access token.",
        "scope": "api",
    }
    assert api(fake, "GET", LIST, token=READER).status_code == 200
    fake.add_access_token("glpat-reporter-api", projects=[PROJECT], scopes=["api"], role="reporter")
    assert create(fake, token="glpat-reporter-api").json() == {"message": "403 Forbidden"}
    assert fake.pipelines_for(PROJECT) == []


def test_a_token_for_another_project_sees_404(fake: FakeGitLab) -> None:
    fake.add_project("acme/other")
    fake.add_access_token("glpat-other", projects=["acme/other"])
    answer = create(fake, token="glpat-other")
    assert (answer.status_code, answer.json()) == (404, {"message": "404 Project Not Found"})


# -- create: parameters, ref, inputs, variables -------------------------------------------------------------------
def test_create_with_inputs_renders_the_name_and_answers_the_pipeline(fake: FakeGitLab) -> None:
    answer = create(fake, inputs={"correlation_id": "mp-1", "size": "2", "flag": "true", "tags": ["a", "b"]})
    assert answer.status_code == 201
    pipeline = answer.json()
    assert pipeline["name"] == "meshpipe mp-1 on main"
    assert pipeline["web_url"] == f"{fake.url}/{PROJECT}/-/pipelines/{pipeline['id']}"
    assert pipeline["source"] == "api" and pipeline["ref"] == "main" and pipeline["tag"] is False
    stored = fake.pipelines_for(PROJECT)[0]
    assert stored.inputs == {
        "correlation_id": "mp-1",
        "note": "",
        "size": 2,
        "env": "dev",
        "flag": True,
        "tags": ["a", "b"],
        "slug": "a",
    }
    assert wait_finished(fake, pipeline["id"])["status"] == "success"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "`correlation_id` input: required value has not been provided"),
        ({"correlation_id": "x", "bogus": "1"}, "unknown input arguments: bogus"),
        (
            {"correlation_id": "x", "size": "9"},
            "`size` input: `9` cannot be used because it is not in the list of the allowed options",
        ),
        ({"correlation_id": "x", "size": "big"}, "`size` input: provided value is not a number"),
        (
            {"correlation_id": "x", "env": "qa"},
            "`env` input: `qa` cannot be used because it is not in the list of allowed options",
        ),
        ({"correlation_id": "x", "flag": "yes"}, "`flag` input: provided value is not a boolean"),
        ({"correlation_id": "x", "tags": "a"}, "`tags` input: provided value is not an array"),
        ({"correlation_id": "x", "slug": "A1"}, "`slug` input: provided value does not match required RegEx pattern"),
        (
            {"a": 1, "b": 2, "c": 3, "d": 4},
            "unknown input arguments: a, b, c, d, `correlation_id` input: required value has not been provided",
        ),
    ],
)
def test_inputs_are_validated_with_gitlabs_messages(fake: FakeGitLab, inputs: dict[str, Any], message: str) -> None:
    answer = create(fake, inputs=inputs)
    assert (answer.status_code, answer.json()) == (400, {"message": {"base": [message]}})
    assert fake.pipelines_for(PROJECT) == []


def test_input_limits_20_inputs_and_1_kb_strings(fake: FakeGitLab) -> None:
    many = create(fake, inputs={"correlation_id": "x", **{f"extra{i}": "1" for i in range(20)}})
    assert many.json()["message"]["base"][0].startswith("too many inputs: 21 given, at most 20 per pipeline")
    long = create(fake, inputs={"correlation_id": "x" * 1025})
    assert long.json() == {"message": {"base": ["`correlation_id` input: the value exceeds 1024 bytes"]}}
    assert create(fake, inputs={"correlation_id": "x" * 1024}).status_code == 201


def test_a_spec_header_the_fake_cannot_read_is_refused_up_front(fake: FakeGitLab) -> None:
    with pytest.raises(ValueError, match="unknown type 'integer'"):
        fake.add_project("acme/x", ci_inputs={"n": {"type": "integer"}})
    with pytest.raises(ValueError, match="does not evaluate inputs rules"):
        fake.add_project("acme/x", ci_inputs={"n": {"rules": [{"if": "x", "default": "1"}]}})
    with pytest.raises(ValueError, match="must be 'group"):
        fake.add_project("no-group")


def test_inputs_to_a_configuration_without_a_spec_header_are_unknown(fake: FakeGitLab) -> None:
    setup_project(fake, ci_inputs=None, name_template=None)
    answer = create(fake, inputs={"x": "1"})
    assert answer.json() == {"message": {"base": ["unknown input arguments"]}}


def test_ref_must_exist_branch_or_tag(fake: FakeGitLab) -> None:
    missing = api(fake, "POST", CREATE, json={"inputs": {}})
    assert (missing.status_code, missing.json()) == (400, {"error": "ref is missing"})
    assert create(fake, ref="nope").json() == {"message": {"base": ["Reference not found"]}}
    tagged = create(fake, ref="v1", inputs={"correlation_id": "t"})
    assert tagged.status_code == 201 and tagged.json()["tag"] is True


def test_variables_keys_types_and_the_projects_variable_setting(fake: FakeGitLab) -> None:
    setup_project(fake, ci_inputs=None, name_template="run $MESHPIPE_CORRELATION")
    hostile = "a'b\"c $(x) `y` \\ \n ünï"
    ok = create(fake, variables=[{"key": "MESHPIPE_CORRELATION", "value": "mp-2"}, {"key": "NOTE", "value": hostile}])
    assert ok.status_code == 201 and ok.json()["name"] == "run mp-2"
    shown = api(fake, "GET", f"/projects/{ENCODED}/pipelines/{ok.json()['id']}/variables").json()
    assert {v["key"]: v["value"] for v in shown} == {"MESHPIPE_CORRELATION": "mp-2", "NOTE": hostile}
    assert all(v["variable_type"] == "env_var" for v in shown)
    bad_type = create(fake, variables=[{"key": "A", "value": "1", "variable_type": "secret"}])
    assert bad_type.json() == {"error": "variables[0][variable_type] does not have a valid value"}
    assert create(fake, variables={"A": "1"}).json() == {"error": "variables is invalid"}
    bad_key = create(fake, variables=[{"key": "A-B", "value": "1"}])
    persist = "Failed to persist the pipeline: Validation failed: Variables key"
    assert bad_key.json() == {"message": {"base": [f"{persist} can contain only letters, digits and '_'."]}}
    long_key = create(fake, variables=[{"key": "K" * 256, "value": "1"}])
    assert "is too long (maximum is 255 characters)" in long_key.json()["message"]["base"][0]
    setup_project(fake, ci_inputs=None, allow_pipeline_variables=False)
    refused = create(fake, variables=[{"key": "A", "value": "1"}])
    assert refused.json() == {"message": {"base": ["Insufficient permissions to set pipeline variables"]}}
    assert len(fake.pipelines_for(PROJECT)) == 1
    assert (
        api(fake, "GET", f"/projects/{ENCODED}/pipelines/{ok.json()['id']}/variables", token=READER).status_code == 403
    )


def test_media_types_form_bodies_and_unsupported_ones(fake: FakeGitLab) -> None:
    form = api(fake, "POST", CREATE, data={"ref": "main", "inputs[correlation_id]": "form-1"})
    assert form.status_code == 201 and form.json()["name"] == "meshpipe form-1 on main"
    plain = api(fake, "POST", CREATE, data=b'{"ref": "main"}', headers={"Content-Type": "text/plain"})
    assert (plain.status_code, plain.json()) == (
        415,
        {"error": "The provided content-type 'text/plain' is not supported."},
    )


# -- trigger ------------------------------------------------------------------------------------------------------
def test_trigger_with_token_inputs_and_variables(fake: FakeGitLab) -> None:
    token = fake.add_trigger_token(PROJECT)
    assert token.startswith("glptt-") and len(token) == 46
    answer = api(
        fake, "POST", TRIGGER, token=None, json={"ref": "main", "token": token, "inputs": {"correlation_id": "t-1"}}
    )
    assert answer.status_code == 201 and answer.json()["source"] == "trigger"
    assert answer.json()["name"] == "meshpipe t-1 on main"
    setup_project(fake, ci_inputs=None, name_template="$CID")
    variables = api(fake, "POST", TRIGGER, token=None, data={"ref": "main", "token": token, "variables[CID]": "v-1"})
    assert variables.status_code == 201 and variables.json()["name"] == "v-1"
    cid, payload = fake.pipelines_for(PROJECT)[-1].variables
    assert cid == {"key": "CID", "value": "v-1", "variable_type": "env_var"}
    # PipelineTriggerService keeps the request's parameters but the token as a file variable, TRIGGER_PAYLOAD.
    assert payload["key"] == "TRIGGER_PAYLOAD" and payload["variable_type"] == "file"
    assert json.loads(payload["value"]) == {"ref": "main", "variables": {"CID": "v-1"}, "id": PROJECT}
    assert token not in payload["value"]
    in_path = api(fake, "POST", f"/projects/{ENCODED}/ref/v1/trigger/pipeline", token=None, data={"token": token})
    assert in_path.status_code == 201 and in_path.json()["ref"] == "v1" and in_path.json()["tag"] is True
    wrong_method = api(fake, "GET", TRIGGER)
    assert (wrong_method.status_code, wrong_method.json()) == (405, {"error": "405 Not Allowed"})


def test_trigger_refusals(fake: FakeGitLab) -> None:
    token = fake.add_trigger_token(PROJECT)
    fake.add_project("acme/other")
    other = fake.add_trigger_token("acme/other")

    def trigger(body: dict[str, Any], project: str = ENCODED) -> requests.Response:
        return api(fake, "POST", f"/projects/{project}/trigger/pipeline", token=None, json=body)

    assert trigger({}).json() == {"error": "ref is missing, token is missing"}
    assert trigger({"ref": "", "token": token}).json() == {"error": "ref is empty"}
    assert trigger({"ref": "main", "token": "glptt-" + "0" * 40}).json() == {"message": "404 Not Found"}
    assert trigger({"ref": "main", "token": other}).status_code == 404  # another project's token
    assert trigger({"ref": "main", "token": token}, project="acme%2Fnone").status_code == 404
    assert trigger({"ref": "nope", "token": token}).json() == {"message": {"base": ["Reference not found"]}}
    numbers = trigger({"ref": "main", "token": token, "variables": {"A": 1}})
    assert numbers.json() == {"message": "variables needs to be a map of key-valued strings"}
    assert fake.pipelines_for(PROJECT) == []


def test_trigger_with_bad_inputs_keeps_a_failed_pipeline_with_yaml_errors(fake: FakeGitLab) -> None:
    token = fake.add_trigger_token(PROJECT)
    answer = api(fake, "POST", TRIGGER, token=None, json={"ref": "main", "token": token, "inputs": {"x": "1"}})
    assert answer.status_code == 201
    assert answer.json()["status"] == "failed"
    assert answer.json()["yaml_errors"].startswith("unknown input arguments: x")


# -- list, get, cancel ------------------------------------------------------------------------------------------
def test_list_filters_order_and_pagination_headers(fake: FakeGitLab) -> None:
    ids = [create(fake, inputs={"correlation_id": f"c{i}"}).json()["id"] for i in range(5)]
    page = api(fake, "GET", LIST, params={"per_page": 2, "page": 2})
    assert [p["id"] for p in page.json()] == [ids[2], ids[1]]
    headers = page.headers
    assert (headers["X-Total"], headers["X-Total-Pages"], headers["X-Page"], headers["X-Next-Page"]) == (
        "5",
        "3",
        "2",
        "3",
    )
    assert headers["X-Prev-Page"] == "1" and 'rel="next"' in headers["Link"] and "page=3" in headers["Link"]
    last = api(fake, "GET", LIST, params={"per_page": 2, "page": 3})
    assert last.headers["X-Next-Page"] == "" and 'rel="next"' not in last.headers["Link"]
    ascending = api(fake, "GET", LIST, params={"sort": "asc", "per_page": 100}).json()
    assert [p["id"] for p in ascending] == ids
    by_name = api(fake, "GET", LIST, params={"name": "meshpipe c3 on main"}).json()
    assert [p["id"] for p in by_name] == [ids[3]]
    since = api(fake, "GET", LIST, params={"updated_after": "2999-01-01T00:00:00Z"}).json()
    assert since == []
    assert api(fake, "GET", LIST, params={"ref": "v1"}).json() == []
    assert api(fake, "GET", LIST, params={"source": "trigger"}).json() == []
    assert api(fake, "GET", LIST, params={"scope": "tags"}).json() == []
    assert len(api(fake, "GET", LIST, params={"scope": "branches", "yaml_errors": "false"}).json()) == 5
    assert api(fake, "GET", LIST, params={"yaml_errors": "true"}).json() == []
    assert api(fake, "GET", LIST, params={"created_before": "2000-01-01T00:00:00Z"}).json() == []
    assert api(fake, "GET", LIST, params={"username": "project_bot", "per_page": 1}).headers["X-Total"] == "5"
    assert api(fake, "GET", LIST, params={"scope": "all"}).json() == {"error": "scope does not have a valid value"}
    assert api(fake, "GET", LIST, params={"status": "bogus"}).json() == {"error": "status does not have a valid value"}
    assert api(fake, "GET", LIST, params={"updated_after": "yesterday"}).json() == {"error": "updated_after is invalid"}
    assert len(api(fake, "GET", LIST, params={"per_page": 500}).json()) == 5  # capped at 100


def test_statuses_move_over_the_duration_and_cancel(fake: FakeGitLab) -> None:
    setup_project(fake, duration=None)
    pipeline = create(fake, inputs={"correlation_id": "slow"}).json()
    assert pipeline["status"] == "pending"
    canceled = api(fake, "POST", f"/projects/{ENCODED}/pipelines/{pipeline['id']}/cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    again = api(fake, "POST", f"/projects/{ENCODED}/pipelines/{pipeline['id']}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "canceled"
    assert api(fake, "GET", f"/projects/{ENCODED}/pipelines/999").json() == {"message": "404 Not found"}
    setup_project(fake, conclusion="failed", duration=0.2)
    failing = create(fake, inputs={"correlation_id": "f"}).json()
    assert failing["status"] == "created"
    done = wait_finished(fake, failing["id"])
    assert done["status"] == "failed" and done["finished_at"] is not None


def test_a_command_runs_with_gitlab_cis_job_environment(fake: FakeGitLab) -> None:
    script = (
        "import os, sys; keys = ['GITLAB_CI', 'CI', 'CI_PIPELINE_ID', 'CI_PIPELINE_URL', 'CI_PROJECT_PATH', "
        "'CI_COMMIT_REF_NAME', 'CI_API_V4_URL', 'MESHSTACK_RUN_URL', 'NOTE', 'HOST_SECRET']; "
        "print('|'.join(k + '=' + os.environ.get(k, '-') for k in keys)); sys.exit(3)"
    )
    after = "import os; print('after:' + os.environ['CI_JOB_STATUS'])"
    setup_project(
        fake,
        command=[sys.executable, "-c", script],
        after_command=[sys.executable, "-c", after],
        input_env={"note": "NOTE", "correlation_id": "MESHSTACK_RUN_URL"},
    )
    import os

    os.environ["HOST_SECRET"] = "leak"
    try:
        pipeline = create(fake, inputs={"correlation_id": "https://run", "note": "n 'q'"}).json()
        assert pipeline["status"] == "pending"  # answered before the job starts
        done = wait_finished(fake, pipeline["id"])
    finally:
        del os.environ["HOST_SECRET"]
    assert done["status"] == "failed"
    log = fake.pipeline(pipeline["id"]).log
    assert (
        f"GITLAB_CI=true|CI=true|CI_PIPELINE_ID={pipeline['id']}|CI_PIPELINE_URL={pipeline['web_url']}|"
        f"CI_PROJECT_PATH={PROJECT}|CI_COMMIT_REF_NAME=main|CI_API_V4_URL={fake.api_url}|"
        "MESHSTACK_RUN_URL=https://run|NOTE=n 'q'|HOST_SECRET=-"
    ) in log
    assert "after:failed" in log


def test_cancel_stops_the_command_and_the_after_script_sees_canceled(fake: FakeGitLab) -> None:
    import os

    started = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"gl-started-{os.getpid()}")
    script = f"import time, pathlib; pathlib.Path({started!r}).write_text('1'); time.sleep(30)"
    after = "import os; print('after:' + os.environ['CI_JOB_STATUS'])"
    setup_project(fake, command=[sys.executable, "-c", script], after_command=[sys.executable, "-c", after])
    pipeline = create(fake, inputs={"correlation_id": "cancel"}).json()
    deadline = time.monotonic() + 20
    while not os.path.exists(started):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.unlink(started)
    assert api(fake, "GET", f"/projects/{ENCODED}/pipelines/{pipeline['id']}").json()["status"] == "running"
    canceled = api(fake, "POST", f"/projects/{ENCODED}/pipelines/{pipeline['id']}/cancel").json()
    assert canceled["status"] == "canceled"
    while "after:" not in fake.pipeline(pipeline["id"]).log:
        assert time.monotonic() < deadline, fake.pipeline(pipeline["id"]).log
        time.sleep(0.05)
    assert "after:canceled" in fake.pipeline(pipeline["id"]).log


def test_a_triggered_job_reads_trigger_payload_from_a_file(fake: FakeGitLab) -> None:
    script = "import os; print('payload:' + open(os.environ['TRIGGER_PAYLOAD']).read())"
    setup_project(fake, ci_inputs=None, name_template=None, command=[sys.executable, "-c", script])
    token = fake.add_trigger_token(PROJECT)
    answer = api(fake, "POST", TRIGGER, token=None, json={"ref": "main", "token": token, "variables": {"A": "1"}})
    assert answer.status_code == 201
    wait_finished(fake, answer.json()["id"])
    log = fake.pipeline(answer.json()["id"]).log
    assert 'payload:{"ref": "main", "variables": {"A": "1"}' in log and token not in log


def test_pipeline_page_shows_status_without_secrets(fake: FakeGitLab) -> None:
    pipeline = create(fake, inputs={"correlation_id": "page"}).json()
    page = requests.get(pipeline["web_url"], timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "meshpipe page on main" in page.text


# -- rate limit, faults, control plane ----------------------------------------------------------------------------
def test_rate_limit_answers_429_with_gitlabs_headers(fake: FakeGitLab) -> None:
    fake.set_rate_limit(2, window_seconds=30)
    assert api(fake, "GET", f"/projects/{ENCODED}").status_code == 200
    assert api(fake, "GET", f"/projects/{ENCODED}").status_code == 200
    limited = api(fake, "GET", f"/projects/{ENCODED}")
    assert limited.status_code == 429 and limited.text == "Retry later\n"
    assert limited.headers["Content-Type"].startswith("text/plain")
    assert 1 <= int(limited.headers["Retry-After"]) <= 30
    for header in (
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "RateLimit-ResetTime",
        "RateLimit-Name",
    ):
        assert header in limited.headers
    assert limited.headers["RateLimit-Remaining"] == "0" and limited.headers["RateLimit-Limit"] == "2"
    assert api(fake, "GET", f"/projects/{ENCODED}", token=READER).status_code == 200  # per credential


def test_a_lost_answer_still_created_the_pipeline(fake: FakeGitLab) -> None:
    fake.add_fault(method="POST", path=r"/pipeline$", drop=True, after=True)
    with pytest.raises(requests.ConnectionError):
        create(fake, inputs={"correlation_id": "lost"})
    assert [p.name for p in fake.pipelines_for(PROJECT)] == ["meshpipe lost on main"]
    fake.add_fault(status=503, method="POST", retry_after=1)
    unavailable = create(fake, inputs={"correlation_id": "503"})
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "1"
    assert len(fake.pipelines_for(PROJECT)) == 1


def test_control_plane(fake: FakeGitLab) -> None:
    headers = fake.control_headers()
    base = fake.url + "/_fake"
    made = requests.post(base + "/projects", json={"path": "acme/ctl", "duration": None}, headers=headers, timeout=10)
    assert made.status_code == 201
    requests.post(
        base + "/access-tokens", json={"token": "glpat-ctl", "projects": ["acme/ctl"]}, headers=headers, timeout=10
    )
    trigger = requests.post(base + "/trigger-tokens", json={"project": "acme/ctl"}, headers=headers, timeout=10).json()
    assert trigger["token"].startswith("glptt-")
    pipeline = api(fake, "POST", "/projects/acme%2Fctl/pipeline", token="glpat-ctl", json={"ref": "main"}).json()
    done = requests.post(
        f"{base}/pipelines/{pipeline['id']}/complete", json={"status": "failed"}, headers=headers, timeout=10
    )
    assert done.json()["status"] == "failed"
    again = requests.post(f"{base}/pipelines/{pipeline['id']}/complete", json={}, headers=headers, timeout=10)
    assert again.status_code == 409
    assert requests.get(base + "/pipelines", headers=headers, timeout=10).json()[0]["id"] == pipeline["id"]
    state = requests.get(base + "/state", headers=headers, timeout=10).json()
    assert all(t["token"] != "glpat-ctl" for t in state["access_tokens"])  # tokens shortened in the state
    assert requests.get(base + "/state", timeout=10).status_code == 403
    assert requests.post(base + "/projects", json={"path": "x"}, headers=headers, timeout=10).status_code == 400
