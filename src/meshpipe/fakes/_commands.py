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
from collections.abc import Callable, Iterator

__all__ = ["PASS_THROUGH", "host_environment", "in_background", "kill", "output_lines", "remove_workdir", "spawn"]

#: host variables a command keeps (besides ``LC_*`` and ``PYTHON*``)
PASS_THROUGH = ("PATH", "HOME", "LANG", "TERM", "TMPDIR", "USER", "SHELL", "VIRTUAL_ENV", "SYSTEMROOT", "TZ")


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
