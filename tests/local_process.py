"""Run a small HTTP server script (a receiver example or sketch) as its own process on a free 127.0.0.1 port."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def listening(
    argv: Sequence[str], cwd: Path, env: dict[str, str], port: int, *, what: str, seconds: float = 20
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv`` and yield it once it accepts connections on ``port``; terminate it afterwards.

    Fails (naming ``what`` and the server's stderr) when the process ends or ``seconds`` pass before it listens.
    """
    process = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                stderr = process.stderr.read().decode(errors="replace") if process.poll() is not None else ""
                assert process.poll() is None, f"{what} ended before it listened: {stderr}"
                assert time.monotonic() < deadline, f"{what} did not listen on port {port} within {seconds:g} s"
                time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
