"""Unit tests of the bundled dispatcher's pure parts: configuration, retry policy, hints, redaction, App JWTs.

The script is a data file (it ships inside every rendered module), so it is loaded from its path.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

import meshpipe
from meshpipe.generator.render import DISPATCHER_FILES
from tests.generator.support import load_dispatcher

SCRIPT = Path(meshpipe.__file__).parent / "generator" / "assets" / "dispatch.py"
#: the entry point and its siblings
DISPATCHER_PATHS = [SCRIPT.with_name(name) for name in DISPATCHER_FILES]


@pytest.fixture
def dispatcher() -> Iterator[ModuleType]:
    """A fresh copy of the dispatcher module, with an empty secret registry (one per process, see Secrets)."""
    yield load_dispatcher("meshpipe_dispatch_under_test")


def config_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "module": "github-workflow-trigger",
        "api_url": "https://api.github.com",
        "repository": "acme/infra",
        "ref": "main",
        "event": "workflow_dispatch",
        "workflow": "apply.yml",
        "event_type": None,
        "inputs": {"name": "value"},
        "secret_inputs": {},
        "correlation_input": "correlation_id",
        "behavior": None,
        "wait": False,
        "wait_timeout_seconds": 1800,
        "poll_interval_seconds": 10,
        "auth": {"mode": "auto", "token_env": "GITHUB_TOKEN"},
    }
    data.update(overrides)
    return data


def env_for(**overrides: Any) -> dict[str, str]:
    return {"MESHPIPE_DISPATCH": json.dumps(config_data(**overrides))}


# Fixtures in the usual shape (see test_dispatch_integration's); each builds its own thing.
@pytest.fixture
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


# ------------------------------------------------------------------------------------------------ configuration


def test_config_defaults_fill_optional_keys(dispatcher: ModuleType) -> None:
    config = dispatcher.Config({"repository": "acme/infra", "workflow": "apply.yml"})
    assert config.settings.api_url == "https://api.github.com"
    assert config.settings.ref == "main"
    assert config.settings.event == "workflow_dispatch"
    assert config.wait is False
    assert config.wait_timeout == 1800.0
    assert config.poll_interval == 10.0
    assert config.settings.auth["token_env"] == "GITHUB_TOKEN"
    assert config.settings.auth["private_key_env"] == "GITHUB_APP_PEM_FILE"


def test_config_strips_trailing_slash_of_api_url(dispatcher: ModuleType) -> None:
    config = dispatcher.Config.from_env(env_for(api_url="https://ghe.example.com/api/v3/"))
    assert config.settings.api_url == "https://ghe.example.com/api/v3"


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"repository": "no-slash"}, "repository"),
        ({"repository": 42}, "repository"),
        ({"api_url": "ftp://x"}, "api_url"),
        ({"event": "push"}, "event"),
        ({"workflow": None}, "workflow"),
        ({"event": "repository_dispatch", "event_type": None}, "event_type"),
        ({"inputs": {"count": 3}}, "inputs.count"),
        ({"inputs": ["a"]}, "inputs"),
        ({"secret_inputs": {"tok": 1}}, "secret_inputs.tok"),
        ({"secret_inputs": {"name": "ENV"}}, "secret_inputs.name"),
        ({"behavior": 7}, "behavior"),
        ({"context_inputs": {"ws": "tenant"}}, "context_inputs.ws"),
        ({"wait": "yes"}, "wait"),
        ({"wait_timeout_seconds": 0}, "wait_timeout_seconds"),
        ({"poll_interval_seconds": True}, "poll_interval_seconds"),
        ({"auth": {"mode": "oauth"}}, "auth.mode"),
        ({"auth": {"token": "x"}}, "auth.token"),
        ({"version": 2}, "version"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_config_error_names_the_key(dispatcher: ModuleType, overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(dispatcher.ConfigError) as info:
        dispatcher.Config.from_env(env_for(**overrides))
    assert key in str(info.value)
    assert "\n" not in str(info.value)


def test_config_requires_the_environment_variable(dispatcher: ModuleType) -> None:
    with pytest.raises(dispatcher.ConfigError, match="MESHPIPE_DISPATCH is not set"):
        dispatcher.Config.from_env({})
    with pytest.raises(dispatcher.ConfigError, match="not valid JSON"):
        dispatcher.Config.from_env({"MESHPIPE_DISPATCH": "{"})
    with pytest.raises(dispatcher.ConfigError, match="JSON object"):
        dispatcher.Config.from_env({"MESHPIPE_DISPATCH": "[]"})


def test_build_inputs_reads_secrets_and_sets_correlation(dispatcher: ModuleType) -> None:
    config = dispatcher.Config.from_env(env_for(secret_inputs={"api_key": "MY_SECRET"}))
    inputs = dispatcher.build_inputs(config, {"MY_SECRET": "s3cr3t-value"}, "abc123")
    assert inputs == {"name": "value", "api_key": "s3cr3t-value", "correlation_id": "abc123"}
    assert dispatcher.redact("leaked s3cr3t-value here") == "leaked *** here"


def test_build_inputs_names_missing_secret_variable(dispatcher: ModuleType) -> None:
    config = dispatcher.Config.from_env(env_for(secret_inputs={"api_key": "MY_SECRET"}))
    with pytest.raises(dispatcher.ConfigError, match="environment variable MY_SECRET is not set"):
        dispatcher.build_inputs(config, {}, "abc")


def test_build_inputs_without_correlation_input_sends_inputs_unchanged(dispatcher: ModuleType) -> None:
    config = dispatcher.Config.from_env(env_for(correlation_input=None))
    assert dispatcher.build_inputs(config, {}, "abc") == {"name": "value"}


# ------------------------------------------------------------------------------------------------ retry policy


@pytest.mark.parametrize(
    ("status", "headers", "message", "expected"),
    [
        (429, {}, "", True),
        (403, {"x-ratelimit-remaining": "0"}, "", True),
        (403, {"retry-after": "5"}, "", True),
        (403, {}, "You have exceeded a secondary rate limit", True),
        (403, {"x-ratelimit-remaining": "12"}, "Resource not accessible by integration", False),
        (500, {"retry-after": "5"}, "", False),
        (404, {}, "rate limit", False),
    ],
)
def test_is_rate_limited(
    dispatcher: ModuleType, status: int, headers: dict[str, str], message: str, expected: bool
) -> None:
    assert dispatcher.is_rate_limited(status, headers, message) is expected


def test_rate_limit_delay_prefers_retry_after_then_reset_then_a_minute(dispatcher: ModuleType) -> None:
    assert dispatcher.rate_limit_delay({"retry-after": "7", "x-ratelimit-reset": "2000"}, 1000.0) == 7.0
    assert dispatcher.rate_limit_delay({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1030"}, 1000.0) == 31.0
    assert dispatcher.rate_limit_delay({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "900"}, 1000.0) == 1.0
    assert dispatcher.rate_limit_delay({}, 1000.0) == 60.0
    assert dispatcher.rate_limit_delay({"retry-after": "soon"}, 1000.0) is None  # the caller backs off


def test_rate_limit_delay_caps_each_wait(dispatcher: ModuleType) -> None:
    assert dispatcher.rate_limit_delay({"retry-after": "3600"}, 0.0) == dispatcher.MAX_SINGLE_WAIT_SECONDS
    far_reset = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "99999"}
    assert dispatcher.rate_limit_delay(far_reset, 0.0) == dispatcher.MAX_SINGLE_WAIT_SECONDS


def test_backoff_sequence_is_exponential_capped_and_jittered(dispatcher: ModuleType) -> None:
    assert [dispatcher.backoff_delay(n, 0.0) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert [dispatcher.backoff_delay(n, 0.999999) for n in range(1, 4)] == pytest.approx([1.0, 2.0, 4.0], rel=1e-5)


def test_should_retry_get(dispatcher: ModuleType) -> None:
    assert dispatcher.should_retry_get(None)
    assert dispatcher.should_retry_get(429)
    assert dispatcher.should_retry_get(502)
    assert not dispatcher.should_retry_get(404)
    assert not dispatcher.should_retry_get(401)


@pytest.mark.parametrize(
    ("status", "maybe_sent", "limited", "expected"),
    [
        (204, True, False, "done"),
        (200, True, False, "done"),
        (None, False, False, "retry"),  # connection refused: the request never left
        (None, True, False, "check"),  # timeout / dropped: it may have started a run
        (502, True, False, "check"),
        (500, True, False, "check"),
        (429, True, True, "retry"),
        (403, True, True, "retry"),
        (403, True, False, "fail"),
        (404, True, False, "fail"),
        (422, True, False, "fail"),
    ],
)
def test_post_outcome_never_blindly_reposts(
    dispatcher: ModuleType, status: int | None, maybe_sent: bool, limited: bool, expected: str
) -> None:
    assert dispatcher.post_outcome(status, maybe_sent, limited) == expected


def test_match_run_finds_title_with_correlation_id(dispatcher: ModuleType) -> None:
    runs = [
        {"id": 1, "display_title": "deploy 111"},
        "garbage",
        {"id": 2, "display_title": "deploy abc123 for team"},
        {"id": 3, "display_title": "deploy abc123 again"},
    ]
    assert dispatcher.match_run(runs, "abc123")["id"] == 2
    assert dispatcher.match_run(runs, "zzz") is None
    assert dispatcher.match_run([], "abc123") is None


# ------------------------------------------------------------------------------------------------ errors and hints


def test_api_error_is_one_line_with_hint(dispatcher: ModuleType) -> None:
    error = dispatcher.ApiError("POST", "https://x/y", 404, "Not Found", "check it")
    assert (
        dispatcher.format_error(error)
        == "meshpipe-dispatch: error: POST https://x/y -> 404: Not Found (hint: check it)"
    )


@pytest.mark.parametrize(
    ("status", "auth_kind", "fragment"),
    [
        (401, "token", "GITHUB_TOKEN is invalid or expired"),
        (401, "app", "clock"),
        (403, "token", "actions: write"),
        (404, "token", "private repositories answer 404"),
        (404, "token", "default branch"),
        (422, "token", "unexpected or missing inputs"),
        (422, "token", "workflow_dispatch trigger"),
        (503, "token", "server error"),
    ],
)
def test_hint_for_status(dispatcher: ModuleType, status: int, auth_kind: str, fragment: str) -> None:
    config = dispatcher.Config.from_env(env_for())
    assert fragment in dispatcher.hint_for(status, config, auth_kind)


def test_hint_for_rate_limit_and_app_token(dispatcher: ModuleType) -> None:
    config = dispatcher.Config.from_env(env_for())
    assert "rate limit" in dispatcher.hint_for(403, config, "token", rate_limited=True)
    assert "clock skew" in dispatcher.app_token_hint(401)
    assert "installation" in dispatcher.app_token_hint(404)


def test_redact_masks_every_secret_and_ignores_tiny_ones(dispatcher: ModuleType) -> None:
    dispatcher.add_secret("ghp_canary_token_123")
    dispatcher.add_secret("ab")
    dispatcher.add_secret(None)
    text = "Authorization: Bearer ghp_canary_token_123 ab"
    assert dispatcher.redact(text) == "Authorization: Bearer *** ab"
    assert "ghp_canary" not in dispatcher.format_error(dispatcher.DispatchError(text))


def test_redact_masks_a_multi_line_secret_after_whitespace_is_collapsed(dispatcher: ModuleType) -> None:
    # Error lines and GitHub's messages are collapsed to one line before they are printed.
    dispatcher.add_secret("first-secret-line\nsecond  secret-line")
    line = dispatcher.format_error(dispatcher.DispatchError("echoed: first-secret-line\nsecond  secret-line"))
    assert "secret-line" not in line and line.endswith("echoed: ***")
    clipped = dispatcher.Response(422, {}, json.dumps({"message": "x first-secret-line\n second secret-line"}).encode())
    assert "secret-line" not in dispatcher.redact(clipped.message)


# ------------------------------------------------------------------------------------------------ authentication


def test_choose_auth_prefers_token_then_app(dispatcher: ModuleType) -> None:
    config = dispatcher.Config.from_env(env_for())
    assert dispatcher.choose_auth(config, {"GITHUB_TOKEN": "t0ken"}) == "token"
    app_env = {"GITHUB_APP_ID": "1", "GITHUB_APP_INSTALLATION_ID": "2", "GITHUB_APP_PEM_FILE": "x"}
    assert dispatcher.choose_auth(config, app_env) == "app"


def test_choose_auth_names_expected_variables_without_values(dispatcher: ModuleType) -> None:
    config = dispatcher.Config.from_env(env_for())
    with pytest.raises(dispatcher.ConfigError) as info:
        dispatcher.choose_auth(config, {})
    message = str(info.value)
    for name in ("GITHUB_TOKEN", "GITHUB_APP_ID", "GITHUB_APP_INSTALLATION_ID", "GITHUB_APP_PEM_FILE"):
        assert name in message
    with pytest.raises(dispatcher.ConfigError, match=r"incomplete: set GITHUB_APP_PEM_FILE$") as info:
        dispatcher.choose_auth(config, {"GITHUB_APP_ID": "12345", "GITHUB_APP_INSTALLATION_ID": "67890"})
    assert "12345" not in str(info.value)


def test_choose_auth_honours_mode_and_custom_names(dispatcher: ModuleType) -> None:
    config = dispatcher.Config.from_env(env_for(auth={"mode": "token", "token_env": "GH_PAT"}))
    with pytest.raises(dispatcher.ConfigError, match="GH_PAT"):
        dispatcher.choose_auth(config, {"GITHUB_TOKEN": "ignored"})
    app_config = dispatcher.Config.from_env(env_for(auth={"mode": "app"}))
    with pytest.raises(dispatcher.ConfigError, match="GITHUB_APP_ID"):
        dispatcher.choose_auth(app_config, {"GITHUB_TOKEN": "t0ken"})


def test_load_private_key_accepts_text_escaped_newlines_and_path(
    dispatcher: ModuleType, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    pem = pem_of(rsa_key)
    expected = pem.strip().encode() + b"\n"
    assert dispatcher.load_private_key(pem) == expected
    assert dispatcher.load_private_key(pem.strip().replace("\n", "\\n")) == expected
    path = tmp_path / "app.pem"
    path.write_text(pem)
    assert dispatcher.load_private_key(str(path)) == expected


def test_load_private_key_rejects_garbage_without_echoing_it(dispatcher: ModuleType) -> None:
    with pytest.raises(dispatcher.ConfigError) as info:
        dispatcher.load_private_key("not-a-key-SECRETSECRET")
    assert "SECRETSECRET" not in str(info.value)


def test_jwt_claims_follow_github_rules(dispatcher: ModuleType) -> None:
    assert dispatcher.jwt_claims("12345", 1_000_000.7) == {"iat": 999_940, "exp": 1_000_540, "iss": 12345}
    assert dispatcher.jwt_claims("Iv1.abc", 100.0)["iss"] == "Iv1.abc"


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.mark.parametrize("no_cryptography", [False, True], ids=["cryptography", "stdlib"])
def test_make_jwt_is_a_verifiable_rs256_token(
    dispatcher: ModuleType, rsa_key: rsa.RSAPrivateKey, no_cryptography: bool
) -> None:
    environ = {"MESHPIPE_DISPATCH_NO_CRYPTOGRAPHY": "1"} if no_cryptography else {}
    token = dispatcher.make_jwt("42", pem_of(rsa_key).encode(), 1_700_000_000.0, environ)
    header, claims, signature = token.split(".")
    assert json.loads(_b64decode(header)) == {"alg": "RS256", "typ": "JWT"}
    assert json.loads(_b64decode(claims)) == {"iat": 1_699_999_940, "exp": 1_700_000_540, "iss": 42}
    rsa_key.public_key().verify(
        _b64decode(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )


FORMATS = {"pkcs1": serialization.PrivateFormat.TraditionalOpenSSL, "pkcs8": serialization.PrivateFormat.PKCS8}


@pytest.mark.parametrize("form", sorted(FORMATS))
@pytest.mark.parametrize("bits", [2048, 4096])
def test_stdlib_signatures_verify_with_cryptography(dispatcher: ModuleType, form: str, bits: int) -> None:
    """The runner image has no openssl and no guaranteed cryptography: RS256 must work with the standard library."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(serialization.Encoding.PEM, FORMATS[form], serialization.NoEncryption())
    data = b"header.claims"
    signature = dispatcher.sign_rs256_stdlib(pem, data)
    key.public_key().verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    # PKCS#1 v1.5 is deterministic: the same bytes as cryptography's own signature.
    assert signature == key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _unusable_keys() -> dict[str, tuple[bytes, str]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encrypted = serialization.BestAvailableEncryption(b"passphrase")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    return {
        "encrypted-pkcs8": (key.private_bytes(serialization.Encoding.PEM, FORMATS["pkcs8"], encrypted), "encrypted"),
        "encrypted-pkcs1": (key.private_bytes(serialization.Encoding.PEM, FORMATS["pkcs1"], encrypted), "encrypted"),
        "ec-pkcs1": (
            ec_key.private_bytes(serialization.Encoding.PEM, FORMATS["pkcs1"], serialization.NoEncryption()),
            "not an RSA private key",
        ),
        "ec-pkcs8": (
            ec_key.private_bytes(serialization.Encoding.PEM, FORMATS["pkcs8"], serialization.NoEncryption()),
            "not an RSA key",
        ),
        "garbage": (
            b"-----BEGIN RSA PRIVATE KEY-----\nTOPSECRETBYTES\n-----END RSA PRIVATE KEY-----\n",
            "cannot be parsed",
        ),
        "truncated": (
            b"-----BEGIN PRIVATE KEY-----\n"
            + pem_of(key).splitlines()[1][:40].encode()
            + b"\n-----END PRIVATE KEY-----",
            "cannot be parsed",
        ),
    }


UNUSABLE = _unusable_keys()


@pytest.mark.parametrize("no_cryptography", [False, True], ids=["cryptography", "stdlib"])
@pytest.mark.parametrize("name", sorted(UNUSABLE))
def test_an_unusable_key_is_one_line_without_the_key(dispatcher: ModuleType, name: str, no_cryptography: bool) -> None:
    pem, expected = UNUSABLE[name]
    environ = {"MESHPIPE_DISPATCH_NO_CRYPTOGRAPHY": "1"} if no_cryptography else {}
    with pytest.raises(dispatcher.ConfigError) as info:
        dispatcher.sign_rs256(pem, b"data", environ)
    message = str(info.value)
    assert expected in message and "\n" not in message
    for line in pem.decode().splitlines()[1:-1]:
        assert not line or line[:16] not in message


# ------------------------------------------------------------------------------------------------ loops (no sleeping)


class ScriptedHttp:
    """Answers from a script instead of the network; records requests. Only for timing and decision logic."""

    def __init__(self, dispatcher: ModuleType, answers: list[Any]) -> None:
        self.dispatcher = dispatcher
        self.answers = list(answers)
        self.requests: list[tuple[str, str, Any]] = []
        self.token = "t0ken-for-tests"

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        token: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> Any:
        self.requests.append((method, url, json.loads(json.dumps(body)) if body is not None else None))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, headers, payload = answer
        data = json.dumps(payload).encode() if payload is not None else b""
        return self.dispatcher.Response(status, headers, data)


class Clock:
    """A fake clock whose sleep advances time; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def time(self) -> float:
        return self.now

    def seam(self, dispatcher: ModuleType) -> Any:
        """The dispatcher's clock driven by this one: no jitter, one recorded sleep per wait."""
        return dispatcher.Clock(
            sleep=self.sleep, monotonic=self.time, wall=self.time, jitter=lambda: 0.0, check_every=float("inf")
        )


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_client(
    dispatcher: ModuleType, clock: Clock | None, answers: list[Any], **overrides: Any
) -> tuple[Any, ScriptedHttp]:
    config = dispatcher.Config.from_env(env_for(**overrides))
    http = ScriptedHttp(dispatcher, answers)
    return dispatcher.Client(config, http, "token", (clock or Clock()).seam(dispatcher)), http


RUN_DETAILS = {"workflow_run_id": 7, "run_url": "https://api/x/7", "html_url": "https://gh/acme/infra/actions/runs/7"}


def test_dispatch_waits_retry_after_then_posts_again(dispatcher: ModuleType, clock: Clock) -> None:
    client, http = make_client(
        dispatcher, clock, [(429, {"Retry-After": "7"}, {"message": "slow down"}), (200, {}, RUN_DETAILS)]
    )
    assert client.dispatch({"a": "b"}, "cid", 5.0) == (7, RUN_DETAILS["html_url"])
    assert clock.sleeps == [7.0]
    assert [r[0] for r in http.requests] == ["POST", "POST"]


def test_dispatch_gives_up_when_rate_limit_waits_exceed_the_total_bound(dispatcher: ModuleType, clock: Clock) -> None:
    limited = (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "999999"}, {"message": "API rate limit"})
    client, _ = make_client(dispatcher, clock, [limited] * 10)
    with pytest.raises(dispatcher.ApiError, match="rate limit"):
        client.dispatch({}, "cid", 5.0)
    assert sum(clock.sleeps) <= dispatcher.MAX_TOTAL_RATE_LIMIT_WAIT_SECONDS
    assert max(clock.sleeps) <= dispatcher.MAX_SINGLE_WAIT_SECONDS


def test_dispatch_after_502_finds_the_run_instead_of_posting_again(dispatcher: ModuleType, clock: Clock) -> None:
    runs = {"workflow_runs": [{"id": 9, "display_title": "deploy cid-1", "html_url": "https://gh/run/9"}]}
    client, http = make_client(dispatcher, clock, [(502, {}, {"message": "Bad Gateway"}), (200, {}, runs)])
    assert client.dispatch({}, "cid-1", 5.0) == (9, "https://gh/run/9")
    assert [r[0] for r in http.requests] == ["POST", "GET"]
    assert "event=workflow_dispatch" in http.requests[1][1]
    assert "branch=main" in http.requests[1][1]


@pytest.mark.parametrize(("raw", "seconds"), [("", 120.0), ("0", 0.0), ("-3", 0.0), ("1e9", 300.0), ("inf", 300.0)])
def test_settle_seconds_is_bounded(dispatcher: ModuleType, raw: str, seconds: float) -> None:
    assert dispatcher.settle_seconds({"MESHPIPE_DISPATCH_SETTLE_SECONDS": raw}) == seconds


def test_settle_seconds_rejects_nan_which_would_make_the_run_search_endless(dispatcher: ModuleType) -> None:
    with pytest.raises(dispatcher.ConfigError, match="MESHPIPE_DISPATCH_SETTLE_SECONDS"):
        dispatcher.settle_seconds({"MESHPIPE_DISPATCH_SETTLE_SECONDS": "nan"})


@pytest.mark.parametrize(("ref", "branch"), [("refs/heads/main", "main"), ("refs/tags/v1.2", "v1.2"), ("v1.2", "v1.2")])
def test_run_search_filters_by_the_short_branch_or_tag_name(dispatcher: ModuleType, ref: str, branch: str) -> None:
    # GitHub accepts a full ref for the dispatch, but a run's head_branch (the list filter) is the short name.
    client, _ = make_client(dispatcher, None, [], ref=ref)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(client.runs_url(1000.0)).query)
    assert query["branch"] == [branch]


def test_dispatch_after_timeout_reposts_only_when_no_run_appeared(dispatcher: ModuleType, clock: Clock) -> None:
    lost = dispatcher.TransportError("POST", "u", "timed out", maybe_sent=True)
    empty = (200, {}, {"workflow_runs": []})
    client, http = make_client(dispatcher, clock, [lost, empty, empty, (200, {}, RUN_DETAILS)], poll_interval_seconds=1)
    assert client.dispatch({"x": "1"}, "cid", 1.0)[0] == 7
    assert [r[0] for r in http.requests] == ["POST", "GET", "GET", "POST"]
    assert http.requests[0][2] == http.requests[3][2]  # same body, same correlation id


def test_dispatch_after_502_without_correlation_fails_instead_of_risking_a_second_run(
    dispatcher: ModuleType, clock: Clock
) -> None:
    client, http = make_client(dispatcher, clock, [(502, {}, {"message": "Bad Gateway"})], correlation_input=None)
    with pytest.raises(dispatcher.DispatchError, match="correlation_input"):
        client.dispatch({}, "cid", 5.0)
    assert len(http.requests) == 1


def test_dispatch_retries_refused_connection_with_backoff(dispatcher: ModuleType, clock: Clock) -> None:
    refused = dispatcher.TransportError("POST", "u", "refused", maybe_sent=False)
    client, _ = make_client(dispatcher, clock, [refused, refused, (204, {}, None)])
    assert client.dispatch({}, "cid", 5.0) == (None, "")
    assert clock.sleeps == [0.5, 1.0]


def test_dispatch_falls_back_once_without_return_run_details(dispatcher: ModuleType, clock: Clock) -> None:
    rejected = (400, {}, {"message": "Invalid request. return_run_details is not a permitted key."})
    client, http = make_client(dispatcher, clock, [rejected, rejected])
    with pytest.raises(dispatcher.ApiError, match="400"):
        client.dispatch({}, "cid", 5.0)
    assert "return_run_details" in http.requests[0][2]
    assert "return_run_details" not in http.requests[1][2]
    assert len(http.requests) == 2


def test_get_retries_5xx_with_backoff_then_fails_bounded(dispatcher: ModuleType, clock: Clock) -> None:
    client, http = make_client(dispatcher, clock, [(503, {}, {"message": "unavailable"})] * 10)
    with pytest.raises(dispatcher.ApiError, match="503"):
        client.get("https://api/x")
    assert len(http.requests) == dispatcher.MAX_ATTEMPTS
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]


def test_wait_times_out_within_its_bound(dispatcher: ModuleType, clock: Clock) -> None:
    running = (200, {}, {"id": 7, "status": "in_progress", "html_url": "https://gh/run/7"})
    client, _ = make_client(dispatcher, clock, [running] * 100, wait_timeout_seconds=30, poll_interval_seconds=10)
    with pytest.raises(dispatcher.DispatchError, match=r"timed out after 30 s waiting for https://gh/run/7"):
        client.wait(7, "", clock.now)
    assert sum(clock.sleeps) == 30.0


def test_wait_reports_failed_conclusion_with_url(dispatcher: ModuleType, clock: Clock) -> None:
    answers = [
        (200, {}, {"status": "queued"}),
        (200, {}, {"status": "completed", "conclusion": "failure", "html_url": "https://gh/run/7"}),
    ]
    client, _ = make_client(dispatcher, clock, answers)
    with pytest.raises(dispatcher.DispatchError, match="run 7 concluded failure: https://gh/run/7"):
        client.wait(7, "", clock.now)


def test_wait_prints_progress_on_change_and_every_30_seconds(
    dispatcher: ModuleType, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = [(200, {}, {"status": "queued", "html_url": "u"})] * 2 + [(200, {}, {"status": "in_progress"})] * 5
    answers.append((200, {}, {"status": "completed", "conclusion": "success"}))
    client, _ = make_client(dispatcher, clock, answers, poll_interval_seconds=10)
    client.wait(7, "u", clock.now)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "[github-workflow-trigger] run 7 queued (1 s elapsed) u",
        "[github-workflow-trigger] run 7 in_progress (7 s elapsed) u",
        "[github-workflow-trigger] run 7 in_progress (45 s elapsed) u",
        "[github-workflow-trigger] run 7 completed: success u",
    ]
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0]  # polls back off to the interval


# ------------------------------------------------------------------------------------------------ main


def test_main_rejects_unknown_phase(dispatcher: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatcher.main(["dispatch.py", "plan"], env_for()) == 1
    assert capsys.readouterr().err == "meshpipe-dispatch: error: usage: dispatch.py {apply|destroy} (got plan)\n"


@pytest.mark.parametrize("behavior", ["DESTROY", "DETECT"])
def test_main_apply_skips_destroy_and_detect_runs(
    dispatcher: ModuleType, behavior: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # the API URL points at a closed port: any request would fail the run
    environ = env_for(behavior=behavior, api_url="http://127.0.0.1:9")
    assert dispatcher.main(["dispatch.py", "apply"], environ) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert f"behavior {behavior}: not dispatching" in out[0]


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"workflow": None}, "[github-workflow-trigger] no destroy workflow configured: nothing to fire"),
        (
            {"event": "repository_dispatch", "workflow": None, "event_type": None},
            "[github-workflow-trigger] no destroy event type configured: nothing to fire",
        ),
    ],
)
def test_main_destroy_without_a_destroy_target_sends_nothing_and_needs_no_credentials(
    dispatcher: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    overrides: dict[str, Any],
    line: str,
) -> None:
    def no_http(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("no HTTP request may be made")

    monkeypatch.setattr(dispatcher, "Http", no_http)
    # no GITHUB_TOKEN, no App variables, a secret input whose variable is unset, an API URL at a closed port
    environ = env_for(api_url="http://127.0.0.1:9", secret_inputs={"api_key": "SERVICE_API_KEY"}, **overrides)
    assert dispatcher.main(["dispatch.py", "destroy"], environ) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [line]
    assert captured.err == ""


@pytest.mark.parametrize(
    ("overrides", "key"),
    [({"workflow": None}, "workflow"), ({"event": "repository_dispatch", "workflow": None}, "event_type")],
)
def test_main_apply_without_an_apply_target_is_an_error(
    dispatcher: ModuleType, capsys: pytest.CaptureFixture[str], overrides: dict[str, Any], key: str
) -> None:
    environ = {**env_for(api_url="http://127.0.0.1:9", **overrides), "GITHUB_TOKEN": "ghp_unused_token_value"}
    assert dispatcher.main(["dispatch.py", "apply"], environ) == 1
    err = capsys.readouterr().err
    event = overrides.get("event", "workflow_dispatch")
    assert err == f"meshpipe-dispatch: error: MESHPIPE_DISPATCH.{key}: required for event {event}\n"


def test_main_turns_unexpected_exceptions_into_one_redacted_line(
    dispatcher: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(argv: list[str], environ: dict[str, str], clock: Any) -> None:
        dispatcher.add_secret("ghp_canary_in_exception")
        raise RuntimeError("oops ghp_canary_in_exception")

    monkeypatch.setattr(dispatcher, "run", boom)
    assert dispatcher.main(["dispatch.py", "apply"], {}) == 1
    assert capsys.readouterr().err == "meshpipe-dispatch: error: internal error: RuntimeError: oops ***\n"


def test_dispatch_after_502_does_not_repost_when_checking_fails(dispatcher: ModuleType, clock: Clock) -> None:
    client, http = make_client(
        dispatcher, clock, [(502, {}, {"message": "Bad Gateway"}), (404, {}, {"message": "Not Found"})]
    )
    with pytest.raises(dispatcher.DispatchError, match="not sent again"):
        client.dispatch({}, "cid", 5.0)
    assert [r[0] for r in http.requests] == ["POST", "GET"]


def test_get_waits_out_a_rate_limit(dispatcher: ModuleType, clock: Clock) -> None:
    limited = (403, {"retry-after": "3"}, {"message": "You have exceeded a secondary rate limit"})
    client, _ = make_client(dispatcher, clock, [limited, (200, {}, {"ok": True})])
    assert client.get("https://api/x") == {"ok": True}
    assert clock.sleeps == [3.0]


# ------------------------------------------------------------------------------------------------ the file itself


def test_script_parses_as_python_38(dispatcher: ModuleType) -> None:
    for path in DISPATCHER_PATHS:
        ast.parse(path.read_text(encoding="utf-8"), feature_version=(3, 8))


def test_script_imports_only_the_standard_library_and_optional_cryptography() -> None:
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in DISPATCHER_PATHS]
    own = {path.stem for path in DISPATCHER_PATHS}
    imported: set[str] = set()
    for node in (node for tree in trees for node in ast.walk(tree)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) - own == {"cryptography"}
    guarded = [
        node
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Try)
        and any(isinstance(h.type, ast.Name) and h.type.id == "ImportError" for h in node.handlers)
        and any(isinstance(n, ast.ImportFrom) and (n.module or "").startswith("cryptography") for n in node.body)
    ]
    assert guarded, "the cryptography import must be guarded by try/except ImportError"


def test_script_works_with_a_header_line_prepended(tmp_path: Path) -> None:
    for path in DISPATCHER_PATHS:
        text = "# Generated by meshpipe from x.yaml; do not edit.\n" + path.read_text(encoding="utf-8")
        (tmp_path / path.name).write_text(text)
    rendered = tmp_path / "dispatch.py"
    result = subprocess.run(
        [sys.executable, str(rendered), "apply"],
        env={"PATH": os.environ.get("PATH", ""), "MESHPIPE_DISPATCH": json.dumps(config_data(behavior="DETECT"))},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "behavior DETECT" in result.stdout


def test_hint_for_moved_repository(dispatcher: ModuleType) -> None:
    config = dispatcher.Config.from_env(env_for())
    assert "moved or was renamed" in dispatcher.hint_for(301, config, "token")


def test_token_with_control_characters_is_rejected_without_echoing_it(dispatcher: ModuleType) -> None:
    config = dispatcher.Config.from_env(env_for())
    environ = {"GITHUB_TOKEN": "ghp_first_half\nsecond_half_CANARY"}
    with pytest.raises(dispatcher.ConfigError) as info:
        dispatcher.resolve_token(config, environ, None, "token")
    assert str(info.value) == "GITHUB_TOKEN contains a control character; a token is printable ASCII (value not shown)"
    assert "half" not in str(info.value)


def test_module_name_must_be_printable(dispatcher: ModuleType) -> None:
    with pytest.raises(dispatcher.ConfigError, match=r"MESHPIPE_DISPATCH\.module"):
        dispatcher.Config.from_env(env_for(module="name\n"))


def test_hints_depend_on_the_request_not_on_a_string_argument(dispatcher: ModuleType, clock: Clock) -> None:
    not_found = (404, {}, {"message": "Not Found"})
    client, _ = make_client(dispatcher, clock, [not_found])
    with pytest.raises(dispatcher.ApiError, match="actions: read"):
        client.get("https://api/x/runs/7")
    client, _ = make_client(dispatcher, clock, [not_found])
    with pytest.raises(dispatcher.ApiError, match=r"workflow file apply\.yml not found"):
        client.find_run("cid", clock.now, 5.0)
