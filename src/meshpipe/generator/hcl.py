"""Emit HCL literals and attribute bodies that ``terraform fmt`` leaves unchanged.

The renderer never pipes its output through ``terraform fmt``: these helpers produce the canonical layout directly
(``=`` aligned within runs of single-line attributes, two-space indents), and the tests use ``fmt -check`` as the
oracle. Templates write their HCL by hand and leave the alignment to :func:`align` (the ``align`` filter).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Raw", "align", "attributes", "heredoc_body", "identifier_or_string", "literal", "string"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True)
class Raw:
    """An HCL expression emitted verbatim (``var.x``, ``local.y``, a function call)."""

    text: str


def string(value: str) -> str:
    """``value`` as a quoted HCL string literal that evaluates to exactly ``value``.

    Escapes backslashes, quotes and control characters, and doubles the template introducers (``${`` -> ``$${``,
    ``%{`` -> ``%%{``) so nothing in the value is ever interpolated.
    """
    out = "".join(_SIMPLE_ESCAPES.get(char, char) for char in value)
    out = _CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", out)
    out = out.replace("${", "$${").replace("%{", "%%{")
    return f'"{out}"'


def heredoc_body(text: str, indent: int) -> str:
    """``text`` as the lines of an indented heredoc (``<<-EOT``) at ``indent`` spaces, without the final newline.

    Template introducers are doubled so nothing is interpolated; a line equal to the delimiter cannot occur because
    every line is indented and the closing ``EOT`` is matched only on a line of its own.
    """
    escaped = text.replace("${", "$${").replace("%{", "%%{")
    if _CONTROL.search(escaped.replace("\t", "")):
        raise ValueError("a heredoc cannot hold control characters")
    return "\n".join((" " * indent + line) if line.strip() else "" for line in escaped.rstrip("\n").split("\n"))


#: bare words HCL reads as values or keywords, so they are quoted as object keys
_KEYWORDS = frozenset({"true", "false", "null", "for", "in", "if", "else", "endif", "endfor"})


def identifier_or_string(key: str) -> str:
    """An object key: bare when it is a plain identifier, else quoted."""
    return key if _IDENTIFIER.fullmatch(key) and key not in _KEYWORDS else string(key)


def literal(value: Any, indent: int = 0) -> str:
    """A Python value (str, bool, int, float, None, list, dict, :class:`Raw`) as an HCL expression.

    Lists and maps with content are laid out one element per line, indented ``indent + 2`` spaces, as fmt does.
    """
    if isinstance(value, Raw):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        body = attributes(((identifier_or_string(str(k)), v) for k, v in value.items()), indent + 2)
        return "{\n" + body + " " * indent + "}"
    if isinstance(value, Sequence):
        if not value:
            return "[]"
        if all(not isinstance(item, (Mapping, list, tuple)) for item in value):
            return "[" + ", ".join(literal(item) for item in value) + "]"
        pad = " " * (indent + 2)
        return "[\n" + "".join(f"{pad}{literal(item, indent + 2)},\n" for item in value) + " " * indent + "]"
    raise TypeError(f"no HCL literal for {type(value).__name__}")


def attributes(items: Iterable[tuple[str, Any]], indent: int) -> str:
    """``key = value`` lines, aligned the way ``terraform fmt`` aligns them.

    fmt aligns the ``=`` of consecutive single-line attributes; an attribute whose value spans lines ends the run
    and is itself not padded.
    """
    rendered = [(key, literal(value, indent)) for key, value in items]
    lines: list[str] = []
    pad = " " * indent
    group: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(key) for key, _ in group), default=0)
        lines.extend(f"{pad}{key.ljust(width)} = {text}\n" for key, text in group)
        group.clear()

    for key, text in rendered:
        if "\n" in text:
            flush()
            lines.append(f"{pad}{key} = {text}\n")
        else:
            group.append((key, text))
    flush()
    return "".join(lines)


#: ``key = value`` at the start of a line (an identifier or a quoted key; any padding before ``=``)
_ASSIGNMENT = re.compile(r'^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_-]*|"(?:[^"\\]|\\.)*") *= (?P<value>.*)$')
_HEREDOC = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_]*)$")


def align(text: str) -> str:
    """``text`` with the ``=`` of each run of single-line attributes aligned the way ``terraform fmt`` aligns them.

    A run is consecutive ``key = value`` lines at one indentation. Any other line ends it: a blank line, a comment,
    a brace, and an attribute whose value continues on the next lines (that line itself is not padded). Heredoc
    bodies are left alone.
    """
    lines = text.split("\n")
    run: list[tuple[int, re.Match[str]]] = []

    def flush() -> None:
        width = max((len(match["key"]) for _, match in run), default=0)
        for index, match in run:
            lines[index] = f"{match['indent']}{match['key'].ljust(width)} = {match['value']}"
        run.clear()

    heredoc: str | None = None
    for index, line in enumerate(lines):
        if heredoc is not None:
            heredoc = None if line.strip() == heredoc else heredoc
            continue
        match = _ASSIGNMENT.match(line)
        opening = _HEREDOC.search(line)
        if opening is not None:
            heredoc = opening.group(1)
        if match is None or (run and run[0][1]["indent"] != match["indent"]):
            flush()
        if match is None:
            continue
        if opening is not None or match["value"].endswith(("{", "[", "(")):
            flush()
            lines[index] = f"{match['indent']}{match['key']} = {match['value']}"
        else:
            run.append((index, match))
    flush()
    return "\n".join(lines)
