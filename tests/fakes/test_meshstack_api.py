"""The fake meshStack's run API: fetching a run, registering sources, updating them, and reading the logs."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import requests

from meshpipe.fakes.meshstack import MEDIA_TYPE, FakeMeshStack, FakeRun

TOKEN = "api-token"


@pytest.fixture
def run(fake_meshstack: FakeMeshStack) -> FakeRun:
    fake_meshstack.add_api_token(TOKEN)
    return fake_meshstack.create_run(inputs={"bucket_name": "alpha-data", "versioning": True, "days": 30})


def _headers(**overrides: str | None) -> dict[str, str]:
    headers: dict[str, str | None] = {
        "Authorization": f"Bearer {TOKEN}",
        "Accept": MEDIA_TYPE,
        "Content-Type": MEDIA_TYPE,
    }
    headers.update(overrides)
    return {k: v for k, v in headers.items() if v is not None}


def register(run: FakeRun, body: Any, **headers: str | None) -> requests.Response:
    return requests.post(f"{run.url}/status/source", json=body, headers=_headers(**headers), timeout=5)


def update(run: FakeRun, body: Any, source: str = "github", **headers: str | None) -> requests.Response:
    return requests.patch(f"{run.url}/status/source/{source}", json=body, headers=_headers(**headers), timeout=5)


def registered(run: FakeRun, *steps: str) -> FakeRun:
    body = {"source": {"id": "github"}, "steps": [{"id": s, "displayName": s.title()} for s in steps]}
    assert register(run, body).status_code == 200
    return run


# -- GET run -------------------------------------------------------------------------------------------------------
def test_get_run_answers_the_run_object_with_the_versioned_media_type(run: FakeRun) -> None:
    response = requests.get(run.url, headers=_headers(), timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"] == MEDIA_TYPE
    obj = response.json()
    assert obj == run.object
    assert obj["kind"] == "meshBuildingBlockRun"
    assert obj["apiVersion"] == "v1"
    assert obj["metadata"]["uuid"] == run.uuid
    assert obj["metadata"]["createdOn"].endswith("Z")
    assert obj["spec"]["runNumber"] == 1
    assert obj["spec"]["behavior"] == "APPLY"
    assert obj["spec"]["trigger"]["reason"] == "BUILDING_BLOCK_CREATION"
    block = obj["spec"]["buildingBlock"]["spec"]
    assert block["workspaceIdentifier"] == "team-alpha"
    assert block["projectIdentifier"] == "alpha-dev"
    assert block["displayName"] == f"building block {run.building_block_uuid[:8]}"  # none given: not the example's
    assert block["parentBuildingBlocks"] == []
    assert block["inputs"] == [
        {"key": "bucket_name", "value": "alpha-data", "type": "STRING", "isSensitive": False, "isEnvironment": False},
        {"key": "versioning", "value": "true", "type": "BOOLEAN", "isSensitive": False, "isEnvironment": False},
        {"key": "days", "value": "30", "type": "INTEGER", "isSensitive": False, "isEnvironment": False},
    ]
    assert obj["spec"]["buildingBlockDefinition"]["spec"]["workspaceIdentifier"] == "platform-team"
    assert obj["status"] == "IN_PROGRESS"
    assert "runToken" not in obj["spec"]


def test_get_run_links_carry_templated_null_except_update_source(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    links = requests.get(run.url, headers=_headers(), timeout=5).json()["_links"]
    assert links == {
        "self": {"href": run.url, "templated": None},
        "registerSource": {"href": f"{run.url}/status/source", "templated": None},
        "updateSource": {"href": f"{run.url}/status/source/{{sourceId}}", "templated": True},
        "meshstackBaseUrl": {"href": fake_meshstack.url, "templated": None},
    }
    assert run.url == f"{fake_meshstack.url}/api/meshobjects/meshbuildingblockruns/{run.uuid}"


@pytest.mark.parametrize("accept", [None, "application/json", "*/*", "application/hal+json"])
def test_get_run_without_versioned_accept_is_406(run: FakeRun, accept: str | None) -> None:
    response = requests.get(run.url, headers=_headers(Accept=accept), timeout=5)
    assert response.status_code == 406
    assert MEDIA_TYPE in response.json()["message"]


def test_get_run_accepts_the_versioned_type_among_others(run: FakeRun) -> None:
    accept = f"application/json;q=0.5, {MEDIA_TYPE}"
    assert requests.get(run.url, headers=_headers(Accept=accept), timeout=5).status_code == 200


def test_get_unknown_run_is_404(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    response = requests.get(f"{fake_meshstack.url}/api/meshobjects/meshbuildingblockruns/nope", headers=_headers())
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_run_numbers_increase_per_building_block(fake_meshstack: FakeMeshStack) -> None:
    first = fake_meshstack.create_run(building_block_uuid="bb-1")
    second = fake_meshstack.create_run(building_block_uuid="bb-1", behavior="DESTROY")
    other = fake_meshstack.create_run(building_block_uuid="bb-2")
    assert [first.run_number, second.run_number, other.run_number] == [1, 2, 1]
    assert second.object["spec"]["behavior"] == "DESTROY"
    assert second.object["spec"]["trigger"]["reason"] == "BUILDING_BLOCK_DELETION"


def test_creating_a_run_before_the_server_has_a_port_is_refused() -> None:
    with pytest.raises(RuntimeError, match="start the fake"):
        FakeMeshStack().create_run()


def test_sensitive_inputs_are_encrypted_in_get_but_decrypted_in_b64(fake_meshstack: FakeMeshStack) -> None:
    import base64
    import json

    inputs = [
        {"key": "API_SECRET", "value": "canary-7f3a", "type": "STRING", "isSensitive": True, "isEnvironment": True}
    ]
    run = fake_meshstack.create_run(inputs=inputs)
    assert "canary-7f3a" not in json.dumps(run.object)
    runner = json.loads(base64.b64decode(run.b64))
    assert runner["spec"]["buildingBlock"]["spec"]["inputs"][0]["value"] == "canary-7f3a"
    assert runner["spec"]["runToken"] == run.run_token
    assert runner["_links"] == run.object["_links"]


# -- register source ---------------------------------------------------------------------------------------------
def test_register_source_records_steps_in_order_with_pending_default(run: FakeRun) -> None:
    body = {
        "source": {"id": "github", "externalRunId": "42", "externalRunUrl": "https://github.example/runs/42"},
        "steps": [
            {"id": "plan", "displayName": "Plan", "status": "IN_PROGRESS"},
            {"id": "apply", "displayName": "Apply"},
        ],
    }
    response = register(run, body)
    assert response.status_code == 200
    assert response.content == b""
    source = run.sources["github"]
    assert source == {
        "id": "github",
        "externalRunId": "42",
        "externalRunUrl": "https://github.example/runs/42",
        "status": None,
        "steps": [
            {"id": "plan", "displayName": "Plan", "status": "IN_PROGRESS", "userMessage": None,
             "systemMessage": None, "outputs": {}},
            {"id": "apply", "displayName": "Apply", "status": "PENDING", "userMessage": None,
             "systemMessage": None, "outputs": {}},
        ],
    }  # fmt: skip


def test_register_coerces_numeric_external_run_id_and_ignores_unknown_properties(run: FakeRun) -> None:
    body = {"source": {"id": "github", "externalRunId": 9876543210, "externalId": "x", "extra": 1}, "steps": [],
            "unknown": {"nested": True}}  # fmt: skip
    assert register(run, body).status_code == 200
    assert run.sources["github"]["externalRunId"] == "9876543210"


def test_register_with_plain_json_content_type_is_415(run: FakeRun) -> None:
    response = register(run, {"source": {"id": "github"}, "steps": []}, **{"Content-Type": "application/json"})
    assert response.status_code == 415
    assert run.sources == {}


def test_register_without_versioned_accept_is_406(run: FakeRun) -> None:
    assert register(run, {"source": {"id": "github"}, "steps": []}, Accept="application/json").status_code == 406


def test_register_same_source_twice_is_409_and_keeps_the_first_steps(run: FakeRun) -> None:
    registered(run, "plan")
    again = register(run, {"source": {"id": "github"}, "steps": [{"id": "other", "displayName": "Other"}]})
    assert again.status_code == 409
    assert "already registered" in again.json()["message"]
    assert [s["id"] for s in run.sources["github"]["steps"]] == ["plan"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "JSON object"),
        ({"steps": []}, "source"),
        ({"source": {}, "steps": []}, "source.id"),
        ({"source": {"id": ""}, "steps": []}, "source.id"),
        ({"source": {"id": 7}, "steps": []}, "source.id"),
        ({"source": {"id": "github"}}, "steps"),
        ({"source": {"id": "github"}, "steps": {}}, "steps"),
        ({"source": {"id": "github"}, "steps": [{"displayName": "Plan"}]}, "steps[0].id"),
        ({"source": {"id": "github"}, "steps": [{"id": "plan"}]}, "steps[0].displayName"),
        ({"source": {"id": "github"}, "steps": [{"id": "plan", "displayName": 3}]}, "steps[0].displayName"),
        ({"source": {"id": "github"}, "steps": [{"id": "p", "displayName": "P", "status": "DONE"}]}, "steps[0].status"),
        ({"source": {"id": "github"}, "steps": [{"id": "p", "displayName": "P", "status": "ABORTED"}]}, "ABORTED"),
        ({"source": {"id": "github", "externalRunId": True}, "steps": []}, "externalRunId"),
        ({"source": {"id": "github", "externalRunUrl": 5}, "steps": []}, "externalRunUrl"),
        (
            {"source": {"id": "github"}, "steps": [{"id": "a", "displayName": "A"}, {"id": "a", "displayName": "B"}]},
            "duplicate step id",
        ),
    ],
)
def test_register_rejects_invalid_bodies_with_400_naming_the_field(run: FakeRun, body: Any, fragment: str) -> None:
    response = register(run, body)
    assert response.status_code == 400
    assert fragment in response.json()["message"]
    assert run.sources == {}


def test_register_accepts_50_steps_and_rejects_51(run: FakeRun) -> None:
    steps = [{"id": f"s{i}", "displayName": f"Step {i}"} for i in range(51)]
    response = register(run, {"source": {"id": "too-many"}, "steps": steps})
    assert response.status_code == 400
    assert "at most 50" in response.json()["message"]
    assert register(run, {"source": {"id": "github"}, "steps": steps[:50]}).status_code == 200


def test_register_with_null_step_status_is_accepted(run: FakeRun) -> None:
    body = {
        "source": {"id": "runner", "externalRunId": None},
        "steps": [{"id": "a", "displayName": "A", "status": None}],
    }
    assert register(run, body).status_code == 200
    assert run.sources["runner"]["steps"][0]["status"] == "PENDING"


def test_register_with_invalid_json_is_400(run: FakeRun) -> None:
    response = requests.post(f"{run.url}/status/source", data=b"{nope", headers=_headers(), timeout=5)
    assert response.status_code == 400


# -- update source -----------------------------------------------------------------------------------------------
def test_update_answers_run_aborted_false_with_versioned_media_type(run: FakeRun) -> None:
    registered(run, "plan")
    response = update(run, {"status": "IN_PROGRESS", "steps": [{"id": "plan", "status": "IN_PROGRESS"}]})
    assert response.status_code == 200
    assert response.headers["content-type"] == MEDIA_TYPE
    assert response.json() == {"runAborted": False}
    assert run.sources["github"]["steps"][0]["status"] == "IN_PROGRESS"
    assert run.sources["github"]["status"] == "IN_PROGRESS"


def test_update_unregistered_source_is_404(run: FakeRun) -> None:
    response = update(run, {"status": "IN_PROGRESS"}, source="never-registered")
    assert response.status_code == 404
    assert "register" in response.json()["message"]


def test_update_with_plain_json_is_415_and_without_accept_406(run: FakeRun) -> None:
    registered(run, "plan")
    assert update(run, {"status": "IN_PROGRESS"}, **{"Content-Type": "application/json"}).status_code == 415
    assert update(run, {"status": "IN_PROGRESS"}, Accept=None).status_code == 406
    assert run.updates == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"status": "DONE"}, "status"),
        ({"status": "COMPLETED"}, "status"),
        ({"steps": [{"id": "plan", "status": "SUCCESS"}]}, "steps[0].status"),
        ({"steps": [{"status": "SUCCEEDED"}]}, "steps[0].id"),
        ({"steps": "plan"}, "steps"),
        ({"steps": [{"id": "plan", "userMessage": 5}]}, "steps[0].userMessage"),
        ({"steps": [{"id": "plan", "outputs": {"url": {"value": "x", "type": "URL"}}}]}, "outputs.url.type"),
        ({"steps": [{"id": "plan", "outputs": {"url": {"value": "x"}}}]}, "outputs.url.type"),
        ({"steps": [{"id": "plan", "outputs": {"url": {"type": "STRING"}}}]}, "outputs.url"),
        ({"steps": [{"id": "plan", "outputs": {"url": "plain"}}]}, "outputs.url"),
        ({"steps": [{"id": "plan", "outputs": ["x"]}]}, "outputs"),
        (
            {"steps": [{"id": "plan", "outputs": {"u": {"value": 1, "type": "STRING", "isSensitive": "no"}}}]},
            "isSensitive",
        ),
    ],
)
def test_update_rejects_invalid_bodies_with_400(run: FakeRun, body: Any, fragment: str) -> None:
    registered(run, "plan")
    response = update(run, body)
    assert response.status_code == 400
    assert fragment in response.json()["message"]
    assert run.updates == []
    assert run.sources["github"]["steps"][0]["status"] == "PENDING"


@pytest.mark.parametrize("status", ["PENDING", "IN_PROGRESS", "SUCCEEDED", "ABORTED", "FAILED"])
def test_update_accepts_every_documented_step_status(run: FakeRun, status: str) -> None:
    registered(run, "plan")
    assert update(run, {"steps": [{"id": "plan", "status": status}]}).status_code == 200
    assert run.sources["github"]["steps"][0]["status"] == status


def test_update_applies_only_non_null_fields(run: FakeRun) -> None:
    registered(run, "plan")
    update(run, {"steps": [{"id": "plan", "status": "IN_PROGRESS", "userMessage": "working", "systemMessage": "log"}]})
    update(
        run, {"status": None, "steps": [{"id": "plan", "status": None, "userMessage": None, "systemMessage": "more"}]}
    )
    step = run.sources["github"]["steps"][0]
    assert (step["status"], step["userMessage"], step["systemMessage"]) == ("IN_PROGRESS", "working", "more")
    assert run.sources["github"]["status"] is None


def test_update_creates_unknown_steps_on_the_fly_after_registered_ones(run: FakeRun) -> None:
    registered(run, "plan")
    update(run, {"steps": [{"id": "job-1", "displayName": "GitHub Job: build", "status": "IN_PROGRESS"}]})
    update(run, {"steps": [{"id": "no-name", "status": "SUCCEEDED"}]})
    steps = run.sources["github"]["steps"]
    assert [(s["id"], s["displayName"], s["status"]) for s in steps] == [
        ("plan", "Plan", "PENDING"),
        ("job-1", "GitHub Job: build", "IN_PROGRESS"),
        ("no-name", "no-name", "SUCCEEDED"),
    ]


def test_update_merges_outputs_of_steps_into_run_outputs(run: FakeRun) -> None:
    registered(run, "plan", "apply")
    string = {"value": "https://bucket", "type": "STRING", "isSensitive": False}
    update(run, {"steps": [{"id": "plan", "outputs": {"url": string}}]})
    update(run, {"steps": [{"id": "apply", "outputs": {"count": {"value": 3, "type": "INTEGER"}}}]})
    update(run, {"steps": [{"id": "apply", "outputs": {"url": {"value": "https://new", "type": "STRING"}}}]})
    assert run.outputs == {"url": {"value": "https://new", "type": "STRING"}, "count": {"value": 3, "type": "INTEGER"}}
    assert run.sources["github"]["steps"][0]["outputs"] == {"url": string}
    assert set(run.sources["github"]["steps"][1]["outputs"]) == {"count", "url"}


def test_update_history_records_every_accepted_body_with_its_source(run: FakeRun) -> None:
    registered(run, "plan")
    first = {"status": "IN_PROGRESS", "steps": [{"id": "plan", "status": "IN_PROGRESS"}]}
    second = {"status": "SUCCEEDED", "steps": [{"id": "plan", "status": "SUCCEEDED"}], "unknownField": 1}
    update(run, first)
    update(run, {"status": "BOGUS"})
    update(run, second)
    assert run.updates == [{**first, "sourceId": "github"}, {**second, "sourceId": "github"}]


def test_update_after_terminal_status_is_409_but_an_exact_repeat_is_accepted(run: FakeRun) -> None:
    registered(run, "plan")
    final = {"status": "SUCCEEDED", "steps": [{"id": "plan", "status": "SUCCEEDED"}]}
    assert update(run, final).status_code == 200
    assert update(run, final).status_code == 200  # a retry after a lost response changes nothing
    late = update(run, {"steps": [{"id": "plan", "userMessage": "late"}]})
    assert late.status_code == 409
    assert "terminal" in late.json()["message"]
    assert len(run.updates) == 1
    assert run.sources["github"]["steps"][0]["userMessage"] is None


def test_run_succeeds_when_a_source_reports_succeeded(run: FakeRun) -> None:
    registered(run, "plan")
    update(run, {"status": "SUCCEEDED", "steps": [{"id": "plan", "status": "SUCCEEDED"}]})
    assert run.status == "SUCCEEDED"
    assert requests.get(run.url, headers=_headers(), timeout=5).json()["status"] == "SUCCEEDED"
    assert run.warnings == []


def test_aborted_run_status_reads_failed_while_the_step_keeps_aborted(run: FakeRun) -> None:
    registered(run, "plan")
    update(run, {"status": "ABORTED", "steps": [{"id": "plan", "status": "ABORTED"}]})
    assert run.status == "FAILED"
    assert requests.get(run.url, headers=_headers(), timeout=5).json()["status"] == "FAILED"
    assert run.sources["github"]["status"] == "ABORTED"
    assert run.sources["github"]["steps"][0]["status"] == "ABORTED"


def test_run_pending_or_in_progress_from_a_source_keeps_the_run_in_progress(run: FakeRun) -> None:
    registered(run, "plan")
    update(run, {"status": "PENDING"})
    assert run.status == "IN_PROGRESS"


def test_failed_source_wins_over_succeeded_source(run: FakeRun) -> None:
    registered(run, "plan")
    register(run, {"source": {"id": "runner"}, "steps": [{"id": "trigger", "displayName": "Trigger"}]})
    update(run, {"status": "FAILED"}, source="runner")
    update(run, {"status": "SUCCEEDED", "steps": [{"id": "plan", "status": "SUCCEEDED"}]})
    assert run.status == "FAILED"


def test_runner_source_in_progress_and_workflow_source_succeeded_make_the_run_succeed(run: FakeRun) -> None:
    register(run, {"source": {"id": "runner"}, "steps": [{"id": "gh-trigger", "displayName": "Trigger"}]})
    update(run, {"status": "IN_PROGRESS", "steps": [{"id": "gh-trigger", "status": "SUCCEEDED"}]}, source="runner")
    registered(run, "apply")
    update(run, {"status": "SUCCEEDED", "steps": [{"id": "apply", "status": "SUCCEEDED"}]})
    assert run.status == "SUCCEEDED"
    assert run.warnings == []


def test_succeeded_run_with_a_step_that_never_succeeded_gets_a_warning(run: FakeRun) -> None:
    registered(run, "plan", "apply")
    update(run, {"status": "SUCCEEDED", "steps": [{"id": "plan", "status": "SUCCEEDED"}]})
    assert run.status == "SUCCEEDED"
    assert len(run.warnings) == 1
    assert "'apply'" in run.warnings[0]
    assert "PENDING" in run.warnings[0]


def test_failed_run_gets_no_warning(run: FakeRun) -> None:
    registered(run, "plan", "apply")
    update(run, {"status": "FAILED", "steps": [{"id": "plan", "status": "FAILED"}]})
    assert run.warnings == []


def test_aborting_a_run_makes_updates_answer_run_aborted_true(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    registered(run, "plan")
    fake_meshstack.set_aborted(run.uuid, True)
    response = update(run, {"steps": [{"id": "plan", "status": "IN_PROGRESS"}]})
    assert response.json() == {"runAborted": True}
    assert run.status == "FAILED"
    fake_meshstack.set_aborted(run.uuid, False)
    assert update(run, {"status": "IN_PROGRESS"}).json() == {"runAborted": False}


def test_update_keeps_the_legacy_summary(run: FakeRun) -> None:
    registered(run, "plan")
    update(run, {"summary": "Something went wrong while starting the run."})
    assert run.summaries == {"github": "Something went wrong while starting the run."}


def test_source_ids_in_the_path_are_url_decoded(run: FakeRun) -> None:
    assert register(run, {"source": {"id": "my source"}, "steps": []}).status_code == 200
    assert update(run, {"status": "IN_PROGRESS"}, source="my%20source").status_code == 200


# -- logs ----------------------------------------------------------------------------------------------------------
def test_logs_list_steps_of_all_sources_in_registration_order(run: FakeRun) -> None:
    register(run, {"source": {"id": "runner"}, "steps": [{"id": "gh-trigger", "displayName": "Trigger GitHub Action"}]})
    registered(run, "apply")
    update(run, {"steps": [{"id": "gh-trigger", "status": "SUCCEEDED", "systemMessage": "sent"}]}, source="runner")
    update(run, {"steps": [{"id": "apply", "status": "FAILED", "userMessage": "boom"}]})
    response = requests.get(f"{run.url}/logs", headers=_headers(), timeout=5)
    assert response.status_code == 200
    assert response.json() == {
        "steps": [
            {"displayName": "Trigger GitHub Action", "status": "SUCCEEDED", "userMessage": None,
             "systemMessage": "sent"},
            {"displayName": "Apply", "status": "FAILED", "userMessage": "boom", "systemMessage": None},
        ]
    }  # fmt: skip


def test_logs_need_a_token_for_the_run(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    other = fake_meshstack.create_run()
    assert requests.get(f"{run.url}/logs", timeout=5).status_code == 401
    assert (
        requests.get(f"{run.url}/logs", headers=_headers(Authorization=f"Bearer {other.run_token}")).status_code == 403
    )


# -- runner claim ----------------------------------------------------------------------------------------------------
def test_runner_claims_the_oldest_pending_run_with_its_run_token(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    url = f"{fake_meshstack.url}/api/meshobjects/meshbuildingblockruns/create?forRunnerUuid=r-1"
    first = requests.post(url, headers=_headers(), timeout=5)
    assert first.status_code == 201
    assert first.json()["spec"]["runToken"] == run.run_token
    assert requests.post(url, headers=_headers(), timeout=5).status_code == 404
    assert requests.post(url.split("?")[0], headers=_headers(), timeout=5).status_code == 400


# -- order of checks -----------------------------------------------------------------------------------------------
def test_missing_token_is_401_before_media_type_checks(run: FakeRun) -> None:
    body = {"source": {"id": "github"}, "steps": []}
    response = register(run, body, Authorization=None, **{"Content-Type": "application/json"}, Accept="text/plain")
    assert response.status_code == 401


def test_media_type_checks_come_before_the_run_lookup(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    unknown = f"{fake_meshstack.url}/api/meshobjects/meshbuildingblockruns/unknown"
    plain = _headers(**{"Content-Type": "application/json"})
    assert requests.post(f"{unknown}/status/source", json={}, headers=plain, timeout=5).status_code == 415
    assert requests.post(f"{unknown}/status/source", json={}, headers=_headers(), timeout=5).status_code == 404
    assert requests.patch(f"{unknown}/status/source/github", json={}, headers=_headers(), timeout=5).status_code == 404


def test_final_update_whose_response_was_lost_can_be_resent(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    registered(run, "plan")
    final = {"status": "SUCCEEDED", "steps": [{"id": "plan", "status": "SUCCEEDED"}]}
    fake_meshstack.add_fault(drop=True, after=True, method="PATCH")
    with pytest.raises(requests.ConnectionError):
        update(run, final)
    assert run.status == "SUCCEEDED"  # the server did the work, the client never heard
    assert update(run, final).json() == {"runAborted": False}
    assert len(run.updates) == 1


@pytest.mark.parametrize("length", ["-1", "abc"])
def test_a_malformed_content_length_is_a_400_not_a_hang_or_a_dropped_connection(
    fake_meshstack: FakeMeshStack, length: str
) -> None:
    with socket.create_connection((fake_meshstack.host, fake_meshstack.port), timeout=5) as sock:
        sock.sendall(f"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode())
        status_line = sock.makefile("rb").readline()
    assert status_line.startswith(b"HTTP/1.1 400"), status_line
