"""``meshpipe run exec``: run a command as a step, stream its output, keep its tail, survive cancellation."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import FrameType

from meshpipe.report.model import SYSTEM_MESSAGE_LIMIT, cap_system_message
from meshpipe.report.run import Run

__all__ = ["KILL_GRACE_SECONDS", "exec_step", "stream_command"]

#: after forwarding SIGTERM/SIGINT, how long the command may take to stop before it is killed
KILL_GRACE_SECONDS = 10.0
_TAIL_BYTES = 4 * SYSTEM_MESSAGE_LIMIT
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class _Outcome:
    def __init__(self) -> None:
        self.code = 0
        self.tail = b""
        self.signal: int | None = None


def stream_command(argv: list[str], *, grace: float = KILL_GRACE_SECONDS) -> _Outcome:
    """Run ``argv`` with its output (stdout and stderr merged) copied live to our stdout, keeping a bounded tail.

    SIGTERM and SIGINT received meanwhile are forwarded to the command; it is killed if it outlives ``grace``.
    """
    outcome = _Outcome()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    killer: list[threading.Timer] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        outcome.signal = outcome.signal or signum
        if proc.poll() is None:
            proc.send_signal(signum)
            if not killer:
                timer = threading.Timer(grace, proc.kill)
                timer.daemon = True
                timer.start()
                killer.append(timer)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    tail = bytearray()
    out = sys.stdout.buffer
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while chunk := os.read(fd, 65536):
            out.write(chunk)
            out.flush()
            tail += chunk
            if len(tail) > _TAIL_BYTES:
                del tail[: len(tail) - _TAIL_BYTES]
        outcome.code = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for timer in killer:
            timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    outcome.tail = bytes(tail)
    return outcome


def _tail_text(raw: bytes, note: str = "") -> str | None:
    text = (_ANSI.sub("", raw.decode("utf-8", errors="replace")).rstrip() + note).strip("\n")
    return cap_system_message(text) if text else None


def exec_step(
    run: Run,
    step_id: str,
    argv: list[str],
    *,
    user_message: str | None,
    failure_message: str | None,
    display_name: str | None,
    guard: Callable[[], AbstractContextManager[object, bool]],
) -> int:
    """Report ``step_id`` IN_PROGRESS, run ``argv``, report the result; return the exit code to exit with."""
    step = run.step(step_id, display_name)
    known = run.state.step(step_id)
    name = display_name or (known.display_name if known else step_id)
    with guard():
        step.start()
    try:
        outcome = stream_command(argv)
    except OSError as exc:
        with guard():
            step.fail(user_message=failure_message or f"{name} failed", system_message=f"cannot start {argv[0]}: {exc}")
        sys.stderr.write(f"meshpipe: error: cannot start {argv[0]!r}: {exc.strerror or exc}\n")
        return 127
    if outcome.signal is not None:
        signame = signal.Signals(outcome.signal).name
        with guard():
            step.abort(
                user_message=f"{name} was cancelled",
                system_message=_tail_text(outcome.tail, f"\n[meshpipe] received {signame}; the command was stopped"),
            )
            if run.terminal_status is None:
                run.finish("ABORTED")
        return 128 + outcome.signal
    code = outcome.code
    with guard():
        if code == 0:
            step.succeed(user_message=user_message or f"{name} succeeded", system_message=_tail_text(outcome.tail))
        else:
            shown = code if code >= 0 else 128 - code  # killed by a signal: shell convention
            step.fail(
                user_message=failure_message or f"{name} failed (exit code {shown})",
                system_message=_tail_text(outcome.tail, f"\n[meshpipe] exit code {shown}"),
            )
    return code if code >= 0 else 128 - code
