"""The plain-Python rules of meshpipe.cdk (no CDK needed): Terraform JSON templates and variable checks."""

from __future__ import annotations

from typing import Any

import pytest

from meshpipe.cdk.values import check_variables, expression, literal_template, template_json, type_problem
from meshpipe.generator import hcl
from meshpipe.generator.variables import Variable


def test_literals_keep_template_introducers_as_text() -> None:
    assert literal_template("a ${b} %{ if c } $d %e") == "a $${b} %%{ if c } $d %e"


def test_expressions_become_interpolations_and_variables_their_references() -> None:
    refs = {"token": "${TfToken[TOKEN.7]}"}
    assert expression("nonsensitive(sha256(var.token))", refs) == "${nonsensitive(sha256(${TfToken[TOKEN.7]}))}"
    # only whole names: var.token_b and var.tokens are other variables
    assert (
        expression("[var.token_b, var.tokens, var.token]", refs) == "${[var.token_b, var.tokens, ${TfToken[TOKEN.7]}]}"
    )
    assert expression("var.other", refs) == "${var.other}"


def test_template_json_converts_nested_structures() -> None:
    value = {"a": [hcl.Raw("jsonencode(1)"), "x${y}"], "b": True, "c": 3, "d": {"e": hcl.Raw("var.s")}}
    assert template_json(value, {"s": '"lit"'}) == {
        "a": ["${jsonencode(1)}", "x$${y}"],
        "b": True,
        "c": 3,
        "d": {"e": '${"lit"}'},
    }


@pytest.mark.parametrize(
    ("tf_type", "good", "bad"),
    [
        ("string", "x", 1),
        ("number", 2.5, True),
        ("number", 3, float("nan")),
        ("bool", False, "false"),
        ("list(string)", ["a"], ["a", 1]),
        ("map(string)", {"k": "v"}, {"k": 1}),
    ],
)
def test_type_problem_accepts_the_type_and_names_what_is_wrong(tf_type: str, good: Any, bad: Any) -> None:
    assert type_problem(tf_type, good) is None
    problem = type_problem(tf_type, bad)
    assert problem is not None and tf_type in problem and repr(bad) not in problem


def test_check_variables_reports_every_problem_and_lets_tokens_through() -> None:
    declared = {
        "name": Variable("name", "string", "", required=True, nullable=False),
        "size": Variable("size", "number", "", default=1, nullable=False),
        "note": Variable("note", "string", "", default=None, nullable=True),
    }
    problems = check_variables(
        "T", declared, {"size": "${TfToken[TOKEN.1]}", "note": None, "typo": 1}, is_token=lambda v: "TfToken" in str(v)
    )
    assert problems == [
        "T: unknown variable 'typo' (the module's variables: name, size, note)",
        "T: variable 'name' is required (a str); pass it, or expose_interface=True to take it from a root variable",
    ]
    assert check_variables("T", declared, {}, is_token=lambda v: False, exposed=True) == []
