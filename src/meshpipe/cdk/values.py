"""Plain-Python value rules of :mod:`meshpipe.cdk`: no CDK import, so they are tested (and usable) without Node.

* :func:`template_json` turns the attribute dicts the generator builds (plain values and :class:`hcl.Raw`
  expressions, see :func:`meshpipe.generator.definition.resource_attributes`) into Terraform's JSON syntax, where every
  string is a template: a literal's ``${``/``%{`` are doubled, an expression becomes ``"${...}"``.
* :func:`check_variables` holds keyword arguments against a module's variables (names, required, types), so a
  mistake fails in Python with one line instead of in ``terraform plan``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from meshpipe.cdk.errors import ConstructError
from meshpipe.generator import hcl
from meshpipe.generator.variables import Variable

__all__ = ["check_variables", "expression", "literal_template", "merge_arguments", "template_json", "type_problem"]

#: Terraform type -> what a Python value of it is, for error messages
EXPECTED = {
    "string": "a str",
    "number": "an int or float",
    "bool": "a bool",
    "list(string)": "a list of str",
    "map(string)": "a mapping of str to str",
}


def literal_template(text: str) -> str:
    """``text`` as a Terraform JSON string that evaluates to exactly ``text`` (template introducers doubled)."""
    return text.replace("${", "$${").replace("%{", "%%{")


def expression(text: str, references: Mapping[str, str]) -> str:
    """The HCL expression ``text`` as a JSON template string; ``var.NAME`` becomes ``references[NAME]``.

    A reference is a CDK token (a string such as ``${TfToken[TOKEN.7]}``, which the CDK resolves inside the
    expression) or a ready HCL expression; names without a reference stay ``var.NAME``.
    """
    if references:
        pattern = re.compile(r"\bvar\.(" + "|".join(re.escape(name) for name in references) + r")\b")
        text = pattern.sub(lambda match: references[match.group(1)], text)
    return "${" + text + "}"


def template_json(value: Any, references: Mapping[str, str] | None = None) -> Any:
    """A generator value (dicts, lists, str, bool, numbers, :class:`hcl.Raw`) in Terraform JSON syntax."""
    refs = references or {}
    if isinstance(value, hcl.Raw):
        return expression(value.text, refs)
    if isinstance(value, str):
        return literal_template(value)
    if isinstance(value, Mapping):
        return {str(key): template_json(item, refs) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [template_json(item, refs) for item in value]
    return value


def type_problem(tf_type: str, value: Any) -> str | None:
    """Why ``value`` is no value of the Terraform type ``tf_type`` (None: it is one)."""
    if tf_type == "string":
        ok = isinstance(value, str)
    elif tf_type == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif tf_type == "bool":
        ok = isinstance(value, bool)
    elif tf_type == "list(string)":
        ok = isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)
    elif tf_type == "map(string)":
        ok = isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    else:
        return f"has the unsupported type {tf_type}"
    # The value itself is never printed: a caller may have put something secret where it does not belong.
    return None if ok else f"must be {EXPECTED[tf_type]} ({tf_type}), not {type(value).__name__}"


def check_variables(
    owner: str,
    declared: Mapping[str, Variable],
    given: Mapping[str, Any],
    *,
    is_token: Callable[[Any], bool],
    exposed: bool = False,
) -> list[str]:
    """Problems of ``given`` against the module's ``declared`` variables, each one line naming ``owner``.

    Tokens (values the CDK resolves at synth time, e.g. a ``TerraformVariable``'s value) pass the type check:
    terraform checks them. ``exposed`` means the stack declares root variables for whatever is not given.
    """
    problems: list[str] = []
    for name in given:
        if name not in declared:
            known = ", ".join(declared) or "none"
            problems.append(f"{owner}: unknown variable {name!r} (the module's variables: {known})")
    for name, variable in declared.items():
        if name not in given:
            if variable.required and not exposed:
                problems.append(
                    f"{owner}: variable {name!r} is required ({EXPECTED.get(variable.type, variable.type)}); "
                    "pass it, or expose_interface=True to take it from a root variable"
                )
            continue
        value = given[name]
        if value is None:
            if not variable.nullable or variable.required:
                problems.append(f"{owner}: variable {name!r} cannot be None (null)")
            continue
        if is_token(value):
            continue
        problem = type_problem(variable.type, value)
        if problem is not None:
            problems.append(f"{owner}: variable {name!r} {problem}")
    return problems


def merge_arguments(owner: str, variables: Mapping[str, Any] | None, keywords: Mapping[str, Any]) -> dict[str, Any]:
    """``variables=`` (for names that clash with a Python keyword or parameter) and ``**keywords`` in one dict."""
    both = set(variables or {}) & set(keywords)
    if both:
        raise ConstructError(f"{owner}: variable(s) {', '.join(sorted(both))} given twice (keyword and variables=)")
    return {**(variables or {}), **keywords}
