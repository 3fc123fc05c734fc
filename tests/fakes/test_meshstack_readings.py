"""The fake meshStack's strict and lenient readings of what the description leaves open (issue 14.2), exercised with
the request shapes meshcloud's official actions send (table: ``src/meshpipe/fakes/unverified.md``).

Shapes, read from the actions' sources:

* actions-register-source ``src/index.ts`` ``buildRequestPayload``: ``{"source": {"id": "github", "externalRunId":
  <GitHub's numeric run id>, "externalRunUrl": "https://github.com/o/r/actions/runs/<id>"}, "steps": <the user's
  steps JSON>}``, steps as in its README (``{"id", "displayName"}``, no status);
* actions-send-status ``src/index.ts`` ``constructRequestData``: ``{"status": run_status or "IN_PROGRESS", "steps":
  [{"id", "status", "userMessage", "systemMessage", "outputs"}]}`` where every action input left unset is ``""``
  (``core.getInput``) and ``outputs`` is the user's ``outputs_json`` (default ``{}``);
* both PATCH ``{runUrl}/status/source/github`` with the run media type as Content-Type and Accept.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from meshpipe.fakes.meshstack import MEDIA_TYPE, FakeMeshStack, FakeRun

TOKEN = "api-token"
RUN_ID = 8123456789
REGISTER = {
    "source": {
        "id": "github",
        "externalRunId": RUN_ID,
        "externalRunUrl": f"https://github.com/o/r/actions/runs/{RUN_ID}",
    },
    "steps": [
        {"id": "terraform-plan", "displayName": "Terraform Plan"},
        {"id": "terraform-apply", "displayName": "Terraform Apply"},
    ],
}


def send_status(
    step_id: str = "",
    step_status: str = "",
    user_message: str = "",
    system_message: str = "",
    run_status: str = "",
    outputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """actions-send-status's ``constructRequestData`` for these action inputs ('' = input not set)."""
    data: dict[str, Any] = {"status": run_status or "IN_PROGRESS"}
    if step_id:
        data["steps"] = [
            {
                "id": step_id,
                "status": step_status,
                "userMessage": user_message,
                "systemMessage": system_message,
                "outputs": outputs if outputs is not None else {},
            }
        ]
    return data


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}


def register(run: FakeRun, body: Any = REGISTER) -> requests.Response:
    return requests.post(f"{run.url}/status/source", json=body, headers=_headers(), timeout=5)


def patch(run: FakeRun, body: Any, source: str = "github") -> requests.Response:
    return requests.patch(f"{run.url}/status/source/{source}", json=body, headers=_headers(), timeout=5)


@pytest.fixture
def run(fake_meshstack: FakeMeshStack) -> FakeRun:
    fake_meshstack.add_api_token(TOKEN)
    return fake_meshstack.create_run()


def set_mode(fake: FakeMeshStack, **body: Any) -> dict[str, str]:
    response = requests.post(f"{fake.url}/_fake/readings", json=body, headers=fake.control_headers(), timeout=5)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_official_actions_whole_flow_passes_under_both_readings(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token(TOKEN)
    for mode in ("strict", "lenient"):
        set_mode(fake_meshstack, mode=mode)
        run = fake_meshstack.create_run()
        assert register(run).status_code == 200
        flow = [
            send_status("terraform-plan", "IN_PROGRESS"),
            send_status("terraform-plan", "SUCCEEDED", "planned", "exit 0"),
            send_status(
                "terraform-apply",
                "SUCCEEDED",
                outputs={"url": {"value": "https://b", "type": "STRING", "isSensitive": False}},
            ),
            send_status(run_status="SUCCEEDED"),
        ]
        for body in flow:
            assert patch(run, body).status_code == 200, (mode, body)
        assert run.status == "SUCCEEDED"
        assert run.sources["github"]["externalRunId"] == str(RUN_ID)


def test_send_status_with_only_outputs_sends_an_empty_step_status(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    register(run)
    body = send_status("terraform-plan", outputs={"n": {"value": "1", "type": "STRING", "isSensitive": False}})
    assert body["steps"][0]["status"] == ""
    strict = patch(run, body)
    assert strict.status_code == 400
    assert "steps[0].status" in strict.json()["message"]
    set_mode(fake_meshstack, rules={"empty_status": "lenient"})
    assert patch(run, body).status_code == 200
    assert run.sources["github"]["steps"][0]["status"] == "PENDING"  # "" changed nothing
    assert run.outputs["n"]["value"] == "1"


def test_empty_run_status_is_read_like_the_step_status(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    register(run)
    assert patch(run, {"status": ""}).status_code == 400
    set_mode(fake_meshstack, mode="lenient")
    assert patch(run, {"status": ""}).status_code == 200
    assert run.status == "IN_PROGRESS"


def test_a_step_update_after_the_terminal_run_status(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    register(run)
    assert patch(run, send_status(run_status="FAILED")).status_code == 200
    late = send_status("terraform-apply", "SUCCEEDED")  # a later send-status step: status defaults to IN_PROGRESS
    assert patch(run, late).status_code == 409
    set_mode(fake_meshstack, rules={"after_terminal": "lenient"})
    assert patch(run, late).status_code == 200
    assert run.status == "FAILED"
    assert run.sources["github"]["steps"][1]["status"] == "PENDING"
    assert any("after its terminal run status" in warning for warning in run.warnings)


def test_send_status_without_register_source(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    body = send_status("deploy", "IN_PROGRESS")
    assert patch(run, body).status_code == 404
    set_mode(fake_meshstack, rules={"unregistered_source": "lenient"})
    assert patch(run, body).status_code == 200
    assert [step["id"] for step in run.sources["github"]["steps"]] == ["deploy"]


def test_register_without_source(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    body = {"steps": REGISTER["steps"]}
    assert register(run, body).status_code == 400
    set_mode(fake_meshstack, rules={"register_without_source": "lenient"})
    assert register(run, body).status_code == 200
    assert len(run.sources["default"]["steps"]) == 2


def test_outputs_without_is_sensitive_as_users_write_outputs_json(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    register(run)
    body = send_status("terraform-apply", "SUCCEEDED", outputs={"arn": {"value": "arn:x", "type": "STRING"}})
    assert patch(run, body).status_code == 200  # default: lenient
    set_mode(fake_meshstack, mode="strict")
    rejected = patch(run, body)
    assert rejected.status_code == 400
    assert "isSensitive" in rejected.json()["message"]


def test_messages_over_500_characters(run: FakeRun, fake_meshstack: FakeMeshStack) -> None:
    register(run)
    long_message = "x" * 501
    assert patch(run, send_status("terraform-plan", "FAILED", system_message=long_message)).status_code == 200
    assert run.sources["github"]["steps"][0]["systemMessage"] == long_message
    set_mode(fake_meshstack, rules={"message_limit": "strict"})
    for field in ("user_message", "system_message"):
        rejected = patch(run, send_status("terraform-plan", "FAILED", **{field: long_message}))
        assert rejected.status_code == 400
        assert "at most 500 characters" in rejected.json()["message"]
    assert patch(run, send_status("terraform-plan", "FAILED", user_message="y" * 500)).status_code == 200


def test_the_switch_reports_validates_and_resets(fake_meshstack: FakeMeshStack) -> None:
    url, headers = f"{fake_meshstack.url}/_fake/readings", fake_meshstack.control_headers()
    defaults = requests.get(url, headers=headers, timeout=5).json()
    assert defaults["after_terminal"] == "strict" and defaults["message_limit"] == "lenient"
    assert set(set_mode(fake_meshstack, mode="lenient").values()) == {"lenient"}
    assert set_mode(fake_meshstack, mode="default") == defaults
    for bad in ({"mode": "loose"}, {"rules": {"nope": "strict"}}, {"rules": {"empty_status": "maybe"}}, {"x": 1}):
        assert requests.post(url, json=bad, headers=headers, timeout=5).status_code == 400, bad
    set_mode(fake_meshstack, mode="strict")
    state = requests.get(f"{fake_meshstack.url}/_fake/state", headers=headers, timeout=5).json()
    assert set(state["readings"].values()) == {"strict"}
    fake_meshstack.reset()
    assert requests.get(url, headers=headers, timeout=5).json() == defaults


def test_the_table_of_unverified_choices_names_every_rule() -> None:
    from pathlib import Path

    from meshpipe.fakes import meshstack_rules

    table = (Path(meshstack_rules.__file__).parent / "unverified.md").read_text(encoding="utf-8")
    for rule in meshstack_rules.Readings().to_dict():
        row = next((line for line in table.splitlines() if line.startswith(f"| `{rule}`")), None)
        assert row is not None, rule
        assert row.rstrip().endswith("| unverified |")
