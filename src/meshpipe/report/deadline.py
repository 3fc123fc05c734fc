"""The total deadline of one HTTP exchange (connect, send, headers and body together), see :class:`Watchdog`."""

from __future__ import annotations

import contextlib
import os
import socket
import time

__all__ = ["Watchdog"]


class Watchdog:
    """A total deadline for one exchange: at it, the watched socket is shut down, which wakes a blocked read.

    Per-read timeouts cannot bound a server that sends one byte at a time. Shutting down a *duplicate* of the
    descriptor reaches the connection even after ``ssl`` took the socket object over for the handshake.
    """

    def __init__(self, seconds: float) -> None:
        import threading  # only once a request is sent

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
