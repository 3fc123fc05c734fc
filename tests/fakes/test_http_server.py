"""The shared HTTP machinery of the fakes (``meshpipe.fakes._http``)."""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from meshpipe.fakes import _http
from meshpipe.fakes.meshstack import FakeMeshStack


def test_accepted_sockets_have_tcp_nodelay_so_keep_alive_answers_are_not_held_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 10: the fakes answered keep-alive requests ~44 ms late (Nagle + delayed ACK: headers and body go out in
    separate writes). Without ``disable_nagle_algorithm`` on the handler the accepted socket has TCP_NODELAY 0."""
    seen: list[int] = []
    make_handler = _http._make_handler

    def recording(server: _http.FakeServer) -> type[BaseHTTPRequestHandler]:
        base = make_handler(server)

        class Recording(base):  # type: ignore[valid-type, misc]
            def setup(self) -> None:
                super().setup()
                seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        return Recording

    monkeypatch.setattr(_http, "_make_handler", recording)
    with FakeMeshStack() as server, requests.Session() as session:
        for _ in range(2):
            assert session.get(f"{server.url}/", timeout=5).status_code == 200
    assert seen and all(flag != 0 for flag in seen)
