"""The CI a ``meshpipe run`` step runs in, and its I/O: one small interface, one implementation per CI.

The environment picks the implementation (:func:`detect_ci`): ``GITHUB_ACTIONS=true`` GitHub Actions
(:mod:`meshpipe.report.actions`), ``GITLAB_CI=true`` GitLab CI (:mod:`meshpipe.report.ci_gitlab`),
``TF_BUILD=True`` Azure Pipelines (:mod:`meshpipe.report.ci_azure`); anything else is :class:`CiRunner` itself, the
plain fallback (a laptop, Jenkins, ...) that prints. Only the chosen module is imported: every CI step starts
``meshpipe run``.

What differs per CI:

============  =======================  ==========================  ========================  =====================
CI            state (job temp dir)     masking a value             outputs                   summary
============  =======================  ==========================  ========================  =====================
GitHub        ``$RUNNER_TEMP``         ``::add-mask::``            ``$GITHUB_OUTPUT``        step summary file
GitLab        see ``ci_gitlab``        none at run time (masked    dotenv file for           printed to the log
                                       CI/CD variables only)       ``artifacts:reports``
Azure         ``$AGENT_TEMPDIRECTORY``  ``##vso[task.setsecret]``  ``##vso[task.setvariable  ``##vso[task.upload
                                                                   ...;isOutput=true]``      summary]``
plain         per-user directory       none                        printed                   printed
============  =======================  ==========================  ========================  =====================
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from meshpipe.report.settings import Settings

__all__ = ["CI_LABELS", "CiRunner", "detect_ci", "make_runner", "runner_for_environment"]

#: the CI names :func:`detect_ci` returns, and how messages call them
CI_LABELS = {"github": "GitHub Actions", "gitlab": "GitLab CI", "azure": "Azure Pipelines", "none": "no CI"}


def detect_ci(environ: Mapping[str, str]) -> str:
    """``github``, ``gitlab``, ``azure`` or ``none``, from the variable each CI sets in every job."""
    if environ.get("GITHUB_ACTIONS") == "true":
        return "github"
    if environ.get("GITLAB_CI") == "true":
        return "gitlab"
    # The agent sets TF_BUILD=True (capitalised: a .NET bool); compare without case like the agent's own scripts.
    if environ.get("TF_BUILD", "").lower() == "true":
        return "azure"
    return "none"


class CiRunner:
    """The CI as a step sees it -- and, used as is, the plain fallback: progress on stdout, warnings on stderr,
    outputs and the summary printed, nothing masked (there is no log to mask in).

    Subclasses override what their CI offers. Keyword-only settings like Run's and Settings' constructors.
    """

    #: the name :func:`detect_ci` returns for this CI
    ci = "none"

    def __init__(
        self, *, stdout: TextIO | None = None, stderr: TextIO | None = None, commands_to_stderr: bool = False
    ) -> None:
        #: send CI commands to stderr (runners read both) so stdout can stay pure JSON
        self.commands_to_stderr = commands_to_stderr
        self._stdout = stdout
        self._stderr = stderr

    @property
    def stdout(self) -> TextIO:
        """The stream for progress lines and CI commands (resolved late so tests capturing sys.stdout work)."""
        return self._stdout or sys.stdout

    @property
    def stderr(self) -> TextIO:
        """The stream for human warnings."""
        return self._stderr or sys.stderr

    @property
    def outputs_label(self) -> str:
        """Where outputs go, for messages ("not written to ...")."""
        return "the log"

    @property
    def outputs_hold_secrets(self) -> bool:
        """Whether a sensitive value may become an output (masked by the CI); else it is left out."""
        return False

    @property
    def command_stream(self) -> TextIO:
        """Where CI commands go: stdout, or stderr while stdout must stay pure (``show --json``)."""
        return self.stderr if self.commands_to_stderr else self.stdout

    def printable(self, text: str) -> str:
        """``text`` made safe to print: a CI that obeys commands anywhere in its log gets them defused here."""
        return text

    def mask(self, secret: str) -> None:
        """Ask the CI to mask ``secret`` in all later log lines, where it can."""

    def warning(self, message: str, *, title: str = "meshpipe") -> None:
        """A warning line on stderr (CIs with annotations add one)."""
        self.stderr.write(f"meshpipe: warning: {self.printable(message)}\n")
        self.stderr.flush()

    def error(self, message: str, *, title: str = "meshpipe") -> None:
        """An error annotation where the CI has them (the CLI prints the stderr line itself)."""

    def info(self, message: str) -> None:
        """A progress line on stdout."""
        self.stdout.write(self.printable(message) + "\n")
        self.stdout.flush()

    def output_name_problem(self, name: str) -> str | None:
        """Why ``name`` cannot be an output in this CI, or None."""
        return None

    def url_output(self, url: str) -> str:
        """A URL as it is written as an output (the run URL): here unchanged."""
        return url

    def set_output(self, name: str, value: str, *, sensitive: bool = False) -> None:
        """Make ``name=value`` an output of the step; printed here (the caller leaves sensitive values out)."""
        self.info(f"{name}={value}")

    def skip_sensitive_output(self, name: str) -> None:
        """``name`` holds a sensitive value this CI cannot mask in its outputs: it is left out (silently here)."""

    def summary(self, markdown: str) -> None:
        """Show a Markdown summary of the run; printed here."""
        self.info(markdown.rstrip("\n"))


def make_runner(settings: Settings) -> CiRunner:
    """The runner I/O for the CI ``settings`` were resolved in (only that CI's module is imported)."""
    if settings.ci == "gitlab":
        from meshpipe.report.ci_gitlab import GitLabRunner

        return GitLabRunner(dotenv_file=settings.dotenv_file)
    if settings.ci == "azure":
        from meshpipe.report.ci_azure import AzureRunner

        return AzureRunner(temp_dir=settings.runner_temp)
    if settings.ci == "github" or settings.github_output or settings.github_step_summary:
        from meshpipe.report.actions import ActionsRunner

        return ActionsRunner(
            on_actions=settings.on_github_actions,
            output_file=settings.github_output,
            summary_file=settings.github_step_summary,
        )
    return CiRunner()


def runner_for_environment(environ: Mapping[str, str]) -> CiRunner:
    """A runner for the CI ``environ`` names, without files: for an error annotation when no settings exist."""
    ci = detect_ci(environ)
    if ci == "github":
        from meshpipe.report.actions import ActionsRunner

        return ActionsRunner(on_actions=True)
    if ci == "azure":
        from meshpipe.report.ci_azure import AzureRunner

        return AzureRunner()
    if ci == "gitlab":
        from meshpipe.report.ci_gitlab import GitLabRunner

        return GitLabRunner()
    return CiRunner()
