"""The dispatcher's HTTP: one request at a time over ``http.client``, with proxies, a custom CA bundle and a total
deadline per request.

Part of the bundled dispatcher (see ``dispatch.py``): HTTP, TLS and signal code is imported inside the functions
that need it, so that importing this module costs nothing on a path that sends nothing.
"""

from __future__ import annotations

import json
import os

from dispatch_base import Clock, ConfigError, DispatchError, TransportError, _reason, add_secret, redact

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Mapping
    from typing import Any

HTTP_TIMEOUT_SECONDS = 30.0
MAX_BODY_BYTES = 8 << 20
#: where a custom CA bundle may be named, first found wins (meshStack's runner passes CUSTOM_CA_CERTS_PATH)
CA_BUNDLE_VARIABLES = ("CUSTOM_CA_CERTS_PATH", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


class Response:
    """An HTTP answer: status, lower-cased headers, raw body."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def json(self) -> Any:
        """The body as JSON, or None when empty or not JSON."""
        try:
            return json.loads(self.body.decode("utf-8")) if self.body else None
        except ValueError:
            return None

    @property
    def message(self) -> str:
        """The server's error message, else the start of the body.

        ``message`` plus any ``errors`` (GitHub; GitLab's ``message`` may be an object of field errors; Azure DevOps
        adds ``typeKey``), else ``error`` plus ``error_description`` (GitLab's and OAuth's form).
        """
        data = self.json()
        if isinstance(data, dict):
            for main, extra in (("message", "errors"), ("error", "error_description")):
                if data.get(main):
                    text = _text(data[main])
                    if data.get(extra):
                        text += " " + _text(data[extra])
                    return _clip(text)
        return _clip(self.body.decode("utf-8", "replace").strip()) or "(empty body)"


def _text(value: Any) -> str:
    """A string as it is, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _clip(text: str, limit: int = 500) -> str:
    """One line of at most ``limit`` characters, secrets masked first: a cut must not leave a secret's start."""
    text = redact(" ".join(text.split()))
    return text if len(text) <= limit else text[:limit] + "..."


class Http:
    """One request at a time over ``http.client``; retries live in the callers.

    ``base_headers`` go with every request (a target's media type and API version); ``token`` (or the one given to
    :meth:`request`) is sent as ``Authorization: Bearer``; other authentication comes through ``headers``.

    ``urllib.request`` is not used: it imports ``tempfile``, ``shutil``, ``hashlib`` and three compressors on every
    run. Proxies follow urllib's rules: ``https_proxy``/``http_proxy`` (lower case first), ``no_proxy`` host suffixes
    (with an optional port) or ``*``; HTTPS goes through a CONNECT tunnel, HTTP in absolute form.
    """

    def __init__(
        self,
        user_agent: str,
        token: str | None = None,
        environ: Mapping[str, str] | None = None,
        deadline: float = HTTP_TIMEOUT_SECONDS,
        clock: Clock | None = None,
        base_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.base_headers = dict(base_headers or {})
        self.clock = clock or Clock()
        self.token = token
        self.deadline = deadline
        self.environ = dict(environ or {})
        self.context = ssl_context(self.environ)

    def _connection(self, url: str) -> tuple[Any, str, dict[str, str]]:
        """A connection for ``url`` (direct or through the proxy), the request target and proxy headers."""
        import http.client

        scheme, _, rest = url.partition("://")
        netloc, slash, path = rest.partition("/")
        target = slash + path or "/"
        direct = http.client.HTTPConnection(netloc)  # only parses host and port
        proxy = _proxy(scheme, direct.host, direct.port, self.environ)
        extra: dict[str, str] = {}
        if proxy is not None:
            credentials = proxy[1]
            if credentials:
                import binascii

                basic = binascii.b2a_base64(credentials.encode("utf-8"), newline=False).decode("ascii")
                add_secret(basic)
                extra["Proxy-Authorization"] = f"Basic {basic}"
        if scheme == "https":
            import ssl

            context = self.context or ssl.create_default_context()
            if proxy is None:
                return http.client.HTTPSConnection(netloc, timeout=self.deadline, context=context), target, {}
            connection = http.client.HTTPSConnection(proxy[0], timeout=self.deadline, context=context)
            connection.set_tunnel(direct.host, direct.port, headers=extra)
            return connection, target, {}
        if proxy is None:
            return http.client.HTTPConnection(netloc, timeout=self.deadline), target, {}
        return http.client.HTTPConnection(proxy[0], timeout=self.deadline), url, extra

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        token: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
    ) -> Response:
        """Send once; raise :class:`TransportError` when no HTTP answer arrives.

        ``body`` is sent as JSON; ``data`` as raw bytes instead (its ``Content-Type`` comes from ``headers``).
        ``headers`` are added to the base headers and override them (names compare case-insensitively).

        Whether a failed request may have started something: not when the connection (TCP, the proxy's tunnel, TLS)
        could not be made — nothing was sent; yes for everything after (a timeout, a reset, a lost answer).
        """
        import http.client

        sent = {**self.base_headers, "User-Agent": self.user_agent}
        bearer = token or self.token
        if bearer:
            sent["Authorization"] = f"Bearer {bearer}"
        if data is None and body is not None:
            data = json.dumps(body).encode("ascii")
            sent["Content-Type"] = "application/json"
        for name, value in (headers or {}).items():
            for existing in [key for key in sent if key.lower() == name.lower()]:
                del sent[existing]
            sent[name] = value
        self.clock.check_parent()
        connection, target, extra = self._connection(url)
        connected = False
        try:
            with _Deadline(self.deadline):
                connection.connect()
                connected = True
                connection.request(method, target, body=data, headers={**sent, **extra})
                answer = connection.getresponse()
                payload = answer.read(MAX_BODY_BYTES + 1)
                status, received = answer.status, dict(answer.getheaders())
        except _Expired:
            reason = f"no complete answer within {self.deadline:g} s"
            raise TransportError(method, url, reason, maybe_sent=connected) from None
        except (OSError, http.client.HTTPException) as exc:
            text = _reason(exc)
            rejected = "CERTIFICATE_VERIFY_FAILED" in text or type(exc).__name__ == "SSLCertVerificationError"
            if rejected:
                text += f" (hint: give the CA bundle's path in {' or '.join(CA_BUNDLE_VARIABLES)})"
            raise TransportError(method, url, text, maybe_sent=connected, permanent=rejected) from None
        except ValueError:
            # http.client rejects control characters in headers; its message would quote the header (the token).
            raise DispatchError(
                f"{method} {url}: invalid request (a header or the URL has control characters)"
            ) from None
        finally:
            connection.close()
        if len(payload) > MAX_BODY_BYTES:
            raise TransportError(method, url, f"answer {status} with a body over {MAX_BODY_BYTES >> 20} MiB", True)
        return Response(status, received, payload)


def _proxy(scheme: str, host: str, port: int, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``(host:port, credentials)`` of the proxy for a request, or None to connect directly (urllib's rules)."""

    def variable(name: str) -> str:
        return (environ.get(name) or environ.get(name.upper()) or "").strip()

    proxy = variable(f"{scheme}_proxy")
    if not proxy:
        return None
    exempt = variable("no_proxy")
    if exempt == "*":
        return None
    for entry in exempt.lower().split(","):
        name, _, only_port = entry.strip().lstrip(".").partition(":")
        matches = host.lower() == name or host.lower().endswith("." + name)
        if name and matches and (not only_port or only_port == str(port)):
            return None
    netloc = proxy.partition("://")[2] if "://" in proxy else proxy
    netloc = netloc.split("/", 1)[0]
    credentials, _, netloc = netloc.rpartition("@")
    if credentials:
        add_secret(credentials)
    return netloc, _unquote(credentials)


def _unquote(text: str) -> str:
    """Percent-decoding (proxy credentials may be percent-encoded in the proxy URL)."""
    out, rest = bytearray(), text
    while "%" in rest:
        head, _, rest = rest.partition("%")
        out += head.encode("utf-8")
        try:
            out.append(int(rest[:2], 16))
            rest = rest[2:]
        except ValueError:
            out += b"%"
    return (out + rest.encode("utf-8")).decode("utf-8", "replace")


class _Expired(Exception):
    """Raised by the alarm when a request outlives its total deadline (not an OSError, which means a socket error)."""


class _Deadline:
    """A total deadline for one request: per-read timeouts alone let a server dripping a byte a second live forever.

    Uses ``SIGALRM`` where it exists and this is the main thread; elsewhere only the per-read timeout applies.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False
        self.previous: Any = None

    def __enter__(self) -> None:
        import signal

        try:
            self.previous = signal.signal(signal.SIGALRM, _expire)
        except (AttributeError, ValueError):  # no SIGALRM (Windows), or not the main thread
            return
        self.armed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            # None: the previous handler was not installed from Python; the default is the closest equivalent.
            signal.signal(signal.SIGALRM, signal.SIG_DFL if self.previous is None else self.previous)


def _expire(signum: int, frame: object) -> None:
    raise _Expired()


def ssl_context(environ: Mapping[str, str]) -> ssl.SSLContext | None:
    """A TLS context that also trusts the CA bundle (file or directory) named by the first variable set, if any."""
    for name in CA_BUNDLE_VARIABLES:
        path = environ.get(name)
        if not path:
            continue
        import ssl

        context = ssl.create_default_context()
        try:
            if os.path.isdir(path):
                context.load_verify_locations(capath=path)
            else:
                context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{name}: cannot load the CA bundle {path}: {_reason(exc)}") from None
        return context
    return None
