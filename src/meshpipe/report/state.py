"""Job-local state in ``$RUNNER_TEMP``, so later steps of one job need no repeated flags.

``meshpipe_run_state.json`` keeps the run URL, the source id, the registered steps with their last reported
status and messages (for the step summary and the "never succeeded" warning) and the terminal run status.
``meshstack_token.json`` is the official auth action's token file (``{"token": ...}``), read and written here so the
official actions and meshpipe can share one login.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunState", "StepRecord", "read_cached_login", "write_token_file"]


@dataclass
class StepRecord:
    """What the reporter last told meshStack about one step."""

    id: str
    display_name: str
    status: str = "PENDING"
    user_message: str | None = None
    system_message: str | None = None


@dataclass
class RunState:
    """What earlier steps of this job reported; persisted when ``path`` is set."""

    run_url: str
    source_id: str = "github"
    registered: bool = False
    steps: list[StepRecord] = field(default_factory=list)
    terminal_status: str | None = None
    path: Path | None = field(default=None, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path | None, run_url: str) -> RunState:
        """The state for ``run_url`` from ``path``; a fresh one when missing, unreadable or for another run."""
        if path is not None:
            try:
                data: Any = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = None
            if isinstance(data, dict) and data.get("run_url") == run_url:
                return cls(
                    run_url=run_url,
                    source_id=str(data.get("source_id") or "github"),
                    registered=bool(data.get("registered")),
                    steps=[StepRecord(**s) for s in data.get("steps", []) if isinstance(s, dict)],
                    terminal_status=data.get("terminal_status"),
                    path=path,
                )
        return cls(run_url=run_url, path=path)

    def step(self, step_id: str) -> StepRecord | None:
        """The record of a step, if it was registered or reported."""
        return next((s for s in self.steps if s.id == step_id), None)

    def record(self, step_id: str, display_name: str | None = None, **changes: Any) -> StepRecord:
        """Update (or append) a step record with the non-None ``changes``."""
        record = self.step(step_id)
        if record is None:
            record = StepRecord(step_id, display_name or step_id)
            self.steps.append(record)
        elif display_name:
            record.display_name = display_name
        for key, value in changes.items():
            if value is not None:
                setattr(record, key, value)
        return record

    def save(self) -> None:
        """Write atomically (a cancelled step must not leave half a file)."""
        if self.path is None:
            return
        data = {k: v for k, v in asdict(self).items() if k != "path"}
        _atomic_write(self.path, json.dumps(data, indent=2) + "\n", mode=0o600)


def read_cached_login(path: Path | None) -> tuple[str, float] | None:
    """A token meshpipe cached after an API-key login, with its expiry (epoch seconds), if there is one."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    token, expires_at = data.get("token"), data.get("expiresAt")
    if isinstance(token, str) and token and isinstance(expires_at, (int, float)):
        return token, float(expires_at)
    return None


def write_token_file(path: Path, token: str, *, base_url: str | None, expires_at: float | None) -> None:
    """Write the official auth action's token file (mode 0600) plus ``expiresAt`` for meshpipe's own reuse."""
    data: dict[str, Any] = {"token": token}
    if base_url:
        data["baseUrl"] = base_url
    if expires_at is not None:
        data["expiresAt"] = expires_at
    _atomic_write(path, json.dumps(data), mode=0o600)


def _atomic_write(path: Path, text: str, *, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A per-process name instead of tempfile, which alone adds milliseconds to every step's start-up.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
