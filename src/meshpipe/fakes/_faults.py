"""Scripted faults of the fakes: a status (with ``Retry-After``), a delay or a dropped connection for the next N
matching requests, before or after the real handler ran."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from meshpipe.fakes._wire import HttpError

__all__ = ["Fault"]


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
