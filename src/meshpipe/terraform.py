"""A thin runner for the ``terraform`` (or ``tofu``) binary, used by the demo, the benchmarks and the tests.

It pins the environment that makes terraform quiet and non-interactive (no CLI config, no checkpoint calls,
no prompts) and never puts a secret on the command line: callers pass secrets through ``env``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshpipe.errors import MeshpipeError

__all__ = ["QUIET_ENV", "Terraform", "TerraformError", "TerraformResult", "find_terraform"]

#: Environment that keeps terraform offline, quiet and non-interactive.
QUIET_ENV: dict[str, str] = {
    "TF_CLI_CONFIG_FILE": "",
    "CHECKPOINT_DISABLE": "1",
    "TF_IN_AUTOMATION": "1",
    "TF_INPUT": "0",
}

DEFAULT_TIMEOUT_SECONDS = 600


class TerraformError(MeshpipeError):
    """A terraform command failed; carries the combined output."""

    def __init__(self, args: list[str], returncode: int, output: str) -> None:
        tail = output.strip().splitlines()[-1:] or [""]
        super().__init__(f"terraform {' '.join(args)} exited {returncode}: {tail[0]}")
        self.returncode = returncode
        self.output = output


@dataclass
class TerraformResult:
    """The outcome of one terraform command."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together."""
        return self.stdout + self.stderr


def find_terraform() -> str:
    """The terraform binary: ``$MESHPIPE_TERRAFORM``, ``terraform`` on PATH, or ``/usr/local/bin/terraform``."""
    explicit = os.environ.get("MESHPIPE_TERRAFORM")
    if explicit:
        return explicit
    found = shutil.which("terraform") or shutil.which("tofu")
    if found:
        return found
    if Path("/usr/local/bin/terraform").exists():
        return "/usr/local/bin/terraform"
    raise MeshpipeError("terraform not found: install Terraform >= 1.6 or OpenTofu, or set MESHPIPE_TERRAFORM")


@dataclass
class Terraform:
    """Runs terraform in ``workdir`` with ``env`` added to a cleaned copy of the process environment."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    binary: str = field(default_factory=find_terraform)
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def run(self, *args: str, check: bool = True, extra_env: Mapping[str, str] | None = None) -> TerraformResult:
        """Run ``terraform ARGS``; raise :class:`TerraformError` on a non-zero exit when ``check``."""
        environment = {**os.environ, **QUIET_ENV, **self.env, **(extra_env or {})}
        proc = subprocess.run(
            [self.binary, *args],
            cwd=self.workdir,
            env=environment,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )
        result = TerraformResult(list(args), proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise TerraformError(list(args), proc.returncode, result.output)
        return result

    def write_vars(self, variables: Mapping[str, Any], name: str = "meshpipe.auto.tfvars.json") -> Path:
        """Write variables to an auto-loaded ``*.auto.tfvars.json`` file (values never reach argv)."""
        path = self.workdir / name
        path.write_text(json.dumps(dict(variables), indent=2), encoding="utf-8")
        return path

    def init(self) -> TerraformResult:
        """``terraform init`` (offline: the modules need no providers)."""
        return self.run("init", "-no-color", "-input=false")

    def apply(self, *, check: bool = True, extra_env: Mapping[str, str] | None = None) -> TerraformResult:
        """``terraform apply -auto-approve``."""
        return self.run("apply", "-auto-approve", "-no-color", "-input=false", check=check, extra_env=extra_env)

    def destroy(self, *, check: bool = True, extra_env: Mapping[str, str] | None = None) -> TerraformResult:
        """``terraform destroy -auto-approve``."""
        return self.run("destroy", "-auto-approve", "-no-color", "-input=false", check=check, extra_env=extra_env)

    def outputs(self) -> dict[str, Any]:
        """``terraform output -json`` as plain values."""
        raw = json.loads(self.run("output", "-json", "-no-color").stdout or "{}")
        return {name: item.get("value") for name, item in raw.items()}
