"""Redaction of secrets before anything leaves the runner (messages to meshStack, annotations, errors).

Two kinds of secrets are known: values in clear (the tokens meshpipe holds, a login's token, sensitive inputs of a
run object) and *fingerprints* (length and SHA-256) of values the job masked with ``::add-mask::`` -- kept in the
job's state so later steps redact them too, without the state file ever holding the values.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Redactor", "fingerprint", "masked_values"]

#: shorter values are not redacted: one or two characters would shred every message (the runner's own masker
#: likewise ignores very short secrets)
MIN_SECRET_LENGTH = 3
_MARK = "***"
_MASK_PREFIXES = (b"::add-mask::", b"##[add-mask]")
_AZURE_MASK = b"##vso[task.setsecret"


def fingerprint(value: str) -> tuple[int, str]:
    """``(length, sha256 hex)`` of a value; what the state file keeps of a mask."""
    import hashlib

    return len(value), hashlib.sha256(value.encode("utf-8")).hexdigest()


def _unescape(text: str) -> str:
    # The runner unescapes a workflow command's data before it acts on it (actions/toolkit's escapeData reversed).
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _unescape_azure(text: str) -> str:
    # The Azure Pipelines agent's CommandStringConvertor.Unescape (see meshpipe.report.ci_azure.escape).
    for token, replacement in ((";", "%3B"), ("\r", "%0D"), ("\n", "%0A"), ("]", "%5D")):
        text = text.replace(replacement, token)
    return text.replace("%AZP25", "%")


def masked_values(line: bytes) -> list[str]:
    """The values a line of command output masks (``::add-mask::VALUE``; Azure Pipelines'
    ``##vso[task.setsecret]VALUE``, which the agent honours anywhere in a line), each line of a multi-line one too."""
    stripped = line.strip()
    value = None
    for prefix in _MASK_PREFIXES:
        if stripped.startswith(prefix):
            value = _unescape(stripped[len(prefix) :].decode("utf-8", errors="replace")).strip()
    at = stripped.lower().find(_AZURE_MASK)
    if value is None and at >= 0:
        properties_and_data = stripped[at + len(_AZURE_MASK) :]
        end = properties_and_data.find(b"]")
        if end >= 0:
            value = _unescape_azure(properties_and_data[end + 1 :].decode("utf-8", errors="replace")).strip()
    if not value:
        return []
    parts = [value, *(part.strip() for part in value.splitlines())]
    return [part for part in dict.fromkeys(parts) if len(part) >= MIN_SECRET_LENGTH]


class Redactor:
    """Replaces every known secret in a text with ``***``."""

    def __init__(self) -> None:
        self._values: list[str] = []
        self._fingerprints: set[tuple[int, str]] = set()

    def add(self, value: str | None) -> None:
        """Remember a secret known in clear (and its JSON-escaped form, as it appears in a JSON error body)."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        import json

        for form in (value, json.dumps(value)[1:-1]):
            if form not in self._values:
                self._values.append(form)
        self._values.sort(key=len, reverse=True)  # longest first: a secret that contains another is replaced whole

    @property
    def longest(self) -> int:
        """The length of the longest secret known (0 when none): how much of a cut text's edge can be part of one."""
        return max([len(value) for value in self._values] + [length for length, _ in self._fingerprints], default=0)

    def add_fingerprint(self, length: int, digest: str) -> None:
        """Remember a secret known only by its fingerprint."""
        if length >= MIN_SECRET_LENGTH:
            self._fingerprints.add((length, digest))

    def add_fingerprints(self, items: Iterable[Iterable[object]]) -> None:
        """Remember ``[length, digest]`` pairs (as stored in the state)."""
        for length, digest in (tuple(item) for item in items):
            self.add_fingerprint(int(str(length)), str(digest))

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``."""
        for value in self._values:
            text = text.replace(value, _MARK)
        if self._fingerprints and text:
            text = self._redact_fingerprints(text)
        return text

    def _redact_fingerprints(self, text: str) -> str:
        import hashlib

        spans: list[tuple[int, int]] = []
        for length in sorted({n for n, _ in self._fingerprints}, reverse=True):
            digests = {d for n, d in self._fingerprints if n == length}
            for start in range(len(text) - length + 1):
                window = text[start : start + length]
                if hashlib.sha256(window.encode("utf-8")).hexdigest() in digests:
                    spans.append((start, start + length))
        if not spans:
            return text
        spans.sort()
        merged: list[list[int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        out, last = [], 0
        for start, end in merged:
            out += [text[last:start], _MARK]
            last = end
        return "".join(out) + text[last:]
