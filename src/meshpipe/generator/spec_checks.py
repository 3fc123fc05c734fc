"""Value checks and :class:`SpecReader`, the error plumbing the spec's section parsers share.

A check returns ``None`` for an acceptable value, else what was expected (the error message's second half).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from meshpipe.generator.errors import SpecError
from meshpipe.generator.spec import INPUT_NAME, WORKFLOW_FILE

__all__ = [
    "API_URL_CHECK",
    "INPUT_CHECK",
    "MISSING",
    "WORKFLOW_CHECK",
    "Check",
    "SpecReader",
    "as_text",
    "boolean",
    "finite_number",
    "nearest",
    "non_empty_string",
    "one_line_text",
    "one_of",
    "pattern",
    "positive",
    "static_value",
    "string_map",
    "value_check",
]

Check = Callable[[Any], "str | None"]
MISSING = object()
_TYPE_NAMES = {str: "a string", bool: "a boolean", int: "a number", list: "a list", dict: "a mapping"}


def non_empty_string(value: Any) -> str | None:
    """Accept a non-empty string."""
    return None if isinstance(value, str) and value else "a non-empty string"


def one_line_text(value: Any) -> str | None:
    """Accept a non-blank string of one line without control characters (a label)."""
    ok = isinstance(value, str) and value.strip() != "" and value.isprintable()
    return None if ok else "a non-empty label on one line, without control characters"


def pattern(regex: re.Pattern[str], expected: str) -> Check:
    """A check accepting strings that ``regex`` matches as a whole.

    ``fullmatch``, not ``match``: Python's ``$`` also matches before a final newline, which Terraform's RE2 does not.
    """

    def check(value: Any) -> str | None:
        return None if isinstance(value, str) and regex.fullmatch(value) else expected

    return check


def boolean(value: Any) -> str | None:
    """Accept true or false."""
    return None if isinstance(value, bool) else "true or false"


def finite_number(value: Any) -> bool:
    """True for an int or float that is finite and not a bool (YAML has .inf and .nan)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def positive(value: Any) -> str | None:
    """Accept a finite number greater than 0."""
    return None if finite_number(value) and value > 0 else "a number greater than 0"


class one_of:  # lower case: called like the other check factories
    """A check accepting only ``options``; errors suggest the nearest option for a typo."""

    def __init__(self, options: tuple[str, ...]) -> None:
        self.options = options

    def __call__(self, value: Any) -> str | None:
        return None if value in self.options else "one of " + ", ".join(self.options)


def nearest(value: object, options: Iterable[str]) -> str | None:
    """The option closest to a mistyped ``value`` (``workflow`` -> ``workflows``), if one is close enough."""
    if not isinstance(value, str):
        return None
    options = list(options)
    found = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    if found:
        return found[0]
    lowered = {option.lower(): option for option in options}
    if value.lower() in lowered:
        return lowered[value.lower()]
    # An abbreviation: ``repo`` -> ``repository`` (when only one key starts that way).
    started = [option for option in options if len(value) >= 3 and option.startswith(value)]
    return started[0] if len(started) == 1 else None


def string_map(value: Any) -> str | None:
    """Accept a mapping of strings to strings."""
    ok = isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return None if ok else "a mapping of strings to strings"


API_URL_CHECK = pattern(re.compile(r"^https?://\S+$"), "an http(s) URL such as https://api.github.com")
WORKFLOW_CHECK = pattern(WORKFLOW_FILE, "a workflow file name ending in .yml or .yaml, without '/'")
INPUT_CHECK = pattern(INPUT_NAME, f"a GitHub input name matching {INPUT_NAME.pattern}")


class SpecReader:
    """Reads one spec document: type checks, and errors naming the file (``source``) and the key path.

    :class:`~meshpipe.generator.spec_parser.SpecParser` is one (the top level and the settings);
    :func:`~meshpipe.generator.spec_inputs.parse_inputs` is handed it for the ``inputs:`` list.
    """

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> NoReturn:
        """Raise the :class:`SpecError` for ``path``."""
        raise SpecError(self.source, path, message)

    def mapping(
        self, value: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """``value`` as a dict with only ``allowed`` keys and all ``required`` ones."""
        if not isinstance(value, Mapping):
            self.fail(path or "(top level)", f"expected a mapping, got {self.kind(value)}")
        for key in value:
            if key not in allowed:
                guess = nearest(key, allowed)
                hint = f"did you mean `{guess}`? " if guess else ""
                self.fail(self.join(path, str(key)), f"unknown key; {hint}expected one of " + ", ".join(allowed))
        for key in required:
            if key not in value:
                self.fail(self.join(path, key), "required key is missing")
        return dict(value)

    @staticmethod
    def join(path: str, key: str) -> str:
        """``path.key`` (or ``key`` at the top level)."""
        return f"{path}.{key}" if path else key

    @staticmethod
    def kind(value: Any) -> str:
        """A short description of a YAML value's type for error messages."""
        if value is None:
            return "null"
        for python_type, name in _TYPE_NAMES.items():
            if isinstance(value, python_type):
                return name
        return "a number" if isinstance(value, float) else type(value).__name__

    def check(self, value: Any, path: str, check: Check) -> Any:
        """Return ``value`` if ``check`` accepts it, else fail with what was expected."""
        expected = check(value)
        if expected is not None:
            guess = nearest(value, check.options) if isinstance(check, one_of) else None
            hint = f"; did you mean {guess!r}?" if guess else ""
            self.fail(path, f"expected {expected}, got {self.kind(value)} {value!r}"[:300] + hint)
        return value

    def description(self, body: Mapping[str, Any], path: str) -> str:
        """The optional ``description`` of an entry."""
        value = body.get("description", "")
        if not isinstance(value, str):
            self.fail(self.join(path, "description"), f"expected a string, got {self.kind(value)}")
        return value.strip()


def static_value(value: Any) -> str | None:
    """Accept what a static input may hold: a string, finite number or boolean."""
    ok = isinstance(value, (str, bool)) or finite_number(value)
    return None if ok else "a string, finite number or boolean"


def as_text(value: Any) -> str:
    """A static value as the string that is sent (non-strings as JSON)."""
    return value if isinstance(value, str) else json.dumps(value)


def value_check(kind: str) -> Check:
    """The check for values of an input ``type``."""

    def check(value: Any) -> str | None:
        if kind == "string":
            return None if isinstance(value, str) else "a string"
        if kind == "number":
            return None if finite_number(value) else "a finite number"
        if kind == "bool":
            return None if isinstance(value, bool) else "true or false"
        if kind == "list":
            return None if isinstance(value, list) and all(isinstance(v, str) for v in value) else "a list of strings"
        return string_map(value)

    return check
