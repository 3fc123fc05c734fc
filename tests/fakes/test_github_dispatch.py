"""Fake GitHub: credentials, headers and dispatch validation as GitHub does them, on both flavours."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from meshpipe.fakes.github import FakeGitHub

TOKEN = "ghp_faketoken0001"
HEADERS = {
    "User-Agent": "meshpipe-tests",
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
}
DISPATCH = "/repos/acme/infra/actions/workflows/apply.yml/dispatches"


def call(
    fake: FakeGitHub,
    method: str,
    path: str,
    *,
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
    **kw: Any,
) -> requests.Response:
    """One request to the fake's API with GitHub's usual headers (override or drop them with ``headers``)."""
    merged = dict(HEADERS)
    if token is not None:
        merged["Authorization"] = f"Bearer {token}"
    merged.update(headers or {})
    merged = {k: v for k, v in merged.items() if v is not None}
    return requests.request(method, fake.api_url + path, headers=merged, timeout=10, **kw)


def setup_apply(fake: FakeGitHub, **kw: Any) -> None:
    fake.add_token(TOKEN)
    fake.add_repository("acme/infra", branches=("main", "dev"), tags=("v1",))
    inputs = kw.pop(
        "inputs",
        {
            "correlation_id": {"type": "string", "required": False},
            "environment": {"type": "choice", "options": ["dev", "prod"], "default": "dev"},
            "dry_run": {"type": "boolean", "default": "false"},
            "replicas": {"type": "number", "required": False},
            "team": {"type": "string", "required": True},
        },
    )
    fake.add_workflow("acme/infra", "apply.yml", inputs=inputs, run_name="apply ${{ inputs.correlation_id }}", **kw)


def error(response: requests.Response) -> str:
    body = response.json()
    assert set(body) >= {"message", "documentation_url", "status"}
    assert body["status"] == str(response.status_code)
    return str(body["message"])


@pytest.fixture(params=["github", "ghes"])
def fake(request: pytest.FixtureRequest) -> FakeGitHub:
    return request.getfixturevalue(f"fake_{request.param}")  # type: ignore[no-any-return]


# -- credentials and headers ------------------------------------------------------------------------------------------
def test_missing_token_answers_401_in_github_error_format(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, token=None, json={"ref": "main", "inputs": {"team": "a"}})
    assert response.status_code == 401
    error(response)
    assert fake.dispatches == []


def test_unknown_token_answers_401_bad_credentials(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, token="ghp_unknown", json={"ref": "main", "inputs": {"team": "a"}})
    assert response.status_code == 401
    assert error(response) == "Bad credentials"


def test_token_scheme_is_accepted_like_bearer(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "GET", "/repos/acme/infra", token=None, headers={"Authorization": f"token {TOKEN}"})
    assert response.status_code == 200
    assert response.json()["full_name"] == "acme/infra"


def test_missing_user_agent_answers_403(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = requests.post(
        fake.api_url + DISPATCH,
        json={"ref": "main", "inputs": {"team": "a"}},
        headers={"Authorization": f"Bearer {TOKEN}", "User-Agent": ""},
        timeout=10,
    )
    assert response.status_code == 403
    assert "User-Agent" in error(response)
    assert fake.dispatches == []


def test_token_without_access_to_the_repository_answers_404(fake: FakeGitHub) -> None:
    setup_apply(fake)
    fake.add_token("ghp_other", repositories=["acme/other"])
    response = call(fake, "POST", DISPATCH, token="ghp_other", json={"ref": "main", "inputs": {"team": "a"}})
    assert response.status_code == 404
    assert error(response) == "Not Found"


def test_repository_names_are_case_insensitive(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(
        fake,
        "POST",
        "/repos/ACME/Infra/actions/workflows/apply.yml/dispatches",
        json={"ref": "main", "inputs": {"team": "a"}},
    )
    assert response.status_code == 204
    assert fake.dispatches_for(repository="acme/infra")


def test_read_only_token_cannot_dispatch(fake: FakeGitHub) -> None:
    setup_apply(fake)
    fake.add_token("ghp_reader", permissions="read")
    response = call(fake, "POST", DISPATCH, token="ghp_reader", json={"ref": "main", "inputs": {"team": "a"}})
    assert response.status_code == 403
    assert error(response) == "Resource not accessible by personal access token"
    assert call(fake, "GET", "/repos/acme/infra/actions/workflows/apply.yml", token="ghp_reader").status_code == 200


def test_unsupported_api_version_answers_400(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, headers={"X-GitHub-Api-Version": "2021-01-01"}, json={"ref": "main"})
    assert response.status_code == 400
    assert error(response).startswith(
        'The version you specified in the "X-GitHub-Api-Version" request header, "2021-01-01", is not a supported'
    )
    assert '"2022-11-28"' in error(response)


def test_unknown_path_answers_404_in_github_format(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "GET", "/repos/acme/infra/nothing-here")
    assert response.status_code == 404
    assert error(response) == "Not Found"


# -- workflow_dispatch validation ------------------------------------------------------------------------------------
def test_dispatch_without_run_details_answers_204_and_records_everything(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, json={"ref": "main", "inputs": {"team": "a", "correlation_id": "c-1"}})
    assert response.status_code == 204
    assert response.content == b""
    [dispatch] = fake.dispatches
    assert (dispatch.repository, dispatch.workflow, dispatch.event, dispatch.ref) == (
        "acme/infra",
        "apply.yml",
        "workflow_dispatch",
        "main",
    )
    assert dispatch.inputs == {"team": "a", "correlation_id": "c-1"}
    assert dispatch.headers["x-github-api-version"] == "2022-11-28"
    assert dispatch.body == {"ref": "main", "inputs": {"team": "a", "correlation_id": "c-1"}}
    run = fake.run(dispatch.run_id or 0)
    assert run.display_title == "apply c-1"
    assert run.inputs == {"team": "a", "correlation_id": "c-1", "environment": "dev", "dry_run": False, "replicas": ""}


def test_workflow_can_be_addressed_by_numeric_id(fake: FakeGitHub) -> None:
    setup_apply(fake)
    workflow_id = fake.repositories["acme/infra"].workflows["apply.yml"].id
    response = call(
        fake,
        "POST",
        f"/repos/acme/infra/actions/workflows/{workflow_id}/dispatches",
        json={"ref": "main", "inputs": {"team": "a"}},
    )
    assert response.status_code == 204
    assert fake.dispatches[0].workflow == "apply.yml"


def test_dispatch_with_return_run_details_answers_200_with_run_ids_on_github(fake_github: FakeGitHub) -> None:
    setup_apply(fake_github)
    response = call(
        fake_github, "POST", DISPATCH, json={"ref": "main", "inputs": {"team": "a"}, "return_run_details": True}
    )
    assert response.status_code == 200
    body = response.json()
    run = fake_github.run(body["workflow_run_id"])
    assert body == {"workflow_run_id": run.id, "run_url": run.url, "html_url": run.html_url}
    assert run.html_url == f"{fake_github.html_url}/acme/infra/actions/runs/{run.id}"
    assert run.url == f"{fake_github.api_url}/repos/acme/infra/actions/runs/{run.id}"


def test_api_version_2026_03_10_always_answers_200_with_run_details(fake_github: FakeGitHub) -> None:
    setup_apply(fake_github)
    response = call(
        fake_github,
        "POST",
        DISPATCH,
        headers={"X-GitHub-Api-Version": "2026-03-10"},
        json={"ref": "main", "inputs": {"team": "a"}},
    )
    assert response.status_code == 200
    assert response.json()["workflow_run_id"] == fake_github.runs[0].id


def test_ghes_rejects_return_run_details_with_400_naming_it(fake_ghes: FakeGitHub) -> None:
    setup_apply(fake_ghes)
    response = call(
        fake_ghes, "POST", DISPATCH, json={"ref": "main", "inputs": {"team": "a"}, "return_run_details": True}
    )
    assert response.status_code == 400
    assert error(response) == 'Invalid request.\n\n"return_run_details" is not a permitted key.'
    assert fake_ghes.dispatches == [] and fake_ghes.runs == []


def test_ghes_serves_the_api_under_api_v3_only(fake_ghes: FakeGitHub) -> None:
    setup_apply(fake_ghes)
    assert fake_ghes.api_url == fake_ghes.url + "/api/v3"
    assert call(fake_ghes, "GET", "/repos/acme/infra").status_code == 200
    outside = requests.get(
        fake_ghes.url + "/repos/acme/infra", headers={**HEADERS, "Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert outside.status_code == 404


def test_ghes_does_not_know_api_version_2026_03_10(fake_ghes: FakeGitHub) -> None:
    setup_apply(fake_ghes)
    response = call(fake_ghes, "POST", DISPATCH, headers={"X-GitHub-Api-Version": "2026-03-10"}, json={"ref": "main"})
    assert response.status_code == 400


@pytest.mark.parametrize("body", [["main"], "main", 42])
def test_dispatch_body_must_be_a_json_object(fake: FakeGitHub, body: Any) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, json=body)
    assert response.status_code == 422
    assert error(response).startswith("Invalid request.")


def test_dispatch_body_that_is_not_json_answers_400(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "Problems parsing JSON" in error(response)


def test_dispatch_without_ref_answers_422(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, json={"inputs": {"team": "a"}})
    assert response.status_code == 422
    assert error(response) == 'Invalid request.\n\n"ref" wasn\'t supplied.'


def test_dispatch_with_non_string_ref_answers_422(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, json={"ref": 7, "inputs": {"team": "a"}})
    assert response.status_code == 422
    assert "is not a string" in error(response)


def test_dispatch_with_unknown_body_key_is_rejected_422_on_github_400_on_ghes(fake: FakeGitHub) -> None:
    """Issue 14.5: github.com answered 400 for unknown keys; a captured api.github.com answer (erlang/otp#8807) is
    422, GHES's 400 for return_run_details is cli/cli#12672's (src/meshpipe/fakes/unverified.md)."""
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, json={"ref": "main", "inputz": {}})
    assert response.status_code == (422 if fake.flavour == "github" else 400)
    assert '"inputz" is not a permitted key' in error(response)
    both = call(fake, "POST", DISPATCH, json={"ref": "main", "version": "1", "target": "x"})
    assert '"target", "version" are not permitted keys.' in error(both)
    assert fake.dispatches == []


def test_dispatch_of_unknown_workflow_answers_404(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "POST", "/repos/acme/infra/actions/workflows/nope.yml/dispatches", json={"ref": "main"})
    assert response.status_code == 404
    assert error(response) == "Not Found"


def test_dispatch_of_workflow_without_trigger_answers_422(fake: FakeGitHub) -> None:
    setup_apply(fake)
    fake.add_workflow("acme/infra", "push-only.yml", workflow_dispatch=False)
    response = call(fake, "POST", "/repos/acme/infra/actions/workflows/push-only.yml/dispatches", json={"ref": "main"})
    assert response.status_code == 422
    assert error(response) == "Workflow does not have 'workflow_dispatch' trigger"


def test_dispatch_to_unknown_ref_answers_422(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, json={"ref": "feature/x", "inputs": {"team": "a"}})
    assert response.status_code == 422
    assert error(response) == "No ref found for: feature/x"


@pytest.mark.parametrize(
    ("ref", "branch"), [("dev", "dev"), ("v1", "v1"), ("refs/heads/dev", "dev"), ("refs/tags/v1", "v1")]
)
def test_dispatch_accepts_branches_and_tags_short_or_qualified(fake: FakeGitHub, ref: str, branch: str) -> None:
    setup_apply(fake)
    assert call(fake, "POST", DISPATCH, json={"ref": ref, "inputs": {"team": "a"}}).status_code == 204
    assert fake.runs[0].head_branch == branch


def test_undeclared_inputs_answer_422_listing_them(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, json={"ref": "main", "inputs": {"team": "a", "a": "1", "b": "2"}})
    assert response.status_code == 422
    assert error(response) == 'Unexpected inputs provided: ["a", "b"]'


def test_missing_required_input_answers_422(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, json={"ref": "main", "inputs": {"correlation_id": "x"}})
    assert response.status_code == 422
    assert error(response) == "Required input 'team' not provided"


def test_required_input_with_default_may_be_omitted(fake: FakeGitHub) -> None:
    setup_apply(fake, inputs={"team": {"type": "string", "required": True, "default": "platform"}})
    assert call(fake, "POST", DISPATCH, json={"ref": "main"}).status_code == 204
    assert fake.runs[0].inputs == {"team": "platform"}


def test_choice_input_outside_its_options_answers_422(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, json={"ref": "main", "inputs": {"team": "a", "environment": "staging"}})
    assert response.status_code == 422
    assert error(response) == "Provided value 'staging' for input 'environment' not in the list of allowed values"


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False), (True, True), (False, False)])
def test_boolean_input_accepts_true_and_false(fake: FakeGitHub, value: Any, expected: bool) -> None:
    setup_apply(fake)
    assert (
        call(fake, "POST", DISPATCH, json={"ref": "main", "inputs": {"team": "a", "dry_run": value}}).status_code == 204
    )
    assert fake.runs[0].inputs["dry_run"] is expected


@pytest.mark.parametrize("value", ["yes", "1", "True"])
def test_boolean_input_rejects_other_values(fake: FakeGitHub, value: str) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, json={"ref": "main", "inputs": {"team": "a", "dry_run": value}})
    assert response.status_code == 422
    assert "dry_run" in error(response)


def test_number_input_rejects_non_numbers(fake: FakeGitHub) -> None:
    setup_apply(fake)
    assert (
        call(fake, "POST", DISPATCH, json={"ref": "main", "inputs": {"team": "a", "replicas": "3"}}).status_code == 204
    )
    response = call(fake, "POST", DISPATCH, json={"ref": "main", "inputs": {"team": "a", "replicas": "three"}})
    assert response.status_code == 422
    assert "replicas" in error(response)


def test_object_input_values_are_rejected(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, json={"ref": "main", "inputs": {"team": {"name": "a"}}})
    assert response.status_code == 422


def test_inputs_must_be_an_object(fake: FakeGitHub) -> None:
    setup_apply(fake)
    response = call(fake, "POST", DISPATCH, json={"ref": "main", "inputs": ["team"]})
    assert response.status_code == 422
    assert "is not an object" in error(response)


def _many_inputs(count: int) -> dict[str, dict[str, Any]]:
    return {f"in{i}": {"type": "string"} for i in range(count)}


def test_github_accepts_25_inputs_and_rejects_26(fake_github: FakeGitHub) -> None:
    setup_apply(fake_github, inputs=_many_inputs(26))
    ok = call(fake_github, "POST", DISPATCH, json={"ref": "main", "inputs": {f"in{i}": "x" for i in range(25)}})
    assert ok.status_code == 204
    too_many = call(fake_github, "POST", DISPATCH, json={"ref": "main", "inputs": {f"in{i}": "x" for i in range(26)}})
    assert too_many.status_code == 422
    assert "no more than 25 properties" in error(too_many)


def test_ghes_accepts_10_inputs_and_rejects_11(fake_ghes: FakeGitHub) -> None:
    setup_apply(fake_ghes, inputs=_many_inputs(11))
    ok = call(fake_ghes, "POST", DISPATCH, json={"ref": "main", "inputs": {f"in{i}": "x" for i in range(10)}})
    assert ok.status_code == 204
    too_many = call(fake_ghes, "POST", DISPATCH, json={"ref": "main", "inputs": {f"in{i}": "x" for i in range(11)}})
    assert too_many.status_code == 422
    assert "no more than 10 properties" in error(too_many)


def test_inputs_payload_over_65535_characters_answers_422(fake: FakeGitHub) -> None:
    setup_apply(fake, inputs={"a": {"type": "string"}, "b": {"type": "string"}})
    fits = {"a": "x" * 60_000, "b": "y" * 5_533}  # 65,535 characters with the two names
    assert call(fake, "POST", DISPATCH, json={"ref": "main", "inputs": fits}).status_code == 204
    response = call(fake, "POST", DISPATCH, json={"ref": "main", "inputs": {"a": "x" * 60_000, "b": "y" * 5_534}})
    assert response.status_code == 422
    assert "too large" in error(response)


def test_hostile_input_values_arrive_byte_exact(fake: FakeGitHub) -> None:
    setup_apply(fake)
    value = "$(touch /tmp/x) `id` ${HOME} %{x} '\"\n\\ ünïcödé ✓"
    assert call(fake, "POST", DISPATCH, json={"ref": "main", "inputs": {"team": value}}).status_code == 204
    assert fake.dispatches[0].inputs["team"] == value
    assert fake.runs[0].inputs["team"] == value


# -- repository_dispatch ---------------------------------------------------------------------------------------------
def setup_repository_dispatch(fake: FakeGitHub) -> None:
    fake.add_token(TOKEN)
    fake.add_repository("acme/infra", default_branch="trunk", branches=("trunk", "dev"))
    fake.add_workflow(
        "acme/infra",
        "deploy.yml",
        workflow_dispatch=False,
        repository_dispatch_types=["deploy"],
        run_name="deploy ${{ github.event.client_payload.correlation_id }}",
    )
    fake.add_workflow("acme/infra", "other.yml", repository_dispatch_types=["other"])
    fake.add_workflow("acme/infra", "plain.yml")


def test_repository_dispatch_runs_matching_workflows_on_the_default_branch(fake: FakeGitHub) -> None:
    setup_repository_dispatch(fake)
    response = call(
        fake,
        "POST",
        "/repos/acme/infra/dispatches",
        json={"event_type": "deploy", "client_payload": {"correlation_id": "c-9"}},
    )
    assert response.status_code == 204
    [dispatch] = fake.dispatches_for(event="repository_dispatch")
    assert dispatch.event_type == "deploy" and dispatch.client_payload == {"correlation_id": "c-9"}
    [run] = fake.runs
    assert (run.workflow, run.event, run.head_branch, run.display_title) == (
        "deploy.yml",
        "repository_dispatch",
        "trunk",
        "deploy c-9",
    )


def test_repository_dispatch_without_matching_workflow_starts_no_run(fake: FakeGitHub) -> None:
    setup_repository_dispatch(fake)
    assert call(fake, "POST", "/repos/acme/infra/dispatches", json={"event_type": "unknown"}).status_code == 204
    assert fake.runs == []
    assert fake.dispatches[0].run_id is None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, '"event_type" wasn\'t supplied'),
        ({"event_type": ""}, "1 to 100 characters"),
        ({"event_type": "x" * 101}, "1 to 100 characters"),
        ({"event_type": 5}, "is not a string"),
        ({"event_type": "deploy", "client_payload": [1]}, "is not an object"),
        ({"event_type": "deploy", "client_payload": {f"k{i}": i for i in range(11)}}, "no more than 10 properties"),
        ({"event_type": "deploy", "client_payload": {"big": "x" * 70_000}}, "64KB"),
        ({"event_type": "deploy", "ref": "main"}, '"ref" is not a permitted key'),
    ],
)
def test_repository_dispatch_validation(fake: FakeGitHub, body: dict[str, Any], fragment: str) -> None:
    setup_repository_dispatch(fake)
    response = call(fake, "POST", "/repos/acme/infra/dispatches", json=body)
    assert response.status_code == 422
    assert fragment in error(response)
    assert fake.dispatches == []


def test_repository_dispatch_accepts_100_character_event_type_and_10_payload_keys(fake: FakeGitHub) -> None:
    setup_repository_dispatch(fake)
    body = {"event_type": "e" * 100, "client_payload": {f"k{i}": i for i in range(10)}}
    assert call(fake, "POST", "/repos/acme/infra/dispatches", json=body).status_code == 204


def test_read_only_token_cannot_send_repository_dispatch(fake: FakeGitHub) -> None:
    setup_repository_dispatch(fake)
    fake.add_token("ghp_reader", permissions="read")
    response = call(fake, "POST", "/repos/acme/infra/dispatches", token="ghp_reader", json={"event_type": "deploy"})
    assert response.status_code == 403
