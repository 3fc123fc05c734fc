"""Regular expressions as Terraform and OpenTofu run them: RE2 syntax (Go's ``regexp`` package).

A spec's ``regex`` ends up in ``can(regex(...))`` validations, so it must be judged by RE2, not by Python's ``re``:
a lookahead or ``\\Z`` compiles in Python, then the module rejects every value. The real engine is ``google-re2``
(a dependency); when it cannot be imported (a platform without a wheel) a scan for the constructs RE2 lacks stands
in, and Python's ``re`` compiles the rest.

Go's ``regexp`` differs from C++ RE2 in one construct a spec could use: ``\\C`` (any byte), which Go rejects.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["problem", "searcher"]

_NOT_RE2 = "is not supported by RE2, the regex engine of Terraform and OpenTofu"
#: what RE2 names after "invalid perl operator: " -> the construct in words
_OPERATORS: dict[str, str] = {
    "(?<=": "a lookbehind (?<=...)",
    "(?<!": "a negative lookbehind (?<!...)",
    "(?=": "a lookahead (?=...)",
    "(?!": "a negative lookahead (?!...)",
    "(?>": "an atomic group (?>...)",
    "(?(": "a conditional (?(...)...)",
    "(?R": "recursion (?R)",
    "(?#": "a comment group (?#...)",
    "(?x": "verbose mode (?x)",
}
#: what RE2 names after "invalid escape sequence: " -> the construct in words
_ESCAPES: dict[str, str] = {
    "\\Z": "\\Z (use \\z for the end of the text)",
    "\\k": "a named backreference \\k<name>",
    "\\G": "\\G (end of the previous match)",
}
_ESCAPED = r"(?<!\\)(?:\\\\)*"  # an even number of backslashes before
#: Go's regexp rejects \C (any byte), which C++ RE2 accepts
_GO_ONLY = (
    re.compile(_ESCAPED + r"\\C"),
    "\\C (any byte) is not supported by Go's regexp, which Terraform and OpenTofu use",
)
#: the scan used only without google-re2: (pattern over the regex source, construct)
_SCAN: tuple[tuple[re.Pattern[str], str], ...] = (
    *((re.compile(_ESCAPED + re.escape(text)), name) for text, name in _OPERATORS.items()),
    (re.compile(_ESCAPED + r"\(\?P[=>]"), "a named backreference (?P=name)"),
    (re.compile(_ESCAPED + r"\\[1-9]"), "a backreference \\N"),
    *((re.compile(_ESCAPED + re.escape(text)), name) for text, name in _ESCAPES.items()),
    (re.compile(r"(?<![\\(])[*+?}]\+"), "a possessive quantifier (*+, ++, ?+, {n}+)"),
)


def _describe(message: str, pattern: str) -> str:
    """RE2's error, with the construct named in words where it is one RE2 lacks on purpose."""
    kind, _, what = message.partition(": ")
    if kind == "invalid perl operator" and what in _OPERATORS:
        return f"{_OPERATORS[what]} {_NOT_RE2}"
    if kind == "invalid perl operator" and what == "(?P":
        return f"a named backreference (?P=name) {_NOT_RE2}"
    if kind == "invalid escape sequence" and what[1:].isdigit():
        return f"a backreference {what} {_NOT_RE2}"
    if kind == "invalid escape sequence" and what in _ESCAPES:
        return f"{_ESCAPES[what]} {_NOT_RE2}"
    if kind == "bad repetition operator" and what.endswith("+"):
        return f"a possessive quantifier {what} {_NOT_RE2}"
    return f"not a valid RE2 regular expression (the engine of Terraform and OpenTofu): {message}"


def _re2() -> Any:
    try:
        import re2
    except ImportError:  # pragma: no cover - google-re2 is a dependency; this is the no-wheel fallback
        return None
    options = re2.Options()
    options.log_errors = False  # RE2 would print every parse error to stderr as well
    return re2, options


def problem(pattern: str) -> str | None:
    """Why Terraform would reject ``pattern`` (naming the construct), or ``None`` if RE2 accepts it."""
    engine = _re2()
    if engine is None:
        for regex, name in _SCAN:
            if regex.search(pattern):
                return f"{name} {_NOT_RE2}"
        try:
            re.compile(pattern)
        except re.error as exc:
            return f"not a valid regular expression: {exc}"
        return None
    re2, options = engine
    try:
        re2.compile(pattern, options=options)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else exc
        message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return _describe(message, pattern)
    return _GO_ONLY[1] if _GO_ONLY[0].search(pattern) else None


def searcher(pattern: str) -> Callable[[str], bool]:
    """``value -> whether pattern matches somewhere in it`` with RE2 semantics (what Terraform's ``regex`` does)."""
    engine = _re2()
    if engine is None:
        compiled = re.compile(pattern)
        return lambda value: compiled.search(value) is not None
    re2, options = engine
    matcher = re2.compile(pattern, options=options)
    return lambda value: matcher.search(value) is not None
