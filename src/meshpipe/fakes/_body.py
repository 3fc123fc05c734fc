"""Reading a request's body off the wire for every fake: by ``Content-Length`` or, with ``Transfer-Encoding:
chunked``, chunk by chunk (RFC 9112 §7.1), never more than a size limit.

RFC 9112 §6.1 and §6.3: ``Transfer-Encoding`` overrides ``Content-Length``; a server that does not understand a
transfer coding answers 501; a body over the server's limit answers 413 (RFC 9110 §15.5.14). Source:
https://www.rfc-editor.org/rfc/rfc9112 and https://www.rfc-editor.org/rfc/rfc9110.
"""

from __future__ import annotations

from email.message import Message
from typing import Protocol

__all__ = ["MAX_BODY_BYTES", "BodyError", "read_body"]

#: The default limit of a request body (a fake's ``max_body_bytes``).
MAX_BODY_BYTES = 64 * 1024 * 1024
_MAX_LINE = 4096  # a chunk-size line or trailer field longer than this is malformed, not waited for


class _Stream(Protocol):
    def read(self, size: int, /) -> bytes: ...

    def readline(self, size: int, /) -> bytes: ...


class BodyError(Exception):
    """The body cannot be read: answer ``status`` with ``message`` and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_body(stream: _Stream, headers: Message, limit: int) -> bytes:
    """The request body from ``stream``; :class:`BodyError` for a malformed framing (400), an unknown transfer
    coding (501) or more than ``limit`` bytes (413). ``TimeoutError`` passes through (a stalled client)."""
    coding = headers.get("Transfer-Encoding")
    if coding is not None:
        if coding.strip().lower() != "chunked":
            raise BodyError(501, f"Transfer-Encoding {coding.strip()!r} is not supported (only chunked)")
        return _read_chunked(stream, limit)
    try:
        length = int(headers.get("Content-Length") or 0)
    except ValueError:
        length = -1
    if length < 0:  # reading "-1" bytes would block until the client hangs up
        raise BodyError(400, "Bad Content-Length")
    if length > limit:
        raise BodyError(413, f"Payload Too Large: the body is over {limit} bytes")
    body = stream.read(length) if length else b""
    if len(body) < length:
        raise BodyError(400, "the body ended before its Content-Length")
    return body


def _read_chunked(stream: _Stream, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        line = _line(stream)
        try:
            chunk = int(line.split(b";", 1)[0].strip(), 16)  # chunk extensions (";name=value") are ignored
        except ValueError:
            raise BodyError(400, "Bad chunk size") from None
        if chunk < 0:
            raise BodyError(400, "Bad chunk size")
        if chunk == 0:
            break
        size += chunk
        if size > limit:
            raise BodyError(413, f"Payload Too Large: the body is over {limit} bytes")
        data = stream.read(chunk)
        if len(data) < chunk or _line(stream) != b"":
            raise BodyError(400, "Bad chunk")
        parts.append(data)
    while _line(stream):  # trailer fields up to the empty line; ignored
        pass
    return b"".join(parts)


def _line(stream: _Stream) -> bytes:
    line = stream.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE or not line.endswith(b"\n"):
        raise BodyError(400, "Bad chunked body")
    return line.rstrip(b"\r\n")
