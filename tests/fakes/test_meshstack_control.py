"""The fake meshStack's control plane, Python API and HTML status page."""

from __future__ import annotations

import base64
import json

import pytest
import requests

from meshpipe.fakes.meshstack import MEDIA_TYPE, FakeMeshStack, FakeRun

TOKEN = "api-token"


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}


def _report(run: FakeRun, register: dict[str, object], *updates: dict[str, object]) -> None:
    assert requests.post(f"{run.url}/status/source", json=register, headers=_headers(), timeout=5).status_code == 200
    source = register["source"]["id"]  # type: ignore[index]
    for body in updates:
        response = requests.patch(f"{run.url}/status/source/{source}", json=body, headers=_headers(), timeout=5)
        assert response.status_code == 200, response.text


# -- control plane ---------------------------------------------------------------------------------------------------
def test_control_plane_creates_a_run_with_token_and_b64(fake_meshstack: FakeMeshStack) -> None:
    body = {"behavior": "DESTROY", "inputs": {"bucket_name": "x", "count": 2}, "workspace": "team-beta"}
    response = requests.post(
        f"{fake_meshstack.url}/_fake/runs", json=body, headers=fake_meshstack.control_headers(), timeout=5
    )
    assert response.status_code == 201
    view = response.json()
    run = fake_meshstack.run(view["uuid"])
    assert view["runToken"] == run.run_token
    assert view["url"] == run.url == view["_links"]["self"]["href"]
    assert view["spec"]["behavior"] == "DESTROY"
    assert json.loads(base64.b64decode(view["b64"]))["metadata"]["uuid"] == run.uuid
    assert run.object["spec"]["buildingBlock"]["spec"]["workspaceIdentifier"] == "team-beta"
    assert fake_meshstack.log() == []  # control requests stay out of the request log


def test_control_plane_rejects_unknown_keys_and_behaviors(fake_meshstack: FakeMeshStack) -> None:
    url = f"{fake_meshstack.url}/_fake/runs"
    headers = fake_meshstack.control_headers()
    assert requests.post(url, json={"behaviour": "APPLY"}, headers=headers, timeout=5).status_code == 400
    assert requests.post(url, json={"behavior": "PLAN"}, headers=headers, timeout=5).status_code == 400
    assert fake_meshstack.runs == []


def test_control_plane_lists_and_reads_runs_with_history(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token(TOKEN)
    run = fake_meshstack.create_run()
    _report(run, {"source": {"id": "github"}, "steps": [{"id": "a", "displayName": "A"}]}, {"status": "IN_PROGRESS"})
    listed = requests.get(
        f"{fake_meshstack.url}/_fake/runs", headers=fake_meshstack.control_headers(), timeout=5
    ).json()
    assert [r["uuid"] for r in listed] == [run.uuid]
    one = requests.get(
        f"{fake_meshstack.url}/_fake/runs/{run.uuid}", headers=fake_meshstack.control_headers(), timeout=5
    ).json()
    assert one["updates"] == [{"status": "IN_PROGRESS", "sourceId": "github"}]
    assert one["sources"]["github"]["steps"][0]["id"] == "a"
    assert (
        requests.get(
            f"{fake_meshstack.url}/_fake/runs/unknown", headers=fake_meshstack.control_headers(), timeout=5
        ).status_code
        == 404
    )


def test_control_plane_adds_api_keys_and_tokens(fake_meshstack: FakeMeshStack) -> None:
    base = fake_meshstack.url
    key = {"client_id": "cid", "client_secret": "csecret", "expires_in": 60}
    assert (
        requests.post(
            f"{base}/_fake/api-keys", json=key, headers=fake_meshstack.control_headers(), timeout=5
        ).status_code
        == 201
    )
    login = requests.post(f"{base}/api/login", json={"clientId": "cid", "clientSecret": "csecret"}, timeout=5)
    assert login.json()["expires_in"] == 60
    assert (
        requests.post(
            f"{base}/_fake/api-tokens", json={"token": "t0k"}, headers=fake_meshstack.control_headers(), timeout=5
        ).status_code
        == 201
    )
    run = fake_meshstack.create_run()
    headers = {"Accept": MEDIA_TYPE, "Authorization": "Bearer t0k"}
    assert requests.get(run.url, headers=headers, timeout=5).status_code == 200
    assert (
        "csecret" not in requests.get(f"{base}/_fake/state", headers=fake_meshstack.control_headers(), timeout=5).text
    )


def test_control_plane_expires_tokens(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_key("cid", "csecret")
    run = fake_meshstack.create_run()
    token = requests.post(
        f"{fake_meshstack.url}/api/login", json={"clientId": "cid", "clientSecret": "csecret"}, timeout=5
    ).json()["access_token"]
    assert (
        requests.post(
            f"{fake_meshstack.url}/_fake/expire-tokens", headers=fake_meshstack.control_headers(), timeout=5
        ).status_code
        == 200
    )
    headers = {"Accept": MEDIA_TYPE, "Authorization": f"Bearer {token}"}
    assert requests.get(run.url, headers=headers, timeout=5).status_code == 401


def test_control_plane_aborts_a_run(fake_meshstack: FakeMeshStack) -> None:
    run = fake_meshstack.create_run()
    response = requests.post(
        f"{fake_meshstack.url}/_fake/runs/{run.uuid}/abort",
        json={"aborted": True},
        headers=fake_meshstack.control_headers(),
        timeout=5,
    )
    assert response.status_code == 200
    assert run.aborted
    assert response.json()["status"] == "FAILED"


def test_reset_forgets_runs_keys_and_tokens(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token(TOKEN)
    run = fake_meshstack.create_run()
    requests.post(f"{fake_meshstack.url}/_fake/reset", headers=fake_meshstack.control_headers(), timeout=5)
    assert fake_meshstack.runs == []
    with pytest.raises(KeyError):
        fake_meshstack.run(run.uuid)
    fake_meshstack.add_api_token("other")
    again = fake_meshstack.create_run()
    headers = {"Accept": MEDIA_TYPE, "Authorization": f"Bearer {TOKEN}"}
    assert requests.get(again.url, headers=headers, timeout=5).status_code == 401


def test_scripted_fault_answers_before_the_run_api(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token(TOKEN)
    run = fake_meshstack.create_run()
    fake_meshstack.add_fault(status=503, times=1, method="PATCH", retry_after=2)
    _report(run, {"source": {"id": "github"}, "steps": []})
    response = requests.patch(f"{run.url}/status/source/github", json={}, headers=_headers(), timeout=5)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["message"] == "Service Unavailable"
    assert requests.patch(f"{run.url}/status/source/github", json={}, headers=_headers(), timeout=5).status_code == 200


def test_error_bodies_use_the_spring_shape(fake_meshstack: FakeMeshStack) -> None:
    run = fake_meshstack.create_run()
    body = requests.get(run.url, headers={"Accept": MEDIA_TYPE}, timeout=5).json()
    assert set(body) == {"timestamp", "status", "error", "message"}
    assert (body["status"], body["error"]) == (401, "Unauthorized")


def test_inputs_given_as_list_keep_their_types(fake_meshstack: FakeMeshStack) -> None:
    inputs = [{"key": "tags", "value": '["a"]', "type": "CODE"}, {"key": "size", "value": 3}]
    run = fake_meshstack.create_run(inputs=inputs)
    items = run.runner_object["spec"]["buildingBlock"]["spec"]["inputs"]
    assert [(i["key"], i["type"], i["value"]) for i in items] == [("tags", "CODE", '["a"]'), ("size", "INTEGER", 3)]
    shown = run.object["spec"]["buildingBlock"]["spec"]["inputs"]  # the GET view: strings, as described
    assert [i["value"] for i in shown] == ['["a"]', "3"]
    with pytest.raises(ValueError, match="type must be one of"):
        fake_meshstack.create_run(inputs=[{"key": "x", "value": 1, "type": "NUMBER"}])


# -- status page -----------------------------------------------------------------------------------------------------
def test_status_page_lists_runs_newest_first_with_steps_messages_and_outputs(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token(TOKEN)
    fake_meshstack.create_run(display_name="old-block", behavior="DESTROY")
    new = fake_meshstack.create_run(display_name="new-block")
    _report(
        new,
        {"source": {"id": "github", "externalRunUrl": "https://gh.example/runs/1"}, "steps": [
            {"id": "plan", "displayName": "Terraform plan"}, {"id": "apply", "displayName": "Terraform apply"}]},
        {"steps": [{"id": "plan", "status": "SUCCEEDED", "userMessage": "Plan: 3 to add", "systemMessage": "exit 0",
                    "outputs": {"bucket_url": {"value": "https://b", "type": "STRING"}}}]},
        {"status": "SUCCEEDED"},
    )  # fmt: skip
    response = requests.get(f"{fake_meshstack.url}/", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<meta http-equiv="refresh" content="2">' in page
    assert "<script" not in page
    assert page.index("new-block") < page.index("old-block")
    for text in ("DESTROY", "APPLY", "Terraform plan", "Terraform apply", "Plan: 3 to add", "exit 0",
                 "bucket_url", "https://b", "SUCCEEDED", "PENDING", "https://gh.example/runs/1"):  # fmt: skip
        assert text in page, text
    assert "did not report SUCCEEDED" in page  # the warning about 'apply'


def test_status_page_escapes_untrusted_messages(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token(TOKEN)
    run = fake_meshstack.create_run(display_name="<b>block</b>")
    evil = "<script>alert('x')</script>"
    _report(
        run,
        {"source": {"id": "src<i>"}, "steps": [{"id": "s", "displayName": "<img src=x onerror=alert(1)>"}]},
        {"steps": [{"id": "s", "userMessage": evil, "systemMessage": evil,
                    "outputs": {"o": {"value": evil, "type": "STRING"}}}]},
    )  # fmt: skip
    page = requests.get(f"{fake_meshstack.url}/", timeout=5).text
    assert "<script>" not in page
    assert "<img" not in page
    assert "<b>block</b>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "src&lt;i&gt;" in page


def test_status_page_links_only_http_external_run_urls(fake_meshstack: FakeMeshStack) -> None:
    # externalRunUrl is any string a client sends; escaping does not stop a javascript: link from running on click.
    fake_meshstack.add_api_token(TOKEN)
    for source, url in (("evil", "javascript:alert(document.cookie)"), ("data", " data:text/html,<b>x</b>")):
        _report(fake_meshstack.create_run(), {"source": {"id": source, "externalRunUrl": url}, "steps": []})
    _report(fake_meshstack.create_run(), {"source": {"id": "ok", "externalRunUrl": "https://gh.example/runs/7"},
                                          "steps": []})  # fmt: skip
    page = requests.get(f"{fake_meshstack.url}/", timeout=5).text
    assert 'href="javascript:' not in page and 'href=" data:' not in page
    assert "javascript:alert(document.cookie)" in page  # still shown, as text
    assert '<a href="https://gh.example/runs/7">' in page


def test_status_page_hides_sensitive_inputs_and_outputs(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token(TOKEN)
    inputs = [{"key": "SECRET", "value": "canary-input-91", "type": "STRING", "isSensitive": True}]
    run = fake_meshstack.create_run(inputs=inputs)
    _report(
        run,
        {"source": {"id": "github"}, "steps": [{"id": "s", "displayName": "S"}]},
        {
            "steps": [
                {"id": "s", "outputs": {"o": {"value": "canary-output-92", "type": "STRING", "isSensitive": True}}}
            ]
        },
    )
    page = requests.get(f"{fake_meshstack.url}/", timeout=5).text
    assert "canary-input-91" not in page
    assert "canary-output-92" not in page


def test_status_page_without_runs_says_how_to_create_one(fake_meshstack: FakeMeshStack) -> None:
    page = requests.get(f"{fake_meshstack.url}/", timeout=5).text
    assert "No runs yet" in page
    assert "/_fake/runs" in page
