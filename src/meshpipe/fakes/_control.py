"""Control-plane pieces every fake's ``/_fake/`` routes share (the generic ones, ``state``, ``requests``, ``reset``
and ``faults``, are :class:`meshpipe.fakes._http.FakeServer`'s).

* :func:`add_route`: ``POST /_fake/<things>`` with the Python keyword names as a JSON object, answered 201 with
  what the fake's ``add_*`` method returned (400 for a body that is not an object or arguments it refuses);
* :func:`add_rate_limit_route`: ``POST /_fake/rate-limit`` (the fake's ``set_rate_limit``);
* :func:`add_work_routes`: the simulated work of a CI fake (runs, pipelines, jobs): ``GET /_fake/<noun>s``,
  ``POST /_fake/<noun>s/{id}/complete`` ``{"<key>": ...}`` (409 when it already ended) and
  ``GET /_fake/<noun>s/{id}/log`` (plain text); 404 names an unknown id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from meshpipe.fakes._wire import HttpError, Request, Response

__all__ = ["Work", "add_rate_limit_route", "add_route", "add_work_routes", "call_with", "json_object"]


class Work(Protocol):
    """A run, pipeline or job of a CI fake, as the control plane sees it."""

    @property
    def id(self) -> int: ...

    @property
    def log(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class _ControlTarget(Protocol):
    def control_route(self, method: str, pattern: str, handler: Callable[[Request], Response]) -> None: ...


class _RateLimited(_ControlTarget, Protocol):
    @property
    def rate_limit(self) -> int | None: ...

    @property
    def rate_window(self) -> float: ...

    def set_rate_limit(self, *args: Any, **kwargs: Any) -> None: ...


def json_object(request: Request, what: str = "a JSON object") -> dict[str, Any]:
    """The request's body as a JSON object (400 ``expected <what>`` otherwise)."""
    data = request.json()
    if not isinstance(data, dict):
        raise HttpError(400, f"expected {what}")
    return data


def call_with(function: Callable[..., Any], data: dict[str, Any]) -> Any:
    """``function(**data)``; a ``TypeError``/``ValueError`` (unknown or bad arguments) answers 400 with its text."""
    try:
        return function(**data)
    except (TypeError, ValueError) as exc:
        raise HttpError(400, str(exc)) from exc


def add_route(
    fake: _ControlTarget,
    path: str,
    function: Callable[..., Any],
    render: Callable[[Any], Any] = lambda value: value.to_dict(),
) -> None:
    """``POST /_fake<path>``: call ``function`` with the body's keywords; 201 with ``render(result)``."""

    def handler(request: Request) -> Response:
        return Response(status=201, body=render(call_with(function, json_object(request))))

    fake.control_route("POST", path, handler)


def add_rate_limit_route(fake: _RateLimited) -> None:
    """``POST /_fake/rate-limit`` ``{"limit": n, "window_seconds": s}``: the fake's ``set_rate_limit``; answers the
    limit now in force."""

    def handler(request: Request) -> Response:
        call_with(fake.set_rate_limit, json_object(request))
        return Response(body={"limit": fake.rate_limit, "window_seconds": fake.rate_window})

    fake.control_route("POST", "/rate-limit", handler)


def add_work_routes(fake: _ControlTarget, noun: str, *, key: str, default: str, lenient: bool = False) -> None:
    """Register ``GET /_fake/<noun>s``, ``POST /_fake/<noun>s/{id}/complete`` and ``GET /_fake/<noun>s/{id}/log``.

    The fake names its work by convention: the list ``<noun>s``, ``<noun>(id)`` (``KeyError`` when unknown) and
    ``complete_<noun>(id, value)`` (``ValueError`` when it already ended: 409), ``value`` being the body's ``key``
    (``default`` without a body). ``lenient`` also takes a bare JSON value as the body (the webhook fake's
    ``{"status": ...}`` or ``"failed"``).
    """
    lookup: Callable[[int], Work] = getattr(fake, noun)
    complete: Callable[[int, Any], Any] = getattr(fake, f"complete_{noun}")

    def items() -> Sequence[Work]:
        work: Sequence[Work] = getattr(fake, f"{noun}s")
        return work

    group = f"{noun}s"
    item = rf"/{group}/(?P<{noun}_id>\d+)"

    def find(request: Request) -> Work:
        try:
            return lookup(int(request.params[f"{noun}_id"]))
        except KeyError:
            raise HttpError(404, f"no {noun} {request.params[f'{noun}_id']}") from None

    def listing(_request: Request) -> Response:
        return Response(body=[work.to_dict() for work in items()])

    def finish(request: Request) -> Response:
        work = find(request)
        data: Any = request.json() if request.body else {}
        value = data if lenient and not isinstance(data, dict) else (data or {}).get(key, default)
        try:
            complete(work.id, value)
        except ValueError as exc:
            raise HttpError(409, str(exc)) from None
        return Response(body=work.to_dict())

    def log(request: Request) -> Response:
        return Response(body=find(request).log, content_type="text/plain; charset=utf-8")

    fake.control_route("GET", f"/{group}", listing)
    fake.control_route("POST", item + "/complete", finish)
    fake.control_route("GET", item + "/log", log)
