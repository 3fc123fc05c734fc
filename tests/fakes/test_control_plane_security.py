"""Who may drive a fake: its own address in ``Host``, its own ``Origin`` (or none), the control-plane secret on every
``/_fake/`` request and JSON for control-plane writes (issue 8, item 1).

Reproductions (each failed before the fix): a web page the developer opens posts ``text/plain`` cross-origin (no
CORS preflight) to ``/_fake/workflows`` and replaces a workflow's command; a DNS-rebinding page reaches the socket as
``evil.example:PORT`` and reads ``/_fake/state`` with every token, or dispatches; any local process without the
secret scripts faults or resets the fake.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
import requests

from meshpipe.fakes._http import CONTROL_HEADER, FakeServer
from meshpipe.fakes.github import FakeGitHub
from meshpipe.fakes.meshstack import FakeMeshStack
from meshpipe.sandbox import Sandbox
from tests.fakes.test_github_dispatch import DISPATCH, HEADERS, TOKEN

ATTACK_COMMAND = ["sh", "-c", "echo pwned > /tmp/meshpipe-pwned"]


def raw(server: FakeServer, method: str, path: str, *, headers: dict[str, str], body: bytes = b"") -> tuple[int, str]:
    """Send one request with exactly these headers (``Host`` included) and return (status, body)."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def own_host(server: FakeServer) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture(params=["github", "gitlab", "meshstack"])
def server(request: pytest.FixtureRequest) -> FakeServer:
    return request.getfixturevalue(f"fake_{request.param}")  # type: ignore[no-any-return]


def test_cross_origin_text_plain_post_cannot_replace_a_workflow_command(fake_github: FakeGitHub) -> None:
    fake_github.add_workflow("acme/infra", "apply.yml")
    body = json.dumps({"full_name": "acme/infra", "file": "apply.yml", "command": ATTACK_COMMAND}).encode()
    # What a browser sends for <form enctype="text/plain"> or fetch(..., {mode: "no-cors"}) from another page.
    page_request = {"Host": own_host(fake_github), "Origin": "http://evil.example", "Content-Type": "text/plain"}
    status, text = raw(fake_github, "POST", "/_fake/workflows", headers=page_request, body=body)
    assert status == 403
    assert "cross-origin" in text
    # Even a page that somehow learnt the secret is refused for its Origin.
    status, _ = raw(
        fake_github,
        "POST",
        "/_fake/workflows",
        headers={**page_request, CONTROL_HEADER: fake_github.control_token},
        body=body,
    )
    assert status == 403
    assert fake_github.repositories["acme/infra"].workflows["apply.yml"].command is None


def test_control_write_with_the_secret_but_not_json_is_refused(server: FakeServer) -> None:
    headers = {"Host": own_host(server), CONTROL_HEADER: server.control_token, "Content-Type": "text/plain"}
    status, text = raw(server, "POST", "/_fake/faults", headers=headers, body=b'{"status": 503}')
    assert status == 415
    assert "application/json" in text
    assert server.faults == []
    status, _ = raw(
        server, "POST", "/_fake/reset", headers={"Host": own_host(server), CONTROL_HEADER: server.control_token}
    )
    assert status == 415


def test_rebinding_host_cannot_read_state_or_dispatch(fake_github: FakeGitHub) -> None:
    fake_github.add_token(TOKEN)
    fake_github.add_workflow("acme/infra", "apply.yml")
    evil = {"Host": f"evil.example:{fake_github.port}"}
    status, text = raw(fake_github, "GET", "/_fake/state", headers={**evil, CONTROL_HEADER: fake_github.control_token})
    assert status == 421
    assert TOKEN not in text
    dispatch = {**evil, **HEADERS, "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    status, _ = raw(fake_github, "POST", DISPATCH, headers=dispatch, body=b'{"ref": "main"}')
    assert status == 421
    assert fake_github.dispatches == []


def test_rebinding_host_cannot_read_the_meshstack_status_page_or_a_run(fake_meshstack: FakeMeshStack) -> None:
    run = fake_meshstack.create_run()
    evil = {"Host": f"evil.example:{fake_meshstack.port}"}
    assert raw(fake_meshstack, "GET", "/", headers=evil)[0] == 421
    path = f"/api/meshobjects/meshbuildingblockruns/{run.uuid}"
    status, text = raw(fake_meshstack, "GET", path, headers={**evil, "Authorization": f"Bearer {run.run_token}"})
    assert status == 421
    assert run.uuid not in text


@pytest.mark.parametrize("host", ["", "127.0.0.1", "127.0.0.2:{port}", "localhost:1", "127.0.0.1:{port}.evil"])
def test_any_host_but_the_bound_address_is_refused(server: FakeServer, host: str) -> None:
    headers = {"Host": host.format(port=server.port)} if host else {}
    assert raw(server, "GET", "/_fake/state", headers={**headers, CONTROL_HEADER: server.control_token})[0] == 421


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}"])
def test_the_bound_address_and_localhost_are_accepted(server: FakeServer, host: str) -> None:
    headers = {"Host": host.format(port=server.port), CONTROL_HEADER: server.control_token}
    assert raw(server, "GET", "/_fake/state", headers=headers)[0] == 200


def test_control_call_without_the_secret_is_refused(server: FakeServer) -> None:
    server.add_fault(status=503, times=5)
    for headers in ({}, {CONTROL_HEADER: ""}, {CONTROL_HEADER: server.control_token + "x"}):
        status, text = raw(server, "GET", "/_fake/state", headers={"Host": own_host(server), **headers})
        assert status == 403
        assert CONTROL_HEADER in text
        assert server.control_token not in text
        write = {"Host": own_host(server), "Content-Type": "application/json", **headers}
        assert raw(server, "POST", "/_fake/reset", headers=write, body=b"{}")[0] == 403
    assert len(server.faults) == 1  # nothing was reset


def test_control_calls_with_the_secret_work_and_own_origin_is_welcome(server: FakeServer) -> None:
    origin = {"Origin": server.url}
    assert requests.get(f"{server.url}/_fake/state", headers=server.control_headers(), timeout=5).status_code == 200
    headers = {**server.control_headers(), **origin}
    reset = requests.post(f"{server.url}/_fake/reset", headers=headers, json={}, timeout=5)
    assert reset.status_code == 200


def test_each_server_has_its_own_random_secret_unless_one_is_passed() -> None:
    first, second = FakeMeshStack(), FakeMeshStack()
    assert first.control_token != second.control_token
    assert len(first.control_token) >= 24
    assert FakeGitHub(control_token="fixed").control_token == "fixed"
    assert FakeGitHub(control_token="fixed").control_headers() == {
        CONTROL_HEADER: "fixed",
        "Content-Type": "application/json",
    }


def test_status_page_needs_no_secret_and_never_shows_a_token(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token("canary-api-token-55")
    run = fake_meshstack.create_run(inputs={"name": "x"})
    page = requests.get(f"{fake_meshstack.url}/", timeout=5)
    assert page.status_code == 200
    assert run.uuid in page.text
    for secret in (run.run_token, run.b64, fake_meshstack.control_token, "canary-api-token-55"):
        assert secret not in page.text
    assert (
        requests.get(f"{fake_meshstack.url}/", headers={"Origin": "http://evil.example"}, timeout=5).status_code == 403
    )


def test_api_requests_from_a_foreign_origin_are_refused(fake_github: FakeGitHub) -> None:
    fake_github.add_token(TOKEN)
    fake_github.add_workflow("acme/infra", "apply.yml")
    headers = {**HEADERS, "Authorization": f"Bearer {TOKEN}", "Origin": "null"}
    response = requests.post(f"{fake_github.api_url}{DISPATCH}", json={"ref": "main"}, headers=headers, timeout=5)
    assert response.status_code == 403
    assert fake_github.dispatches == []


def test_refused_requests_stay_out_of_the_request_log_and_do_not_use_up_faults(fake_github: FakeGitHub) -> None:
    fake_github.add_fault(status=503, times=1)
    raw(fake_github, "GET", "/repos/acme/infra", headers={"Host": "evil.example"})
    assert fake_github.log() == []
    assert fake_github.faults[0].times == 1


def test_sandbox_prints_one_control_secret_that_drives_both_fakes() -> None:
    with Sandbox() as box:
        secret = box.credentials.control_token
        assert f"control secret:            {secret}" in box.describe()
        assert box.exports()["MESHPIPE_FAKE_CONTROL_TOKEN"] == secret
        headers: dict[str, Any] = {CONTROL_HEADER: secret}
        for server in (box.github, box.meshstack):
            assert requests.get(f"{server.url}/_fake/state", headers=headers, timeout=5).status_code == 200
            assert requests.get(f"{server.url}/_fake/state", timeout=5).status_code == 403
