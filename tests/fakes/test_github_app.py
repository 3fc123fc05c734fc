"""Fake GitHub: GitHub App JWT verification, installation lookup and installation access tokens."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from meshpipe.fakes import github_auth
from meshpipe.fakes.github import FakeGitHub
from tests.fakes.test_github_dispatch import DISPATCH, call

APP_ID = 4242
INSTALLATION_ID = 777


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def make_jwt(key: rsa.RSAPrivateKey, *, alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    payload = {"iat": now - 60, "exp": now + 600, "iss": str(APP_ID), **claims}
    signing_input = f"{_b64(json.dumps({'alg': alg, 'typ': 'JWT'}).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def setup(fake: FakeGitHub, key: rsa.RSAPrivateKey, repositories: list[str] | None = None) -> None:
    fake.add_workflow("acme/infra", "apply.yml")
    fake.add_workflow("acme/other", "apply.yml")
    fake.add_app(APP_ID, INSTALLATION_ID, public_pem(key), repositories=repositories)


def mint(fake: FakeGitHub, jwt: str, body: Any = None, installation: int = INSTALLATION_ID) -> Any:
    return call(fake, "POST", f"/app/installations/{installation}/access_tokens", token=jwt, json=body)


def test_valid_jwt_mints_an_installation_token_that_can_dispatch(
    fake_github: FakeGitHub, key: rsa.RSAPrivateKey
) -> None:
    setup(fake_github, key)
    response = mint(fake_github, make_jwt(key))
    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith("ghs_")
    expires = time.mktime(time.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert 3500 < expires - time.time() <= 3601
    dispatched = call(fake_github, "POST", DISPATCH, token=body["token"], json={"ref": "main"})
    assert dispatched.status_code == 204
    assert fake_github.runs[0].actor.endswith("[bot]")


def test_integer_iss_is_accepted(fake_github: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    setup(fake_github, key)
    assert mint(fake_github, make_jwt(key, iss=APP_ID)).status_code == 201


def test_jwt_signed_with_another_key_answers_401(
    fake_github: FakeGitHub, key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    setup(fake_github, key)
    response = mint(fake_github, make_jwt(other_key))
    assert response.status_code == 401
    assert response.json()["message"] == "A JSON web token could not be decoded"


def test_tampered_claims_fail_signature_check(fake_github: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    setup(fake_github, key)
    header, _, signature = make_jwt(key).split(".")
    forged = _b64(
        json.dumps({"iat": int(time.time()) - 60, "exp": int(time.time()) + 300, "iss": str(APP_ID)}).encode()
    )
    assert mint(fake_github, f"{header}.{forged}.{signature}").status_code == 401


def test_expired_jwt_answers_401(fake_github: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    setup(fake_github, key)
    now = int(time.time())
    response = mint(fake_github, make_jwt(key, iat=now - 700, exp=now - 100))
    assert response.status_code == 401
    assert "'Expiration time' claim ('exp')" in response.json()["message"]


def test_jwt_with_exp_too_far_in_the_future_answers_401(fake_github: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    setup(fake_github, key)
    now = int(time.time())
    response = mint(fake_github, make_jwt(key, iat=now, exp=now + 900))
    assert response.status_code == 401
    assert response.json()["message"] == "'Expiration time' claim ('exp') is too far in the future"


def test_jwt_issued_in_the_future_answers_401(fake_github: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    setup(fake_github, key)
    now = int(time.time())
    assert mint(fake_github, make_jwt(key, iat=now + 120, exp=now + 500)).status_code == 401


def test_jwt_of_unknown_app_answers_401(fake_github: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    setup(fake_github, key)
    assert mint(fake_github, make_jwt(key, iss="999")).status_code == 401


def test_jwt_with_other_algorithm_answers_401(fake_github: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    setup(fake_github, key)
    assert mint(fake_github, make_jwt(key, alg="HS256")).status_code == 401


def test_garbage_jwt_answers_401(fake_github: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    setup(fake_github, key)
    assert mint(fake_github, "eyJnot.a.jwt").status_code == 401


def test_personal_access_token_cannot_mint_installation_tokens(fake_github: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    setup(fake_github, key)
    fake_github.add_token("ghp_pat")
    response = mint(fake_github, "ghp_pat")
    assert response.status_code == 401
    assert response.json()["message"] == "A JSON web token could not be decoded"


def test_jwt_is_not_accepted_for_repository_endpoints(fake_github: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    setup(fake_github, key)
    response = call(fake_github, "POST", DISPATCH, token=make_jwt(key), json={"ref": "main"})
    assert response.status_code == 403


def test_wrong_installation_id_answers_404(fake_github: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    setup(fake_github, key)
    assert mint(fake_github, make_jwt(key), installation=1).status_code == 404


def test_installation_token_is_limited_to_the_apps_repositories(
    fake_github: FakeGitHub, key: rsa.RSAPrivateKey
) -> None:
    setup(fake_github, key, repositories=["acme/infra"])
    token = mint(fake_github, make_jwt(key)).json()["token"]
    assert call(fake_github, "POST", DISPATCH, token=token, json={"ref": "main"}).status_code == 204
    other = call(
        fake_github,
        "POST",
        "/repos/acme/other/actions/workflows/apply.yml/dispatches",
        token=token,
        json={"ref": "main"},
    )
    assert other.status_code == 404


def test_token_request_may_narrow_repositories_but_not_widen_them(
    fake_github: FakeGitHub, key: rsa.RSAPrivateKey
) -> None:
    setup(fake_github, key, repositories=["acme/infra"])
    narrowed = mint(fake_github, make_jwt(key), {"repositories": ["infra"]})
    assert narrowed.status_code == 201
    assert narrowed.json()["repository_selection"] == "selected"
    assert mint(fake_github, make_jwt(key), {"repositories": ["other"]}).status_code == 422


def test_token_with_read_only_actions_permission_cannot_dispatch(
    fake_github: FakeGitHub, key: rsa.RSAPrivateKey
) -> None:
    setup(fake_github, key)
    token = mint(fake_github, make_jwt(key), {"permissions": {"actions": "read"}}).json()["token"]
    response = call(fake_github, "POST", DISPATCH, token=token, json={"ref": "main"})
    assert response.status_code == 403
    assert response.json()["message"] == "Resource not accessible by integration"


def test_repository_installation_is_found_with_the_jwt(fake_github: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    setup(fake_github, key, repositories=["acme/infra"])
    response = call(fake_github, "GET", "/repos/acme/infra/installation", token=make_jwt(key))
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["app_id"]) == (INSTALLATION_ID, APP_ID)
    assert call(fake_github, "GET", "/repos/acme/other/installation", token=make_jwt(key)).status_code == 404


def test_app_tokens_work_on_ghes(fake_ghes: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    setup(fake_ghes, key)
    response = mint(fake_ghes, make_jwt(key))
    assert response.status_code == 201
    assert call(fake_ghes, "POST", DISPATCH, token=response.json()["token"], json={"ref": "main"}).status_code == 204


def test_openssl_fallback_verifies_signatures(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    token = make_jwt(key)
    _, _, data, signature = github_auth.decode_unverified(token)
    assert github_auth._verify_with_openssl(public_pem(key), data, signature)
    assert not github_auth._verify_with_openssl(public_pem(other_key), data, signature)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert github_auth._verify_with_openssl(private.decode(), data, signature)


def test_app_registered_with_its_private_key_pem_also_verifies(fake_github: FakeGitHub, key: rsa.RSAPrivateKey) -> None:
    fake_github.add_workflow("acme/infra", "apply.yml")
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fake_github.add_app(APP_ID, INSTALLATION_ID, private.decode())
    assert mint(fake_github, make_jwt(key)).status_code == 201
