"""HTTP hygiene every fake shares (``meshpipe.fakes._http`` and ``_body``): chunked request bodies are read,
over-long bodies answer 413 unread, a client that stalls is cut off, an unknown transfer coding answers 501.

Spoken over raw sockets where the point is the framing on the wire (no client library would send it wrong).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from meshpipe.fakes._http import FakeServer
from meshpipe.fakes.azure_devops import FakeAzureDevOps
from meshpipe.fakes.github import FakeGitHub
from meshpipe.fakes.gitlab import FakeGitLab
from meshpipe.fakes.meshstack import FakeMeshStack
from meshpipe.fakes.webhook import FakeWebhookReceiver

FAKES: dict[str, Callable[[], FakeServer]] = {
    "github": FakeGitHub,
    "gitlab": FakeGitLab,
    "azure": FakeAzureDevOps,
    "webhook": lambda: FakeWebhookReceiver("s3cret-for-tests"),
    "meshstack": FakeMeshStack,
}
FAULT = {"status": 503, "times": 1, "path": "^/nowhere$"}


@pytest.fixture(params=sorted(FAKES))
def fake(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
    server = FAKES[request.param]()
    server.read_timeout = 0.5
    server.max_body_bytes = 1000
    with server:
        yield server


def _base(fake: FakeServer) -> str:
    return f"http://{fake.host}:{fake.port}"


def _head(fake: FakeServer, extra: str) -> bytes:
    """A control-plane POST /_fake/faults request head (headers end included)."""
    return (
        f"POST /_fake/faults HTTP/1.1\r\nHost: {fake.host}:{fake.port}\r\n"
        f"X-Meshpipe-Fake-Control: {fake.control_token}\r\nContent-Type: application/json\r\n{extra}\r\n"
    ).encode()


def _exchange(fake: FakeServer, data: bytes, *, wait: float = 5.0) -> bytes:
    """Send ``data`` and read until the fake hangs up (or ``wait`` seconds pass)."""
    with socket.create_connection((fake.host, fake.port), timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                piece = sock.recv(65536)
            except TimeoutError:
                break
            if not piece:
                break
            received += piece
        return received


def _status_and_body(answer: bytes) -> tuple[int, bytes, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    return int(lines[0].split()[1]), body, "\r\n".join(lines[1:]).lower()


def test_a_chunked_body_reaches_the_handler_and_the_connection_stays_usable(fake: FakeServer) -> None:
    payload = json.dumps(FAULT).encode()
    chunked = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (payload[:7], payload[7:])) + (
        b"0\r\n\r\n"
    )
    state = (
        f"GET /_fake/state HTTP/1.1\r\nHost: {fake.host}:{fake.port}\r\nX-Meshpipe-Fake-Control: {fake.control_token}"
    )
    answer = _exchange(
        fake,
        _head(fake, "Transfer-Encoding: chunked\r\n") + chunked + (state + "\r\nConnection: close\r\n\r\n").encode(),
    )
    first, _, rest = answer.partition(b"HTTP/1.1 ")[2].partition(b"HTTP/1.1 ")
    assert first.startswith(b"201"), answer
    assert rest.startswith(b"200"), answer  # the next request on the connection was parsed, not the chunk tail
    assert fake.faults and fake.faults[0].path == "^/nowhere$"


def test_a_client_library_streaming_a_body_is_read_whole(fake: FakeServer) -> None:
    """``requests`` sends a generator body chunked; the fake reads the JSON, not an empty body."""
    payload = json.dumps(FAULT).encode()
    answer = requests.post(
        f"{_base(fake)}/_fake/faults",
        data=iter([payload[:5], payload[5:]]),
        headers=fake.control_headers(),
        timeout=5,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"faults": 1}


@pytest.mark.parametrize("framing", ["Content-Length: 5000\r\n", "Transfer-Encoding: chunked\r\n"])
def test_an_over_long_body_answers_413_in_the_service_format_without_being_read(fake: FakeServer, framing: str) -> None:
    body = b"" if framing.startswith("Content-Length") else b"7d0\r\n" + b"x" * 2000 + b"\r\n0\r\n\r\n"
    started = time.monotonic()
    status, payload, headers = _status_and_body(_exchange(fake, _head(fake, framing) + body))
    assert status == 413
    assert "connection: close" in headers
    assert "application/json" in headers
    json.loads(payload)  # the service's error body, not http.server's HTML page
    assert time.monotonic() - started < 2  # answered at once, not after waiting for 5000 bytes
    assert not fake.faults


def test_a_client_that_stalls_mid_body_gets_408_and_is_hung_up_on(fake: FakeServer) -> None:
    started = time.monotonic()
    answer = _exchange(fake, _head(fake, "Content-Length: 100\r\n") + b'{"sta')
    assert _status_and_body(answer)[0] == 408
    assert time.monotonic() - started < 3


def test_a_client_that_stalls_in_the_request_head_is_hung_up_on(fake: FakeServer) -> None:
    started = time.monotonic()
    assert _exchange(fake, b"GET /_fake/state HTTP/1.1\r\nHost: 127.0.0.1\r\n") == b""
    assert time.monotonic() - started < 3


def test_an_unknown_transfer_coding_answers_501(fake: FakeServer) -> None:
    status, _, headers = _status_and_body(_exchange(fake, _head(fake, "Transfer-Encoding: gzip, chunked\r\n")))
    assert status == 501
    assert "connection: close" in headers


def test_a_malformed_chunk_answers_400(fake: FakeServer) -> None:
    answer = _exchange(fake, _head(fake, "Transfer-Encoding: chunked\r\n") + b"zz\r\nabc\r\n0\r\n\r\n")
    assert _status_and_body(answer)[0] == 400
