"""What a fake's handlers see and return: a parsed :class:`Request`, a :class:`Response` or an :class:`HttpError`,
and the :class:`RecordedRequest` the request log keeps (with the answer, so tests can hold it against a description).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HttpError", "RecordedRequest", "Request", "Response"]


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
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""  # what the fake answered, so tests can hold every answer against a description

    def json(self) -> Any:
        """The request body parsed as JSON (``None`` when empty or not JSON)."""
        try:
            return json.loads(self.body) if self.body else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None

    # A view of the request for the log and the control plane; other models have their own to_dict.
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
