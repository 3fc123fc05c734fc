"""Tiny misbehaving HTTP servers on 127.0.0.1 for the reporter's bounds and origin checks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: one accepted connection: gets the socket and the bytes of the request head it read
Behaviour = Callable[[socket.socket, bytes], None]


class RawServer:
    """Accepts connections on 127.0.0.1 and hands each to ``behaviour``; records every request head."""

    def __init__(self, behaviour: Behaviour, *, head: bool = True) -> None:
        self.behaviour = behaviour
        #: wait for a whole HTTP request head before behaving (off for TLS, where the client speaks first in binary)
        self.head = head
        self.requests: list[bytes] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        head = b""
        try:
            while self.head and b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            self.requests.append(head)
            self.behaviour(conn, head)
        except OSError:
            pass
        finally:
            conn.close()

    @property
    def authorizations(self) -> list[bytes]:
        """The Authorization headers received (credentials that reached this server)."""
        return [line for head in self.requests for line in head.split(b"\r\n") if line.lower().startswith(b"auth")]


@contextmanager
def raw_server(behaviour: Behaviour, *, head: bool = True) -> Iterator[RawServer]:
    """A started :class:`RawServer`, stopped afterwards."""
    server = RawServer(behaviour, head=head)
    server._thread.start()
    try:
        yield server
    finally:
        server._stop.set()
        server._thread.join(timeout=5)
        server._sock.close()


def answer_json(body: bytes = b'{"runAborted": false}', status: str = "200 OK") -> Behaviour:
    """Answer every request at once with ``body``."""

    def behave(conn: socket.socket, _head: bytes) -> None:
        conn.sendall(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )

    return behave


def drip(interval: float = 0.2, seconds: float = 30) -> Behaviour:
    """Send a response head one byte per ``interval``, never finishing it (within ``seconds``)."""

    def behave(conn: socket.socket, _head: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            conn.sendall(b"X")
            time.sleep(interval)

    return behave


def endless_body() -> Behaviour:
    """A 200 whose body never ends (no Content-Length, closed only by the client)."""

    def behave(conn: socket.socket, _head: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
        chunk = b"[" * 65536
        for _ in range(100_000):
            conn.sendall(chunk)

    return behave
