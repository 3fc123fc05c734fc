"""ActionsRunner I/O follows actions/toolkit: file commands with random delimiters, escaping, masking."""

from __future__ import annotations

import io
import re
from pathlib import Path

from meshpipe.report.actions import ActionsRunner, escape_data, escape_property, file_command


def test_file_command_uses_a_fresh_random_delimiter() -> None:
    first, second = file_command("name", "a\nb"), file_command("name", "a\nb")
    match = re.fullmatch(r"name<<(ghadelimiter_[0-9a-f-]{36})\na\nb\n\1\n", first)
    assert match is not None
    assert first != second


def test_annotation_escaping() -> None:
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_outputs_and_summary_go_to_files_on_a_runner(tmp_path: Path) -> None:
    out, summary = tmp_path / "out", tmp_path / "summary"
    stdout = io.StringIO()
    runner = ActionsRunner(on_actions=True, output_file=out, summary_file=summary, stdout=stdout, stderr=io.StringIO())
    runner.set_output("k", "v")
    runner.summary("# hi\n")
    runner.mask("s3cret")
    assert re.fullmatch(r"k<<(ghadelimiter_[0-9a-f-]{36})\nv\n\1\n", out.read_text())
    assert summary.read_text() == "# hi\n"
    assert stdout.getvalue() == "::add-mask::s3cret\n"


def test_off_a_runner_it_just_prints_and_never_masks() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    runner = ActionsRunner(on_actions=False, stdout=stdout, stderr=stderr)
    runner.set_output("k", "v")
    runner.mask("s3cret")
    runner.warning("careful")
    runner.error("bad")
    assert stdout.getvalue() == "k=v\n"
    assert stderr.getvalue() == "meshpipe: warning: careful\n"


def test_warning_annotation_escapes_message_and_title() -> None:
    stdout = io.StringIO()
    ActionsRunner(on_actions=True, stdout=stdout, stderr=io.StringIO()).warning("50%\nnext", title="a:b")
    assert stdout.getvalue() == "::warning title=a%3Ab::50%25%0Anext\n"
