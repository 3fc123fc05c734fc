"""Issue 8, reporter side: where credentials go, header-safe tokens, bounded requests, masked values, output names."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from meshpipe.fakes.meshstack import FakeMeshStack
from meshpipe.report import ConnectionFailed, ResponseTooLarge
from meshpipe.report.transport import Transport
from tests.report.conftest import Job
from tests.report.servers import answer_json, drip, endless_body, raw_server


def _b64(obj: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("meshpipe: error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


# -- item 2: credentials only to the configured endpoint ---------------------------------------------------------


def test_api_key_login_goes_to_the_endpoint_not_to_the_run_objects_base_url(
    job: Job, fake_meshstack: FakeMeshStack
) -> None:
    """Reproduction: a base64 run object with ``_links.meshstackBaseUrl`` = an attacker's server, and
    ``MESHSTACK_ENDPOINT`` = meshStack; the login (with the API key secret) went to the attacker."""
    fake_meshstack.add_api_key("key-1", "canary-key-secret")
    with raw_server(answer_json(b'{"access_token": "stolen", "expires_in": 300}')) as evil:
        obj = json.loads(json.dumps(job.run.object))
        obj["_links"]["meshstackBaseUrl"] = {"href": evil.url}
        result = job(
            "register",
            "--step",
            "a=A",
            "--run-b64",
            _b64(obj),
            MESHSTACK_RUN_URL="",
            MESHSTACK_RUN_TOKEN="",
            MESHSTACK_ENDPOINT=fake_meshstack.url,
            MESHSTACK_CLIENT_ID="key-1",
            MESHSTACK_CLIENT_SECRET="canary-key-secret",
        )
        assert result.returncode == 0, result.stderr
        assert evil.requests == []
    assert len(fake_meshstack.log(path="/api/login")) == 1


def test_run_url_on_another_origin_than_the_endpoint_is_refused_naming_both(
    job: Job, fake_meshstack: FakeMeshStack
) -> None:
    """Reproduction: ``MESHSTACK_ENDPOINT`` = meshStack, ``buildingBlockRunUrl`` (a dispatch input) = another host;
    the run token went to that host."""
    with raw_server(answer_json()) as evil:
        run_url = f"{evil.url}/api/meshobjects/meshbuildingblockruns/r1"
        line = _one_error_line(
            job("step", "a", "--status", "SUCCEEDED", MESHSTACK_RUN_URL=run_url, MESHSTACK_ENDPOINT=fake_meshstack.url)
        )
        assert evil.url in line and fake_meshstack.url in line and "--allow-foreign-run-url" in line
        assert evil.requests == []


@pytest.mark.parametrize("switch", ["flag", "env"])
def test_a_foreign_run_url_can_be_allowed_explicitly(job: Job, fake_meshstack: FakeMeshStack, switch: str) -> None:
    with raw_server(answer_json()) as other:
        run_url = f"{other.url}/api/meshobjects/meshbuildingblockruns/r1"
        flag = ["--allow-foreign-run-url"] if switch == "flag" else []
        env = {"MESHPIPE_ALLOW_FOREIGN_RUN_URL": "true"} if switch == "env" else {}
        result = job(
            "step", "a", "--status", "SUCCEEDED", *flag, MESHSTACK_RUN_URL=run_url,
            MESHSTACK_ENDPOINT=fake_meshstack.url, **env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert len(other.authorizations) == 1


def test_run_object_links_to_another_origin_get_no_credentials(job: Job) -> None:
    """Reproduction: a base64 run object whose ``registerSource``/``updateSource`` point elsewhere than its own
    origin; the bearer token followed the links."""
    with raw_server(answer_json()) as evil:
        obj = json.loads(json.dumps(job.run.object))
        obj["_links"]["updateSource"] = {"href": f"{evil.url}/x/{{sourceId}}", "templated": True}
        obj["_links"]["registerSource"] = {"href": f"{evil.url}/x"}
        result = job("step", "a", "--status", "SUCCEEDED", "--run-b64", _b64(obj), MESHSTACK_RUN_URL="")
        line = _one_error_line(result)
        assert f"refusing to send meshStack credentials to {evil.url}" in line
        assert evil.requests == []


# -- item 3: tokens from the environment are stripped and validated ----------------------------------------------


@pytest.mark.parametrize("name", ["MESHSTACK_RUN_TOKEN", "MESHSTACK_API_TOKEN"])
def test_a_token_with_surrounding_whitespace_works(job: Job, name: str) -> None:
    """Reproduction: ``MESHSTACK_RUN_TOKEN`` with a trailing newline (``$(cat token)`` keeps none, a secret
    pasted in a UI often has one) ended in a ValueError traceback that printed the token."""
    env = {"MESHSTACK_RUN_TOKEN": "", name: f"  {job.run.run_token}\n"}
    assert job("register", "--step", "a=A", **env).returncode == 0


@pytest.mark.parametrize(
    ("name", "value", "what"),
    [
        ("MESHSTACK_RUN_TOKEN", "canary\nsecret", "a control character at position 7"),
        ("MESHSTACK_RUN_TOKEN", "canary-s€cret", "a non-ASCII character at position 9"),
        ("MESHSTACK_API_TOKEN", "canary secret", "a space at position 7"),
        ("MESHSTACK_CLIENT_SECRET", "canary\x1bsecret", "a control character at position 7"),
    ],
)
def test_a_token_that_cannot_be_sent_fails_with_one_line_naming_the_variable_not_the_value(
    job: Job, name: str, value: str, what: str
) -> None:
    """Reproduction: a non-Latin-1 character in a token gave a traceback (``UnicodeEncodeError``) from the HTTP
    layer; a newline inside one a ``ValueError`` whose message held the token."""
    env = {"MESHSTACK_RUN_TOKEN": "", name: value}
    if name == "MESHSTACK_CLIENT_SECRET":
        env["MESHSTACK_CLIENT_ID"] = "key-1"
    result = job("register", "--step", "a=A", **env)
    line = _one_error_line(result)
    assert f"{name} contains {what}" in line
    assert "canary" not in result.stderr + result.stdout
    assert job.fake.log() == []


def test_a_bad_token_in_the_token_file_fails_with_one_line(job: Job) -> None:
    (job.temp / "meshstack_token.json").write_text(json.dumps({"token": "canary\u2028token"}))
    result = job("register", "--step", "a=A", MESHSTACK_RUN_TOKEN="")
    assert "meshstack_token.json contains a non-ASCII character" in _one_error_line(result)
    assert "canary" not in result.stderr + result.stdout


# -- item 10: bounded reads and a total deadline -----------------------------------------------------------------


def test_a_server_dripping_one_byte_at_a_time_is_cut_off_at_the_total_deadline(job: Job) -> None:
    """Reproduction: a server sending a byte every 0.2 s kept ``meshpipe run step`` alive past every timeout (the
    timeout bounded each read, not the request)."""
    with raw_server(drip(interval=0.2, seconds=60)) as slow:
        run_url = f"{slow.url}/api/meshobjects/meshbuildingblockruns/r1"
        result = job(
            "step", "a", "--status", "SUCCEEDED", MESHSTACK_RUN_URL=run_url, MESHPIPE_TIMEOUT="1",
            MESHPIPE_RETRY_ATTEMPTS="1",
        )  # fmt: skip
    assert "could not connect: no complete answer within 1 s" in _one_error_line(result)


def test_a_tls_handshake_dripping_one_byte_at_a_time_is_cut_off_at_the_total_deadline() -> None:
    """The deadline covers the connection too: a server answering the TLS ClientHello with a record header and
    then one byte every 0.2 s must not keep the handshake alive past it."""

    def tls_drip(conn: Any, _head: bytes) -> None:
        conn.sendall(b"\x16\x03\x03\x40\x00")  # a handshake record of 16 KiB follows... slowly
        for _ in range(300):
            conn.sendall(b"\x00")
            time.sleep(0.2)

    with raw_server(tls_drip, head=False) as slow:
        url = f"https://127.0.0.1:{slow.port}/api/meshobjects/meshbuildingblockruns/r1"
        transport = Transport(timeout=1, attempts=1, base_delay=0)
        with pytest.raises(ConnectionFailed, match="no complete answer within 1 s"):
            transport.send("GET", url, auth=False)


def test_a_proxy_dripping_its_connect_answer_is_cut_off_at_the_total_deadline() -> None:
    """Through ``HTTPS_PROXY`` the CONNECT answer is read line by line, each read with its own timeout: only the
    deadline on the whole exchange stops a proxy that sends one byte every 0.2 s."""
    with raw_server(drip(interval=0.2, seconds=60)) as proxy:
        proxy_url = f"http://user:p%40ss@127.0.0.1:{proxy.port}"
        transport = Transport(timeout=1, attempts=1, base_delay=0, proxy_env={"HTTPS_PROXY": proxy_url})
        with pytest.raises(ConnectionFailed, match="no complete answer within 1 s"):
            transport.send("GET", "https://mesh.example/api/meshobjects/meshbuildingblockruns/r1", auth=False)
        assert proxy.requests[0].startswith(b"CONNECT mesh.example:443 HTTP/1.")
        assert b"\r\nProxy-Authorization: Basic dXNlcjpwQHNz\r\n" in proxy.requests[0]  # user:p@ss


def test_a_plain_http_proxy_gets_the_absolute_url_and_its_credentials_and_loopback_is_direct() -> None:
    with raw_server(answer_json(b'{"ok": true}')) as proxy, raw_server(answer_json(b'{"direct": true}')) as local:
        env = {"http_proxy": f"http://u:pw@127.0.0.1:{proxy.port}", "no_proxy": "other.example"}
        transport = Transport(timeout=10, attempts=1, base_delay=0, proxy_env=env)
        assert transport.send("GET", "http://mesh.example/api/x?a=1", auth=False) == {"ok": True}
        assert proxy.requests[0].startswith(b"GET http://mesh.example/api/x?a=1 HTTP/1.1\r\n")
        assert b"\r\nProxy-Authorization: Basic dTpwdw==\r\n" in proxy.requests[0]
        assert transport.send("GET", f"{local.url}/run", auth=False) == {"direct": True}
        assert len(proxy.requests) == 1


def test_an_endless_response_body_is_not_read_past_the_cap() -> None:
    """Reproduction: an endless body grew the reporter to 4.1 GiB."""
    with raw_server(endless_body()) as endless:
        transport = Transport(
            timeout=20, attempts=3, base_delay=0, max_response_bytes=100_000, trusted_origins=frozenset({endless.url})
        )
        with pytest.raises(ResponseTooLarge, match="exceeds 100000 bytes"):
            transport.send("GET", f"{endless.url}/run", auth=False)
        assert len(endless.requests) == 1  # not retried: a second try would not be smaller


def test_a_declared_oversized_answer_is_refused_before_it_is_read() -> None:
    def huge(conn: Any, _head: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n{")

    with raw_server(huge) as server:
        transport = Transport(timeout=20, attempts=1, base_delay=0, max_response_bytes=1000)
        with pytest.raises(ConnectionFailed, match="exceeds 1000 bytes"):
            transport.send("GET", f"{server.url}/run", auth=False)


# -- item 4: values the job masked never leave the runner --------------------------------------------------------


def test_exec_redacts_values_the_command_masked_and_the_masking_line(job: Job) -> None:
    """Reproduction: a command printing ``::add-mask::canary-masked`` and later the value; the system message sent
    to meshStack held the value twice (the masking line and the use)."""
    job("register", "--step", "apply=Apply")
    script = (
        "print('::add-mask::canary-masked-1'); print('  ::add-mask::canary%0Amulti'); "
        "print('using canary-masked-1 and multi'); raise SystemExit(3)"
    )
    result = job("exec", "apply", "--", sys.executable, "-c", script)
    assert result.returncode == 3
    message = str(job.steps()[0]["systemMessage"])
    assert "canary" not in message, message
    assert "::add-mask::***" in message and "using *** and ***" in message
    # a later step of the same job knows the value too, from the job's state (which keeps no value)
    later = job("step", "apply", "--status", "FAILED", "--user-message", "retry with canary-masked-1")
    assert later.returncode == 0, later.stderr
    assert job.steps()[0]["userMessage"] == "retry with ***"
    assert "canary-masked-1" not in (job.temp / "meshpipe_run_state.json").read_text()


def test_exec_redacts_sensitive_inputs_masked_earlier_through_meshpipe(make_job: Callable[..., Job]) -> None:
    """Reproduction: ``run show --github-output`` masked a sensitive input (``::add-mask::``); a later ``exec``
    whose command printed it sent it to meshStack in the system message."""
    job = make_job(inputs=[{"key": "password", "value": "canary-pw", "type": "STRING", "isSensitive": True}])
    legacy = json.loads(json.dumps(job.run.object))
    legacy["spec"]["buildingBlock"]["spec"]["inputs"][0]["value"] = "canary-pw"
    assert job("show", "--github-output", "--run-b64", _b64(legacy), MESHSTACK_RUN_URL="").returncode == 0
    result = job("exec", "apply", "--", sys.executable, "-c", "print('password is canary-pw')")
    assert result.returncode == 0, result.stderr
    assert job.steps()[0]["systemMessage"] == "password is ***"


# -- item 7: only valid output names reach $GITHUB_OUTPUT --------------------------------------------------------


def test_show_github_output_skips_keys_that_are_not_output_names_with_a_warning(make_job: Callable[..., Job]) -> None:
    """Reproduction: an input key ``behavior=DETECT\\nx`` added a second ``behavior`` output; an input named
    ``behavior`` replaced the run's own."""
    job = make_job(
        behavior="DESTROY",
        inputs=[
            {"key": "behavior=DETECT\nx", "value": "v", "type": "STRING"},
            {"key": "behavior", "value": "APPLY", "type": "STRING"},
            {"key": "ok_name-2", "value": "fine", "type": "STRING"},
        ],
    )
    result = job("show", "--github-output")
    assert result.returncode == 0, result.stderr
    names = re.findall(r"^([^\n<]*)<<ghadelimiter_", job.output.read_text(), flags=re.MULTILINE)
    assert names == ["behavior", "run_url", "ok_name-2"]
    assert re.search(r"behavior\<\<(\S+)\nDESTROY\n\1\n", job.output.read_text())
    assert 'input "behavior=DETECT\\nx" is not a valid output name' in result.stderr
    assert 'input "behavior" would replace a built-in output' in result.stderr


def test_show_masks_sensitive_inputs_of_a_base64_run_without_any_credential(make_job: Callable[..., Job]) -> None:
    """Masking a sensitive input for ``$GITHUB_OUTPUT`` needs no credential and sends nothing."""
    job = make_job(inputs=[{"key": "password", "value": "canary-pw", "type": "STRING", "isSensitive": True}])
    legacy = json.loads(json.dumps(job.run.object))
    legacy["spec"]["buildingBlock"]["spec"]["inputs"][0]["value"] = "canary-pw"
    result = job("show", "--github-output", "--run-b64", _b64(legacy), MESHSTACK_RUN_URL="", MESHSTACK_RUN_TOKEN="")
    assert result.returncode == 0, result.stderr
    assert "::add-mask::canary-pw\n" in result.stdout
    assert job.fake.log() == []
