"""Validation of a spec's ``inputs:`` list (typed variables, static values, meshStack context, secrets)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meshpipe.generator.regex import problem as re2_problem
from meshpipe.generator.regex import searcher
from meshpipe.generator.spec import CONTEXT_SOURCES, ENV_NAME, INPUT_TYPES, RESERVED_VARIABLES, TF_IDENTIFIER, Input
from meshpipe.generator.spec_checks import (
    INPUT_CHECK,
    MISSING,
    Check,
    SpecReader,
    as_text,
    non_empty_string,
    one_line_text,
    one_of,
    pattern,
    static_value,
    value_check,
)

__all__ = ["parse_inputs"]


def parse_inputs(
    reader: SpecReader, data: Any, name_check: Check = INPUT_CHECK, noun: str = "GitHub input"
) -> tuple[Input, ...]:
    """The ``inputs:`` section: the declared inputs, names valid for the target (``name_check``) and unique
    case-insensitively (GitHub and Azure Pipelines ignore case; for GitLab two names differing only in case would be
    two environment variables that Windows runners merge)."""
    if not isinstance(data, list):
        reader.fail("inputs", f"expected a list, got {reader.kind(data)}")
    parsed = tuple(_input(reader, item, f"inputs[{index}]", name_check) for index, item in enumerate(data))
    seen: dict[str, int] = {}
    for index, item in enumerate(parsed):
        folded = item.name.lower()
        if folded in seen:
            why = "GitHub ignores case" if noun == "GitHub input" else "names must differ in more than case"
            reader.fail(f"inputs[{index}].name", f"duplicate input name {item.name!r} ({why})")
        seen[folded] = index
    return parsed


def _input(reader: SpecReader, data: Any, path: str, name_check: Check) -> Input:
    """One input; its kind follows from its keys."""
    if not isinstance(data, Mapping):
        reader.fail(path, f"expected a mapping, got {reader.kind(data)}")
    name = reader.check(data.get("name"), reader.join(path, "name"), name_check)
    common = ("name", "description")
    if "value" in data:
        body = reader.mapping(data, path, (*common, "value"))
        value = reader.check(body["value"], reader.join(path, "value"), static_value)
        return Input(name, "static", reader.description(body, path), value=as_text(value))
    if "meshstack" in data:
        body = reader.mapping(data, path, (*common, "meshstack"))
        context = reader.check(body["meshstack"], reader.join(path, "meshstack"), one_of(CONTEXT_SOURCES))
        return Input(name, "meshstack", reader.description(body, path), context=context)
    if "sensitive" in data:
        body = reader.mapping(data, path, (*common, "sensitive", "env"), ("env",))
        if body["sensitive"] is not True:
            reader.fail(reader.join(path, "sensitive"), "expected true (omit the key for a non-sensitive input)")
        env = reader.check(body["env"], reader.join(path, "env"), pattern(ENV_NAME, "an environment variable name"))
        return Input(name, "secret", reader.description(body, path), env=env)
    return _typed(reader, data, path, name)


def _typed(reader: SpecReader, data: Mapping[str, Any], path: str, name: str) -> Input:
    """A workflow input backed by a typed module variable."""
    body = reader.mapping(
        data,
        path,
        ("name", "description", "display_name", "type", "variable", "default", "allowed", "regex", "example"),
    )
    display_name = body.get("display_name")
    if display_name is not None:
        reader.check(display_name, reader.join(path, "display_name"), one_line_text)
    kind = reader.check(body.get("type"), reader.join(path, "type"), one_of(INPUT_TYPES))
    variable = body.get("variable", name.replace("-", "_"))
    reader.check(variable, reader.join(path, "variable"), pattern(TF_IDENTIFIER, "a Terraform identifier"))
    if variable in RESERVED_VARIABLES:
        reader.fail(reader.join(path, "variable"), f"{variable!r} is reserved; set `variable` to another name")
    check = value_check(kind)
    allowed = body.get("allowed")
    if allowed is not None:
        if kind not in ("string", "number"):
            reader.fail(reader.join(path, "allowed"), f"only string and number inputs take `allowed`, not {kind}")
        if not isinstance(allowed, list) or not allowed:
            reader.fail(reader.join(path, "allowed"), f"expected a non-empty list, got {reader.kind(allowed)}")
        for index, option in enumerate(allowed):
            reader.check(option, f"{path}.allowed[{index}]", check)
    regex = body.get("regex")
    if regex is not None:
        if kind != "string":
            reader.fail(reader.join(path, "regex"), f"only string inputs take `regex`, not {kind}")
        reader.check(regex, reader.join(path, "regex"), non_empty_string)
        why = re2_problem(regex)
        if why is not None:
            reader.fail(reader.join(path, "regex"), f"{regex!r}: {why}")
        matches = searcher(regex)
    default = body.get("default", MISSING)
    for key in ("default", "example"):
        value = body.get(key)
        if value is None:
            continue
        reader.check(value, reader.join(path, key), check)
        if allowed is not None and value not in allowed:
            reader.fail(reader.join(path, key), f"{value!r} is not one of the allowed values")
        if regex is not None and not matches(value):
            reader.fail(reader.join(path, key), f"{value!r} does not match the regex {regex!r}")
    if default is MISSING and regex is not None and body.get("example") is None:
        reader.fail(
            reader.join(path, "example"), "a required input with `regex` needs an `example` value for its tests"
        )
    return Input(
        name,
        "variable",
        reader.description(body, path),
        type=kind,
        variable=variable,
        default=None if default is MISSING else default,
        required=default is MISSING,
        allowed=None if allowed is None else tuple(allowed),
        regex=regex,
        example=body.get("example"),
        display_name=None if display_name is None else display_name.strip(),
    )
