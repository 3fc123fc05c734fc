"""GitHub Actions runner I/O, following actions/toolkit ``packages/core``.

Outputs go to the file named by ``$GITHUB_OUTPUT`` with a random delimiter per
write; annotations and ``::add-mask::`` go to stdout; the step summary is Markdown appended to
``$GITHUB_STEP_SUMMARY``. Off a runner (a laptop) outputs and warnings are simply printed. The interface and the
other CIs: :mod:`meshpipe.report.ci`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from meshpipe.contract import INPUT_NAME_PATTERN
from meshpipe.report.ci import CiRunner

__all__ = ["ActionsRunner", "escape_data", "escape_property", "file_command"]


def escape_data(text: str) -> str:
    """Escape an annotation message (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape an annotation property value (``%``, CR, LF, ``:`` and ``,``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def file_command(name: str, value: str) -> str:
    """``name<<ghadelimiter_<uuid>`` block for a runner file command such as ``$GITHUB_OUTPUT`` (a fresh delimiter
    each time)."""
    import uuid  # imported here: most steps never write an output, and uuid is slow to import

    if not name or any(c in name for c in "\r\n=<"):
        raise ValueError(f"{name!r} cannot be a runner file command name")  # it would forge a second entry
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    if delimiter in name or delimiter in value:  # as unlikely as it gets, but toolkit checks too
        raise ValueError("value contains the delimiter")
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


class ActionsRunner(CiRunner):
    """The GitHub Actions runner as a step sees it: workflow commands on stdout, outputs and the step summary in the
    files the runner names; prints plainly when not on GitHub Actions (a laptop).

    Not to be confused with :mod:`meshpipe.fakes.github` (a fake GitHub API) or meshStack's building block runner.
    """

    ci = "github"

    # Keyword-only settings like Run's and Settings' constructors; the data differs.
    def __init__(
        self,
        *,
        on_actions: bool,
        output_file: Path | None = None,
        summary_file: Path | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        commands_to_stderr: bool = False,
    ) -> None:
        super().__init__(stdout=stdout, stderr=stderr, commands_to_stderr=commands_to_stderr)
        self.on_actions = on_actions
        self.output_file = output_file
        self.summary_file = summary_file

    @property
    def outputs_label(self) -> str:
        """``$GITHUB_OUTPUT``, the file outputs go to."""
        return "$GITHUB_OUTPUT"

    @property
    def outputs_hold_secrets(self) -> bool:
        """Masked values may go to ``$GITHUB_OUTPUT``; printed ones may not."""
        return self.output_file is not None

    def _command(self, command: str, message: str, properties: Mapping[str, str] | None = None) -> None:
        props = ",".join(f"{k}={escape_property(v)}" for k, v in (properties or {}).items() if v)
        stream = self.command_stream
        stream.write(f"::{command}{' ' + props if props else ''}::{escape_data(message)}\n")
        stream.flush()

    def mask(self, secret: str) -> None:
        """Ask the runner to mask ``secret`` in all later log lines (only on GitHub Actions)."""
        if self.on_actions and secret:
            self._command("add-mask", secret)

    def warning(self, message: str, *, title: str = "meshpipe") -> None:
        """A warning line on stderr, plus a ``::warning::`` annotation on GitHub Actions."""
        super().warning(message, title=title)
        if self.on_actions:
            self._command("warning", message, {"title": title})

    def error(self, message: str, *, title: str = "meshpipe") -> None:
        """A ``::error::`` annotation on GitHub Actions (the CLI prints the stderr line itself)."""
        if self.on_actions:
            self._command("error", message, {"title": title})

    def output_name_problem(self, name: str) -> str | None:
        """GitHub's rule for output ids (as for inputs): anything else could forge a second output."""
        if _OUTPUT_NAME.fullmatch(name):
            return None
        return "is not a valid output name (letters, digits, _ and -, starting with a letter or _)"

    def set_output(self, name: str, value: str, *, sensitive: bool = False) -> None:
        """Write a step output to ``$GITHUB_OUTPUT``; print ``name=value`` when there is no such file."""
        if self.output_file is None:
            super().set_output(name, value)
            return
        _append(self.output_file, "$GITHUB_OUTPUT", file_command(name, value))

    def summary(self, markdown: str) -> None:
        """Append Markdown to ``$GITHUB_STEP_SUMMARY``; print it when there is no such file."""
        if self.summary_file is None:
            super().summary(markdown)
            return
        _append(self.summary_file, "$GITHUB_STEP_SUMMARY", markdown)


#: what a step output may be called on GitHub (its rule for ids, as for inputs)
_OUTPUT_NAME = re.compile(INPUT_NAME_PATTERN)


def _append(path: Path, name: str, text: str) -> None:
    from meshpipe.report.errors import ConfigurationError

    try:
        with path.open("a", encoding="utf-8", newline="") as fh:
            fh.write(text)
    except OSError as exc:
        raise ConfigurationError(f"cannot write to {name} ({path}): {exc.strerror or exc}") from None
