"""One step of a run, as a handle and as a context manager (IN_PROGRESS on entry, SUCCEEDED or FAILED on exit)."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from meshpipe.report.model import Output

if TYPE_CHECKING:
    from meshpipe.report.run import Run

__all__ = ["Step", "StepSpec"]

#: ``"plan"``, or ``("plan", "Terraform plan")``
StepSpec = str | tuple[str, str]


class Step:
    """One step of a run. As a context manager: IN_PROGRESS on entry, SUCCEEDED on exit, FAILED on an exception.

    Messages and outputs set with :meth:`user_message`, :meth:`system_message` and :meth:`output` are sent with the
    next update (the final one, in a ``with`` block).
    """

    def __init__(self, run: Run, step_id: str, display_name: str | None = None) -> None:
        self.run = run
        self.id = step_id
        self.display_name = display_name
        self._user: str | None = None
        self._system: str | None = None
        self._outputs: dict[str, Any] = {}

    def user_message(self, text: str) -> None:
        """Set the message shown to the consuming workspace (sent with the next update)."""
        self._user = text

    def system_message(self, text: str) -> None:
        """Set the operator-only message (sent with the next update)."""
        self._system = text

    def output(self, name: str, value: Any, type: str | None = None) -> None:
        """Add an output (sent with the next update); the type is inferred unless given."""
        self._outputs[name] = Output.infer(value, type)

    def update(
        self,
        status: str | None = None,
        *,
        user_message: str | None = None,
        system_message: str | None = None,
        outputs: Mapping[str, Any] | None = None,
        run_status: str | None = None,
    ) -> bool:
        """Send an update now, including anything set earlier; returns meshStack's ``runAborted`` flag."""
        merged = {**self._outputs, **(outputs or {})}
        aborted = self.run.report_step(
            self.id,
            status=status,
            user_message=user_message if user_message is not None else self._user,
            system_message=system_message if system_message is not None else self._system,
            outputs=merged or None,
            display_name=self.display_name,
            run_status=run_status,
        )
        self._user = self._system = None
        self._outputs = {}
        return aborted

    def start(self, **kwargs: Any) -> bool:
        """Report IN_PROGRESS."""
        return self.update("IN_PROGRESS", **kwargs)

    def succeed(self, **kwargs: Any) -> bool:
        """Report SUCCEEDED (keyword arguments as for :meth:`update`)."""
        return self.update("SUCCEEDED", **kwargs)

    def fail(self, **kwargs: Any) -> bool:
        """Report FAILED (keyword arguments as for :meth:`update`)."""
        return self.update("FAILED", **kwargs)

    def abort(self, **kwargs: Any) -> bool:
        """Report ABORTED (keyword arguments as for :meth:`update`)."""
        return self.update("ABORTED", **kwargs)

    def __enter__(self) -> Step:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.succeed()
        elif isinstance(exc, (KeyboardInterrupt, SystemExit)):
            self.abort(system_message=f"{type(exc).__name__}: the step was interrupted")
        else:
            self.fail(system_message=f"{type(exc).__name__}: {exc}")
