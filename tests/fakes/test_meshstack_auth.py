"""The fake meshStack's credentials: API key login (JSON and form via 307), ready tokens, run tokens, expiry."""

from __future__ import annotations

import base64
import json

import requests

from meshpipe.fakes.meshstack import IDP_TOKEN_PATH, MEDIA_TYPE, FakeMeshStack

HEADERS = {"Accept": MEDIA_TYPE}


def _login(fake: FakeMeshStack, client_id: str = "key-id", secret: str = "key-secret") -> requests.Response:
    return requests.post(f"{fake.url}/api/login", json={"clientId": client_id, "clientSecret": secret}, timeout=5)


def _get(url: str, token: str | None) -> requests.Response:
    headers = dict(HEADERS)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.get(url, headers=headers, timeout=5)


def test_json_login_returns_token_document(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_key("key-id", "key-secret")
    response = _login(fake_meshstack)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert doc["expires_in"] == 300
    assert doc["refresh_expires_in"] == 0
    assert doc["token_type"] == "Bearer"
    assert doc["not-before-policy"] == 0
    assert doc["scope"] == "profile email"
    _header, payload, signature = doc["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["azp"] == "key-id"
    assert claims["iss"].endswith("/auth/realms/meshfed")
    assert claims["exp"] - claims["iat"] == 300
    assert signature


def test_login_lifetime_follows_the_key(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_key("key-id", "key-secret", expires_in=45)
    assert _login(fake_meshstack).json()["expires_in"] == 45


def test_form_login_redirects_307_to_idp_which_answers_the_same_document(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_key("key-id", "key-secret")
    form = {"grant_type": "client_credentials", "client_id": "key-id", "client_secret": "key-secret"}
    first = requests.post(f"{fake_meshstack.url}/api/login", data=form, allow_redirects=False, timeout=5)
    assert first.status_code == 307
    assert first.headers["location"] == fake_meshstack.url + IDP_TOKEN_PATH
    followed = requests.post(f"{fake_meshstack.url}/api/login", data=form, timeout=5)
    assert followed.status_code == 200
    assert [r.status_code for r in followed.history] == [307]
    assert followed.json()["token_type"] == "Bearer"
    run = fake_meshstack.create_run()
    assert _get(run.url, followed.json()["access_token"]).status_code == 200


def test_form_login_with_wrong_secret_fails_401_at_the_idp(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_key("key-id", "key-secret")
    form = {"grant_type": "client_credentials", "client_id": "key-id", "client_secret": "nope"}
    response = requests.post(f"{fake_meshstack.url}/api/login", data=form, timeout=5)
    assert response.status_code == 401


def test_form_login_without_grant_type_is_400(fake_meshstack: FakeMeshStack) -> None:
    form = {"client_id": "key-id", "client_secret": "key-secret"}
    response = requests.post(f"{fake_meshstack.url}/api/login", data=form, timeout=5)
    assert response.status_code == 400
    assert "grant_type" in response.json()["message"]


def test_json_login_with_wrong_secret_or_unknown_key_is_401(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_key("key-id", "key-secret")
    assert _login(fake_meshstack, secret="wrong").status_code == 401
    assert _login(fake_meshstack, client_id="other").status_code == 401


def test_json_login_missing_fields_is_400_naming_them(fake_meshstack: FakeMeshStack) -> None:
    response = requests.post(f"{fake_meshstack.url}/api/login", json={"clientId": "key-id"}, timeout=5)
    assert response.status_code == 400
    assert "clientSecret" in response.json()["message"]


def test_login_with_other_content_type_is_415(fake_meshstack: FakeMeshStack) -> None:
    response = requests.post(f"{fake_meshstack.url}/api/login", data=b"{}", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_get_run_without_token_is_401_with_challenge(fake_meshstack: FakeMeshStack) -> None:
    run = fake_meshstack.create_run()
    response = _get(run.url, None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["message"]


def test_get_run_with_unknown_token_is_401(fake_meshstack: FakeMeshStack) -> None:
    run = fake_meshstack.create_run()
    assert _get(run.url, "not-a-token").status_code == 401


def test_expired_login_token_is_401(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_key("key-id", "key-secret")
    run = fake_meshstack.create_run()
    token = _login(fake_meshstack).json()["access_token"]
    assert _get(run.url, token).status_code == 200
    fake_meshstack.expire_tokens()
    response = _get(run.url, token)
    assert response.status_code == 401
    assert "expired" in response.json()["message"]
    assert _get(run.url, _login(fake_meshstack).json()["access_token"]).status_code == 200


def test_login_token_expires_after_expires_in(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_key("key-id", "key-secret", expires_in=0)
    run = fake_meshstack.create_run()
    assert _get(run.url, _login(fake_meshstack).json()["access_token"]).status_code == 401


def test_expire_tokens_leaves_api_and_run_tokens_valid(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token("ready-token")
    run = fake_meshstack.create_run()
    fake_meshstack.expire_tokens()
    assert _get(run.url, "ready-token").status_code == 200
    assert _get(run.url, run.run_token).status_code == 200


def test_run_token_reads_its_own_run(fake_meshstack: FakeMeshStack) -> None:
    run = fake_meshstack.create_run()
    assert _get(run.url, run.run_token).status_code == 200


def test_run_token_on_another_run_is_403(fake_meshstack: FakeMeshStack) -> None:
    mine, other = fake_meshstack.create_run(), fake_meshstack.create_run()
    response = _get(other.url, mine.run_token)
    assert response.status_code == 403
    assert "run token" in response.json()["message"]
    headers = {"Authorization": f"Bearer {mine.run_token}", "Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}
    body = {"source": {"id": "github"}, "steps": []}
    assert requests.post(f"{other.url}/status/source", json=body, headers=headers, timeout=5).status_code == 403
    assert requests.patch(f"{other.url}/status/source/github", json={}, headers=headers, timeout=5).status_code == 403


def test_api_token_of_an_unrelated_workspace_is_403(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token("stranger", workspace="somebody-else")
    run = fake_meshstack.create_run(workspace="team-alpha", definition_workspace="platform-team")
    assert _get(run.url, "stranger").status_code == 403


def test_api_token_of_the_consuming_workspace_may_read_the_run(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token("ephemeral", workspace="team-alpha")
    run = fake_meshstack.create_run(workspace="team-alpha")
    assert _get(run.url, "ephemeral").status_code == 200


def test_a_key_of_the_consuming_workspace_may_not_report_on_the_run(fake_meshstack: FakeMeshStack) -> None:
    # OpenAPI, register source: "you can only update runs whose underlying building block definitions are owned
    # by the workspace the API key is scoped to". Reading is what the consuming workspace's key may do.
    fake_meshstack.add_api_token("ephemeral", workspace="team-alpha")
    run = fake_meshstack.create_run(workspace="team-alpha", definition_workspace="platform-team")
    headers = {"Authorization": "Bearer ephemeral", "Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}
    body = {"source": {"id": "github"}, "steps": []}
    response = requests.post(f"{run.url}/status/source", json=body, headers=headers, timeout=5)
    assert response.status_code == 403
    assert "platform-team" in response.json()["message"]
    fake_meshstack.add_api_token("owner", workspace="platform-team")
    owner = dict(headers, Authorization="Bearer owner")
    assert requests.post(f"{run.url}/status/source", json=body, headers=owner, timeout=5).status_code == 200
    assert requests.patch(f"{run.url}/status/source/github", json={}, headers=headers, timeout=5).status_code == 403


def test_basic_auth_is_not_accepted(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_key("key-id", "key-secret")
    run = fake_meshstack.create_run()
    response = requests.get(run.url, headers=HEADERS, auth=("key-id", "key-secret"), timeout=5)
    assert response.status_code == 401


def test_idp_refuses_other_grant_types(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_key("key-id", "key-secret")
    form = {"grant_type": "password", "client_id": "key-id", "client_secret": "key-secret"}
    response = requests.post(fake_meshstack.url + IDP_TOKEN_PATH, data=form, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
