"""Helpers for the CDK tests: the example app's paths, its one shared synth, and HCL read back as Terraform JSON."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "cdk" / "app.py"
SPEC = ROOT / "examples" / "team-bucket" / "spec.yaml"
SPEC_LABEL = "examples/team-bucket/spec.yaml"
#: the jsii runtime warns in a large box on every start under Node 20 (end of life); the tests read stderr
CDK_ENV = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
SYNTH_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Synth:
    """The example app's synthesized output and what the synth cost."""

    outdir: Path
    seconds: float

    def stack(self, name: str) -> Path:
        """A synthesized stack's directory."""
        return self.outdir / "stacks" / name

    def document(self, name: str) -> dict[str, Any]:
        """A synthesized stack's ``cdk.tf.json``."""
        return dict(json.loads((self.stack(name) / "cdk.tf.json").read_text(encoding="utf-8")))


def synthesize_once(shared: Path) -> Synth:
    """Synthesize the example app into ``shared`` unless another pytest worker already did (a file lock decides).

    The CDK's jsii runtime starts Node.js and loads the library (seconds), so the suite synthesizes once.
    """
    outdir = shared / "cdktf.out"
    marker = shared / "synth-seconds"
    with open(shared / "synth.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            started = time.monotonic()
            result = subprocess.run(
                [sys.executable, str(APP), str(outdir)],
                cwd=shared,
                env={**os.environ, **CDK_ENV},
                capture_output=True,
                text=True,
                timeout=SYNTH_TIMEOUT_SECONDS,
                check=False,
            )
            if result.returncode != 0:
                raise AssertionError(f"examples/cdk/app.py failed:\n{result.stdout}{result.stderr}")
            marker.write_text(f"{time.monotonic() - started:.2f}", encoding="utf-8")
    return Synth(outdir, float(marker.read_text(encoding="utf-8")))


def hcl_value(raw: Any) -> Any:
    """A python-hcl2 value in Terraform JSON syntax: literals as template strings (``$${`` kept), expressions as
    ``${...}``, heredocs dedented, blocks' bookkeeping keys dropped."""
    if isinstance(raw, dict):
        return {_key(key): hcl_value(item) for key, item in raw.items() if not key.startswith("__")}
    if isinstance(raw, list):
        return [hcl_value(item) for item in raw]
    if isinstance(raw, str) and raw.startswith('"<<-EOT\n') and raw.endswith('EOT"'):
        return textwrap.dedent(raw[len('"<<-EOT\n') : -len('EOT"')].rstrip(" "))
    if isinstance(raw, str) and len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return json.loads(raw)
    return raw


def _key(key: str) -> str:
    return json.loads(key) if len(key) >= 2 and key[0] == key[-1] == '"' else key


def without_metadata(value: Any) -> Any:
    """A synthesized JSON value without the CDK's ``//`` bookkeeping."""
    if isinstance(value, dict):
        return {key: without_metadata(item) for key, item in value.items() if key != "//"}
    if isinstance(value, list):
        return [without_metadata(item) for item in value]
    return value


def canonical(value: Any) -> Any:
    """``value`` with the whitespace outside string literals removed from every ``${...}`` expression.

    python-hcl2 writes an expression back in its own spacing (``{team = "alpha"}`` for ``{ team = "alpha" }``);
    whitespace between tokens means nothing in HCL, so comparisons ignore it.
    """
    if isinstance(value, dict):
        return {key: canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return _squash(value)
    return value


def _squash(expression: str) -> str:
    out: list[str] = []
    in_string = escaped = False
    for char in expression:
        if in_string:
            out.append(char)
            escaped = char == "\\" and not escaped
            if char == '"' and not escaped:
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif not char.isspace():
            out.append(char)
    return "".join(out)
