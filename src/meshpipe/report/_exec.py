"""``meshpipe run exec``: run a command as a step, stream its output, keep its tail, survive cancellation."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import FrameType
from typing import Any

from meshpipe.report.model import SYSTEM_MESSAGE_LIMIT, cap_system_message
from meshpipe.report.run import Run

__all__ = ["KILL_GRACE_SECONDS", "exec_step", "stream_command"]

#: after forwarding SIGTERM/SIGINT, how long the command may take to stop before it is killed
KILL_GRACE_SECONDS = 10.0
_TAIL_BYTES = 4 * SYSTEM_MESSAGE_LIMIT
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


#: a line longer than this is not searched for ``::add-mask::`` / ``##vso[task.setsecret]`` (runners read commands
#: from whole lines)
_MAX_LINE_BYTES = 1024 * 1024


class _Outcome:
    def __init__(self) -> None:
        self.code = 0
        self.tail = b""
        #: whether the command wrote more than the tail keeps (the tail starts in the middle of its output)
        self.cut = False
        self.signal: int | None = None
        #: values the command masked with ``::add-mask::`` (in the order seen)
        self.masks: list[str] = []


class _MaskScanner:
    """Finds ``::add-mask::VALUE`` lines in a stream of output chunks."""

    def __init__(self) -> None:
        self._partial = bytearray()
        self.found: list[str] = []

    def feed(self, chunk: bytes) -> None:
        from meshpipe.report.redact import masked_values

        self._partial += chunk
        *lines, rest = self._partial.split(b"\n")
        for line in lines:
            self.found += masked_values(bytes(line))
        self._partial = bytearray(rest) if len(rest) <= _MAX_LINE_BYTES else bytearray()

    def close(self) -> None:
        from meshpipe.report.redact import masked_values

        self.found += masked_values(bytes(self._partial))
        self._partial.clear()


class _Signals:
    """SIGTERM and SIGINT for the whole of ``exec``: remembered (the first one wins), and forwarded to the command's
    process group while a command runs; the group is killed if it outlives ``grace``.

    Installed before the IN_PROGRESS update and kept until the final one, so a cancellation that lands while a
    report is on its way is noted instead of killing us between two updates (no terminal status at all).
    """

    def __init__(self, grace: float = KILL_GRACE_SECONDS) -> None:
        self.grace = grace
        self.received: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._timer: threading.Timer | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        if self._timer is not None:
            self._timer.cancel()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received = self.received or signum
        proc = self.proc
        if proc is not None and proc.poll() is None:
            self.signal_group(signum)
            if self._timer is None:
                self._timer = threading.Timer(self.grace, self.signal_group, (signal.SIGKILL,))
                self._timer.daemon = True
                self._timer.start()

    def signal_group(self, signum: int) -> None:
        """Signal the running command's process group."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
                os.killpg(self.proc.pid, signum)


def stream_command(argv: list[str], signals: _Signals) -> _Outcome:
    """Run ``argv`` with its output (stdout and stderr merged) copied live to our stdout, keeping a bounded tail.

    The command gets a process group of its own, which ``signals`` forwards SIGTERM and SIGINT to: a ``sh -c``
    command's children hold the output pipe, so signalling only the shell would leave us reading until they finish
    on their own, long after the runner gave up on us.
    """
    outcome = _Outcome()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    signals.proc = proc
    tail = bytearray()
    scanner = _MaskScanner()
    out = sys.stdout.buffer
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while chunk := os.read(fd, 65536):
            out.write(chunk)
            out.flush()
            scanner.feed(chunk)
            tail += chunk
            if len(tail) > _TAIL_BYTES:
                del tail[: len(tail) - _TAIL_BYTES]
                outcome.cut = True
        scanner.close()
        outcome.code = proc.wait()
    finally:
        if proc.poll() is None:
            signals.signal_group(signal.SIGKILL)
            proc.wait()
    outcome.signal = signals.received
    outcome.tail = bytes(tail)
    outcome.masks = list(dict.fromkeys(scanner.found))
    return outcome


def _tail_text(run: Run, outcome: _Outcome, note: str = "") -> str | None:
    """The output's tail for the system message: redacted before anything is cut or stripped from it."""
    text = run.redact(outcome.tail.decode("utf-8", errors="replace"))
    if outcome.cut:
        # The tail starts where the output was cut, maybe inside a secret that no rule matches any more: its first
        # characters -- as many as the longest secret has, less one -- can be part of one, so they go too (redaction
        # never makes text longer, so they cover the part whatever was replaced after it).
        text = text[max(run.redactor.longest - 1, 0) :]
    text = (_ANSI.sub("", text).rstrip() + note).strip("\n")
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
    """Report ``step_id`` IN_PROGRESS, run ``argv``, report the result; return the exit code to exit with.

    Values the command masked (``::add-mask::``) are redacted from everything sent afterwards -- also by later
    steps of the job, which find their fingerprints in the state -- like every other secret meshpipe knows of.
    """
    step = run.step(step_id, display_name)
    known = run.state.step(step_id)
    name = display_name or (known.display_name if known else step_id)
    with _Signals() as signals:
        with guard():
            step.start()
        outcome = _Outcome()
        if signals.received is None:  # cancelled while reporting the start: the command never runs
            try:
                outcome = stream_command(argv, signals)
            except OSError as exc:
                with guard():
                    step.fail(
                        user_message=failure_message or f"{name} failed",
                        system_message=f"cannot start {argv[0]}: {exc}",
                    )
                message = f"meshpipe: error: cannot start {argv[0]!r}: {exc.strerror or exc}"
                sys.stderr.write(run.runner.printable(message) + "\n")
                return 127
        for value in outcome.masks:
            with guard():
                run.mask(value, announce=False)  # the command's own ::add-mask:: line already told the runner
        received = signals.received
        if received is not None:
            note = f"\n[meshpipe] received {signal.Signals(received).name}; the command was stopped"
            with guard():
                step.abort(user_message=f"{name} was cancelled", system_message=_tail_text(run, outcome, note))
                run.finish("ABORTED", skip_if_finished=True)
            return 128 + received
        code = outcome.code
        with guard():
            if code == 0:
                step.succeed(user_message=user_message or f"{name} succeeded", system_message=_tail_text(run, outcome))
            else:
                shown = code if code >= 0 else 128 - code  # killed by a signal: shell convention
                step.fail(
                    user_message=failure_message or f"{name} failed (exit code {shown})",
                    system_message=_tail_text(run, outcome, f"\n[meshpipe] exit code {shown}"),
                )
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            shown = code if code >= 0 else 128 - code
            message = f"meshpipe: {argv[0]} {how}, so step {step_id!r} failed; meshpipe exits with {shown}"
            sys.stderr.write(run.runner.printable(message) + "\n")
        return code if code >= 0 else 128 - code
