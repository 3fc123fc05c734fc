"""The README's per-target how-tos hold: each spec snippet (a ```yaml block opening ``# spec.yaml: target X``)
loads with the real spec loader, names every key a spec of that target can have, and the credential variables the
README names are :mod:`meshpipe.contract`'s.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshpipe.contract import DEFAULT_AZURE_AUTH, DEFAULT_GITLAB_AUTH, DEFAULT_WEBHOOK_AUTH, TARGETS
from meshpipe.generator.spec import TARGET_BLOCKS, ModuleSpec, load_spec
from meshpipe.generator.spec_parser import TOP_KEYS
from meshpipe.generator.spec_targets import GITHUB_ONLY_KEYS, credential_purposes

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
NEW_TARGETS = tuple(target for target in TARGETS if target != "github")
#: the README section of each target's how-to
SECTIONS = {
    "gitlab": "### GitLab CI\n",
    "azure_devops": "### Azure Pipelines\n",
    "webhook": "### Signed webhook (Jenkins, Argo Events, anything else)\n",
}
CONTRACT_AUTH = {"gitlab": DEFAULT_GITLAB_AUTH, "azure_devops": DEFAULT_AZURE_AUTH, "webhook": DEFAULT_WEBHOOK_AUTH}
#: the keys of each settings block (spec_targets.py's parsers accept exactly these)
BLOCK_KEYS = {
    "gitlab": {"api_url", "project", "values"},
    "azure_devops": {"org_url", "project", "ref"},
    "webhook": {"url"},
}


def section(target: str, text: str = README) -> str:
    """The how-to of ``target``: from its heading to the next heading of the same level."""
    start = text.index(SECTIONS[target])
    end = text.find("\n### ", start + len(SECTIONS[target]))
    return text[start : end if end > 0 else len(text)]


def spec_snippets(text: str = README) -> dict[str, str]:
    """target -> the text of the README's spec snippet for it."""
    blocks = re.findall(r"^```yaml\n(# spec\.yaml: target (\w+)[^\n]*\n.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
    found: dict[str, str] = {}
    for body, target in blocks:
        assert target not in found, f"two spec snippets for target {target}"
        found[target] = body
    return found


def load_snippet(target: str, tmp_path: Path) -> tuple[ModuleSpec, dict[str, Any]]:
    text = spec_snippets()[target]
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return load_spec(path), yaml.safe_load(text)


def expected_top_keys(target: str) -> set[str]:
    """Every top-level key a spec of ``target`` may have."""
    others = {key for name, keys in TARGET_BLOCKS.items() if name != target for key in keys}
    own = set(TARGET_BLOCKS[target])
    keys = (set(TOP_KEYS) - set(GITHUB_ONLY_KEYS) - others) | own
    if target == "webhook":
        keys.discard("phase_input")
    return keys


def test_every_new_target_has_one_spec_snippet_in_its_own_section() -> None:
    snippets = spec_snippets()
    assert set(snippets) == set(NEW_TARGETS)
    for target, body in snippets.items():
        assert body in section(target), f"the {target} spec snippet is outside its section"


@pytest.mark.parametrize("target", NEW_TARGETS)
def test_the_spec_snippet_loads_with_the_real_loader(target: str, tmp_path: Path) -> None:
    spec, _ = load_snippet(target, tmp_path)
    assert spec.target == target


@pytest.mark.parametrize("target", NEW_TARGETS)
def test_the_spec_snippet_names_every_key(target: str, tmp_path: Path) -> None:
    _, data = load_snippet(target, tmp_path)
    assert set(data) == expected_top_keys(target)
    block, phases = TARGET_BLOCKS[target]
    assert set(data[block]) == BLOCK_KEYS[target]
    assert set(data[phases]) == {"apply", "destroy"}
    assert set(data["auth"]) == set(CONTRACT_AUTH[target])
    assert set(data["wait"]) == {"enabled", "timeout_seconds", "poll_interval_seconds"}


@pytest.mark.parametrize("target", NEW_TARGETS)
def test_the_snippets_auth_names_are_the_contracts(target: str, tmp_path: Path) -> None:
    _, data = load_snippet(target, tmp_path)
    named = {key: value for key, value in data["auth"].items() if key != "mode"}
    assert named == {key: value for key, value in CONTRACT_AUTH[target].items() if key != "mode"}


@pytest.mark.parametrize("target", ["gitlab", "azure_devops"])
def test_the_credential_table_names_exactly_the_contracts_variables(target: str) -> None:
    """The how-to's credential table lists every variable the module may read, and no other."""
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section(target), flags=re.MULTILINE)
    variables = {value for key, value in CONTRACT_AUTH[target].items() if key.endswith("_env")}
    assert sorted(rows) == sorted(variables)


@pytest.mark.parametrize("target", NEW_TARGETS)
def test_the_section_names_the_variables_the_module_reads(target: str, tmp_path: Path) -> None:
    """Every credential the loaded spec's module reads (for its auth mode) is named in the section, and the summary
    table of the targets names its default variables too."""
    spec, _ = load_snippet(target, tmp_path)
    text = section(target)
    for variable, _purpose in credential_purposes(spec):
        assert f"`{variable}`" in text
    summary = README.split("## Targets: GitHub, GitLab CI, Azure Pipelines, webhook\n", 1)[1].split("\n### ", 1)[0]
    row = next(line for line in summary.splitlines() if line.startswith(f"| `{target}`"))
    first = next(value for key, value in CONTRACT_AUTH[target].items() if key.endswith("_env") and value)
    assert f"`{first}`" in row


@pytest.mark.parametrize("target", NEW_TARGETS)
def test_the_section_says_how_to_run_the_demo(target: str) -> None:
    assert f"meshpipe demo --target {target}" in section(target)


@pytest.mark.parametrize("target", ["gitlab", "azure_devops"])
def test_the_section_says_how_the_run_url_reaches_the_reporter(target: str) -> None:
    text = section(target)
    assert "How the run URL reaches the reporter" in text and "buildingBlockRunUrl" in text


def test_a_snippet_with_a_wrong_key_or_variable_is_caught(tmp_path: Path) -> None:
    """The checks themselves: a renamed variable or a missing key in a snippet fails them."""
    original = spec_snippets()["gitlab"]
    broken = original.replace("token_env: GITLAB_TOKEN", "token_env: GITLAB_ACCESS_TOKEN")
    assert yaml.safe_load(broken)["auth"]["token_env"] != DEFAULT_GITLAB_AUTH["token_env"]
    missing = yaml.safe_load(original.replace("python: {default: python3}", ""))
    assert set(missing) != expected_top_keys("gitlab")
