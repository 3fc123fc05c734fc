"""The working directory and the environment of one emulated run (``../shared/reference/meshstack-runner.md``,
"One run, step by step", 1-4 and 6; ``meshstack-run-api.md`` §6.3).

* A fresh temporary directory per run; the "repository" is a local directory standing in for the git clone, and
  only its ``repository_path`` is copied: that copy is the root module and the working directory (step 1).
* The environment is cleaned to the runner's allow-list, plus the definition's environment inputs under their exact
  keys (a ``TF_VAR_`` key goes to the tfvars file instead) and ``TF_HTTP_USERNAME``/``TF_HTTP_PASSWORD`` for the
  state backend (step 2). The password is the run token: it lives in the environment only, never in a file.
* Other inputs go to ``aaaaaa_meshstack-e48f8924-a6c0-4ff0-9528-ff3c1f6f94d8.auto.tfvars`` in HCL (the runner's
  file name, §6.3), together with the run variables (step 3-4; *unverified* that the run variables share that file).
* With ``use_mesh_http_backend_fallback`` and no backend in the module, an http backend at
  ``{meshstackBaseUrl}/api/terraform/state/workspace/{ws}/buildingBlock/{bb}`` with its ``/lock`` endpoint is written
  (the runner's ``testdata/backend-with-lock.golden.tf``; the file name ``meshStack_backend.tf`` is *unverified*).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from meshpipe.fakes.runner.definition import DefinitionError
from meshpipe.generator import hcl

__all__ = [
    "ALLOWED_ENV",
    "ALLOWED_ENV_PREFIXES",
    "BACKEND_FILE",
    "RUN_VARIABLES",
    "TFVARS_FILE",
    "backend_block",
    "clean_environment",
    "copy_module",
    "hcl_value",
    "module_declares",
    "tfvars",
    "write_inputs",
]

#: The runner's allow-list (reference, step 2); TMP* and TF_LOG* are prefixes.
ALLOWED_ENV = (
    "HOME",
    "PATH",
    "SSH_KNOWN_HOSTS",
    "NIX_CONFIG",
    "MESHSTACK_ENDPOINT",
    "MESHSTACK_SKIP_VERSION_CHECK",
    "CUSTOM_CA_CERTS_PATH",
    "CHECKPOINT_DISABLE",
    "TF_IN_AUTOMATION",
)
ALLOWED_ENV_PREFIXES = ("TMP", "TEMP", "TF_LOG")
TFVARS_FILE = "aaaaaa_meshstack-e48f8924-a6c0-4ff0-9528-ff3c1f6f94d8.auto.tfvars"
RUN_VARS_FILE = "meshStack_run_vars.tf"
BACKEND_FILE = "meshStack_backend.tf"
RUN_VARIABLES = ("meshstack_building_block_id", "meshstack_building_block_run_id", "meshstack_building_block_run_b64")


def copy_module(repository: Path, repository_path: str, workdir: Path) -> None:
    """Copy only ``repository/repository_path`` to ``workdir``, as a fresh clone has it (no ``.terraform``, state
    or run file a local run may have left there)."""
    source = (repository / repository_path).resolve()
    if not source.is_dir() or not source.is_relative_to(repository.resolve()):
        raise DefinitionError(f"repository_path {repository_path!r} is not a directory of {repository}")
    shutil.copytree(
        source,
        workdir,
        ignore=shutil.ignore_patterns(
            ".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfplan", ".meshpipe-run.json", "__pycache__"
        ),
    )


def module_declares(workdir: Path) -> tuple[set[str], bool]:
    """The variable names the module declares and whether it declares a backend."""
    names: set[str] = set()
    backend = False
    for path in workdir.glob("*.tf"):
        text = path.read_text(encoding="utf-8")
        names.update(re.findall(r'^variable\s+"([^"]+)"', text, flags=re.MULTILINE))
        backend = backend or bool(re.search(r'^\s*backend\s+"', text, flags=re.MULTILINE))
    return names, backend


def run_vars_declarations(missing: list[str]) -> str:
    """``meshStack_run_vars.tf`` for the run variables a module lacks (nullable, default null; the id required)."""
    blocks = []
    for name in missing:
        default = "" if name == "meshstack_building_block_id" else "\n  default  = null"
        blocks.append(f'variable "{name}" {{\n  type     = string\n  nullable = true{default}\n}}\n')
    return "\n".join(blocks)


def backend_block(state_url: str) -> str:
    """The http backend the runner generates (credentials come from ``TF_HTTP_USERNAME``/``TF_HTTP_PASSWORD``)."""
    address = hcl.string(state_url)
    lock = hcl.string(state_url + "/lock")
    return (
        "terraform {\n"
        '  backend "http" {\n'
        f"    address        = {address}\n"
        f"    lock_address   = {lock}\n"
        '    lock_method    = "POST"\n'
        f"    unlock_address = {lock}\n"
        '    unlock_method  = "DELETE"\n'
        "  }\n"
        "}\n"
    )


def hcl_value(value: Any) -> str:
    """An HCL literal for a JSON-like value, on one line (strings escaped by :func:`meshpipe.generator.hcl.string`,
    so template sequences stay literal)."""
    if isinstance(value, list):
        return "[" + ", ".join(hcl_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{hcl.string(str(k))} = {hcl_value(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (str, bool, int, float)):
        return hcl.literal(value)
    raise TypeError(f"cannot write {type(value).__name__} to a tfvars file")


def tfvars(values: Mapping[str, Any], raw: Mapping[str, str] | None = None) -> str:
    """The tfvars file: ``values`` as literals; ``raw`` are CODE inputs, written as HCL expressions (§6.3)."""
    lines = [f"{name} = {hcl_value(value)}" for name, value in values.items()]
    lines += [f"{name} = {expression}" for name, expression in (raw or {}).items()]
    return "\n".join(lines) + "\n"


def _env_string(value: Any) -> str:
    # tfcmd.go encodeVarValueForEnv: MULTI_SELECT as a JSON array, everything else fmt-stringified.
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def clean_environment(
    source: Mapping[str, str], env_inputs: Mapping[str, Any], extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The runner's cleaned environment from ``source`` (its own), plus environment inputs and ``extra``."""
    env = {key: value for key, value in source.items() if key in ALLOWED_ENV or key.startswith(ALLOWED_ENV_PREFIXES)}
    env.setdefault("PATH", os.defpath)
    env.update({key: _env_string(value) for key, value in env_inputs.items()})
    env.update(extra or {})
    return env


def _split_inputs(inputs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """tfvars values, raw HCL expressions (CODE/LIST) and environment inputs (§6.3)."""
    plain = {item["key"] for item in inputs if not item.get("isEnvironment")}
    values: dict[str, Any] = {}
    raw: dict[str, str] = {}
    env_inputs: dict[str, Any] = {}
    for item in inputs:
        key, value = item["key"], item["value"]
        if item.get("isEnvironment"):
            if not key.startswith("TF_VAR_"):
                env_inputs[key] = value
            elif key[len("TF_VAR_") :] not in plain:  # a same-named plain input wins
                values[key[len("TF_VAR_") :]] = value
        elif item.get("type") == "FILE":
            raise DefinitionError(f"input {key}: FILE inputs are not emulated")
        elif item.get("type") in ("CODE", "LIST") and isinstance(value, str):
            raw[key] = value  # parsed as a raw HCL expression (tfcmd_vars.go AddRawVariable)
        else:
            values[key] = value
    return values, raw, env_inputs


def write_inputs(
    run: dict[str, Any], implementation: Mapping[str, Any], workdir: Path, environ: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Write the tfvars file, missing run variable declarations and the backend; return the run's environment and
    the log lines saying what was written (names only, never values)."""
    spec = run["spec"]
    block = spec["buildingBlock"]
    values, raw, env_inputs = _split_inputs(block["spec"].get("inputs") or [])
    values["meshstack_building_block_id"] = block["uuid"]
    # Deprecated run variables only on a fresh APPLY or DESTROY: never on DETECT, never on a replayed plan.
    if spec["behavior"] in ("APPLY", "DESTROY") and "planArtifact" not in run["_links"]:
        compact = json.dumps(run, separators=(",", ":"))
        values["meshstack_building_block_run_id"] = run["metadata"]["uuid"]
        values["meshstack_building_block_run_b64"] = base64.b64encode(compact.encode()).decode()
    declared, has_backend = module_declares(workdir)
    missing = [name for name in RUN_VARIABLES if name not in declared]
    if missing:
        (workdir / RUN_VARS_FILE).write_text(run_vars_declarations(missing), encoding="utf-8")
    path = workdir / TFVARS_FILE
    path.write_text(tfvars(values, raw), encoding="utf-8")
    path.chmod(0o600)
    lines = []
    extra = {"PWD": str(workdir)}
    if implementation.get("useMeshHttpBackendFallback", True) and not has_backend:
        state_url = (
            f"{run['_links']['meshstackBaseUrl']['href']}/api/terraform/state/workspace/"
            f"{block['spec']['workspaceIdentifier']}/buildingBlock/{block['uuid']}"
        )
        (workdir / BACKEND_FILE).write_text(backend_block(state_url), encoding="utf-8")
        extra.update(TF_HTTP_USERNAME="x", TF_HTTP_PASSWORD=spec["runToken"])
        lines.append(f"Using meshStack's state backend at {state_url}")
    names = ", ".join(sorted([*values, *raw]))
    lines.append(f"Wrote {len(values) + len(raw)} variables to {TFVARS_FILE}: {names}")
    if env_inputs:
        lines.append(f"Environment inputs: {', '.join(sorted(env_inputs))}")
    return clean_environment(environ, env_inputs, extra), lines
