"""Azure Pipelines agent I/O: logging commands (``##vso[area.action key=value;...]data``) on stdout.

Sources: "Logging commands" (learn.microsoft.com/azure/devops/pipelines/scripts/logging-commands) and the agent that
obeys them, microsoft/azure-pipelines-agent: ``src/Agent.Sdk/CommandStringConvertor.cs`` (escaping) and
``Command.TryParse`` (parsing). What matters here:

- The agent looks for ``##vso[`` *anywhere* in a line of stdout or stderr, not only at its start, so every text
  meshpipe prints that may hold a value from elsewhere (inputs, server messages) is defused first
  (:func:`defuse`); ``##[group]``-style formatting lines are defused too.
- Property values and data are unescaped ``%3B`` -> ``;``, ``%0D`` -> CR, ``%0A`` -> LF, ``%5D`` -> ``]`` and then
  ``%AZP25`` -> ``%`` (the agent's ``DECODE_PERCENTS`` knob; *unverified*: that it is on by default on every agent
  in use -- with it off a ``%`` in a value arrives as ``%AZP25``). :func:`escape` is the inverse, so a value can
  neither end the command early (``]``, ``;``) nor start a second one on a new line.
- ``task.setsecret`` registers a value with the agent's masker for all later log lines; the log is masked per line,
  so each line of a multi-line secret is registered as well.
- Outputs: ``task.setvariable variable=NAME;isOutput=true`` (``issecret=true`` for a sensitive value: masked, and
  not mapped into later steps' environment unless asked). Variable names: letters, digits, ``_`` and ``.``; the
  prefixes ``endpoint``, ``input``, ``secret``, ``path`` and ``securefile`` are reserved by the system.
- The summary is a Markdown file attached with ``task.uploadsummary PATH``; it is written to
  ``$AGENT_TEMPDIRECTORY``, which the agent cleans after the job.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import TextIO

from meshpipe.report.ci import CiRunner

__all__ = ["AzureRunner", "defuse", "escape", "logging_command"]

_ESCAPES = ((";", "%3B"), ("\r", "%0D"), ("\n", "%0A"), ("]", "%5D"))
_COMMAND_MARK = re.compile(r"##(?=(?:vso)?\[)", re.IGNORECASE)
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_RESERVED_PREFIXES = ("endpoint", "input", "secret", "path", "securefile")
_summaries = itertools.count(1)


def escape(text: str) -> str:
    """``text`` as the agent's ``CommandStringConvertor.Escape`` writes it (percent first, then the four marks)."""
    text = text.replace("%", "%AZP25")
    for token, replacement in _ESCAPES:
        text = text.replace(token, replacement)
    return text


def logging_command(command: str, data: str = "", properties: dict[str, str] | None = None) -> str:
    """``##vso[command key=value;...]data`` with every property value and the data escaped."""
    props = ";".join(f"{key}={escape(value)}" for key, value in (properties or {}).items())
    return f"##vso[{command}{' ' + props if props else ''}]{escape(data)}"


def defuse(text: str) -> str:
    """``text`` with every ``##vso[`` and ``##[`` broken up (``## vso[``), so printing it starts no command."""
    return _COMMAND_MARK.sub("## ", text)


class AzureRunner(CiRunner):
    """An Azure Pipelines job step: logging commands on stdout, the summary as a file in the job's temp directory."""

    ci = "azure"

    def __init__(
        self,
        *,
        temp_dir: Path | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        commands_to_stderr: bool = False,
    ) -> None:
        super().__init__(stdout=stdout, stderr=stderr, commands_to_stderr=commands_to_stderr)
        #: ``$AGENT_TEMPDIRECTORY``: where summary files are written before they are attached
        self.temp_dir = temp_dir

    @property
    def outputs_label(self) -> str:
        """Output variables, set with ``task.setvariable``."""
        return "the output variables"

    @property
    def outputs_hold_secrets(self) -> bool:
        """``issecret=true`` keeps a sensitive output masked."""
        return True

    def command(self, command: str, data: str = "", properties: dict[str, str] | None = None) -> None:
        """Write one logging command (escaped) on its own line."""
        stream = self.command_stream
        stream.write(logging_command(command, data, properties) + "\n")
        stream.flush()

    def printable(self, text: str) -> str:
        """``text`` defused: the agent obeys ``##vso[`` anywhere in a line."""
        return defuse(text)

    def mask(self, secret: str) -> None:
        """``task.setsecret`` for the value and, if it has several lines, for each line."""
        lines = [line for line in secret.splitlines() if line.strip()]
        for value in dict.fromkeys([secret, *lines] if len(lines) > 1 else [secret]):
            if value:
                self.command("task.setsecret", value)

    def warning(self, message: str, *, title: str = "meshpipe") -> None:
        """A warning line on stderr plus a ``task.logissue type=warning`` (shown in the run's summary)."""
        super().warning(message, title=title)
        self.command("task.logissue", defuse(f"{title}: {message}"), {"type": "warning"})

    def error(self, message: str, *, title: str = "meshpipe") -> None:
        """A ``task.logissue type=error`` (the CLI prints the stderr line itself)."""
        self.command("task.logissue", defuse(f"{title}: {message}"), {"type": "error"})

    def output_name_problem(self, name: str) -> str | None:
        """Azure's rule for variable names, and its reserved prefixes."""
        if not _VARIABLE_NAME.fullmatch(name):
            return "is not a valid variable name (letters, digits, _ and ., starting with a letter or _)"
        if name.lower().startswith(_RESERVED_PREFIXES):
            return f"starts with a prefix Azure Pipelines reserves ({', '.join(_RESERVED_PREFIXES)})"
        return None

    def url_output(self, url: str) -> str:
        """``$(`` as ``%24(``: the agent expands ``$(NAME)`` macros where a later step uses the variable (in its
        ``env:``, its inputs, its script text), so a run URL holding ``$(System.AccessToken)`` would turn into one that
        carries the token. ``%24`` is the same ``$`` to every URL parser (RFC 3986, section 2.1)."""
        return url.replace("$(", "%24(")

    def set_output(self, name: str, value: str, *, sensitive: bool = False) -> None:
        """``task.setvariable variable=NAME;isOutput=true`` (with ``issecret=true`` for a sensitive value)."""
        properties = {"variable": name, "isOutput": "true"}
        if sensitive:
            properties["issecret"] = "true"
        self.command("task.setvariable", value, properties)

    def summary(self, markdown: str) -> None:
        """Write the Markdown to a new file in the job's temp directory and attach it (``task.uploadsummary``)."""
        if self.temp_dir is None:
            super().summary(markdown)
            return
        from meshpipe.report.errors import ConfigurationError

        path = self.temp_dir / f"meshpipe-summary-{os.getpid()}-{next(_summaries)}.md"
        try:
            path.write_text(markdown, encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot write the summary {path}: {exc.strerror or exc}") from None
        self.command("task.uploadsummary", str(path))
