"""Time bounds of the transport: the total deadline of one HTTP exchange (connect, send, headers and body
together, :class:`Watchdog`) and the time budget of one command's requests (:class:`Budget`)."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator

__all__ = ["Budget", "Watchdog"]


class Budget:
    """The time one command may spend talking to meshStack: requests and the pauses between retries, summed.

    Only time inside :meth:`running` counts, so ``meshpipe run exec`` does not charge its command's run time to the
    reports before and after it. Nested use (a login sent while a request is being sent) counts once.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._spent = 0.0
        self._since: float | None = None

    def left(self) -> float:
        """Seconds still to spend (zero or less: the budget is spent)."""
        running = self._clock() - self._since if self._since is not None else 0.0
        return self.seconds - self._spent - running

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Count the time spent inside this block (the outermost block only)."""
        if self._since is not None:
            yield
            return
        self._since = self._clock()
        try:
            yield
        finally:
            self._spent += self._clock() - self._since
            self._since = None


class Watchdog:
    """A total deadline for one exchange: at it, the watched socket is shut down, which wakes a blocked read.

    Per-read timeouts cannot bound a server that sends one byte at a time. Shutting down a *duplicate* of the
    descriptor reaches the connection even after ``ssl`` took the socket object over for the handshake.
    """

    def __init__(self, seconds: float) -> None:
        import threading  # only once a request is sent

        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.expired = threading.Event()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._timer = threading.Timer(max(0.0, seconds), self._cut)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        """Seconds left; a timeout error when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0 or self.expired.is_set():
            raise TimeoutError("deadline reached")
        return left

    def watch(self, sock: socket.socket) -> None:
        """Cut this socket at the deadline."""
        with self._lock:
            self._fd = sock.fileno()
        if self.expired.is_set():
            self._cut()

    def release(self) -> None:
        """Stop watching the socket; call it before the socket is closed (its number may be reused after)."""
        with self._lock:
            self._fd = None

    def stop(self) -> None:
        """The exchange is over."""
        self._timer.cancel()
        self.release()

    def _cut(self) -> None:
        self.expired.set()
        with self._lock:
            fd = self._fd
            if fd is None or fd < 0:
                return
            with contextlib.suppress(OSError):
                dup = socket.socket(fileno=os.dup(fd))
                try:
                    dup.shutdown(socket.SHUT_RDWR)
                finally:
                    dup.close()
