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

Who may talk to a fake (a sandbox runs local commands as workflow bodies, so a web page the developer happens to
open must not drive it):

* every request must name the fake's own address in ``Host`` (``127.0.0.1:PORT`` or ``localhost:PORT``), else
  421: a DNS-rebinding page reaches the socket with its own host name;
* a request carrying an ``Origin`` header must come from the fake's own origin, else 403: browsers send ``Origin``
  on cross-origin POSTs, including the "simple" ``text/plain`` ones that need no CORS preflight;
* every ``/_fake/`` request needs the per-process secret in :data:`CONTROL_HEADER`
  (:attr:`FakeServer.control_token`, printed by ``meshpipe sandbox`` and ``meshpipe fake``), else 403;
* ``/_fake/`` writes (POST, PUT, PATCH, DELETE) must be ``Content-Type: application/json``, else 415.

The API routes keep their service's own authentication; the HTML status page (``GET /``) needs no secret and shows
no token. :meth:`FakeServer.control_headers` gives a client both control headers.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

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

CONTROL_PREFIX = "/_fake"
#: The request header that carries a fake's control-plane secret.
CONTROL_HEADER = "X-Meshpipe-Fake-Control"
_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
MAX_BODY_BYTES = 64 * 1024 * 1024

Handler = Callable[["Request"], "Response"]
_ServerT = TypeVar("_ServerT", bound="FakeServer")


class HttpError(Exception):
    """Raised by a handler to answer with an error status; the fake renders the body in its service's format."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra


@dataclass
class Request:
    """One parsed request as a handler sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # keys lower-cased
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups of the matched route

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header, case-insensitively."""
        return self.headers.get(name.lower(), default)

    def query_value(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower-cased ('' when absent)."""
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON; a 400 :class:`HttpError` if it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8")) if self.body else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(400, f"Problems parsing JSON: {exc}") from exc


@dataclass
class Response:
    """What a handler returns. ``body`` may be bytes, str, or anything JSON-serialisable (``None`` = no body)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"

    def encoded(self) -> bytes:
        """The body as bytes."""
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


@dataclass
class RecordedRequest:
    """One API request as the fake received it, kept in the request log."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int
    time: float

    def json(self) -> Any:
        """The request body parsed as JSON (``None`` when empty or not JSON)."""
        try:
            return json.loads(self.body) if self.body else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control plane."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body.decode("utf-8", "replace"),
            "status": self.status,
            "time": self.time,
        }


@dataclass
class Fault:
    """A scripted fault for the next ``times`` requests that match ``method`` and the ``path`` regex.

    ``status`` answers with that status (with ``Retry-After`` when ``retry_after`` is set); ``drop`` closes the
    connection without an answer; ``delay`` sleeps first. ``after`` lets the request reach the real handler and
    then drops or replaces the answer (a lost response: the server did the work, the client never heard).
    """

    status: int | None = None
    times: int = 1
    method: str | None = None
    path: str | None = None
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    drop: bool = False
    after: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        if self.times <= 0:
            return False
        if self.method and self.method.upper() != method:
            return False
        return not (self.path and not re.search(self.path, path))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build a fault from control-plane JSON, rejecting unknown keys."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise HttpError(400, f"unknown fault keys: {sorted(unknown)}; known: {sorted(known)}")
        # Checked here: a bad fault would otherwise fail every later request that reaches it, as a 500.
        for key, kinds in _FAULT_TYPES.items():
            value = data.get(key)
            is_bool_key = kinds == (bool,)  # JSON true/false must not pass for a number, nor 1 for a flag
            if value is not None and (not isinstance(value, kinds) or isinstance(value, bool) is not is_bool_key):
                raise HttpError(400, f"fault key {key!r}: expected {' or '.join(k.__name__ for k in kinds)}")
        status = data.get("status")
        if status is not None and not 100 <= status <= 599:
            raise HttpError(400, f"fault key 'status': {status} is not an HTTP status code")
        if data.get("path") is not None:
            try:
                re.compile(data["path"])
            except re.error as exc:
                raise HttpError(400, f"fault key 'path': not a regular expression: {exc}") from None
        return cls(**data)


_FAULT_TYPES: dict[str, tuple[type, ...]] = {
    "status": (int,),
    "times": (int,),
    "retry_after": (int, float),
    "delay": (int, float),
    "drop": (bool,),
    "after": (bool,),
    "headers": (dict,),
    "method": (str,),
    "path": (str,),
}


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

    def _own_hosts(self) -> set[str]:
        hosts = {f"{self.host}:{self.port}".lower(), f"localhost:{self.port}"}
        if self.port == 80:  # a client omits the default port from Host
            hosts |= {self.host.lower(), "localhost"}
        return hosts

    def refusal(self, request: Request) -> HttpError | None:
        """Why a request must not reach a handler (foreign Host or Origin, control plane without secret or JSON)."""
        hosts = self._own_hosts()
        host = (request.header("host") or "").strip().lower()
        if host not in hosts:
            return HttpError(421, f"Host {host or '(none)'!r} is not this fake's address; use {self.url}")
        origin = request.header("origin")
        if origin is not None and origin.strip().lower().rstrip("/") not in {f"http://{h}" for h in hosts}:
            return HttpError(403, f"cross-origin request from {origin!r} refused; only {self.url} may call this fake")
        if not request.path.startswith(CONTROL_PREFIX + "/") and request.path != CONTROL_PREFIX:
            return None
        if not secrets.compare_digest((request.header(CONTROL_HEADER) or "").encode(), self.control_token.encode()):
            return HttpError(
                403,
                f"control plane: missing or wrong {CONTROL_HEADER} header (the secret printed by "
                "'meshpipe sandbox' / 'meshpipe fake', FakeServer.control_token in Python)",
            )
        if request.method in _WRITE_METHODS and request.media_type != "application/json":
            return HttpError(
                415, f"control plane: writes need Content-Type application/json, not {request.media_type!r}"
            )
        return None

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

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default stderr access log; the request log is the record."""

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:  # reading "-1" bytes would block until the client hangs up
                self.send_error(400, "Bad Content-Length")
                return
            if length > MAX_BODY_BYTES:
                self.send_error(413)
                return
            body = self.rfile.read(length) if length else b""
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
            payload = response.encoded()
            self.send_response(response.status)
            if payload or response.status not in (204, 304):
                self.send_header("Content-Type", response.content_type)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    return _Handler
