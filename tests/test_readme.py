"""The README is how a newcomer starts: its command reference matches ``--help`` and every command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from meshpipe._docs import BEGIN, END, command_paths, main, update_readme

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PROSE = README.split(BEGIN, 1)[0]
COMMANDS = command_paths()


def test_command_reference_matches_help_output() -> None:
    assert update_readme(README) == README, (
        "the command reference is out of date; run: examples/regenerate.sh (or python -m meshpipe._docs)"
    )


def test_a_stale_command_reference_is_regenerated() -> None:
    """Issue 11's mutation check: a drift checker returning its input unchanged passed every test."""
    start, end = README.index(BEGIN), README.index(END)
    stale = README[:start] + BEGIN + "\n(stale)\n" + README[end:]
    assert update_readme(stale) == README


def test_the_generator_rewrites_the_readme_it_is_given_and_checks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to find README.md next to the package, so an installed meshpipe could not regenerate a checkout's."""
    start, end = README.index(BEGIN), README.index(END)
    readme = tmp_path / "docs.md"
    readme.write_text(README[:start] + BEGIN + "\n(stale)\n" + README[end:], encoding="utf-8")
    assert main(["--check", str(readme)]) == 1
    assert f"{readme}: the command reference is out of date" in capsys.readouterr().err
    assert main([str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == README
    assert main(["--check", str(readme)]) == 0


def test_the_generator_defaults_to_the_readme_of_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start, end = README.index(BEGIN), README.index(END)
    (tmp_path / "README.md").write_text(README[:start] + BEGIN + "\n(stale)\n" + README[end:], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == README


def test_walk_finds_the_lazy_groups_and_their_subcommands() -> None:
    names = {name for name, _, _ in COMMANDS}
    assert {"meshpipe sandbox", "meshpipe demo", "meshpipe definition render", "meshpipe run finish"} <= names
    assert {"meshpipe module render", "meshpipe module check"} <= names


@pytest.mark.parametrize("name", [name for name, _, _ in COMMANDS])
def test_every_command_has_help_and_a_reference_section(name: str) -> None:
    command, help_text = next((command, text) for path, command, text in COMMANDS if path == name)
    assert (command.help or "").strip(), f"{name} has no help text"
    assert f"`{name}`\n\n```text\n{help_text.rstrip()}\n```" in README


@pytest.mark.parametrize("name", sorted({name for name, _, _ in COMMANDS if name.count(" ") == 1}))
def test_every_top_level_command_is_explained_in_the_prose(name: str) -> None:
    assert f"{name}" in PROSE, f"the README's guides never mention {name}"


def test_set_up_commands_are_make_targets() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "make demo" in PROSE and "make test" in PROSE
    assert re.search(r"^demo:", makefile, flags=re.MULTILINE) and re.search(r"^test:", makefile, flags=re.MULTILINE)


def test_relative_links_point_at_existing_files() -> None:
    links = re.findall(r"\]\(((?!https?://|#)[^)]+)\)", README)
    assert links
    for link in links:
        assert (ROOT / link).exists(), link


def test_reporter_section_and_reference_markers_are_in_place() -> None:
    assert "<!-- reporter-section -->" in README
    assert README.index(BEGIN) < README.index(END)


def test_the_performance_block_quotes_benchmarks_results_json() -> None:
    """The README's performance table is rendered from the committed results of `make bench`, never typed by hand."""
    import json
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import performance

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quoted = text[text.index(performance.BEGIN) : text.index(performance.END) + len(performance.END)]
    assert quoted == performance.block(json.loads(performance.RESULTS.read_text(encoding="utf-8")))
