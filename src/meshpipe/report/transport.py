"""HTTP to meshStack: media types, bearer auth (tokens from :mod:`meshpipe.report.credentials`), retries with
backoff, bounds on every request.

Retry rules (the same as meshcloud's Terraform provider, plus connection errors): 429 honouring ``Retry-After``,
502/503/504 and connection failures or timeouts, with bounded exponential backoff and jitter; one progress line per
retry. Every request the reporter makes is safe to repeat: a PATCH sets absolute states, and a repeated
registration answers 409, which the caller treats as success. Any other 4xx fails at once with one readable line.

Bounds: each request has a *total* deadline (connect, send, headers and body together; a server dripping one byte a
second is cut off at it, not kept alive by per-read timeouts: :mod:`meshpipe.report.deadline`) and answers over
:data:`MAX_RESPONSE_BYTES` are not read further. Credentials go only to the trusted origins (see
:mod:`meshpipe.report.settings`).

A command can also have a total *budget* (``deadline``: ``MESHPIPE_DEADLINE_SECONDS``, see
:mod:`meshpipe.report.settings` for its defaults): the time all its requests and pauses may take together. A retry
whose pause would not end before the budget does is not started, each request's deadline is cut to what is left,
and when nothing is left the request fails with :class:`~meshpipe.report.errors.BudgetSpent`, naming what happened
last. A CI that kills a step after a fixed time (GitLab's ``after_script``) then still gets to print why.

One transport for the CLI and the library, over the standard library's ``http.client``: a one-shot
``meshpipe run step`` process does not pay for importing ``requests`` (about half its start-up), and the deadline
needs the socket, which ``requests`` hides. ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` are honoured.
"""

from __future__ import annotations

import http.client
import json
import os
import random as _random
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from meshpipe import __version__
from meshpipe.contract import RUN_MEDIA_TYPE
from meshpipe.report.credentials import TokenSource
from meshpipe.report.deadline import Budget, Watchdog
from meshpipe.report.errors import (
    BudgetSpent,
    ConfigurationError,
    ConnectionFailed,
    ResponseTooLarge,
    api_error,
    status_line,
)
from meshpipe.report.locator import origin
from meshpipe.report.redact import Redactor

__all__ = [
    "MAX_BACKOFF",
    "MAX_RESPONSE_BYTES",
    "MAX_RETRY_AFTER",
    "MEDIA_TYPE",
    "RETRY_STATUSES",
    "Transport",
    "backoff_delays",
    "parse_retry_after",
    "should_retry",
]

MEDIA_TYPE = RUN_MEDIA_TYPE
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: a single backoff never exceeds this many seconds
MAX_BACKOFF = 30.0
#: a server asking for a longer pause than this gets this; a pipeline step must not stall for an hour
MAX_RETRY_AFTER = 60.0
USER_AGENT = f"meshpipe/{__version__}"
#: the largest answer read; a run object with many large inputs is well below it, an endless body is cut off
MAX_RESPONSE_BYTES = 8 * 1024 * 1024


def should_retry(method: str, outcome: int | BaseException) -> bool:
    """Whether a request that ended with a status code or an exception may be sent again.

    ``method`` is part of the signature on purpose: all of the reporter's calls are idempotent (see the module
    docstring), so it does not change the answer today, but a future non-idempotent call must be decided here.
    """
    del method
    if isinstance(outcome, BaseException):
        if isinstance(outcome, ResponseTooLarge) or _is_certificate_error(outcome):
            return False
        return isinstance(outcome, (OSError, http.client.HTTPException))
    return outcome in RETRY_STATUSES


def _is_certificate_error(exc: BaseException) -> bool:
    # ssl is imported only for https; a wrong certificate does not get better by asking again.
    import sys

    ssl = sys.modules.get("ssl")
    return ssl is not None and isinstance(exc, ssl.SSLCertVerificationError)


def backoff_delays(
    retries: int, *, base: float, cap: float = MAX_BACKOFF, random: Callable[[], float] = _random.random
) -> list[float]:
    """The pauses before each of ``retries`` retries: ``min(cap, base * 2**n)`` scaled by a jitter in [0.5, 1]."""
    return [min(cap, base * 2**n) * (0.5 + random() / 2) for n in range(retries)]


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), capped; None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        import email.utils  # only for the rare HTTP-date form; it costs milliseconds at start-up

        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if parsed.tzinfo is None:
            return None
        seconds = parsed.timestamp() - now()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class _Answer:
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class Transport:
    """Sends JSON to meshStack with the versioned media type, bearer auth, retries and a deadline per request.

    ``sleep`` and ``random`` are the seams tests use to pin the exact delay sequence without sleeping.
    ``trusted_origins`` (``scheme://host[:port]``) are the only places a request may go: every request of the
    reporter carries a credential (a bearer token, or the API key in the login body). ``on_retry`` receives one
    progress line per retry. ``credential_label`` names the credential in a 401's hint (never its value).
    ``deadline`` is the total budget in seconds of every :meth:`send` together (None: only per-request bounds).
    """

    def __init__(
        self,
        *,
        timeout: float,
        attempts: int,
        base_delay: float,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        trusted_origins: frozenset[str] | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        on_retry: Callable[[str], None] | None = None,
        credential_label: str | None = None,
        proxy_env: Mapping[str, str] | None = None,
        redactor: Redactor | None = None,
        deadline: float | None = None,
    ) -> None:
        self.timeout = timeout
        self.budget = Budget(deadline) if deadline is not None else None
        self.attempts = max(1, attempts)
        self.base_delay = base_delay
        self.auth: TokenSource | None = None
        self.trusted_origins = trusted_origins
        self.max_response_bytes = max_response_bytes
        self.on_retry = on_retry
        self.credential_label = credential_label
        self.redactor = redactor if redactor is not None else Redactor()
        self._sleep = sleep
        self._random = random
        self._proxy_env = os.environ if proxy_env is None else proxy_env
        self._connections: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def add_secret(self, value: str) -> None:
        """Remember a value that must never appear in an error message."""
        self.redactor.add(value)

    def redact(self, text: str) -> str:
        """``text`` with every remembered secret replaced by ``***``."""
        return self.redactor.redact(text)

    def close(self) -> None:
        """Close the kept-alive connections."""
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()

    def send(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        media_type: str = MEDIA_TYPE,
        auth: bool = True,
        ok_statuses: Sequence[int] = (),
    ) -> Any:
        """Send one request with retries; return the parsed JSON answer (None when empty).

        Statuses in ``ok_statuses`` (e.g. 409 for a registration) count as success. Raises an
        :class:`~meshpipe.report.errors.APIError` subclass or :class:`~meshpipe.report.errors.ConnectionFailed`
        (:class:`~meshpipe.report.errors.BudgetSpent` when the ``deadline`` leaves no time for another attempt).
        """
        self._check_origin(url)
        if self.budget is None:
            return self._send(method, url, body, media_type, auth, ok_statuses)
        with self.budget.running():
            return self._send(method, url, body, media_type, auth, ok_statuses)

    def _send(self, method: str, url: str, body: Any, media_type: str, auth: bool, ok_statuses: Sequence[int]) -> Any:
        headers = {"Accept": media_type, "User-Agent": USER_AGENT}
        data = None
        if body is not None:
            headers["Content-Type"] = media_type
            data = json.dumps(body).encode()
        delays = backoff_delays(self.attempts - 1, base=self.base_delay, random=self._random)
        relogged = False
        attempt = 0
        last = "not sent"
        while True:
            request_headers = dict(headers)
            if auth and self.auth:
                request_headers["Authorization"] = f"Bearer {self.auth.token()}"
            limit = self._limit(method, url, last)
            try:
                answer = self._exchange(method, url, request_headers, data, limit)
            except (OSError, http.client.HTTPException) as exc:
                last = self._reason(exc, limit)
                if limit < self.timeout and isinstance(exc, TimeoutError):
                    raise self._spent(method, url, last) from None  # cut short by the budget, not by the server
                if should_retry(method, exc) and attempt < len(delays):
                    self._pause(method, url, last, delays[attempt], attempt)
                    attempt += 1
                    continue
                raise ConnectionFailed(method, url, last) from None
            status = answer.status
            if status == 401 and auth and self.auth and not relogged and self.auth.refresh():
                relogged = True
                continue
            if should_retry(method, status) and attempt < len(delays):
                wait = parse_retry_after(answer.headers.get("retry-after")) if status in (429, 503) else None
                pause = delays[attempt] if wait is None else wait
                last = status_line(status, self._server_message(answer.body))
                if wait is not None:
                    last += f" (Retry-After {wait:g} s)"
                self._pause(method, url, last, pause, attempt, progress=f"{status}")
                attempt += 1
                continue
            if status >= 400 and status not in ok_statuses:
                hint = None
                if status == 401 and self.credential_label:
                    hint = f"{self.credential_label} was used and rejected; check it or its expiry"
                raise api_error(method, url, status, self._server_message(answer.body), hint=hint)
            return _json_or_none(answer.body)

    def _check_origin(self, url: str) -> None:
        if self.trusted_origins is None:
            return
        target = origin(url)
        if target not in self.trusted_origins:
            raise ConfigurationError(
                f"refusing to send meshStack credentials to {target}: only {', '.join(sorted(self.trusted_origins))} "
                "is trusted (MESHSTACK_ENDPOINT, else the run URL's origin; a run object's links cannot change it)"
            )

    def _limit(self, method: str, url: str, last: str) -> float:
        """The deadline of the next exchange: the per-request timeout, cut to what is left of the budget."""
        if self.budget is None:
            return self.timeout
        left = self.budget.left()
        if left <= 0:
            raise self._spent(method, url, last)
        return min(self.timeout, left)

    def _pause(self, method: str, url: str, last: str, pause: float, attempt: int, *, progress: str = "") -> None:
        """Announce and sleep before a retry; a pause that would outlast the budget is not started."""
        left = None if self.budget is None else self.budget.left()
        if left is not None and pause >= left:
            raise self._spent(method, url, last)
        if self.on_retry is not None:
            line = f"meshpipe: {method} {url} -> {progress or last}; retry {attempt + 1} of {self.attempts - 1} in "
            line += f"{pause:.1f} s"
            if left is not None and self.budget is not None:
                line += f" ({left:.0f} s of the {self.budget.seconds:g} s budget left)"
            self.on_retry(line)
        self._sleep(pause)

    def _spent(self, method: str, url: str, last: str) -> BudgetSpent:
        assert self.budget is not None
        return BudgetSpent(method, url, last, self.budget.seconds)

    # -- one exchange, bounded ---------------------------------------------------------------------------------

    def _exchange(self, method: str, url: str, headers: dict[str, str], data: bytes | None, limit: float) -> _Answer:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"{url!r} is not an http(s) URL")
        key = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        proxy = _proxy_for(key[0], key[1], self._proxy_env)
        if proxy and key[0] == "http":  # a plain-HTTP proxy takes the absolute URL and its credentials per request
            target = url
            headers = {**headers, **proxy[2]}
        watchdog = Watchdog(limit)
        try:
            conn = self._connections.pop(key, None)
            if conn is not None and conn.sock is not None:
                watchdog.watch(conn.sock)
                try:
                    return self._roundtrip(key, conn, method, url, target, headers, data, watchdog)
                except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                    # A kept-alive connection the server had closed meanwhile: once more on a fresh one.
                    if watchdog.expired.is_set():
                        raise
            conn = self._connect(key, proxy, watchdog)
            return self._roundtrip(key, conn, method, url, target, headers, data, watchdog)
        except (OSError, http.client.HTTPException):
            if watchdog.expired.is_set():
                raise TimeoutError(f"no complete answer within {limit:g} s") from None
            raise
        finally:
            watchdog.stop()

    def _connect(
        self, key: tuple[str, str, int], proxy: tuple[str, int, dict[str, str]] | None, watchdog: Watchdog
    ) -> http.client.HTTPConnection:
        scheme, host, port = key
        remaining = watchdog.remaining()
        conn: http.client.HTTPConnection
        if scheme == "https":
            import ssl  # only for https: it costs milliseconds

            context = ssl.create_default_context()
            if proxy:
                conn = http.client.HTTPSConnection(proxy[0], proxy[1], timeout=remaining, context=context)
                conn.set_tunnel(host, port, headers=proxy[2])
            else:
                conn = http.client.HTTPSConnection(host, port, timeout=remaining, context=context)
        elif proxy:
            conn = http.client.HTTPConnection(proxy[0], proxy[1], timeout=remaining)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=remaining)

        def create_connection(*args: Any, **kwargs: Any) -> socket.socket:
            sock = socket.create_connection(*args, **kwargs)
            # Watched from the TCP connection on, so a TLS handshake or a proxy CONNECT cannot drip past it either.
            watchdog.watch(sock)
            # Nagle plus delayed ACK would add ~40 ms to each small request on a kept-alive connection.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock

        conn._create_connection = create_connection  # type: ignore[attr-defined]
        try:
            conn.connect()
        except BaseException:
            watchdog.release()
            conn.close()
            raise
        return conn

    def _roundtrip(
        self,
        key: tuple[str, str, int],
        conn: http.client.HTTPConnection,
        method: str,
        url: str,
        target: str,
        headers: dict[str, str],
        data: bytes | None,
        watchdog: Watchdog,
    ) -> _Answer:
        keep = False
        try:
            if conn.sock is not None:
                conn.sock.settimeout(watchdog.remaining())
            conn.request(method, target, body=data, headers=headers)
            response = conn.getresponse()
            length = response.getheader("Content-Length")
            if length and length.isdigit() and int(length) > self.max_response_bytes:
                raise ResponseTooLarge(method, url, self.max_response_bytes)
            body = bytearray()
            while chunk := response.read(65536):
                body += chunk
                if len(body) > self.max_response_bytes:
                    raise ResponseTooLarge(method, url, self.max_response_bytes)
            if watchdog.expired.is_set():  # a body without a length ends at the cut, looking complete
                raise TimeoutError(f"no complete answer within {watchdog.seconds:g} s")
            keep = not response.will_close
            headers_in = {k.lower(): v for k, v in response.getheaders()}
            return _Answer(response.status, headers_in, bytes(body))
        finally:
            watchdog.release()
            if keep:
                self._connections[key] = conn
            else:
                conn.close()

    def _reason(self, exc: BaseException, limit: float) -> str:
        if isinstance(exc, ResponseTooLarge):
            return exc.reason
        if isinstance(exc, (TimeoutError, socket.timeout)):
            return f"no complete answer within {round(limit, 2):g} s"
        if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
            text = f"[Errno {exc.errno}] {exc.strerror}"
        elif isinstance(exc, http.client.RemoteDisconnected):
            text = "the server closed the connection without an answer"
        else:
            text = type(exc).__name__
        return self.redact(text)

    def _server_message(self, body: bytes) -> str:
        # Only the start is shown; redacting megabytes by fingerprint would take seconds (the margin keeps the cut
        # far from the part shown, so no half secret survives).
        text = body[:65536].decode("utf-8", errors="replace").strip()
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("message", "error_description", "detail", "error", "title"):
                if isinstance(data.get(key), str) and data[key]:
                    text = data[key]
                    break
        # Redact before cutting: a cut could leave half a token that no longer matches.
        text = " ".join(self.redact(text).split())
        if len(text) > 300:
            text = text[:297] + "..."
        return text


def _proxy_for(scheme: str, host: str, env: Mapping[str, str]) -> tuple[str, int, dict[str, str]] | None:
    """The proxy (host, port, headers) for a request, from ``HTTPS_PROXY``/``HTTP_PROXY`` minus ``NO_PROXY`` (as
    curl does) and minus loopback hosts (a local meshStack, e.g. the sandbox, is never behind the proxy)."""
    name = f"{scheme}_proxy"
    proxy = env.get(name) or env.get(name.upper())
    if not proxy or host.lower() in ("localhost", "127.0.0.1", "::1"):
        return None
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    for entry in (e.strip().lower().lstrip(".") for e in no_proxy.split(",")):
        if entry == "*" or (entry and (host.lower() == entry or host.lower().endswith("." + entry))):
            return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if not parts.hostname:
        return None
    headers: dict[str, str] = {}
    if parts.username is not None:
        import base64
        from urllib.parse import unquote

        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return parts.hostname, parts.port or 80, headers


def _json_or_none(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
