"""GitLab CI job I/O: no logging commands at all, outputs as a dotenv file for ``artifacts:reports:dotenv``.

What GitLab offers (docs.gitlab.com ``ci/yaml/artifacts_reports``, ``ci/variables``; gitlab-org/gitlab
``app/services/ci/parse_dotenv_artifact_service.rb``), and what meshpipe does about it:

- Masking: only CI/CD variables marked *masked* (or *masked and hidden*) are masked in the job log; a job cannot
  mask a value at run time (there is no ``::add-mask::``). :meth:`GitLabRunner.mask` therefore does nothing and
  meshpipe never prints a credential or a sensitive input: keep ``MESHSTACK_*`` credentials in masked variables.
- Outputs: a dotenv file whose path the job declares in ``artifacts:reports:dotenv``; later jobs of the pipeline
  (``needs``/``dependencies``) get its variables. meshpipe writes it when ``MESHPIPE_DOTENV_FILE`` names it (the
  template sets it; a relative path is relative to ``$CI_PROJECT_DIR``, as the artifact path is). GitLab reads each
  line as ``KEY=VALUE`` split at the first ``=`` and strips both; an empty line or one without ``=`` fails the
  whole report; there is no quoting and no multi-line value; keys are ASCII letters, digits and ``_``, at most
  255 characters (the variables become ``Ci::JobVariable`` records, validated by ``app/models/concerns/ci/
  has_variable.rb``: ``length: { maximum: 255 }``, ``/\\A[a-zA-Z0-9_]+\\z/``); the file must stay under 5 KiB and
  hold at most 20 variables (the defaults of the ``dotenv_size`` and ``dotenv_variables`` instance limits;
  *unverified*: GitLab.com's current values). An output that would break one of these rules is left out with a
  warning instead of failing the report. A ``$`` is written ``$$``: GitLab expands ``$NAME`` in a variable's value
  where the variable is used, and ``$$`` is its escape for a literal ``$`` (docs.gitlab.com ``ci/variables``, "Use
  the ``$`` character in CI/CD variables"; *unverified*: that a dotenv variable's value is expanded in every place a
  later job uses it -- where it is not, the value arrives with ``$$``). A sensitive value is never written: the
  artifact can be downloaded by project members and cannot be masked.
- Summary: GitLab has no job summary; the Markdown table is printed to the log.
- State: see :mod:`meshpipe.report.settings` (a job-private directory beside or inside the project directory, so
  ``after_script`` -- a separate shell in the same working tree -- finds what ``before_script`` and ``script``
  left).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TextIO

from meshpipe.report.ci import CiRunner

__all__ = ["DOTENV_MAX_BYTES", "DOTENV_MAX_NAME_LENGTH", "DOTENV_MAX_VARIABLES", "GitLabRunner", "dotenv_line"]

#: GitLab refuses a dotenv report of this size or more (``dotenv_size`` default, 5 KiB)
DOTENV_MAX_BYTES = 5 * 1024
#: ... and one with more variables (``dotenv_variables`` default)
DOTENV_MAX_VARIABLES = 20
#: GitLab's longest variable name (``Ci::HasVariable``)
DOTENV_MAX_NAME_LENGTH = 255
_KEY = re.compile(r"[A-Za-z0-9_]+")


def _name_problem(name: str) -> str | None:
    if not _KEY.fullmatch(name):
        return "is not a valid dotenv variable name (ASCII letters, digits and _)"
    if len(name) > DOTENV_MAX_NAME_LENGTH:
        return f"is longer than GitLab's {DOTENV_MAX_NAME_LENGTH} characters for a variable name"
    return None


def dotenv_line(name: str, value: str) -> str:
    """``NAME=VALUE\\n`` as GitLab reads it back unchanged (``$`` escaped as ``$$``); ValueError when it would not
    be read back as written."""
    problem = _name_problem(name)
    if problem:
        raise ValueError(problem)
    if "\n" in value or "\r" in value:
        raise ValueError("has a line break, which a dotenv report cannot hold")
    if value != value.strip():
        raise ValueError("starts or ends with white space, which GitLab strips from a dotenv value")
    return f"{name}={value.replace('$', '$$')}\n"


class GitLabRunner(CiRunner):
    """A GitLab CI job: plain log lines (nothing can be masked at run time), outputs in a dotenv file."""

    ci = "gitlab"

    def __init__(
        self,
        *,
        dotenv_file: Path | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        commands_to_stderr: bool = False,
    ) -> None:
        super().__init__(stdout=stdout, stderr=stderr, commands_to_stderr=commands_to_stderr)
        #: ``$MESHPIPE_DOTENV_FILE``, the file the job declares under ``artifacts:reports:dotenv``
        self.dotenv_file = dotenv_file

    @property
    def outputs_label(self) -> str:
        """The dotenv file, or the log when there is none."""
        return f"the dotenv file {self.dotenv_file}" if self.dotenv_file else "the log"

    def output_name_problem(self, name: str) -> str | None:
        """GitLab's rule for variable names (only checked when a dotenv file is written)."""
        return _name_problem(name) if self.dotenv_file is not None else None

    def skip_sensitive_output(self, name: str) -> None:
        """Say why a sensitive input is missing from the dotenv file (printed outputs leave it out silently)."""
        if self.dotenv_file is not None:
            self.warning(
                f"input {name!r} is sensitive; not written to {self.outputs_label} (a job artifact that project "
                "members can download and GitLab cannot mask)"
            )

    def set_output(self, name: str, value: str, *, sensitive: bool = False) -> None:
        """Append ``NAME=VALUE`` to the dotenv file (a warning instead when GitLab could not read it back);
        without a dotenv file print it like the plain runner."""
        if self.dotenv_file is None:
            super().set_output(name, value)
            return
        try:
            line = dotenv_line(name, value)
        except ValueError as exc:
            self.warning(f"output {name!r} {exc}; not written to {self.outputs_label}")
            return
        existing = _read(self.dotenv_file)
        names = {entry.partition("=")[0] for entry in existing.split("\n") if entry}
        size = len(existing.encode()) + len(line.encode())
        if size >= DOTENV_MAX_BYTES or (name not in names and len(names) >= DOTENV_MAX_VARIABLES):
            self.warning(
                f"output {name!r} would take the dotenv file over GitLab's limits ({DOTENV_MAX_VARIABLES} variables, "
                f"under {DOTENV_MAX_BYTES} bytes); not written to {self.outputs_label}"
            )
            return
        _append(self.dotenv_file, line)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except OSError as exc:
        from meshpipe.report.errors import ConfigurationError

        raise ConfigurationError(f"cannot read the dotenv file {path}: {exc.strerror or exc}") from None


def _append(path: Path, text: str) -> None:
    from meshpipe.report.errors import ConfigurationError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8", newline="") as fh:
            fh.write(text)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the dotenv file {path}: {exc.strerror or exc}") from None
