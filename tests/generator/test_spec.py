"""Spec validation: every kind of bad spec names the file, the key path and what was expected."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from meshpipe.generator.cli import module
from meshpipe.generator.errors import SpecError
from meshpipe.generator.spec import load_spec, parse_spec

BASE: dict[str, Any] = {
    "name": "demo-trigger",
    "description": "A demo.",
    "github": {"repository": {"required": True}},
    "workflows": {"apply": "apply.yml"},
}


def spec(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def typed(count: int) -> list[dict[str, Any]]:
    return [{"name": f"input_{i}", "type": "string", "default": "x"} for i in range(count)]


BAD_SPECS = [
    ("unknown_top_level_key", spec(colour="blue"), "colour", "unknown key; expected one of name, description"),
    ("missing_name", {k: v for k, v in BASE.items() if k != "name"}, "name", "required key is missing"),
    ("bad_module_name", spec(name="Demo Trigger"), "name", "expected a lower-case name"),
    ("wrong_type_github", spec(github="acme/infra"), "github", "expected a mapping, got a string"),
    ("bad_repository", spec(github={"repository": "acme"}), "github.repository", "expected a repository as owner/repo"),
    ("bad_api_url", spec(github={"repository": "a/b", "api_url": "github.com"}), "github.api_url", "http(s) URL"),
    (
        "setting_with_both_forms",
        spec(github={"repository": {"required": True, "default": "a/b"}}),
        "github.repository",
        "exactly one of `default: VALUE` or `required: true`",
    ),
    ("bad_workflow_file", spec(workflows={"apply": "apply.sh"}), "workflows.apply", "ending in .yml or .yaml"),
    ("workflow_with_path", spec(workflows={"apply": ".github/workflows/a.yml"}), "workflows.apply", "without '/'"),
    ("bad_event", spec(event="push"), "event", "expected one of workflow_dispatch, repository_dispatch"),
    (
        "event_types_with_workflow_dispatch",
        spec(event_types={"apply": "deploy"}),
        "event_types",
        "not used with event workflow_dispatch",
    ),
    ("bad_auth_mode", spec(auth={"mode": "oauth"}), "auth.mode", "expected one of auto, token, app"),
    ("bad_env_name", spec(auth={"token_env": "MY-TOKEN"}), "auth.token_env", "an environment variable name"),
    ("inputs_not_a_list", spec(inputs={"a": 1}), "inputs", "expected a list, got a mapping"),
    (
        "bad_input_type",
        spec(inputs=[{"name": "a", "type": "string"}, {"name": "b", "type": "text"}]),
        "inputs[1].type",
        "expected one of string, number, bool, list, map",
    ),
    ("bad_input_name", spec(inputs=[{"name": "1st", "type": "string"}]), "inputs[0].name", "GitHub input name"),
    ("input_name_with_space", spec(inputs=[{"name": "my input", "value": "x"}]), "inputs[0].name", "input name"),
    (
        "duplicate_input_names_case_insensitive",
        spec(inputs=[{"name": "Env", "value": "a"}, {"name": "env", "value": "b"}]),
        "inputs[1].name",
        "duplicate input name 'env' (GitHub ignores case)",
    ),
    (
        "unknown_input_key",
        spec(inputs=[{"name": "a", "type": "string", "secret": True}]),
        "inputs[0].secret",
        "unknown key",
    ),
    (
        "wrong_default_type",
        spec(inputs=[{"name": "n", "type": "number", "default": "three"}]),
        "inputs[0].default",
        "expected a finite number, got a string",
    ),
    (
        "default_not_allowed",
        spec(inputs=[{"name": "env", "type": "string", "allowed": ["dev", "prod"], "default": "qa"}]),
        "inputs[0].default",
        "'qa' is not one of the allowed values",
    ),
    (
        "allowed_on_bool",
        spec(inputs=[{"name": "b", "type": "bool", "allowed": [True]}]),
        "inputs[0].allowed",
        "only string and number inputs take `allowed`",
    ),
    (
        "bad_regex",
        spec(inputs=[{"name": "s", "type": "string", "regex": "([a-z", "example": "a"}]),
        "inputs[0].regex",
        "not a valid RE2 regular expression",
    ),
    (
        "regex_without_example",
        spec(inputs=[{"name": "s", "type": "string", "regex": "^a$"}]),
        "inputs[0].example",
        "needs an `example`",
    ),
    ("sensitive_without_env", spec(inputs=[{"name": "s", "sensitive": True}]), "inputs[0].env", "required key"),
    (
        "sensitive_false",
        spec(inputs=[{"name": "s", "sensitive": False, "env": "S"}]),
        "inputs[0].sensitive",
        "expected true",
    ),
    (
        "bad_meshstack_context",
        spec(inputs=[{"name": "c", "meshstack": "tenant"}]),
        "inputs[0].meshstack",
        "expected one of run_url, run_id, building_block_id, behavior, workspace, project",
    ),
    (
        "reserved_variable",
        spec(inputs=[{"name": "count", "type": "number", "default": 1}]),
        "inputs[0].variable",
        "'count' is reserved",
    ),
    (
        "variable_clash",
        spec(inputs=[{"name": "python", "type": "string", "default": "x"}]),
        "inputs[0].variable",
        "already used by python",
    ),
    ("bad_redispatch", spec(redispatch="sometimes"), "redispatch", "expected one of every_run, on_change"),
    ("bad_timeout", spec(wait={"timeout_seconds": 0}), "wait.timeout_seconds", "a number greater than 0"),
    ("infinite_timeout", spec(wait={"timeout_seconds": float("inf")}), "wait.timeout_seconds", "greater than 0"),
    ("bool_is_not_a_number", spec(wait={"poll_interval_seconds": True}), "wait.poll_interval_seconds", "a number"),
    ("wait_unknown_key", spec(wait={"enabled": True, "retries": 3}), "wait.retries", "unknown key"),
    ("bad_correlation", spec(correlation_input="has space"), "correlation_input", "GitHub input name"),
    (
        "too_many_inputs_github_com",
        spec(inputs=typed(24), correlation_input="cid"),
        "inputs",
        "26 workflow inputs (24 declared + buildingBlockRunUrl + the correlation input) exceed GitHub's limit of 25 "
        "for github.com",
    ),
    (
        "too_many_inputs_ghes",
        spec(github={"repository": "a/b", "api_url": "https://ghe.example.com/api/v3"}, inputs=typed(10)),
        "inputs",
        "exceed GitHub's limit of 10 for GitHub Enterprise Server",
    ),
    (
        "too_many_client_payload_keys",
        {
            **{k: v for k, v in BASE.items() if k != "workflows"},
            "event": "repository_dispatch",
            "event_types": {"apply": "deploy"},
            "inputs": typed(10),
        },
        "inputs",
        "12 client_payload keys (10 declared + buildingBlockRunUrl + the correlation input)",
    ),
    (
        "correlation_clashes_with_input",
        spec(correlation_input="cid", inputs=[{"name": "CID", "value": "x"}]),
        "inputs[0].name",
        "clashes with correlation_input",
    ),
    ("workflow_inputs_fixed_map", spec(workflow_inputs={"a": "b"}), "workflow_inputs.a", "unknown key"),
    # A pattern must match the whole value: Python's `$` also matches before a final newline (YAML `|` adds one).
    (
        "workflow_inputs_default_bad_key",
        spec(workflow_inputs={"default": {"ok": "x", "bad name": "y"}}),
        "workflow_inputs.default",
        "GitHub input name",
    ),
    (
        "workflow_inputs_default_clashes_with_a_declared_input",
        spec(inputs=[{"name": "Env", "value": "a"}], workflow_inputs={"default": {"env": "b"}}),
        "workflow_inputs.default",
        "'env' is already sent by the module",
    ),
    (
        "workflow_inputs_default_counts_toward_the_limit",
        spec(inputs=typed(20), workflow_inputs={"default": {f"extra_{i}": "x" for i in range(4)}}),
        "inputs",
        "26 workflow inputs (20 declared + 4 in workflow_inputs + buildingBlockRunUrl + the correlation input)",
    ),
    ("module_name_with_trailing_newline", spec(name="demo-trigger\n"), "name", "expected a lower-case name"),
    (
        "input_name_with_trailing_newline",
        spec(inputs=[{"name": "env\n", "value": "x"}]),
        "inputs[0].name",
        "GitHub input name",
    ),
    ("env_name_with_trailing_newline", spec(auth={"token_env": "TOKEN\n"}), "auth.token_env", "environment variable"),
    ("repository_with_trailing_newline", spec(github={"repository": "a/b\n"}), "github.repository", "owner/repo"),
    (
        "api_url_with_trailing_newline",
        spec(github={"repository": "a/b", "api_url": "https://x\n"}),
        "github.api_url",
        "URL",
    ),
]


@pytest.mark.parametrize(("data", "path", "message"), [case[1:] for case in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_is_rejected_with_file_key_path_and_expectation(data: Any, path: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(data, "generator/specs/bad.yaml")
    assert caught.value.path == path
    assert str(caught.value).startswith(f"generator/specs/bad.yaml: {path}: ")
    assert message in str(caught.value)


def test_25_inputs_fit_github_com_when_run_url_and_correlation_are_off() -> None:
    parsed = parse_spec(
        spec(inputs=typed(25), forward_run_url=False, correlation_input=None, workflow_inputs=False), "ok.yaml"
    )
    assert len(parsed.inputs) == 25 and parsed.input_limit == 25


def test_ghes_flavour_lowers_the_limit_even_for_a_default_api_url() -> None:
    data = spec(github={"repository": "a/b", "flavour": "ghes"}, inputs=typed(9), forward_run_url=False)
    assert parse_spec(data, "ok.yaml").input_limit == 10
    with pytest.raises(SpecError, match="limit of 10"):
        parse_spec({**data, "inputs": typed(11)}, "bad.yaml")


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"broken\.yaml:2:1: not valid YAML"):
        load_spec(path)


def test_a_bad_spec_writes_nothing(tmp_path: Path) -> None:
    specs = tmp_path / "generator" / "specs"
    specs.mkdir(parents=True)
    path = specs / "demo-trigger.yaml"
    path.write_text(
        "name: demo-trigger\ndescription: d\ngithub: {repository: a/b}\ninputs:\n  - {name: x, type: int}\n"
    )
    result = CliRunner().invoke(module, ["render", str(path)])
    assert result.exit_code == 1
    assert "inputs[0].type: expected one of string, number, bool, list, map, got a string 'int'" in str(
        result.exception
    )
    assert not (tmp_path / "modules").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generator"]


def test_omitted_settings_are_exposed_with_the_standard_defaults() -> None:
    parsed = parse_spec(BASE, "ok.yaml")
    names = [v.name for v in parsed.variables]
    assert names[:5] == ["github_api_url", "github_repository", "github_ref", "destroy_workflow", "workflow_inputs"]
    assert "apply_workflow" not in names  # fixed in BASE
    assert {"redispatch", "wait_for_completion", "python", "meshstack_building_block_run_b64"} <= set(names)


REFERENCE_INTERFACE = {
    "github_repository": ("string", "required"),
    "github_api_url": ("string", "https://api.github.com"),
    "github_ref": ("string", "main"),
    "apply_workflow": ("string", "required"),
    "destroy_workflow": ("string", None),
    "workflow_inputs": ("map(string)", {}),
    "forward_run_url": ("bool", True),
    "correlation_input": ("string", None),
    "redispatch": ("string", "every_run"),
    "wait_for_completion": ("bool", False),
    "wait_timeout_seconds": ("number", 1800),
    "poll_interval_seconds": ("number", 10),
    "python": ("string", "python3"),
    "meshstack_building_block_id": ("string", None),
    "meshstack_building_block_run_id": ("string", None),
    "meshstack_building_block_run_b64": ("string", None),
}


def test_reference_spec_has_exactly_the_architecture_interface() -> None:
    parsed = load_spec(Path(__file__).resolve().parents[2] / "generator/specs/github-workflow-trigger.yaml")
    actual = {v.name: (v.type, "required" if v.required else v.default) for v in parsed.variables}
    assert actual == REFERENCE_INTERFACE
    assert all(v.description for v in parsed.variables)


RE2_UNSUPPORTED = [
    ("^(?!admin)[a-z]+$", "a negative lookahead (?!...)"),
    ("^(?=[a-z])[a-z0-9]+$", "a lookahead (?=...)"),
    ("(?<=x)y", "a lookbehind (?<=...)"),
    ("(?<!x)y", "a negative lookbehind (?<!...)"),
    ("^(a)\\1$", "a backreference \\1"),
    ("^(?P<c>a)(?P=c)$", "a named backreference (?P=name)"),
    ("^[a-z]+\\Z", "\\Z (use \\z for the end of the text)"),
    ("^a*+$", "a possessive quantifier *+"),
    ("^(?>a+)$", "an atomic group (?>...)"),
    ("^(a)?(?(1)b|c)$", "a conditional (?(...)...)"),
    ("^\\C$", "\\C (any byte) is not supported by Go's regexp"),
]


@pytest.mark.parametrize(("regex", "construct"), RE2_UNSUPPORTED, ids=[c for _, c in RE2_UNSUPPORTED])
def test_a_regex_terraform_cannot_run_is_rejected_naming_the_construct(regex: str, construct: str) -> None:
    """Reproduction (issue 9 item 2): the regex was checked with Python's ``re``; a lookahead or ``\\Z`` rendered
    fine and then the module rejected every value, failing its own tests."""
    data = spec(inputs=[{"name": "db_name", "type": "string", "regex": regex, "default": "a"}])
    with pytest.raises(SpecError) as caught:
        parse_spec(data, "generator/specs/bad.yaml")
    assert caught.value.path == "inputs[0].regex"
    assert construct in str(caught.value) and len(str(caught.value).splitlines()) == 1


def test_the_fallback_scan_names_the_same_constructs_without_google_re2(monkeypatch: pytest.MonkeyPatch) -> None:
    from meshpipe.generator import regex

    monkeypatch.setattr(regex, "_re2", lambda: None)
    for pattern, construct in RE2_UNSUPPORTED[:-1]:
        found = regex.problem(pattern)
        assert found is not None and "not supported" in found, pattern
        assert construct.split()[-1].rstrip("+") in found or construct[:12] in found, (pattern, found)
    assert regex.problem("^[a-z]+$") is None


def test_re2_only_syntax_is_accepted_and_examples_are_matched_with_re2() -> None:
    """``\\z`` and ``\\p{..}`` are RE2 (Terraform accepts them) but not Python 3.11's ``re``."""
    data = spec(
        inputs=[
            {"name": "a", "type": "string", "regex": "^[a-z]+\\z", "example": "abc"},
            {"name": "b", "type": "string", "regex": "^\\p{Greek}+$", "default": "αβγ"},
            {"name": "c", "type": "string", "regex": "^[[:alpha:]]+$", "default": "abc"},
        ]
    )
    parsed = parse_spec(data, "ok.yaml")
    assert [item.regex for item in parsed.inputs] == ["^[a-z]+\\z", "^\\p{Greek}+$", "^[[:alpha:]]+$"]
    bad = spec(inputs=[{"name": "a", "type": "string", "regex": "^[a-z]+\\z", "example": "abc\n"}])
    with pytest.raises(SpecError, match="does not match the regex"):
        parse_spec(bad, "bad.yaml")


@pytest.mark.terraform
def test_a_module_with_an_re2_only_regex_passes_its_own_terraform_tests(tmp_path: Path) -> None:
    from meshpipe.terraform import Terraform
    from tests.generator.support import render_inline

    data = spec(inputs=[{"name": "db_name", "type": "string", "regex": "^[a-z][a-z0-9_]*\\z", "example": "orders"}])
    data["name"] = "re2-only"
    target = render_inline(data, tmp_path)
    tf = Terraform(target)
    tf.init()
    result = tf.run("test", "-no-color", check=False)
    assert result.returncode == 0, result.output


# A parametrized table of spec texts and their one-line errors; tables elsewhere hold other cases.
@pytest.mark.parametrize(
    ("data", "path", "suggestion"),
    [
        (spec(workflow={"apply": "a.yml"}), "workflow", "did you mean `workflows`?"),
        (spec(github={"api": "x", "repository": "a/b"}), "github.api", "did you mean `api_url`?"),
        (spec(inputs=[{"name": "a", "type": "string", "defualt": "x"}]), "inputs[0].defualt", "`default`"),
        (spec(inputs=[{"name": "a", "type": "strng"}]), "inputs[0].type", "did you mean 'string'?"),
        (spec(redispatch="on-change"), "redispatch", "did you mean 'on_change'?"),
        (spec(auth={"mode": "Token"}), "auth.mode", "did you mean 'token'?"),
    ],
)
def test_a_typo_suggests_the_nearest_known_key_or_value(data: Any, path: str, suggestion: str) -> None:
    """Reproduction (issue 9 item 3): ``workflow:`` only listed every known key."""
    with pytest.raises(SpecError) as caught:
        parse_spec(data, "generator/specs/typo.yaml")
    assert caught.value.path == path and suggestion in str(caught.value)


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("name: x\ngithub:\n  repository: a/b\n   ref: main\n", "4:7", "mapping values are not allowed here"),
        ("name: [unclosed\n", "2:1", "expected ',' or ']'"),
        ("name: x\n\tdescription: d\n", "2:1", "found character '\\t' that cannot start any token"),
        ("inputs: []\nname: x\ninputs: []\n", "3:1", "duplicate key 'inputs' (first at line 1)"),
    ],
)
def test_malformed_yaml_names_file_line_and_column_and_what_is_wrong(
    text: str, where: str, problem: str, tmp_path: Path
) -> None:
    """Reproduction (issue 9 item 3): a YAML error said ``in "<unicode string>", line 4`` without the file."""
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{where}: ") and problem in message, message
    assert "<unicode string>" not in message and len(message.splitlines()) == 1


def test_a_spec_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"name: \xff\n")
    with pytest.raises(SpecError, match=r"spec\.yaml: not UTF-8 text \(byte 6\)"):
        load_spec(path)


def test_display_names_come_from_the_spec_and_reach_the_definition() -> None:
    from meshpipe.generator.definition import build_definition

    data = spec(
        inputs=[
            {"name": "db_name", "type": "string", "display_name": "Database name", "regex": "^[a-z]+$", "default": "a"},
            {"name": "size", "type": "string", "allowed": ["s", "m"], "default": "s"},
        ]
    )
    definition = build_definition(parse_spec(data, "ok.yaml"), spec_path="ok.yaml", module_output_names=())
    assert definition.input("db_name").display_name == "Database name"
    assert definition.input("db_name").validation_message == "Database name must match ^[a-z]+$"
    assert definition.input("size").display_name == "Size"
    for bad in ("", "   ", "two\nlines", 3):
        with pytest.raises(SpecError, match=r"inputs\[0\]\.display_name: expected a non-empty label on one line"):
            parse_spec(spec(inputs=[{"name": "a", "type": "string", "display_name": bad}]), "bad.yaml")


def test_a_spec_file_error_names_the_line_of_its_key_path(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "name: x\ndescription: d\ngithub: {repository: a/b}\nworkflows:\n  apply: a.yml\n"
        "inputs:\n  - name: ok\n    type: string\n  - name: bad\n    type: strng\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert str(caught.value).startswith(f"{path}:10: inputs[1].type: expected one of string")
    assert caught.value.path == "inputs[1].type"
    path.write_text("name: x\ngithub: {repository: a/b}\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"spec\.yaml: description: required key is missing"):
        load_spec(path)  # a missing top-level key has no line
