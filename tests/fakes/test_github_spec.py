"""Fake GitHub against GitHub's official OpenAPI descriptions and a real client (PyGithub).

Responses validate against the response schemas, every request body a real client sends validates against the
request schema, and the fake rejects the bodies the schema rejects. The descriptions are the fixture copies in
``tests/fixtures/specs`` (OpenAPI 3.0: ``nullable`` is translated to JSON Schema here).
"""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

import github
import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, Github

from meshpipe.fakes.github import FakeGitHub
from tests.fakes.github_responses import FILES, SPECS, check_every_answer, to_json_schema
from tests.fakes.test_github_app import APP_ID, INSTALLATION_ID, make_jwt, public_pem
from tests.fakes.test_github_dispatch import DISPATCH, TOKEN, call

DISPATCH_PATH = "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"


@cache
def spec(flavour: str) -> dict[str, Any]:
    return json.loads((SPECS / FILES[flavour][0]).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def response_schema(flavour: str, path: str, method: str, status: str) -> Any:
    content = spec(flavour)["paths"][path][method]["responses"][status]["content"]["application/json"]
    return to_json_schema(content["schema"])


def request_schema(flavour: str, path: str) -> Any:
    return to_json_schema(spec(flavour)["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"])


def validate(instance: Any, schema: Any) -> None:
    jsonschema.Draft7Validator(schema).validate(instance)


def is_valid(instance: Any, schema: Any) -> bool:
    return bool(jsonschema.Draft7Validator(schema).is_valid(instance))


def setup(fake: FakeGitHub) -> None:
    fake.add_token(TOKEN)
    fake.add_repository("acme/infra", branches=("main",))
    fake.add_workflow(
        "acme/infra",
        "apply.yml",
        inputs={"correlation_id": {"type": "string"}, "flag": {"type": "boolean", "default": "false"}},
        run_name="apply ${{ inputs.correlation_id }}",
        duration=0.2,
    )


@pytest.fixture(params=["github", "ghes"])
def fake(request: pytest.FixtureRequest) -> FakeGitHub:
    return request.getfixturevalue(f"fake_{request.param}")  # type: ignore[no-any-return]


# -- responses ----------------------------------------------------------------------------------------------------
def test_run_workflow_jobs_and_list_responses_validate_against_the_spec(fake: FakeGitHub) -> None:
    setup(fake)
    assert call(fake, "POST", DISPATCH, json={"ref": "main", "inputs": {"correlation_id": "x"}}).status_code == 204
    run_id = fake.runs[0].id
    for _ in range(2):  # once while queued / in progress, once completed
        run = call(fake, "GET", f"/repos/acme/infra/actions/runs/{run_id}").json()
        validate(run, response_schema(fake.flavour, "/repos/{owner}/{repo}/actions/runs/{run_id}", "get", "200"))
        runs = call(fake, "GET", "/repos/acme/infra/actions/workflows/apply.yml/runs").json()
        validate(
            runs,
            response_schema(fake.flavour, "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs", "get", "200"),
        )
        jobs = call(fake, "GET", f"/repos/acme/infra/actions/runs/{run_id}/jobs").json()
        validate(jobs, response_schema(fake.flavour, "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", "get", "200"))
        time.sleep(0.25)
    assert run["status"] == "completed"
    workflow = call(fake, "GET", "/repos/acme/infra/actions/workflows/apply.yml").json()
    validate(
        workflow, response_schema(fake.flavour, "/repos/{owner}/{repo}/actions/workflows/{workflow_id}", "get", "200")
    )


def test_cancel_responses_validate_against_the_spec(fake: FakeGitHub) -> None:
    setup(fake)
    call(fake, "POST", DISPATCH, json={"ref": "main"})
    path = "/repos/{owner}/{repo}/actions/runs/{run_id}/cancel"
    accepted = call(fake, "POST", f"/repos/acme/infra/actions/runs/{fake.runs[0].id}/cancel")
    validate(accepted.json(), response_schema(fake.flavour, path, "post", "202"))
    conflict = call(fake, "POST", f"/repos/acme/infra/actions/runs/{fake.runs[0].id}/cancel")
    assert conflict.status_code == 409
    validate(conflict.json(), response_schema(fake.flavour, path, "post", "409"))


def test_dispatch_200_response_validates_against_the_spec(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    response = call(fake_github, "POST", DISPATCH, json={"ref": "main", "return_run_details": True})
    assert response.status_code == 200
    validate(response.json(), response_schema("github", DISPATCH_PATH, "post", "200"))


def test_ghes_spec_has_no_run_details_response_and_the_fake_answers_204_only(fake_ghes: FakeGitHub) -> None:
    assert set(spec("ghes")["paths"][DISPATCH_PATH]["post"]["responses"]) == {"204"}
    assert "return_run_details" not in request_schema("ghes", DISPATCH_PATH)["properties"]
    setup(fake_ghes)
    assert call(fake_ghes, "POST", DISPATCH, json={"ref": "main"}).status_code == 204


def test_access_token_and_installation_responses_validate_against_the_spec(fake: FakeGitHub) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    setup(fake)
    fake.add_app(APP_ID, INSTALLATION_ID, public_pem(key), repositories=["acme/infra"])
    installation = call(fake, "GET", "/repos/acme/infra/installation", token=make_jwt(key))
    validate(installation.json(), response_schema(fake.flavour, "/repos/{owner}/{repo}/installation", "get", "200"))
    path = "/app/installations/{installation_id}/access_tokens"
    body = {"repositories": ["infra"], "permissions": {"actions": "write"}}
    validate(body, request_schema(fake.flavour, path))
    minted = call(fake, "POST", f"/app/installations/{INSTALLATION_ID}/access_tokens", token=make_jwt(key), json=body)
    assert minted.status_code == 201
    validate(minted.json(), response_schema(fake.flavour, path, "post", "201"))
    rejected = call(fake, "POST", f"/app/installations/{INSTALLATION_ID}/access_tokens", token=make_jwt(key, exp=0))
    validate(rejected.json(), response_schema(fake.flavour, path, "post", "401"))


def test_error_bodies_validate_against_the_basic_error_schema(fake: FakeGitHub) -> None:
    setup(fake)
    response = call(fake, "POST", "/repos/acme/infra/dispatches", json={"event_type": ""})
    assert response.status_code == 422
    validate(response.json(), response_schema(fake.flavour, "/repos/{owner}/{repo}/dispatches", "post", "422"))
    missing = call(fake, "POST", "/repos/acme/nope/dispatches", json={"event_type": "x"})
    validate(missing.json(), response_schema(fake.flavour, "/repos/{owner}/{repo}/dispatches", "post", "404"))


# -- request bodies -----------------------------------------------------------------------------------------------
INVALID_WORKFLOW_DISPATCH = [
    {},
    {"inputs": {}},
    {"ref": 1},
    {"ref": None},
    {"ref": "main", "inputs": "x"},
    {"ref": "main", "inputs": [1]},
    [],
    "main",
]
INVALID_REPOSITORY_DISPATCH = [
    {},
    {"event_type": ""},
    {"event_type": "x" * 101},
    {"event_type": 3},
    {"event_type": "x", "client_payload": "y"},
    {"event_type": "x", "client_payload": {str(i): i for i in range(11)}},
]


@pytest.mark.parametrize("body", INVALID_WORKFLOW_DISPATCH, ids=repr)
def test_fake_rejects_workflow_dispatch_bodies_the_spec_rejects(fake: FakeGitHub, body: Any) -> None:
    assert not is_valid(body, request_schema(fake.flavour, DISPATCH_PATH))
    setup(fake)
    response = call(fake, "POST", DISPATCH, json=body)
    assert 400 <= response.status_code < 500
    assert fake.dispatches == []


def test_fake_rejects_too_many_inputs_exactly_where_the_spec_does(fake: FakeGitHub) -> None:
    limit = request_schema(fake.flavour, DISPATCH_PATH)["properties"]["inputs"]["maxProperties"]
    fake.add_token(TOKEN)
    fake.add_workflow("acme/infra", "apply.yml", inputs={f"i{n}": {"type": "string"} for n in range(limit + 1)})
    for count, accepted in ((limit, True), (limit + 1, False)):
        body = {"ref": "main", "inputs": {f"i{n}": "v" for n in range(count)}}
        assert is_valid(body, request_schema(fake.flavour, DISPATCH_PATH)) is accepted
        assert (call(fake, "POST", DISPATCH, json=body).status_code == 204) is accepted


@pytest.mark.parametrize("body", INVALID_REPOSITORY_DISPATCH, ids=lambda b: repr(b)[:40])
def test_fake_rejects_repository_dispatch_bodies_the_spec_rejects(fake: FakeGitHub, body: Any) -> None:
    assert not is_valid(body, request_schema(fake.flavour, "/repos/{owner}/{repo}/dispatches"))
    setup(fake)
    response = call(fake, "POST", "/repos/acme/infra/dispatches", json=body)
    assert response.status_code == 422
    assert fake.dispatches == []


def test_ghes_spec_rejects_nothing_the_fake_accepts_for_return_run_details(fake_ghes: FakeGitHub) -> None:
    # The GHES 3.19 request schema does not declare return_run_details; the server answers 400 for it.
    schema = request_schema("ghes", DISPATCH_PATH)
    assert "return_run_details" not in schema["properties"]
    setup(fake_ghes)
    assert call(fake_ghes, "POST", DISPATCH, json={"ref": "main", "return_run_details": False}).status_code == 400


def test_input_values_may_be_any_scalar_on_both_flavours_as_both_specs_allow(fake: FakeGitHub) -> None:
    # Both descriptions (github.com and GHES 3.19) declare inputs as additionalProperties: true, not strings only.
    assert request_schema(fake.flavour, DISPATCH_PATH)["properties"]["inputs"]["additionalProperties"] is True
    setup(fake)
    body = {"ref": "main", "inputs": {"correlation_id": 12, "flag": True}}
    assert is_valid(body, request_schema(fake.flavour, DISPATCH_PATH))
    assert call(fake, "POST", DISPATCH, json=body).status_code == 204
    assert fake.runs[0].inputs == {"correlation_id": "12", "flag": True}


# -- PyGithub, a real client --------------------------------------------------------------------------------------
def test_pygithub_dispatches_and_reads_runs(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    client = Github(
        base_url=fake_github.api_url,
        auth=Auth.Token(TOKEN),
        retry=None,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )
    repo = client.get_repo("acme/infra")
    workflow = repo.get_workflow("apply.yml")
    assert workflow.path == ".github/workflows/apply.yml"
    assert workflow.create_dispatch("main", {"correlation_id": "py-1"}) is True
    detailed = workflow.create_dispatch("main", {"correlation_id": "py-2"}, throw=True, return_run_details=True)
    assert detailed.id == fake_github.runs[1].id
    runs = list(workflow.get_runs(event="workflow_dispatch", branch="main"))
    assert [r.display_title for r in runs] == ["apply py-2", "apply py-1"]
    run = repo.get_workflow_run(runs[1].id)
    assert run.head_branch == "main" and run.event == "workflow_dispatch"
    assert run.html_url == fake_github.runs[0].html_url
    # every body the client sent is valid for the official request schema
    for entry in fake_github.log(method="POST", path="/dispatches$"):
        validate(entry.json(), request_schema("github", DISPATCH_PATH))
    assert all(entry.headers.get("user-agent") for entry in fake_github.log())
    check_every_answer(fake_github)
    fake_github.raise_errors()


def test_pygithub_works_against_ghes_flavour(fake_ghes: FakeGitHub) -> None:
    setup(fake_ghes)
    client = Github(
        base_url=fake_ghes.api_url,
        auth=Auth.Token(TOKEN),
        retry=None,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )
    workflow = client.get_repo("acme/infra").get_workflow("apply.yml")
    assert workflow.create_dispatch("main", {"correlation_id": "ghes-1"}) is True
    with pytest.raises(github.GithubException) as raised:
        workflow.create_dispatch("main", {"correlation_id": "ghes-2"}, throw=True, return_run_details=True)
    assert raised.value.status == 400
    assert [r.display_title for r in workflow.get_runs()] == ["apply ghes-1"]
    for entry in fake_ghes.log(method="POST", path="/dispatches$"):
        body = entry.json()
        assert is_valid(body, request_schema("ghes", DISPATCH_PATH)) or "return_run_details" in body
    check_every_answer(fake_ghes)


def test_pygithub_reports_github_error_messages(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    workflow = (
        Github(
            base_url=fake_github.api_url,
            auth=Auth.Token(TOKEN),
            retry=None,
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        .get_repo("acme/infra")
        .get_workflow("apply.yml")
    )
    with pytest.raises(github.GithubException) as raised:
        workflow.create_dispatch("main", {"nope": "1"}, throw=True)
    assert raised.value.status == 422
    assert raised.value.data["message"] == 'Unexpected inputs provided: ["nope"]'
    with pytest.raises(github.BadCredentialsException):
        Github(
            base_url=fake_github.api_url, auth=Auth.Token("ghp_wrong"), retry=None, seconds_between_writes=0
        ).get_repo("acme/infra")
    check_every_answer(fake_github)
