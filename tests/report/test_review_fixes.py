"""Adversarial review of the reporter (issue 12 follow-up): each test reproduces one finding."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from meshpipe.report._exec import _TAIL_BYTES
from meshpipe.report.ci_gitlab import GitLabRunner, dotenv_line
from meshpipe.report.job_status import job_status_to_run_status
from meshpipe.report.model import SYSTEM_MESSAGE_LIMIT, USER_MESSAGE_LIMIT
from tests.report.conftest import Job

CANARY = "canary-0123456789abcdefghijklmnopqrstuvwxyz"


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


def _fragments(secret: str, shortest: int = 6) -> list[str]:
    """Every prefix and suffix of ``secret`` at least ``shortest`` characters long."""
    return [secret[:n] for n in range(shortest, len(secret) + 1)] + [secret[-n:] for n in range(shortest, len(secret))]


# -- 1: GitLab's timedout (and any unknown job status) finishes the run FAILED --------------------------------------


@pytest.mark.parametrize("environ", [{"CI_JOB_STATUS": "timedout"}, {"CI_JOB_STATUS": "skipped-by-a-new-runner"}])
def test_auto_maps_timedout_and_unknown_gitlab_statuses_to_failed(environ: dict[str, str]) -> None:
    assert job_status_to_run_status("auto", "gitlab", environ) == "FAILED"


@pytest.mark.parametrize(("job_status", "warned"), [("timedout", False), ("no-such-status", True)])
def test_finish_with_timedout_or_an_unknown_job_status_finishes_failed(job: Job, job_status: str, warned: bool) -> None:
    """Reproduction: ``finish --job-status "$CI_JOB_STATUS"`` after a GitLab timeout was a usage error (exit 2),
    and the run stayed IN_PROGRESS for good."""
    _ok(job("register", "--step", "a=A"))
    result = _ok(job("finish", "--job-status", job_status))
    assert job.fake.run(job.run.uuid).sources["github"]["status"] == "FAILED"
    assert ("is not one meshpipe knows; the run finishes FAILED" in result.stderr) is warned


# -- 2: redacted before it is cut ---------------------------------------------------------------------------------


def test_exec_tail_cut_inside_a_secret_leaks_no_part_of_it(job: Job) -> None:
    """Reproduction: the command's output is cut to its last bytes before redaction; a token straddling the cut
    left its end unredacted in the system message sent to meshStack."""
    _ok(job("register", "--step", "apply=Apply"))
    token = job.run.run_token
    half = len(token) // 2
    # The kept tail's first byte falls in the middle of the token; the colour codes after it take bytes of the tail
    # but vanish from the message, so the cut survives into what is sent.
    filler = (_TAIL_BYTES - (len(token) - half)) // 4
    half = len(token) - (_TAIL_BYTES - 4 * filler)
    script = (
        "import os, sys; t = os.environ['MESHSTACK_RUN_TOKEN']; "
        f"sys.stdout.write(t + '\\x1b[0m' * {filler}); sys.exit(1)"
    )
    result = job("exec", "apply", "--", sys.executable, "-c", script)
    assert result.returncode == 1
    message = str(job.steps()[0]["systemMessage"])
    assert len(token) >= 12 and not [part for part in _fragments(token) if part in message], message


@pytest.mark.parametrize(
    ("flag", "limit"), [("--user-message", USER_MESSAGE_LIMIT), ("--system-message", SYSTEM_MESSAGE_LIMIT)]
)
def test_a_long_message_cut_inside_a_masked_secret_leaks_no_part_of_it(job: Job, flag: str, limit: int) -> None:
    """Reproduction: ``Run._capped`` redacted only a window of a long message, so a secret longer than the window's
    margin that straddled the window's edge was not matched and its start (user) or end (system) was sent."""
    _ok(job("register", "--step", "apply=Apply"))
    secret = "s" + "ecret" * 20000  # a masked value longer than the redaction window's margin (a key file, say)
    mask = f"import sys; sys.stdout.write('::add-mask::' + {secret!r} + '\\n')"
    _ok(job("exec", "apply", "--", sys.executable, "-c", mask))
    text = "m" * (limit - 100) + secret if flag == "--user-message" else secret + "m" * (limit - 100)
    result = job("step", "apply", "--status", "FAILED", flag, text)
    assert result.returncode == 0, result.stderr[-2000:]
    step = job.steps()[0]
    message = str(step["userMessage" if flag == "--user-message" else "systemMessage"])
    assert "ecret" not in message, message[-200:]


# -- 3: GitLab dotenv: $ escaped, names within GitLab's rules, one line per value ----------------------------------


def test_dotenv_escapes_dollar_so_a_later_job_does_not_expand_it() -> None:
    """Reproduction: an input ``price=$HOME`` was written as is; GitLab expands ``$NAME`` in a variable's value
    where a later job uses it (``$$`` is the escape), so the later job saw another variable's value."""
    assert dotenv_line("price", "costs $HOME or $$5") == "price=costs $$HOME or $$$$5\n"


@pytest.mark.parametrize(
    ("name", "problem"),
    [("a" * 256, "longer than GitLab's 255 characters"), ("ünicode", "not a valid dotenv"), ("a b", "not a valid")],
)
def test_dotenv_refuses_names_gitlab_would_reject(tmp_path: Path, name: str, problem: str) -> None:
    """Reproduction: a 256-character input name went into the dotenv file; GitLab's ``Ci::HasVariable`` allows at
    most 255, and one invalid variable fails the whole dotenv report (every output lost)."""
    stderr = io.StringIO()
    runner = GitLabRunner(dotenv_file=tmp_path / "out.env", stdout=io.StringIO(), stderr=stderr)
    assert problem in str(runner.output_name_problem(name))
    runner.set_output(name, "v")
    runner.set_output("a" * 255, "v")
    assert (tmp_path / "out.env").read_text() == "a" * 255 + "=v\n"
    assert problem in stderr.getvalue()


# -- 8: Azure: the run URL written as an output cannot expand a macro ----------------------------------------------


def test_azure_run_url_output_encodes_macro_syntax(job: Job) -> None:
    """Reproduction: ``show --ci-output`` on Azure wrote the run URL as is; a later step that uses the output
    variable gets ``$(System.AccessToken)`` in it expanded by the agent."""
    url = job.run.url + "?tag=$(System.AccessToken)"
    result = job(
        "show",
        "--ci-output",
        TF_BUILD="True",
        GITHUB_ACTIONS="",
        AGENT_TEMPDIRECTORY=str(job.temp),
        MESHSTACK_RUN_URL=url,
    )
    assert result.returncode == 0, result.stderr
    wanted = f"##vso[task.setvariable variable=run_url;isOutput=true]{job.run.url}?tag=%AZP2524(System.AccessToken)"
    assert wanted in result.stdout.splitlines(), result.stdout
    assert not [line for line in result.stdout.splitlines() if line.startswith("##vso[") and "$(" in line]


# -- 4: Azure: error text quoting user input starts no logging command ---------------------------------------------

_INJECTION = "x##vso[task.setvariable variable=EVIL]pwned"


@pytest.mark.parametrize(
    "args",
    [
        ("finish", "--status", _INJECTION),  # click's usage error quotes the value
        ("register", "--step", "=" + _INJECTION),  # a BadParameter raised by the command
        ("exec", "apply", "--", _INJECTION),  # exec's own error line names the command
    ],
)
def test_azure_error_lines_are_defused(job: Job, args: tuple[str, ...]) -> None:
    """Reproduction: on an Azure agent (which obeys ``##vso[`` anywhere in a line of stdout or stderr) the error
    line echoed a user-controlled value as is, so it could set a variable."""
    azure = {"TF_BUILD": "True", "GITHUB_ACTIONS": "", "AGENT_TEMPDIRECTORY": str(job.temp)}
    result = job(*args, **azure)
    assert result.returncode != 0
    assert "##vso[task.setvariable" not in result.stdout + result.stderr, result.stderr
    assert "## vso[task.setvariable variable=EVIL]" in result.stderr


def test_an_unexpected_traceback_on_azure_is_defused(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """Reproduction: a bug's traceback went to stderr as is; on an Azure agent a user value quoted in the exception
    text could set a variable. The seam: the command group raises an exception meshpipe does not know."""
    import meshpipe.cli as entry

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(_INJECTION)

    monkeypatch.setattr(entry.cli, "main", broken)
    monkeypatch.setenv("TF_BUILD", "True")
    with pytest.raises(SystemExit) as exited:
        entry.main(["run", "show"])
    assert exited.value.code == 1
    stderr = capsys.readouterr().err
    assert "Traceback" in stderr and "RuntimeError" in stderr
    assert "##vso[" not in stderr and "## vso[task.setvariable variable=EVIL]" in stderr
    monkeypatch.setenv("TF_BUILD", "")
    with pytest.raises(RuntimeError):  # elsewhere Python prints it as ever
        entry.main(["run", "show"])


def test_error_lines_off_azure_are_unchanged(job: Job) -> None:
    result = job("finish", "--status", _INJECTION)
    assert result.returncode == 2 and _INJECTION in result.stderr


# -- 5: MESHPIPE_REDACT_VARIABLES ------------------------------------------------------------------------------------


def test_redact_variables_names_more_secrets(job: Job) -> None:
    """Reproduction: a job's own secret (a cloud key the command echoes) went to meshStack in the log tail; there
    was no way to name it."""
    env = {"CLOUD_KEY": "canary-cloud-key", "MESHPIPE_REDACT_VARIABLES": " UNSET_ONE, CLOUD_KEY ,,"}
    _ok(job("register", "--step", "apply=Apply", **env))
    script = "import os; print('key=' + os.environ['CLOUD_KEY']); raise SystemExit(2)"
    assert job("exec", "apply", "--", sys.executable, "-c", script, **env).returncode == 2
    assert job.steps()[0]["systemMessage"] == "key=***\n[meshpipe] exit code 2"
    _ok(job("step", "apply", "--status", "FAILED", "--user-message", "bad canary-cloud-key", **env))
    assert job.steps()[0]["userMessage"] == "bad ***"


def test_redact_variables_is_documented_in_help(job: Job) -> None:
    assert "MESHPIPE_REDACT_VARIABLES" in " ".join(_ok(job("--help")).stdout.split())
