"""The HTTP machinery both fakes share: a threaded server on 127.0.0.1, routing, a request log, scripted faults
and the ``/_fake/`` control plane.

A fake subclasses :class:`FakeServer`, registers its API routes with :meth:`FakeServer.route`, renders errors in
its service's own format (:meth:`FakeServer.error_body`) and adds control routes with
:meth:`FakeServer.control_route`. Handlers receive a :class:`Request` and return a :class:`Response` or raise
:class:`HttpError`. Everything the handlers touch is guarded by :attr:`FakeServer.lock`.

Control plane (every fake)::

    GET  /_fake/state      the fake's whole state as JSON (``FakeServer.state``)
    GET  /_fake/requests   the request log (API requests only, control requests are not logged)
    POST /_fake/reset      forget all state, faults and the log (``FakeServer.reset``)
    POST /_fake/faults     script faults: {"status": 503, "times": 2, "retry_after": 1, "method": "POST",
                           "path": "regex", "delay": 0.5, "drop": false, "headers": {}, "body": {...}}

Wire hygiene (every fake): bodies framed by ``Content-Length`` or chunked (:mod:`meshpipe.fakes._body`); a body over
:attr:`FakeServer.max_body_bytes` answers 413 unread, an unknown transfer coding 501, a client that stalls for
:attr:`FakeServer.read_timeout` seconds is hung up on (408 inside a body); these answers use the service's error
format and ``Connection: close``.

Who may talk to a fake (own ``Host`` and ``Origin`` only, the control plane with its secret and JSON):
:mod:`meshpipe.fakes._access`.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from meshpipe.fakes._access import CONTROL_HEADER, CONTROL_PREFIX, refusal
from meshpipe.fakes._body import MAX_BODY_BYTES, BodyError, read_body
from meshpipe.fakes._faults import Fault
from meshpipe.fakes._wire import HttpError, RecordedRequest, Request, Response

__all__ = [
    "CONTROL_HEADER",
    "CONTROL_PREFIX",
    "FakeServer",
    "Fault",
    "HttpError",
    "RecordedRequest",
    "Request",
    "Response",
]


Handler = Callable[["Request"], "Response"]
_ServerT = TypeVar("_ServerT", bound="FakeServer")


class _DropConnection(Exception):
    """Internal: close the socket without answering."""


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    control: bool


class FakeServer:
    """A fake HTTP service on ``127.0.0.1`` and an ephemeral port, served from a daemon thread.

    Use as a context manager or call :meth:`start` / :meth:`stop`. Exceptions raised inside handlers (bugs in the
    fake) are answered with 500 and collected; :meth:`raise_errors` re-raises the first one in the test.
    """

    #: Name used in logs and the ``Server`` header.
    name = "fake"
    #: Longer request bodies (``Content-Length`` or chunked) answer 413 without being read.
    max_body_bytes = MAX_BODY_BYTES
    #: Seconds a client may stall while sending a request (or idle between keep-alive requests) before the fake
    #: hangs up (408 when it stalls inside the body); read when the server starts.
    read_timeout: float | None = 60.0

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, control_token: str | None = None) -> None:
        self.host = host
        self.port = port
        #: The control-plane secret (random per server unless passed); send it as :data:`CONTROL_HEADER`.
        self.control_token = control_token or secrets.token_urlsafe(24)
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.errors: list[BaseException] = []
        self._routes: list[_Route] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.control_route("GET", "/state", lambda _req: Response(body=self.state()))
        self.control_route("GET", "/requests", lambda _req: Response(body=[r.to_dict() for r in self.log()]))
        self.control_route("POST", "/reset", self._control_reset)
        self.control_route("POST", "/faults", self._control_faults)

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self: _ServerT) -> _ServerT:
        """Bind the socket and serve in a daemon thread; returns ``self``."""
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"{self.name}:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def serve_forever(self) -> None:
        """Block until interrupted (for running a fake as a process)."""
        if self._thread is None:
            self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def __enter__(self: _ServerT) -> _ServerT:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def control_headers(self) -> dict[str, str]:
        """Headers a control-plane client sends: the secret and the JSON media type writes require."""
        return {CONTROL_HEADER: self.control_token, "Content-Type": "application/json"}

    def refusal(self, request: Request) -> HttpError | None:
        """Why a request must not reach a handler (see :mod:`meshpipe.fakes._access`), or None."""
        return refusal(request, host=self.host, port=self.port, control_token=self.control_token)

    # -- state ---------------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget faults, the request log and collected errors. Subclasses extend this to reset their state."""
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.errors.clear()

    def state(self) -> dict[str, Any]:
        """The fake's state as JSON-friendly data (extended by subclasses)."""
        with self.lock:
            return {"faults": [f.__dict__ for f in self.faults if f.times > 0]}

    def log(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """The API requests received so far, optionally filtered by method and a path regex."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper()) and (path is None or re.search(path, r.path))
            ]

    def add_fault(self, fault: Fault | None = None, **kwargs: Any) -> Fault:
        """Script a fault: ``add_fault(status=503, times=2)`` or ``add_fault(Fault(...))``."""
        fault = fault or Fault(**kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def raise_errors(self) -> None:
        """Re-raise the first exception a handler raised (a bug in the fake), if any."""
        with self.lock:
            if self.errors:
                raise RuntimeError(f"{self.name} server failed while handling a request") from self.errors[0]

    # -- routing -------------------------------------------------------------------------------------------------
    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Decorator registering an API route; ``pattern`` is a regex matched against the whole path."""

        def register(handler: Handler) -> Handler:
            self._routes.append(_Route(method.upper(), re.compile(pattern + r"\Z"), handler, control=False))
            return handler

        return register

    def control_route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register a control-plane route under ``/_fake`` (never logged, never faulted)."""
        self._routes.append(_Route(method.upper(), re.compile(CONTROL_PREFIX + pattern + r"\Z"), handler, True))

    def error_body(self, status: int, message: str, extra: dict[str, Any]) -> Any:
        """The JSON body of an error answer; subclasses render their service's format."""
        return {"status": status, "message": message, **extra}

    def unknown_route(self, request: Request) -> Response:
        """The answer for a path no route matches (subclasses may override)."""
        raise HttpError(404, "Not Found")

    # -- request handling ------------------------------------------------------------------------------------------
    def _control_reset(self, _request: Request) -> Response:
        self.reset()
        return Response(body={"reset": True})

    def _control_faults(self, request: Request) -> Response:
        data = request.json()
        items = data if isinstance(data, list) else [data]
        for item in items:
            if not isinstance(item, dict):
                raise HttpError(400, "a fault is a JSON object")
            self.add_fault(Fault.from_dict(item))
        return Response(status=201, body={"faults": len(items)})

    def _next_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def _dispatch(self, request: Request) -> Response:
        path_allowed: list[str] = []
        for route in self._routes:
            match = route.pattern.match(request.path)
            if not match:
                continue
            if route.method != request.method:
                path_allowed.append(route.method)
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            return route.handler(request)
        if path_allowed:
            raise HttpError(405, "Method Not Allowed", headers={"Allow": ", ".join(sorted(set(path_allowed)))})
        return self.unknown_route(request)

    def _fault_response(self, fault: Fault) -> Response:
        assert fault.status is not None
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers.setdefault("Retry-After", f"{fault.retry_after:g}")
        if fault.body is not None:
            return Response(status=fault.status, body=fault.body, headers=headers)
        phrase = HTTPStatus(fault.status).phrase if fault.status in HTTPStatus._value2member_map_ else "Error"
        return Response(status=fault.status, body=self.error_body(fault.status, phrase, {}), headers=headers)

    def handle(self, request: Request) -> Response:
        """Answer one request: refusals first, then faults, then the matching route; errors become the service's
        error format."""
        refused = self.refusal(request)
        if refused is not None:
            return Response(status=refused.status, body=self.error_body(refused.status, refused.message, refused.extra))
        control = request.path.startswith(CONTROL_PREFIX + "/")
        fault = None if control else self._next_fault(request.method, request.path)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and not fault.after:
            if fault.drop:
                raise _DropConnection
            if fault.status is not None:
                return self._record(request, self._fault_response(fault))
        try:
            with self.lock:
                response = self._dispatch(request)
        except HttpError as exc:
            response = Response(
                status=exc.status, body=self.error_body(exc.status, exc.message, exc.extra), headers=exc.headers
            )
        if fault and fault.after:
            self._record(request, response)
            if fault.drop:
                raise _DropConnection
            if fault.status is not None:
                return self._fault_response(fault)
        return response if control else self._record(request, response)

    def _record(self, request: Request, response: Response) -> Response:
        with self.lock:
            self.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    query=request.query,
                    headers=request.headers,
                    body=request.body,
                    status=response.status,
                    time=time.time(),
                    response_headers={"Content-Type": response.content_type, **response.headers},
                    response_body=response.encoded(),
                )
            )
        return response


def _make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"meshpipe-{server.name}"
        # TCP_NODELAY: headers and body go out in separate writes; with Nagle on, a keep-alive client's delayed ACK
        # holds the second write back ~40 ms, and every benchmark against the fakes measured that (issue 10).
        disable_nagle_algorithm = True
        # A socket timeout: a client that stalls while sending a request (or idles on a keep-alive connection) is cut
        # off after this many seconds instead of holding a server thread for ever.
        timeout = server.read_timeout

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default stderr access log; the request log is the record."""

        def _refuse(self, status: int, message: str) -> None:
            """Answer a request that was not read whole, in the service's error format, and hang up (the rest of
            its body, if any, is still on the wire)."""
            self.close_connection = True
            self._answer(Response(status=status, body=server.error_body(status, message, {})), close=True)

        def _answer(self, response: Response, *, close: bool = False) -> None:
            payload = response.encoded()
            self.send_response(response.status)
            if payload or response.status not in (204, 304):
                self.send_header("Content-Type", response.content_type)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            try:
                body = read_body(self.rfile, self.headers, server.max_body_bytes)
            except BodyError as exc:
                self._refuse(exc.status, exc.message)
                return
            except TimeoutError:  # the client stalled mid-body: its thread is freed, not held until it hangs up
                self._refuse(408, "Request Timeout")
                return
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            try:
                response = server.handle(request)
            except _DropConnection:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            except Exception as exc:  # a bug in the fake: answer 500 and surface it in the test
                with server.lock:
                    server.errors.append(exc)
                traceback.print_exc()
                response = Response(status=500, body={"message": f"fake server error: {exc!r}"})
            self._answer(response)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    return _Handler
