"""Running a pipeline's local command, shared by every fake that simulates CI work (GitHub runs, GitLab pipelines,
Azure DevOps runs, webhook jobs).

The command gets a fresh environment: a few host variables (:func:`host_environment`) plus what the fake adds (its
CI variables); nothing else of the host's environment (its credentials) reaches it. It runs in a process group of
its own, so a cancel (:func:`signal_group`) reaches every process it starts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar, Generic, Protocol, TypeVar

from meshpipe.fakes._http import FakeServer

__all__ = [
    "PASS_THROUGH",
    "CommandFake",
    "CommandWork",
    "host_environment",
    "in_background",
    "kill",
    "output_lines",
    "remove_workdir",
    "signal_group",
    "spawn",
]

#: host variables a command keeps (besides ``LC_*`` and ``PYTHON*``)
PASS_THROUGH = ("PATH", "HOME", "LANG", "TERM", "TMPDIR", "USER", "SHELL", "VIRTUAL_ENV", "SYSTEMROOT", "TZ")


class Stoppable(Protocol):
    """A piece of simulated work with an id that can be killed."""

    @property
    def id(self) -> int: ...

    def stop(self) -> None: ...


_Work = TypeVar("_Work", bound=Stoppable)


def host_environment() -> dict[str, str]:
    """The host variables a command may see: :data:`PASS_THROUGH`, ``LC_*`` and ``PYTHON*``."""
    env = {key: os.environ[key] for key in PASS_THROUGH if key in os.environ}
    env.update({key: value for key, value in os.environ.items() if key.startswith(("LC_", "PYTHON"))})
    return env


def spawn(command: list[str], env: dict[str, str], cwd: str) -> subprocess.Popen[bytes]:
    """Start ``command`` with stdout and stderr merged into one pipe, no stdin, in a process group of its own.

    Raises what :class:`subprocess.Popen` raises (``OSError``; ``ValueError`` for a NUL byte in the environment).
    """
    return subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # a group of its own, so cancel and stop reach every process it starts
    )


def output_lines(process: subprocess.Popen[bytes]) -> Iterator[str]:
    """The command's output line by line as it comes (undecodable bytes replaced), until it closes its output."""
    assert process.stdout is not None
    for line in iter(process.stdout.readline, b""):
        yield line.decode("utf-8", "replace")


def in_background(target: Callable[..., None], *args: object, name: str) -> None:
    """Call ``target(*args)`` in a daemon thread (a command's life must not keep the fake's process alive)."""
    threading.Thread(target=target, args=args, name=name, daemon=True).start()


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the command's whole process group, while its leader is unreaped (so the group id is still ours)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)


def kill(process: subprocess.Popen[bytes] | None, *, timeout: float | None = None) -> None:
    """SIGKILL a command's process group and reap it (waiting at most ``timeout`` seconds, if given)."""
    if process is None:
        return
    signal_group(process, signal.SIGKILL)
    if timeout is None:
        process.wait()
    else:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)


def remove_workdir(path: str | None) -> None:
    """Remove a command's temporary directory (ignoring what is already gone)."""
    if path:
        shutil.rmtree(path, ignore_errors=True)


class CommandWork:
    """Mixin of a simulated run, pipeline or job whose work may be a local command (``command``).

    The class (a dataclass) holds the fields annotated here; the final statuses are its service's words.
    """

    #: the statuses :meth:`_run_to_end` and :meth:`_stop_command` end with
    SUCCEEDED: ClassVar[str] = "succeeded"
    FAILED: ClassVar[str] = "failed"
    CANCELLED: ClassVar[str] = "cancelled"
    #: what a failed start is (``OSError``; ``ValueError`` too where an input may carry a NUL byte)
    SPAWN_ERRORS: ClassVar[tuple[type[Exception], ...]] = (OSError,)

    id: int
    command: list[str] | None
    _final: tuple[str, float] | None  # (status, ended at) once forced or the command exited
    _started: float | None
    _log: list[str]
    _process: subprocess.Popen[bytes] | None
    _workdir: str | None
    _lock: threading.Lock

    def _command_output(self) -> str | None:
        """The command's output so far, or None for work without a command (whose log is a summary)."""
        with self._lock:
            return "".join(self._log) if self.command is not None else None

    def _end_now(self, status: str, signum: int = signal.SIGTERM) -> None:
        """End the work with ``status`` now; a running command gets ``signum``."""
        with self._lock:
            self._final = (status, time.time())
            process = self._process
        if process is not None:
            signal_group(process, signum)

    def _launch(self, command: list[str], env: dict[str, str], cwd: str) -> subprocess.Popen[bytes] | str:
        """Start ``command`` as the running process (call with ``_lock`` held); the reason when it cannot start."""
        try:
            process = spawn(command, env, cwd)
        except self.SPAWN_ERRORS as exc:
            return f"cannot start {command[0]}: {exc}\n"
        self._process = process
        return process

    def _run_to_end(self, env: dict[str, str], cwd: str) -> None:
        """Run ``command`` (in the background thread): the work ends with its exit code unless it was ended first."""
        assert self.command is not None
        with self._lock:
            if self._final is not None:  # cancelled before it started
                return
            process = self._launch(self.command, env, cwd)
            if isinstance(process, str):
                self._log.append(process)
                self._final = (self.FAILED, time.time())
                return
            self._started = time.time()
        for line in output_lines(process):
            with self._lock:
                self._log.append(line)
        code = process.wait()
        with self._lock:
            if self._final is None:
                self._final = (self.SUCCEEDED if code == 0 else self.FAILED, time.time())
            self._log.append(f"Process completed with exit code {code}.\n")

    def _stop_command(self, *, timeout: float | None = None) -> None:
        """Kill a running command (the work ends cancelled unless it had ended) and remove its directory."""
        with self._lock:
            process = self._process
            if self._final is None and self.command is not None:
                self._final = (self.CANCELLED, time.time())
        kill(process, timeout=timeout)
        remove_workdir(self._workdir)


class CommandFake(FakeServer, Generic[_Work]):
    """A fake whose simulated work may run local commands: :meth:`reset` and :meth:`stop` kill them (and remove
    their directories). Subclasses name their work (:meth:`_work`) and forget their state in ``_clear``."""

    def _work(self) -> Sequence[_Work]:
        """The runs, pipelines or jobs (each with a ``stop()``)."""
        raise NotImplementedError

    def _by_id(self, work_id: int) -> _Work:
        """A run, pipeline or job by id (KeyError if unknown)."""
        with self.lock:
            for item in self._work():
                if item.id == int(work_id):
                    return item
        raise KeyError(work_id)

    def _clear(self) -> None:
        """Forget the service's state (called under the lock)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget everything, the shared state and the service's (running commands are killed)."""
        with self.lock:
            work = list(self._work())
            super().reset()
            self._clear()
        for item in work:
            item.stop()

    def stop(self) -> None:
        """Stop serving and kill running commands."""
        super().stop()
        with self.lock:
            work = list(self._work())
        for item in work:
            item.stop()
