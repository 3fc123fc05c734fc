"""The CI interface: detection, each CI's I/O and escaping, job statuses, and settings per CI (in-process)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from meshpipe.fakes.meshstack import FakeMeshStack
from meshpipe.report import ConfigurationError, Settings
from meshpipe.report.ci import CiRunner, detect_ci, make_runner
from meshpipe.report.ci_azure import AzureRunner, defuse, escape, logging_command
from meshpipe.report.ci_gitlab import DOTENV_MAX_VARIABLES, GitLabRunner, dotenv_line
from meshpipe.report.job_status import JOB_STATUSES, job_status_to_run_status
from meshpipe.report.redact import masked_values
from tests.report.ci_emulation import _unescape as agent_unescape
from tests.report.conftest import base_env, run_cli

RUN = "https://mesh.example/api/meshobjects/meshbuildingblockruns/r1"


@pytest.mark.parametrize(
    ("environ", "ci"),
    [
        ({"GITHUB_ACTIONS": "true"}, "github"),
        ({"GITLAB_CI": "true", "CI": "true"}, "gitlab"),
        ({"TF_BUILD": "True"}, "azure"),
        ({"TF_BUILD": "true"}, "azure"),
        ({"CI": "true"}, "none"),
        ({"GITLAB_CI": "false", "TF_BUILD": "False"}, "none"),
    ],
)
def test_the_ci_is_detected_from_the_variable_it_sets_in_every_job(environ: dict[str, str], ci: str) -> None:
    assert detect_ci(environ) == ci


# -- Azure Pipelines --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["plain", "a;b]c", "line\nbreak\r\nand ##vso[task.setvariable variable=X]y", "50% %AZP25 %3B %0A", "]]];;;"],
)
def test_azure_escaping_round_trips_through_the_agents_unescape(value: str) -> None:
    line = logging_command("task.setvariable", value, {"variable": "name", "isOutput": "true"})
    assert "\n" not in line and "\r" not in line
    assert line.count("]") == 1 and line.count(";") == 1  # only the command's own: nothing ends it early
    assert agent_unescape(escape(value)) == value


def test_azure_defuses_commands_anywhere_in_printed_text() -> None:
    assert defuse("x ##vso[task.complete result=Failed]done ##[error]no ##VSO[x]") == (
        "x ## vso[task.complete result=Failed]done ## [error]no ## VSO[x]"
    )
    stdout = io.StringIO()
    AzureRunner(stdout=stdout, stderr=io.StringIO()).info("input: a = ##vso[task.setvariable variable=X]1")
    assert "##vso[" not in stdout.getvalue()


def test_azure_runner_masks_outputs_warns_and_attaches_the_summary(tmp_path: Path) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    runner = AzureRunner(temp_dir=tmp_path, stdout=stdout, stderr=stderr)
    runner.mask("first line\nsecond line")
    runner.set_output("url", "https://x.example/a;b")
    runner.set_output("password", "s3cret", sensitive=True)
    runner.warning("50% done; next]")
    runner.summary("### table\n")
    (summary,) = tmp_path.glob("meshpipe-summary-*.md")
    assert summary.read_text() == "### table\n"
    assert stdout.getvalue().splitlines() == [
        "##vso[task.setsecret]first line%0Asecond line",
        "##vso[task.setsecret]first line",
        "##vso[task.setsecret]second line",
        "##vso[task.setvariable variable=url;isOutput=true]https://x.example/a%3Bb",
        "##vso[task.setvariable variable=password;isOutput=true;issecret=true]s3cret",
        "##vso[task.logissue type=warning]meshpipe: 50%AZP25 done%3B next%5D",
        f"##vso[task.uploadsummary]{summary}",
    ]
    assert stderr.getvalue() == "meshpipe: warning: 50% done; next]\n"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("bucket_url", None),
        ("a.b", None),
        ("bad-name", "is not a valid variable name"),
        ("secretThing", "prefix Azure Pipelines reserves"),
    ],
)
def test_azure_output_names(name: str, problem: str | None) -> None:
    found = AzureRunner().output_name_problem(name)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_a_command_masking_with_setsecret_is_redacted_too() -> None:
    assert masked_values(b"noise ##vso[task.setsecret]pa%3Bss%5Dw%AZP25rd") == ["pa;ss]w%rd"]
    assert masked_values(b"##vso[task.setsecret]ab") == []  # too short to redact


def test_an_error_quoting_the_server_cannot_start_a_command_on_azure(
    fake_meshstack: FakeMeshStack, tmp_path: Path
) -> None:
    run = fake_meshstack.create_run()
    fake_meshstack.add_fault(status=400, body={"message": "bad ##vso[task.setvariable variable=EVIL]x"})
    env = base_env(
        TF_BUILD="True",
        AGENT_TEMPDIRECTORY=str(tmp_path),
        BUILDINGBLOCKRUNURL=run.url,
        MESHSTACK_RUN_TOKEN=run.run_token,
    )
    result = run_cli(env, "step", "a", "--status", "SUCCEEDED")
    assert result.returncode == 1
    assert "400 Bad Request: bad ## vso[task.setvariable variable=EVIL]x" in result.stderr
    assert "##vso[task.setvariable" not in result.stdout + result.stderr


# -- GitLab CI --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("ok_1", "a=b c", None),
        ("bad-name", "v", "not a valid dotenv variable name"),
        ("multi", "a\nb=c", "line break"),
        ("cr", "a\rb", "line break"),
        ("padded", " v", "white space"),
    ],
)
def test_dotenv_lines_read_back_as_written_or_are_refused(name: str, value: str, problem: str | None) -> None:
    if problem is None:
        line = dotenv_line(name, value)
        key, _, read = line.rstrip("\n").partition("=")  # GitLab: split at the first "=", strip both
        assert (key.strip(), read.strip()) == (name, value)
    else:
        with pytest.raises(ValueError, match=problem):
            dotenv_line(name, value)


def test_gitlab_dotenv_stays_within_gitlabs_limits(tmp_path: Path) -> None:
    stderr = io.StringIO()
    runner = GitLabRunner(dotenv_file=tmp_path / "out.env", stdout=io.StringIO(), stderr=stderr)
    for number in range(DOTENV_MAX_VARIABLES + 1):
        runner.set_output(f"v{number}", "x")
    runner.set_output("v0", "again")  # an existing name does not count twice
    runner.set_output("big", "y" * 6000)
    runner.set_output("evil", "a\nINJECTED=1")
    lines = (tmp_path / "out.env").read_text().splitlines()
    assert len({line.split("=")[0] for line in lines}) == DOTENV_MAX_VARIABLES
    assert "INJECTED=1" not in lines and not any(line.startswith("big=") for line in lines)
    warnings = stderr.getvalue()
    assert "output 'v20' would take the dotenv file over GitLab's limits" in warnings
    assert "output 'big' would take" in warnings and "output 'evil' has a line break" in warnings


def test_gitlab_never_masks_by_printing() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    runner = GitLabRunner(stdout=stdout, stderr=stderr)
    runner.mask("canary-token")
    runner.error("bad")
    assert stdout.getvalue() == stderr.getvalue() == ""
    assert runner.outputs_hold_secrets is False


# -- job statuses -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("success", "SUCCEEDED"),
        ("failure", "FAILED"),
        ("cancelled", "ABORTED"),
        ("failed", "FAILED"),
        ("canceled", "ABORTED"),
        ("Succeeded", "SUCCEEDED"),
        ("SucceededWithIssues", "SUCCEEDED"),
        ("Failed", "FAILED"),
        ("Canceled", "ABORTED"),
        ("Skipped", "ABORTED"),
    ],
)
def test_every_cis_job_status_maps_to_a_terminal_status(status: str, expected: str) -> None:
    assert JOB_STATUSES[status] == expected
    assert job_status_to_run_status(status, "none", {}) == expected


def test_auto_reads_the_cis_variable_and_refuses_running_or_a_ci_without_one() -> None:
    assert job_status_to_run_status("auto", "gitlab", {"CI_JOB_STATUS": "canceled"}) == "ABORTED"
    assert job_status_to_run_status("auto", "azure", {"AGENT_JOBSTATUS": "Failed"}) == "FAILED"
    with pytest.raises(ValueError, match=r"pass \$\{\{ job.status \}\} instead"):
        job_status_to_run_status("auto", "github", {})
    assert job_status_to_run_status("auto", "azure", {}) == "FAILED"  # unknown (here: unset) is FAILED
    with pytest.raises(ValueError, match="GitLab sets the final one only in after_script"):
        job_status_to_run_status("auto", "gitlab", {"CI_JOB_STATUS": "running"})


def test_finish_with_running_is_a_usage_error_with_the_hint(tmp_path: Path) -> None:
    env = base_env(MESHSTACK_RUN_URL=RUN, GITLAB_CI="true", MESHPIPE_STATE_DIR=str(tmp_path))
    result = run_cli(env, "finish", "--job-status", "running")
    assert result.returncode == 2
    assert 'call meshpipe run finish --job-status "$CI_JOB_STATUS" there' in result.stderr


# -- settings per CI --------------------------------------------------------------------------------------------


def test_gitlab_settings(tmp_path: Path) -> None:
    env = {
        "GITLAB_CI": "true",
        "CI_JOB_ID": "77",
        "CI_JOB_URL": "https://gitlab.example/g/p/-/jobs/77",
        "CI_PROJECT_DIR": str(tmp_path / "p"),
        "buildingBlockRunUrl": RUN,
        "MESHPIPE_DOTENV_FILE": "out.env",
    }
    settings = Settings.from_env(env)
    assert (settings.ci, settings.run_url, settings.locator) == ("gitlab", RUN, "GitLab variable buildingBlockRunUrl")
    assert settings.state_dir == tmp_path / "p" / ".meshpipe" / "meshpipe-job-77" and settings.state_dir_private
    assert (settings.external_run_id, settings.external_run_url) == ("77", env["CI_JOB_URL"])
    assert settings.default_source_id == "gitlab" and settings.dotenv_file == tmp_path / "p" / "out.env"
    beside = Settings.from_env({**env, "RUNNER_TEMP_PROJECT_DIR": str(tmp_path / "p.tmp")})
    assert beside.state_dir == tmp_path / "p.tmp" / "meshpipe-job-77"
    assert isinstance(make_runner(settings), GitLabRunner)


def test_azure_settings_and_unexpanded_macros() -> None:
    env = {
        "TF_BUILD": "True",
        "AGENT_TEMPDIRECTORY": "/agent/_temp",
        "BUILDINGBLOCKRUNURL": RUN,
        "MESHSTACK_RUN_TOKEN": "$(MESHSTACK_RUN_TOKEN)",  # `env:` mapping of a variable that does not exist
        "MESHSTACK_API_TOKEN": "real-token",
    }
    settings = Settings.from_env(env)
    assert (settings.ci, settings.run_url) == ("azure", RUN)
    assert settings.state_dir == Path("/agent/_temp") and not settings.state_dir_private
    credentials = settings.require_credentials()
    assert (credentials.kind, credentials.token) == ("api_token", "real-token")
    assert isinstance(make_runner(settings), AzureRunner)
    missing = Settings.from_env({"TF_BUILD": "True", "MESHSTACK_CLIENT_SECRET": "$(MESHSTACK_CLIENT_SECRET)"})
    with pytest.raises(ConfigurationError, match="secret variables mapped into the step with env:"):
        missing.require_credentials()


def test_a_ci_variable_counts_only_in_its_own_ci() -> None:
    assert Settings.from_env({"buildingBlockRunUrl": RUN}).run_url is None
    assert Settings.from_env({"BUILDINGBLOCKRUNURL": RUN, "GITLAB_CI": "true"}).run_url is None
    with pytest.raises(ConfigurationError, match="start the pipeline with the variable buildingBlockRunUrl"):
        Settings.from_env({"GITLAB_CI": "true"}).require_run_url()


def test_off_a_ci_the_runner_is_the_plain_one() -> None:
    settings = Settings.from_env({"MESHSTACK_RUN_URL": RUN})
    runner = make_runner(settings)
    assert type(runner) is CiRunner and settings.default_source_id == "github"


# -- CLI surface ------------------------------------------------------------------------------------------------


def test_help_names_the_cis() -> None:
    top = run_cli(base_env(), "--help").stdout
    assert "GitLab CI" in top and "Azure Pipelines" in top and "BUILDINGBLOCKRUNURL" in top
    finish = run_cli(base_env(), "finish", "--help").stdout
    assert "$CI_JOB_STATUS" in finish and "$(Agent.JobStatus)" in finish


def test_a_ci_runner_module_is_imported_only_in_its_ci() -> None:
    probe = (
        "import sys\n"
        "import meshpipe.report.cli\n"
        "from meshpipe.report.settings import Settings\n"
        "from meshpipe.report.ci import make_runner\n"
        "make_runner(Settings.from_env({'GITLAB_CI': 'true'}))\n"
        "names = ('meshpipe.report.ci', 'meshpipe.report.actions')\n"
        "print(sorted(m for m in sys.modules if m.startswith(names)))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout == "['meshpipe.report.ci', 'meshpipe.report.ci_gitlab']\n"
