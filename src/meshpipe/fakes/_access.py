"""Who may talk to a fake. A sandbox runs local commands as workflow bodies, so a web page the developer happens to
open must not drive it (issue 8):

* every request must name the fake's own address in ``Host`` (``127.0.0.1:PORT`` or ``localhost:PORT``), else
  421: a DNS-rebinding page reaches the socket with its own host name;
* a request carrying an ``Origin`` header must come from the fake's own origin, else 403: browsers send ``Origin``
  on cross-origin POSTs, including the "simple" ``text/plain`` ones that need no CORS preflight;
* every ``/_fake/`` request needs the per-process secret in :data:`CONTROL_HEADER`
  (``FakeServer.control_token``, printed by ``meshpipe sandbox`` and ``meshpipe fake``), else 403;
* ``/_fake/`` writes (POST, PUT, PATCH, DELETE) must be ``Content-Type: application/json``, else 415.

The API routes keep their service's own authentication; the HTML status page (``GET /``) needs no secret and shows
no token. ``FakeServer.control_headers()`` gives a client both control headers.
"""

from __future__ import annotations

import secrets

from meshpipe.fakes._wire import HttpError, Request

__all__ = ["CONTROL_HEADER", "CONTROL_PREFIX", "refusal"]

CONTROL_PREFIX = "/_fake"
#: The request header that carries a fake's control-plane secret.
CONTROL_HEADER = "X-Meshpipe-Fake-Control"
_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def own_hosts(host: str, port: int) -> set[str]:
    """The ``Host`` values that name a fake bound to ``host:port``."""
    hosts = {f"{host}:{port}".lower(), f"localhost:{port}"}
    if port == 80:  # a client omits the default port from Host
        hosts |= {host.lower(), "localhost"}
    return hosts


def refusal(request: Request, *, host: str, port: int, control_token: str) -> HttpError | None:
    """Why ``request`` must not reach a handler of the fake at ``host:port`` (foreign Host or Origin, a control-plane
    call without the secret or, for a write, without JSON), or None."""
    hosts = own_hosts(host, port)
    url = f"http://{host}:{port}"
    named = (request.header("host") or "").strip().lower()
    if named not in hosts:
        return HttpError(421, f"Host {named or '(none)'!r} is not this fake's address; use {url}")
    origin = request.header("origin")
    if origin is not None and origin.strip().lower().rstrip("/") not in {f"http://{h}" for h in hosts}:
        return HttpError(403, f"cross-origin request from {origin!r} refused; only {url} may call this fake")
    if not request.path.startswith(CONTROL_PREFIX + "/") and request.path != CONTROL_PREFIX:
        return None
    if not secrets.compare_digest((request.header(CONTROL_HEADER) or "").encode(), control_token.encode()):
        return HttpError(
            403,
            f"control plane: missing or wrong {CONTROL_HEADER} header (the secret printed by "
            "'meshpipe sandbox' / 'meshpipe fake', FakeServer.control_token in Python)",
        )
    if request.method in _WRITE_METHODS and request.media_type != "application/json":
        return HttpError(415, f"control plane: writes need Content-Type application/json, not {request.media_type!r}")
    return None
