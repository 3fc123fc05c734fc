"""A building block run as a pipeline sees it: register steps, report them, finish exactly once."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from meshpipe.report.ci import CiRunner, make_runner
from meshpipe.report.errors import ConfigurationError, NotFoundError, TerminalStatusError
from meshpipe.report.model import (
    RUN_STATUSES,
    STEP_STATUSES,
    TERMINAL_STATUSES,
    Input,
    Output,
    RunObject,
    cap_system_message,
    cap_user_message,
)
from meshpipe.report.redact import Redactor
from meshpipe.report.settings import Settings
from meshpipe.report.state import RunState, ensure_private_dir
from meshpipe.report.step import Step, StepSpec

if TYPE_CHECKING:
    from meshpipe.report.transport import Transport

__all__ = ["Run", "Step", "StepSpec"]

#: the longest pause between two attempts (transport.MAX_RETRY_AFTER; not imported: the transport loads lazily)
_MAX_PAUSE = 60.0


class Run:
    """One building block run, reported from one source (``github`` by default).

    Build it with :meth:`from_env`. Nothing is sent until a method is called. What was reported is kept in a
    state file (the CI job's temp directory, see :mod:`meshpipe.report.settings`; a per-user directory off a CI),
    so later steps (even in other processes) know the source, the steps, the masked values and whether the run
    already has its terminal status.

    The seams are arguments, as in httpx and stripe: ``transport`` replaces the HTTP transport built from the
    settings, ``runner`` the CI's I/O (:mod:`meshpipe.report.ci`), and ``sleep`` / ``random`` the pause between two
    attempts and the jitter of the transport built here (tests pin the exact delays without sleeping).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: Transport | None = None,
        runner: CiRunner | None = None,
        sleep: Callable[[float], None] | None = None,
        random: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.url = settings.require_run_url()
        self._object = settings.run_object
        if settings.state_dir is None and settings.user_state_dir is not None:
            ensure_private_dir(settings.user_state_dir)
        elif settings.state_dir is not None and settings.state_dir_private:
            ensure_private_dir(settings.state_dir)
        self.state = RunState.load(settings.state_path, self.url)
        self.runner = runner or make_runner(settings)
        self._transport = transport
        self._seams = {key: value for key, value in (("sleep", sleep), ("random", random)) if value is not None}
        #: every secret this job knows of; shared with the transport so its error messages are redacted too
        self.redactor = transport.redactor if transport is not None else Redactor()
        self.redactor.add_fingerprints(self.state.masks)
        for value in settings.redact_values:  # MESHPIPE_REDACT_VARIABLES
            self.redactor.add(value)
        if self._object is not None:
            self._add_sensitive_inputs(self._object)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        run_url: str | None = None,
        run_b64: str | None = None,
        source_id: str | None = None,
    ) -> Run:
        """The run named by the environment (precedence: :mod:`meshpipe.report.locator`, `.credential_sources`)."""
        settings = Settings.from_env(
            os.environ if environ is None else environ, run_url=run_url, run_b64=run_b64, source_id=source_id
        )
        return cls(settings)

    # -- reading -----------------------------------------------------------------------------------------------

    @property
    def transport(self) -> Transport:
        """The HTTP transport, built on first use."""
        if self._transport is None:
            from meshpipe.report.connect import build_transport

            self._transport = build_transport(self.settings, self.runner, self.redactor, **self._seams)
        return self._transport

    def _add_sensitive_inputs(self, obj: RunObject) -> None:
        # A base64 run object carries sensitive inputs decrypted: a secret meshpipe knows of, never to be sent back.
        for item in obj.inputs.values():
            if item.is_sensitive:
                self.redactor.add(item.as_text())

    def redact(self, text: str) -> str:
        """``text`` without any secret this job knows of (its tokens, sensitive inputs, values it masked)."""
        return self.redactor.redact(text)

    def mask(self, value: str, *, announce: bool = True) -> None:
        """Treat ``value`` as a secret of this job from now on, also in later steps (only its fingerprint is kept).

        With ``announce`` the CI is asked to mask it too (``::add-mask::``, ``##vso[task.setsecret]``; GitLab cannot);
        without, the job already did.
        """
        from meshpipe.report.redact import MIN_SECRET_LENGTH, fingerprint

        if len(value) < MIN_SECRET_LENGTH:
            return
        if announce:
            self.runner.mask(value)
        self.redactor.add(value)
        mark = list(fingerprint(value))

        def remember(state: RunState) -> None:
            if mark not in state.masks:
                state.masks.append(mark)

        self.state.update(remember)

    @property
    def object(self) -> RunObject:
        """The run object: the base64 one if given, else fetched once with ``GET {runUrl}``."""
        if self._object is None:
            data = self.transport.send("GET", self.url)
            if not isinstance(data, dict):
                raise ConfigurationError(f"GET {self.url} did not return a run object")
            self._object = RunObject.parse(data, url=self.url)
            self._add_sensitive_inputs(self._object)
        return self._object

    @property
    def behavior(self) -> str:
        """``APPLY``, ``DESTROY`` or ``DETECT`` (a dry run: do not change anything)."""
        return self.object.behavior

    @property
    def inputs(self) -> dict[str, Input]:
        """The building block's inputs by key."""
        return self.object.inputs

    @property
    def source_id(self) -> str:
        """The source this reporter speaks as: ``--source-id``/``MESHSTACK_SOURCE_ID``, else what an earlier step
        registered, else the CI's default (``github``, ``gitlab``, ``azure-pipelines``; ``github`` off a CI)."""
        return self.settings.source_id or self.state.source_id or self.settings.default_source_id

    @property
    def terminal_status(self) -> str | None:
        """The terminal status already sent for this run, if any."""
        return self.state.terminal_status

    def _links(self) -> RunObject:
        return self._object or RunObject(url=self.url)

    # -- reporting ---------------------------------------------------------------------------------------------

    def register(self, steps: Iterable[StepSpec], *, source_id: str | None = None) -> None:
        """Register this source and its steps (in display order); an existing registration (409) is success.

        ``source_id`` defaults to :attr:`source_id`.
        """
        source_id = source_id or self.source_id
        specs = [(s, s) if isinstance(s, str) else (s[0], s[1]) for s in steps]
        if len(specs) > 50:
            raise ConfigurationError(f"meshStack accepts at most 50 steps per source, got {len(specs)}")
        if len({sid for sid, _ in specs}) != len(specs):
            raise ConfigurationError("step ids must be unique")
        source: dict[str, Any] = {"id": source_id}
        if self.settings.external_run_id:
            source["externalRunId"] = self.settings.external_run_id
        if self.settings.external_run_url:
            source["externalRunUrl"] = self.settings.external_run_url
        body = {
            "source": source,
            "steps": [{"id": sid, "displayName": name, "status": "PENDING"} for sid, name in specs],
        }
        self.transport.send("POST", self._links().register_url(), body, ok_statuses=(409,))

        def registered(state: RunState) -> None:
            if state.source_id != source_id:
                state.source_id = source_id
            state.registered = True
            for sid, name in specs:
                state.record(sid, name)

        self.state.update(registered)

    def step(self, step_id: str, display_name: str | None = None) -> Step:
        """A handle on one step; use it as a context manager or call :meth:`Step.succeed` and friends."""
        return Step(self, step_id, display_name)

    def report_step(
        self,
        step_id: str,
        *,
        status: str | None = None,
        user_message: str | None = None,
        system_message: str | None = None,
        outputs: Mapping[str, Any] | None = None,
        display_name: str | None = None,
        run_status: str | None = None,
    ) -> bool:
        """Send one step update (and optionally the run status); unset (None or empty) fields are omitted.

        Returns meshStack's ``runAborted`` flag.
        """
        if status is not None and status not in STEP_STATUSES:
            raise ConfigurationError(f"step status {status!r} is not one of {', '.join(STEP_STATUSES)}")
        terminal = run_status in TERMINAL_STATUSES
        with self.state.terminal_lock(self._terminal_wait()) if terminal else contextlib.nullcontext():
            self._check_not_finished(run_status)
            step: dict[str, Any] = {"id": step_id}
            known = self.state.step(step_id)
            if display_name or known is None:
                step["displayName"] = display_name or step_id
            if status is not None:
                step["status"] = status
            # An empty message counts as unset: sent as "" it would wipe the message meshStack shows. A token in a
            # message (a log tail that echoed it) is redacted: GitHub masks it in its log, meshStack would not.
            user_message = self._capped("user", user_message) if user_message else None
            system_message = self._capped("system", system_message) if system_message else None
            if user_message is not None:
                step["userMessage"] = user_message
            if system_message is not None:
                step["systemMessage"] = system_message
            if outputs:
                step["outputs"] = {name: Output.infer(value).to_wire() for name, value in outputs.items()}
            body: dict[str, Any] = {"steps": [step]}
            if run_status is not None:
                body["status"] = run_status
            aborted = self._patch(body, [(step_id, step.get("displayName", step_id))])

            def reported(state: RunState) -> None:
                state.record(
                    step_id, display_name, status=status, user_message=user_message, system_message=system_message
                )
                # Only ever set, never reset: a slower process must not undo another one's terminal status.
                if run_status in TERMINAL_STATUSES and state.terminal_status is None:
                    state.terminal_status = run_status

            self.state.update(reported)
            return aborted

    def _capped(self, kind: str, text: str) -> str:
        """``text`` redacted, then cut to meshStack's limit (user: its start, system: its end), saying so."""
        # Redacted whole before the cut: a secret straddling the cut (or the edge of any window taken first) would be
        # matched by no rule and leave its start (user) or end (system) in what is sent.
        redacted = self.redact(text)
        capped = cap_user_message(redacted) if kind == "user" else cap_system_message(redacted)
        if capped != redacted:
            self.runner.stderr.write(
                f"meshpipe: note: the {kind} message has {len(text)} characters; sent cut to {len(capped)} "
                f"({'its start' if kind == 'user' else 'its end'} is kept)\n"
            )
        return capped

    def finish(self, status: str, *, summary: bool = True, skip_if_finished: bool = False) -> bool:
        """Send the run's terminal status (``SUCCEEDED``, ``FAILED`` or ``ABORTED``), exactly once.

        Finishing ``SUCCEEDED`` while a registered step never reached ``SUCCEEDED`` sends it anyway and warns, as
        meshStack will show the run with a warning. With ``summary`` a step table goes to the step summary. A run
        that already finished is an error, or -- with ``skip_if_finished`` -- left alone (returns False).
        """
        if status not in TERMINAL_STATUSES:
            raise ConfigurationError(f"run status {status!r} is not terminal; use SUCCEEDED, FAILED or ABORTED")
        with self.state.terminal_lock(self._terminal_wait()):
            self.state.refresh()
            if skip_if_finished and self.state.terminal_status is not None:
                return False
            self._check_not_finished(status)
            if status == "SUCCEEDED":
                for record in self.state.steps:
                    if record.status != "SUCCEEDED":
                        self.runner.warning(
                            f"run finished SUCCEEDED but step {record.id!r} ({record.display_name}) is "
                            f"{record.status}; meshStack shows such a run with a warning"
                        )
            self._patch({"status": status}, [])

            def finished(state: RunState) -> None:
                if state.terminal_status is None:
                    state.terminal_status = status

            self.state.update(finished)
        if summary:
            self.runner.summary(self.summary_markdown())
        return True

    def _terminal_wait(self) -> float:
        # Another process sending the terminal status holds the lock for at most its whole retry budget; a command
        # with a time budget does not wait past it.
        s = self.settings
        wait = s.timeout * s.retry_attempts + _MAX_PAUSE * max(0, s.retry_attempts - 1) + 10.0
        return wait if s.deadline is None else min(wait, s.deadline)

    def summary_markdown(self) -> str:
        """A Markdown table of the steps, their statuses and messages, as reported from this job."""
        status = self.state.terminal_status or "IN_PROGRESS"
        lines = [f"### meshStack run {status}", "", f"Run: {self.url}", ""]
        if self.state.steps:
            lines += ["| Step | Status | Message |", "| --- | --- | --- |"]
            for s in self.state.steps:
                lines.append(f"| {_cell(s.display_name)} (`{_cell(s.id)}`) | {s.status} | {_cell(s.user_message)} |")
            lines.append("")
        return "\n".join(lines) + "\n"

    def _check_not_finished(self, new_status: str | None) -> None:
        self.state.refresh()  # another process of the job may have finished the run since we read the state
        if self.state.terminal_status is not None:
            what = f"the run status {new_status}" if new_status else "a step update"
            raise TerminalStatusError(
                f"run {self.url} already finished with {self.state.terminal_status}; refusing to send {what} "
                "(meshStack takes exactly one terminal status)"
            )
        if new_status is not None and new_status not in RUN_STATUSES:
            raise ConfigurationError(f"run status {new_status!r} is not one of {', '.join(RUN_STATUSES)}")

    def _patch(self, body: dict[str, Any], steps: list[tuple[str, str]]) -> bool:
        url = self._links().update_url(self.source_id)
        try:
            answer = self.transport.send("PATCH", url, body)
        except NotFoundError:
            if self.state.registered:
                raise
            # Reporting without `register` first: register the source (with this step) on the fly and resend.
            self.register(steps, source_id=self.source_id)
            answer = self.transport.send("PATCH", url, body)
        return bool(answer.get("runAborted")) if isinstance(answer, dict) else False


def _cell(text: str | None) -> str:
    if not text:
        return ""
    # splitlines, not split("\n"): Markdown also ends a line at a bare CR.
    return " ".join(text.splitlines()).replace("|", "\\|")
