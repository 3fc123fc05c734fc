"""Issue 8, the dispatcher's items: tokens, masking, exactly once across processes, orphans, bounded reads, Retry-After.

Wire behaviour is tested through real sockets on 127.0.0.1: the fake GitHub, or a few lines of raw socket server
where a misbehaving peer is the point (a reset, silence, a drip, an endless body).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from meshpipe.fakes.github import FakeGitHub
from tests.generator.support import DISPATCH_PYTHON as PYTHON
from tests.generator.support import DISPATCH_SCRIPT as SCRIPT
from tests.generator.support import load_dispatcher
from tests.generator.test_dispatch_integration import (
    CANARY,
    REPO,
    WORKFLOW_INPUTS,
    assert_no_secrets,
    one_error_line,
    run_dispatcher,
    setup_repo,
)
from tests.generator.test_dispatch_unit import Clock, make_client


@pytest.fixture
def dispatcher() -> ModuleType:
    """A fresh copy of the dispatcher module, with an empty secret registry (one per process, see Secrets)."""
    return load_dispatcher("meshpipe_dispatch_hardening")


@pytest.fixture
def clock() -> Clock:
    return Clock()


KNOWN_RUN = {"run_id": "run-7f3c", "building_block_id": "bb-1", "fingerprint": "ab12"}


def wait_until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


# ------------------------------------------------------------------------------------------------ item 3: tokens


def test_a_token_with_surrounding_whitespace_is_stripped(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    result = run_dispatcher(fake_github, tmp_path, token=f"  {CANARY}\r\n")
    assert result.returncode == 0, result.stderr
    assert fake_github.dispatches[0].headers["authorization"] == f"Bearer {CANARY}"


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        ("ghp_first\nsecond_CANARY", "a control character"),
        ("ghp_caf\u00e9_CANARY", "a non-ASCII character"),
        ("ghp_\u2603_snowman_CANARY", "a character outside Latin-1"),
        ("   \n", "is empty"),
    ],
)
def test_a_bad_token_is_one_line_naming_the_variable_never_the_value(
    fake_github: FakeGitHub, tmp_path: Path, token: str, kind: str
) -> None:
    """Reproduction (old code): every kind said 'contains spaces or control characters', an empty one too."""
    setup_repo(fake_github)
    line = one_error_line(run_dispatcher(fake_github, tmp_path, token=token))
    assert line.startswith("meshpipe-dispatch: error: GITHUB_TOKEN ") and kind in line
    assert "CANARY" not in line and "first" not in line
    assert fake_github.log() == []


def test_an_app_issued_token_outside_latin1_is_one_line_without_it(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """Reproduction (old code): 'the installation token has unexpected characters', without saying which kind."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    fake_github.add_app(4242, 777, public.decode())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    issued = "ghs_issued_\u2603_CANARY_TOKEN"
    fake_github.add_fault(status=201, method="POST", path=r"/access_tokens$", body={"token": issued})
    env = {"GITHUB_APP_ID": "4242", "GITHUB_APP_INSTALLATION_ID": "777", "GITHUB_APP_PEM_FILE": pem}
    line = one_error_line(run_dispatcher(fake_github, tmp_path, token=None, env=env))
    assert "the installation token from POST " in line and "contains a character outside Latin-1" in line
    assert "CANARY_TOKEN" not in line


# ------------------------------------------------------------------------------------------------ item 5: masking


SECRET = 'p@ss "quoted" back\\slash/ünï-CANARY'


def _secret_input_env() -> tuple[dict[str, str], dict[str, str]]:
    return {"DEPLOY_KEY": SECRET}, {"api_key": "DEPLOY_KEY"}


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(lambda s: {"message": "Invalid input", "errors": [{"value": s}]}, id="json-escaped-in-errors"),
        pytest.param(lambda s: {"message": f"bad value {urllib.parse.quote(s, safe='')}"}, id="url-encoded"),
        pytest.param(lambda s: {"message": f"bad value {urllib.parse.quote_plus(s)}"}, id="form-encoded"),
        pytest.param(lambda s: {"message": "x" * 480 + " " + s}, id="across-the-500-character-cut"),
    ],
)
def test_a_secret_echoed_in_any_encoding_or_across_the_cut_is_masked(
    fake_github: FakeGitHub, tmp_path: Path, echo: Callable[[str], Any]
) -> None:
    """Reproduction (old code): the message was cut to 500 characters before masking, so the secret's start
    survived the cut, and a JSON-escaped (``\\"``, ``\\\\``) or URL-encoded echo was not masked at all."""
    setup_repo(fake_github, inputs={**WORKFLOW_INPUTS, "api_key": {"type": "string", "required": True}})
    fake_github.add_fault(status=422, method="POST", path=r"/dispatches$", body=echo(SECRET))
    env, secret_inputs = _secret_input_env()
    line = one_error_line(run_dispatcher(fake_github, tmp_path, env=env, secret_inputs=secret_inputs))
    assert "***" in line
    for fragment in ("p@ss", "p%40ss", "quoted", "slash", "CANARY"):
        assert fragment not in line


# ------------------------------------------------------------------------------------------------ item 8: exactly once


def _start(fake: FakeGitHub, cwd: Path, **overrides: Any) -> subprocess.Popen[str]:
    """The dispatcher as a background process (to be killed like terraform's child)."""
    config = {
        "api_url": fake.api_url,
        "repository": REPO,
        "workflow": "apply.yml",
        "inputs": {"name": "x"},
        "correlation_input": "correlation_id",
        "wait": True,
        "wait_timeout_seconds": 600,
        "poll_interval_seconds": 0.2,
        **KNOWN_RUN,
        **overrides,
    }
    env = {"PATH": os.environ.get("PATH", ""), "GITHUB_TOKEN": CANARY, "MESHPIPE_DISPATCH": json.dumps(config)}
    return subprocess.Popen([PYTHON, str(SCRIPT), "apply"], cwd=cwd, env=env, text=True, stdout=subprocess.PIPE)


def test_a_new_process_for_the_same_run_picks_up_the_run_a_killed_attempt_started(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """Reproduction (old code): terraform SIGKILLed while the dispatcher waits, the same meshStack run applied
    again -> a second POST and a second workflow run."""
    setup_repo(fake_github, duration=None)
    first = _start(fake_github, tmp_path)
    wait_until(lambda: any('"state": "sent"' in p.read_text() for p in tmp_path.glob(".meshpipe-dispatch-*.json")))
    first.kill()
    first.communicate(timeout=10)
    (run,) = fake_github.runs
    fake_github.complete_run(run.id, "success")
    again = run_dispatcher(fake_github, tmp_path, wait=True, inputs={"name": "x"}, **KNOWN_RUN)
    assert again.returncode == 0, again.stderr
    assert len(fake_github.dispatches) == 1
    (dispatch,) = fake_github.dispatches
    cid = dispatch.inputs["correlation_id"]
    assert f"an earlier attempt already dispatched this (correlation id {cid}): run {run.id}" in again.stdout
    assert f"run {run.id} completed: success" in again.stdout
    assert not list(tmp_path.glob(".meshpipe-dispatch-*"))  # outcome certain: a later apply is a new dispatch


def test_a_post_whose_answer_a_killed_attempt_never_saw_is_found_before_posting_again(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """Reproduction (old code): the first process dies while GitHub is still handling its POST; the next attempt
    posted again at once and the workflow started twice."""
    setup_repo(fake_github, duration=0.2)
    fake_github.add_fault(delay=4, after=True, method="POST", path=r"/dispatches$")
    first = _start(fake_github, tmp_path)
    wait_until(lambda: any(tmp_path.glob(".meshpipe-dispatch-*")))
    time.sleep(0.5)  # the POST is on its way; the fake handles it only after 4 s
    first.kill()
    first.communicate(timeout=10)
    assert fake_github.dispatches == []
    again = run_dispatcher(
        fake_github,
        tmp_path,
        wait=True,
        inputs={"name": "x"},
        env={"MESHPIPE_DISPATCH_SETTLE_SECONDS": "20"},
        **KNOWN_RUN,
    )
    assert again.returncode == 0, again.stderr
    assert "an earlier attempt at this dispatch may have started a run; looking for correlation id" in again.stdout
    assert len(fake_github.dispatches) == 1 and len(fake_github.runs) == 1


def test_an_unchecked_earlier_attempt_without_correlation_input_is_not_sent_again(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    setup_repo(fake_github)
    values = {**KNOWN_RUN, "correlation_input": None, "inputs": {"name": "x"}}
    marker_name = f".meshpipe-dispatch-{_cid(fake_github, tmp_path, values)}.json"
    (tmp_path / marker_name).write_text(json.dumps({"version": 1, "state": "intent", "created": time.time()}))
    line = one_error_line(run_dispatcher(fake_github, tmp_path, **values))
    assert "may have started a run" in line and f"delete {marker_name} to send it anyway" in line
    assert len(fake_github.dispatches) == 1


def _cid(fake: FakeGitHub, cwd: Path, values: dict[str, Any]) -> str:
    """The deterministic correlation id, read back from a dispatch made with ``correlation_input``."""
    probe = run_dispatcher(fake, cwd, **{**values, "correlation_input": "correlation_id"})
    assert probe.returncode == 0, probe.stderr
    return str(fake.dispatches[-1].inputs["correlation_id"])


def test_the_correlation_id_is_deterministic_for_one_logical_dispatch(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    for values in (KNOWN_RUN, KNOWN_RUN, {**KNOWN_RUN, "fingerprint": "cd34"}, {**KNOWN_RUN, "run_id": "other"}):
        assert run_dispatcher(fake_github, tmp_path, **values).returncode == 0
    ids = [d.inputs["correlation_id"] for d in fake_github.dispatches]
    assert ids[0] == ids[1] and len({ids[0], ids[2], ids[3]}) == 3
    random = run_dispatcher(fake_github, tmp_path)
    assert "the correlation id is random" in random.stdout
    assert fake_github.dispatches[-1].inputs["correlation_id"] not in ids
    assert list(tmp_path.iterdir()) == []  # no marker left after a certain outcome, none for a random id


def test_a_failed_run_is_a_certain_outcome_and_a_later_apply_dispatches_again(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    setup_repo(fake_github, conclusion="failure")
    for _ in range(2):
        assert "concluded failure" in one_error_line(run_dispatcher(fake_github, tmp_path, wait=True, **KNOWN_RUN))
    assert len(fake_github.dispatches) == 2


def test_the_search_after_a_maybe_sent_post_backs_off_to_the_list_latency(dispatcher: ModuleType, clock: Clock) -> None:
    """Reproduction (old code): the search polled every poll_interval for 15 s, shorter than the list can lag."""
    assert dispatcher.DEFAULT_SETTLE_SECONDS >= 120
    empty = (200, {}, {"workflow_runs": []})
    client, http = make_client(dispatcher, clock, [empty] * 20, poll_interval_seconds=1)
    assert client.find_run("cid", clock.now, dispatcher.DEFAULT_SETTLE_SECONDS) is None
    assert clock.sleeps[:6] == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert sum(clock.sleeps) == dispatcher.DEFAULT_SETTLE_SECONDS
    assert len(http.requests) <= 14


# ------------------------------------------------------------------------------------------------ item 9: orphans


LAUNCHER = """
import subprocess, sys, time
child = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[1], "w"))
print(child.pid, flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_the_dispatcher_stops_soon_after_terraform_is_killed(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """Reproduction (old code): after terraform's SIGKILL the dispatcher polled GitHub with the token until
    wait_timeout_seconds (here 600 s)."""
    setup_repo(fake_github, duration=None)
    config = {"api_url": fake_github.api_url, "repository": REPO, "workflow": "apply.yml", "inputs": {"name": "x"}}
    config.update(correlation_input="correlation_id", wait=True, wait_timeout_seconds=600, poll_interval_seconds=5)
    env = {"PATH": os.environ.get("PATH", ""), "GITHUB_TOKEN": CANARY, "MESHPIPE_DISPATCH": json.dumps(config)}
    stderr = tmp_path / "stderr"
    terraform = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(stderr), PYTHON, str(SCRIPT), "apply"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert terraform.stdout is not None
    child = int(terraform.stdout.readline())
    wait_until(lambda: len(fake_github.runs) == 1)
    terraform.kill()
    terraform.wait(timeout=10)
    wait_until(lambda: _gone(child), seconds=30)
    assert "terraform (the parent process) is gone: stopping" in stderr.read_text()


# ------------------------------------------------------------------------------------------------ item 10: bounds


def _raw_server(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()


def _read_request(connection: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    while len(body) < length:
        body += connection.recv(65536)


def _endless(connection: socket.socket) -> None:
    _read_request(connection)
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    try:
        for _ in range(64):  # 64 MiB, then the end: the old code read it all and carried on
            connection.sendall(b" " * (1 << 20))
    except OSError:
        pass
    connection.close()


def _drip(connection: socket.socket) -> None:
    _read_request(connection)
    try:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
            connection.sendall(bytes([byte]))
            time.sleep(0.1)
    except OSError:
        pass
    connection.close()


@pytest.fixture
def endless() -> Iterator[str]:
    yield from _raw_server(_endless)


@pytest.fixture
def drip() -> Iterator[str]:
    yield from _raw_server(_drip)


def test_an_endless_response_body_is_cut_at_8_mib(fake_github: FakeGitHub, tmp_path: Path, endless: str) -> None:
    """Reproduction (old code): the whole body was read into memory (5.4 GiB for an endless one)."""
    line = one_error_line(run_dispatcher(fake_github, tmp_path, api_url=endless, correlation_input=None))
    assert "with a body over 8 MiB" in line and "not sent again" in line


def test_a_server_dripping_bytes_cannot_outlive_the_request_deadline(
    fake_github: FakeGitHub, tmp_path: Path, drip: str
) -> None:
    """Reproduction (old code): the timeout applied per read, so one byte every 0.1 s kept the request alive."""
    env = {"MESHPIPE_DISPATCH_HTTP_TIMEOUT_SECONDS": "1.5"}
    line = one_error_line(run_dispatcher(fake_github, tmp_path, env=env, api_url=drip, correlation_input=None))
    assert "no complete answer within 1.5 s" in line


# ------------------------------------------------------------------------------------------------ item 11: Retry-After


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "soon"])
def test_an_unusable_retry_after_falls_back_to_backoff(fake_github: FakeGitHub, tmp_path: Path, value: str) -> None:
    """Reproduction (old code): ``Retry-After: nan`` -> 'internal error: ValueError: Invalid value NaN'."""
    setup_repo(fake_github)
    fake_github.add_fault(status=429, headers={"Retry-After": value}, method="POST", path=r"/dispatches$")
    result = run_dispatcher(fake_github, tmp_path)
    assert result.returncode == 0, result.stderr
    assert post_statuses(fake_github) == [429, 200]
    assert len(fake_github.runs) == 1
    assert_no_secrets(result)


def post_statuses(fake: FakeGitHub) -> list[int]:
    return [r.status for r in fake.log(method="POST") if r.path.endswith("/dispatches")]


# ------------------------------------------------------------------------------------------------ item 14: maybe sent?


def _reset(connection: socket.socket) -> None:
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def _reset_while_receiving(connection: socket.socket) -> None:
    connection.recv(1)  # the request has started to arrive: the client is past connecting, still writing
    _reset(connection)


def _reset_after_reading(connection: socket.socket) -> None:
    _read_request(connection)
    _reset(connection)


def _silent(connection: socket.socket) -> None:
    _read_request(connection)
    time.sleep(5)
    connection.close()


def _closed_port() -> str:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("peer", "body", "maybe_sent"),
    [
        pytest.param(None, {}, False, id="refused-never-sent"),
        pytest.param(_silent, {}, True, id="timeout-maybe-sent"),
        pytest.param(_reset_after_reading, {}, True, id="reset-after-the-request-maybe-sent"),
        # the connection was made: an error while the request is written may still have reached the server
        pytest.param(_reset_while_receiving, {"x": "y" * (16 << 20)}, True, id="reset-while-sending-maybe-sent"),
    ],
)
def test_whether_a_failed_post_may_have_started_a_run(
    dispatcher: ModuleType, peer: Callable[[socket.socket], None] | None, body: dict[str, str], maybe_sent: bool
) -> None:
    """Only a connection that could not be made (refused, a failed DNS lookup, a rejected certificate) proves that
    GitHub never saw the POST; everything after may have started a run and is looked for before posting again.

    Mutations this catches: a refused connection counted as maybe sent; every socket error (formerly every
    ``URLError``) counted as never sent."""
    servers = _raw_server(peer) if peer else iter([_closed_port()])
    url = next(servers)
    try:
        with pytest.raises(dispatcher.TransportError) as info:
            dispatcher.Http("meshpipe-test", deadline=1.0).request("POST", f"{url}/dispatches", body)
    finally:
        for _ in servers:
            pass
    assert info.value.maybe_sent is maybe_sent
    assert dispatcher.post_outcome(None, info.value.maybe_sent, False) == ("check" if maybe_sent else "retry")


def test_the_intent_marker_is_readable_by_its_owner_only(
    dispatcher: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The marker names the repository, the run and its URL: mode 0600 whatever the umask lets through."""
    monkeypatch.chdir(tmp_path)
    previous = os.umask(0o022)
    try:
        dispatcher.Marker("cid").save(state="intent", created=1.0)
    finally:
        os.umask(previous)
    assert (tmp_path / ".meshpipe-dispatch-cid.json").stat().st_mode & 0o777 == 0o600
