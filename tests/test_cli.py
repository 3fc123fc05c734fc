"""The top-level command group: help, version, lazy loading and error mapping."""

from __future__ import annotations

import subprocess
import sys

from meshpipe import __version__
from meshpipe.cli import LAZY_COMMANDS


def run_meshpipe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "meshpipe", *args], capture_output=True, text=True, check=False)


def test_help_lists_every_command_group() -> None:
    result = run_meshpipe("--help")
    assert result.returncode == 0, result.stderr
    for name in LAZY_COMMANDS:
        assert name in result.stdout


def test_version_prints_the_package_version() -> None:
    result = run_meshpipe("--version")
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_help_does_not_import_any_command_group() -> None:
    code = (
        "import sys\n"
        "from meshpipe.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('jinja2', 'yaml', 'requests', 'meshpipe.generator', 'meshpipe.report', 'meshpipe.fakes')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in result.stdout


def test_unknown_command_is_a_usage_error_with_exit_2() -> None:
    result = run_meshpipe("no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_ctx_exit_code_of_a_command_becomes_the_process_exit_code() -> None:
    code = (
        "import click\n"
        "from meshpipe import cli\n"
        "@cli.cli.command('exit-seven')\n"
        "@click.pass_context\n"
        "def exit_seven(ctx):\n    ctx.exit(7)\n"
        "cli.main(['exit-seven'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 7, result.stderr


def test_the_help_of_the_commands_that_take_a_spec_names_the_targets() -> None:
    """A newcomer with a GitLab or Azure block learns from --help that these commands serve it too."""
    for args in (["module"], ["module", "render"], ["workflow"], ["workflow", "check"], ["definition", "render"]):
        text = run_meshpipe(*args, "--help").stdout.lower()
        assert "gitlab" in text and ("azure" in text or "any target" in text), args
    for args in (["demo"], ["sandbox"]):
        text = run_meshpipe(*args, "--help").stdout
        assert "gitlab" in text and "azure_devops" in text.replace("Azure DevOps", "azure_devops"), args
    overview = run_meshpipe("--help").stdout
    assert "GitHub Actions workflow" not in overview and "fake GitHub and fake meshStack" not in overview
