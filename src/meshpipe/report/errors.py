"""Errors raised by the reporter (public).

::

    MeshpipeError                          meshpipe.errors: one line on stderr, exit 1
    └── ReporterError                      anything the reporter raises on purpose
        ├── ConfigurationError             no run locator, no credentials, a malformed run object or flag
        ├── TerminalStatusError            a second terminal run status, refused before anything is sent
        ├── ConnectionFailed               meshStack could not be reached (after the retries)
        │   ├── ResponseTooLarge           an answer over the size cap (never read to the end)
        │   └── BudgetSpent                the command's time budget ran out before meshStack answered well
        └── APIError                       meshStack answered with an error status (method, url, status, message)
            ├── ValidationError            400, 422
            ├── AuthenticationError        401
            ├── PermissionDeniedError      403
            ├── NotFoundError              404
            ├── UnsupportedMediaTypeError  406, 415
            ├── ConflictError              409
            ├── RateLimitError             429 (after the retries)
            └── ServerError                5xx (after the retries)

:func:`api_error` picks the class from :data:`STATUS_ERRORS`. Every message is one line such as
``PATCH https://mesh.example/api/.../status/source/github -> 404 Not Found: source not registered``. Tokens are never
part of a message or a repr: the transport redacts them from server messages before an error is built.
"""

from __future__ import annotations

from http import HTTPStatus

from meshpipe.errors import MeshpipeError

__all__ = [
    "STATUS_ERRORS",
    "APIError",
    "AuthenticationError",
    "BudgetSpent",
    "ConfigurationError",
    "ConflictError",
    "ConnectionFailed",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ReporterError",
    "ResponseTooLarge",
    "ServerError",
    "TerminalStatusError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "api_error",
    "status_line",
]


def status_line(status: int, message: str = "") -> str:
    """``503 Service Unavailable: message``: a status, its phrase (``Error`` when unknown) and the server's message."""
    try:
        text = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        text = f"{status} Error"
    return f"{text}: {message}" if message else text


class ReporterError(MeshpipeError):
    """Base class of every error the reporter raises on purpose."""


class ConfigurationError(ReporterError):
    """Raised when the run locator, the credentials, a flag or the run object cannot be used."""


class TerminalStatusError(ReporterError):
    """Raised locally when a run that already has a terminal status would get another one."""


class ConnectionFailed(ReporterError):
    """Raised when meshStack cannot be reached (connection refused, timeout, DNS) after the retries."""

    def __init__(self, method: str, url: str, reason: str) -> None:
        self.method = method
        self.url = url
        self.reason = reason
        super().__init__(f"{method} {url} -> could not connect: {reason}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(method={self.method!r}, url={self.url!r}, reason={self.reason!r})"


class ResponseTooLarge(ConnectionFailed):
    """Raised when an answer is larger than the cap; it is not read further (an endless body must not fill memory)."""

    def __init__(self, method: str, url: str, limit: int) -> None:
        self.limit = limit
        ReporterError.__init__(self, f"{method} {url} -> the answer exceeds {limit} bytes; stopped reading it")
        self.method = method
        self.url = url
        self.reason = f"answer over {limit} bytes"


class BudgetSpent(ConnectionFailed):
    """Raised when the command's time budget (``MESHPIPE_DEADLINE_SECONDS``, ``--deadline``) leaves no time for
    the next attempt. ``reason`` is what happened last (an error status, a timeout, or that nothing was sent).

    A :class:`ConnectionFailed`: meshStack did not answer well in time, so ``--best-effort`` turns it into a warning.
    """

    def __init__(self, method: str, url: str, last: str, seconds: float) -> None:
        self.seconds = seconds
        ReporterError.__init__(
            self,
            f"{method} {url} -> {last}; gave up: the time budget of {seconds:g} s is spent "
            "(--deadline, MESHPIPE_DEADLINE_SECONDS)",
        )
        self.method = method
        self.url = url
        self.reason = last


class APIError(ReporterError):
    """meshStack answered with an error status. Carries the method, URL, status and the server's message."""

    hint: str = ""

    def __init__(self, method: str, url: str, status: int, message: str, *, hint: str | None = None) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.message = message
        if hint is not None:
            self.hint = hint
        text = f"{method} {url} -> {status_line(status, message)}"
        if self.hint:
            text += f" (hint: {self.hint})"
        super().__init__(text)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(method={self.method!r}, url={self.url!r}, status={self.status}, "
            f"message={self.message!r})"
        )


class ValidationError(APIError):
    """400/422: meshStack rejected the request body (an enum, a missing field, too many steps)."""


class AuthenticationError(APIError):
    """401: the token is missing, expired or wrong, or the API key login failed."""

    hint = "check MESHSTACK_RUN_TOKEN, MESHSTACK_API_TOKEN or MESHSTACK_CLIENT_ID/MESHSTACK_CLIENT_SECRET"


class PermissionDeniedError(APIError):
    """403: the token is valid but not allowed here (a run token used on another run, a key of another workspace)."""

    hint = "a run token only works for its own run; an API key needs the building block run permissions"


class NotFoundError(APIError):
    """404: unknown run, or a source that was never registered."""


class UnsupportedMediaTypeError(APIError):
    """406/415: meshStack did not accept the media types (a reporter bug, never the user's fault)."""


class ConflictError(APIError):
    """409: the source is already registered (the reporter treats this as success when registering)."""


class RateLimitError(APIError):
    """429 that outlasted the retries."""


class ServerError(APIError):
    """5xx that outlasted the retries (or one that is never retried, such as 500)."""


#: status code -> error class; 5xx not listed here map to :class:`ServerError`, the rest to :class:`APIError`.
STATUS_ERRORS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    406: UnsupportedMediaTypeError,
    409: ConflictError,
    415: UnsupportedMediaTypeError,
    422: ValidationError,
    429: RateLimitError,
}


def api_error(method: str, url: str, status: int, message: str, *, hint: str | None = None) -> APIError:
    """Build the error for an HTTP error status, choosing its class by meaning (``hint`` replaces the class's)."""
    cls = STATUS_ERRORS.get(status) or (ServerError if status >= 500 else APIError)
    return cls(method, url, status, message, hint=hint)
