"""Job-local state, so later steps of one job need no repeated flags and keep their guard rails.

``meshpipe_run_state.json`` keeps the run URL, the source id, the registered steps with their last reported
status and messages (for the step summary and the "never succeeded" warning), the terminal run status and the
fingerprints of the values the job masked. It lives in ``$MESHPIPE_STATE_DIR`` or ``$RUNNER_TEMP``, else in a
per-user directory with one file per run (see :attr:`meshpipe.report.settings.Settings.state_path`). Every
read-modify-write holds an exclusive lock, so parallel ``meshpipe run step`` processes lose no update, and the
terminal status, once stored, is never reset by a slower process.

``meshstack_token.json`` is the official auth action's token file (``{"token": ...}``), read and written here so the
official actions and meshpipe can share one login.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from meshpipe.report.errors import ConfigurationError

__all__ = [
    "RunState",
    "StepRecord",
    "ensure_private_dir",
    "read_cached_login",
    "read_state_file",
    "write_token_file",
]

#: how long a step waits for another process holding the state lock (it only holds it for a file write)
LOCK_TIMEOUT = 10.0


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
    """What earlier steps of this job reported; persisted when ``path`` is set.

    Change it only through :meth:`update`, which re-reads the file under the lock, applies the change and writes
    the result, so what another process wrote in the meantime is kept.
    """

    run_url: str
    source_id: str | None = None
    registered: bool = False
    steps: list[StepRecord] = field(default_factory=list)
    terminal_status: str | None = None
    #: ``[length, sha256 hex]`` of each value masked in this job (the values themselves are never stored)
    masks: list[list[Any]] = field(default_factory=list)
    path: Path | None = field(default=None, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path | None, run_url: str) -> RunState:
        """The state for ``run_url`` from ``path``; a fresh one when there is none or it is another run's.

        A file that exists but cannot be read as state is an error (one line naming the file): silently starting
        over would drop the guard rails, e.g. send a second terminal status.
        """
        data = read_state_file(path) if path is not None else None
        if not data or data.get("run_url") != run_url:
            return cls(run_url=run_url, path=path)
        try:
            terminal = data.get("terminal_status")
            source = data.get("source_id")
            return cls(
                run_url=run_url,
                source_id=str(source) if source else None,
                registered=bool(data.get("registered")),
                steps=[StepRecord(**s) for s in data.get("steps", [])],
                terminal_status=str(terminal) if terminal else None,
                masks=[[int(n), str(h)] for n, h in data.get("masks", [])],
                path=path,
            )
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"the state file {path} is corrupt ({exc}); delete it to start over") from None

    def step(self, step_id: str) -> StepRecord | None:
        """The record of a step, if it was registered or reported."""
        return next((s for s in self.steps if s.id == step_id), None)

    def record(self, step_id: str, display_name: str | None = None, **changes: Any) -> StepRecord:
        """Update (or append) a step record with the non-None ``changes`` (in memory; see :meth:`update`)."""
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

    def update(self, change: Callable[[RunState], None]) -> None:
        """Apply ``change`` to the latest stored state under an exclusive lock, save it, and adopt the result.

        The file is rewritten only when something changed.
        """
        if self.path is None:
            change(self)
            return
        with _locked(self.path):
            fresh = RunState.load(self.path, self.run_url)
            before = fresh._data()
            change(fresh)
            after = fresh._data()
            if after != before or not self.path.exists():
                _atomic_write(self.path, json.dumps(after, indent=2) + "\n", mode=0o600)
        for name in ("source_id", "registered", "steps", "terminal_status", "masks"):
            setattr(self, name, getattr(fresh, name))

    @contextlib.contextmanager
    def terminal_lock(self, timeout: float) -> Iterator[None]:
        """Held while a terminal run status is checked, sent and stored, so two processes of one job that finish at
        the same time send one terminal status, not two (the state lock itself is never held across a request)."""
        if self.path is None:
            yield
            return
        with _locked(self.path, kind="terminal", timeout=timeout):
            yield

    def refresh(self) -> None:
        """Re-read the stored state (another process may have finished the run meanwhile)."""
        if self.path is not None:
            fresh = RunState.load(self.path, self.run_url)
            for name in ("source_id", "registered", "steps", "terminal_status", "masks"):
                setattr(self, name, getattr(fresh, name))

    def _data(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "path"}


def read_state_file(path: Path) -> dict[str, Any] | None:
    """The state file's JSON object; None when there is no file; a one-line error when it is not state."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigurationError(f"the state file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"the state file {path} is corrupt ({exc}); delete it to start over") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps", []), list):
        raise ConfigurationError(f"the state file {path} is corrupt (not a meshpipe state); delete it to start over")
    return data


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700) or check that the existing one is ours and private.

    A per-user directory under a shared ``/tmp`` could have been created by someone else to read or plant state.
    """
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise ConfigurationError(f"the state directory {path} cannot be created: {exc.strerror or exc}") from None
    getuid = getattr(os, "getuid", None)
    if not stat.S_ISDIR(info.st_mode) or (getuid and info.st_uid != getuid()) or info.st_mode & 0o077:
        raise ConfigurationError(
            f"the state directory {path} is not a private directory of this user; remove it or set MESHPIPE_STATE_DIR"
        )


@contextlib.contextmanager
def _locked(path: Path, *, kind: str = "state", timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (meshpipe's runners are Linux and macOS)
        yield
        return
    import time

    lock_path = path.with_name(f".{path.name}.lock" if kind == "state" else f".{path.name}.{kind}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {lock_path}: {exc.strerror or exc}") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConfigurationError(
                        f"the {kind} lock of {path} stayed taken for {timeout:g} s by another meshpipe process"
                    ) from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)  # closing releases the lock


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
    # A token that could not go into a header is not reused.
    valid = isinstance(token, str) and token and all("!" <= c <= "~" for c in token)
    if valid and isinstance(token, str) and isinstance(expires_at, (int, float)):
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
    try:
        _write(path, text, mode)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write(path: Path, text: str, mode: int) -> None:
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
