"""How the fake GitLab reads a request's parameters and credentials, as GitLab's Grape API does.

Grape merges the query string and the body (JSON, or ``application/x-www-form-urlencoded`` with Rack's nesting:
``variables[KEY]=v``, ``variables[][key]=k``); another media type answers 415 with Grape's message. Missing or
mistyped parameters answer 400 ``{"error": "<name> is missing"}`` / ``"<name> is invalid"`` before the endpoint
runs. Credentials: ``PRIVATE-TOKEN`` header, ``Authorization: Bearer``, or the ``private_token`` parameter.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from meshpipe.fakes._http import HttpError, Request

__all__ = ["credential", "grape_error", "params"]

_NESTED = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)\Z")


def grape_error(message: str, status: int = 400) -> HttpError:
    """A parameter error in Grape's shape: ``{"error": message}``."""
    return HttpError(status, message, grape=True)


def _form(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        match = _NESTED.match(name)
        if match is None:
            continue
        base, rest = match.group(1), re.findall(r"\[([^\[\]]*)\]", match.group(2))
        if not rest:
            data[base] = value
        elif len(rest) == 1 and rest[0]:
            target = data.setdefault(base, {})
            if isinstance(target, dict):
                target[rest[0]] = value
        elif rest[0] == "" and len(rest) == 2:
            items = data.setdefault(base, [])
            if isinstance(items, list):
                if not items or rest[1] in items[-1]:
                    items.append({})
                items[-1][rest[1]] = value
    return data


def params(request: Request) -> dict[str, Any]:
    """The request's parameters: the query string, overridden by the body."""
    merged: dict[str, Any] = {key: values[-1] for key, values in request.query.items()}
    if not request.body:
        return merged
    media = request.media_type
    if media == "application/json":
        body = request.json()
        if not isinstance(body, dict):
            raise grape_error("The request body must be a JSON object")
        merged.update(body)
    elif media == "application/x-www-form-urlencoded":
        merged.update(_form(request.body))
    elif media == "multipart/form-data":
        raise HttpError(
            415,
            "the fake GitLab does not read multipart/form-data (real GitLab does); send JSON or "
            "application/x-www-form-urlencoded",
            grape=True,
        )
    else:
        raise HttpError(415, f"The provided content-type '{media or '(none)'}' is not supported.", grape=True)
    return merged


def credential(request: Request, given: dict[str, Any]) -> str | None:
    """The access token a request carries, or None."""
    token = (request.header("private-token") or "").strip()
    if token:
        return token
    scheme, _, value = (request.header("authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    query = given.get("private_token")
    return query if isinstance(query, str) and query else None
