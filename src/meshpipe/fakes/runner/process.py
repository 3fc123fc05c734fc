"""Run one command of the emulated runner: output streamed line by line into the run log, a bound on its time,
and cancellation (``runAborted``) that stops the whole process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["CommandFailed", "RunCancelled", "run_command"]

GRACE_SECONDS = 5.0


class CommandFailed(Exception):
    """A command exited with a status the runner treats as failure."""

    def __init__(self, label: str, returncode: int) -> None:
        super().__init__(f"{label} exited with {returncode}")
        self.returncode = returncode


class RunCancelled(Exception):
    """meshStack answered ``runAborted: true``, or the run's time ran out."""


def _stop(process: subprocess.Popen[bytes]) -> None:
    # Terraform forwards SIGINT to its provisioners and stops gracefully; kill what is left after the grace period.
    for sig, wait in ((signal.SIGINT, GRACE_SECONDS), (signal.SIGKILL, GRACE_SECONDS)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_command(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    cancelled: threading.Event,
    deadline: float,
    stdin: bytes | None = None,
    label: str = "command",
) -> int:
    """Run ``argv``; every output line (stdout and stderr together) goes to ``on_line``. Returns the exit status.

    Raises :class:`RunCancelled` when ``cancelled`` is set or the monotonic ``deadline`` passes.
    """
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None

    def feed() -> None:
        assert process.stdin is not None
        try:
            process.stdin.write(stdin or b"")
        except (BrokenPipeError, OSError):
            pass  # a script that does not read stdin
        finally:
            with contextlib.suppress(OSError):
                process.stdin.close()

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            on_line(raw.decode("utf-8", "replace").rstrip("\n"))

    threads = [threading.Thread(target=read, daemon=True)]
    if stdin is not None:
        threads.append(threading.Thread(target=feed, daemon=True))
    for thread in threads:
        thread.start()
    reason = None
    try:
        while process.poll() is None:
            if cancelled.is_set():
                reason = f"{label} cancelled: meshStack aborted the run"
            elif time.monotonic() > deadline:
                reason = f"{label} cancelled: the run's time is up"
            if reason:
                _stop(process)
                break
            cancelled.wait(0.1)
    except BaseException:
        # Interrupted here (``meshpipe demo`` turns SIGTERM into an exception so its sandbox stops cleanly): the
        # command's process group has a session of its own and would outlive us.
        _stop(process)
        raise
    for thread in threads:
        thread.join(GRACE_SECONDS)
    if reason:
        raise RunCancelled(reason)
    return process.returncode
