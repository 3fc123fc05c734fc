"""Helpers for the Trigger Module tests: meshStack run objects, module copies and terraform runs, and the bundled
dispatcher run as the module runs it (a subprocess) with the checks every target's tests make of its output."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import meshpipe
from meshpipe.generator.render import DISPATCHER_FILES, render_module, write_module
from meshpipe.generator.spec import parse_spec
from meshpipe.terraform import Terraform

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "modules"
SPECS = ROOT / "generator" / "specs"
TOKEN = "ghp_CANARY0module0token0never0shown0123456"
REPO = "acme/infra"
MESHSTACK = "https://meshstack.example.com"
#: environment every terraform run of a module gets (the dispatcher's settle delay after a lost response)
BASE_ENV = {"MESHPIPE_DISPATCH_SETTLE_SECONDS": "0.3"}
#: the bundled dispatcher's files (``dispatch.py`` imports the others by name from its own directory)
DISPATCHER_DIR = Path(meshpipe.__file__).parent / "generator" / "assets"
#: the script the module runs
DISPATCH_SCRIPT = DISPATCHER_DIR / "dispatch.py"
#: the runner's interpreter may be older than ours: set this to e.g. a Python 3.8 to run the suite against it
DISPATCH_PYTHON = os.environ.get("MESHPIPE_TEST_DISPATCH_PYTHON") or sys.executable
#: what the dispatcher's only error line starts with
ERROR_PREFIX = "meshpipe-dispatch: error: "


def run_dispatch_script(
    config: dict[str, Any],
    cwd: Path,
    phase: str = "apply",
    *,
    env: dict[str, str],
    variable: str = "MESHPIPE_DISPATCH_B64_0",
    python_flags: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """``dispatch.py <phase>`` as the module runs it: ``config`` in ``variable`` (base64 JSON, or plain JSON in
    ``MESHPIPE_DISPATCH``), ``PATH`` and ``env`` the whole environment."""
    text = json.dumps(config)
    if variable != "MESHPIPE_DISPATCH":
        text = base64.b64encode(text.encode("utf-8")).decode("ascii")
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), variable: text, **env}
    return subprocess.run(
        [DISPATCH_PYTHON, *python_flags, str(DISPATCH_SCRIPT), phase],
        env=environ,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_not_shown(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    """No canary (token, secret input, ...) in the dispatcher's stdout or stderr."""
    for secret in secrets:
        assert secret not in result.stdout
        assert secret not in result.stderr


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The dispatcher failed (exit 1) with exactly one ``meshpipe-dispatch: error: ...`` line; that line."""
    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(ERROR_PREFIX)
    return lines[0]


def load_dispatcher(name: str) -> ModuleType:
    """A fresh copy of the dispatcher module, loaded from its path as ``name``.

    Its siblings are loaded afresh too, so that each copy has its own (empty) secret registry (see ``Secrets``):
    every ``dispatch_*`` module from the assets directory is forgotten, the target modules included (a cached
    ``dispatch_gitlab`` would keep the previous copy's registry).
    """
    for file in DISPATCHER_FILES[1:]:
        sys.modules.pop(file.removesuffix(".py"), None)
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if name.startswith("dispatch_") and origin and Path(origin).parent == DISPATCHER_DIR:
            del sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DISPATCHER_DIR / "dispatch.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def every_kind_of_input() -> list[dict[str, Any]]:
    """Spec ``inputs`` with one of each kind: a choice, a regex, a number, a bool, a list, a map and a secret."""
    return [
        {"name": "size", "type": "string", "allowed": ["small", "large"], "default": "small"},
        {"name": "bucket_name", "type": "string", "regex": "^[a-z]+$", "example": "abc"},
        {"name": "replicas", "type": "number", "default": 2},
        {"name": "public", "type": "bool", "default": False},
        {"name": "zones", "type": "list", "default": ["a", "b"]},
        {"name": "labels", "type": "map", "default": {"team": "alpha"}},
        {"name": "db_password", "sensitive": True, "env": "DB_PASSWORD"},
    ]


def run_object(
    behavior: str = "APPLY",
    *,
    run_uuid: str | None = None,
    building_block: str = "a3f0e9d2-5c41-4b7e-8e21-6d0c9b7a5f33",
    workspace: str = "team-alpha",
    project: str = "alpha-dev",
) -> dict[str, Any]:
    """A meshStack run object with the fields the module reads (and a secret it must never forward)."""
    run_uuid = run_uuid or str(uuid.uuid4())
    return {
        "kind": "meshBuildingBlockRun",
        "apiVersion": "v1",
        "metadata": {"uuid": run_uuid},
        "spec": {
            "behavior": behavior,
            "buildingBlock": {
                "uuid": building_block,
                "spec": {
                    "workspaceIdentifier": workspace,
                    "projectIdentifier": project,
                    "inputs": [{"key": "db_password", "value": "RUN-OBJECT-SECRET", "isSensitive": True}],
                },
            },
        },
        "_links": {"self": {"href": f"{MESHSTACK}/api/meshobjects/meshbuildingblockruns/{run_uuid}"}},
    }


def b64(run: dict[str, Any]) -> str:
    """The run object as meshStack passes it in ``meshstack_building_block_run_b64``."""
    return base64.b64encode(json.dumps(run).encode()).decode()


def run_url(run: dict[str, Any]) -> str:
    """The run object's URL."""
    return str(run["_links"]["self"]["href"])


def copy_module(name: str, tmp_path: Path) -> Path:
    """A private copy of a committed module (tests never touch ``modules/``)."""
    target = tmp_path / name
    shutil.copytree(MODULES / name, target, ignore=shutil.ignore_patterns(".terraform*", "terraform.tfstate*"))
    return target


def render_inline(spec: dict[str, Any], tmp_path: Path, *, dispatcher: bool = True) -> Path:
    """Render a spec built in the test into ``tmp_path/<name>`` (``dispatcher=False``: the Terraform files only)."""
    parsed = parse_spec(spec, "inline-spec.yaml")
    target = tmp_path / parsed.name
    write_module(render_module(parsed, spec_path="generator/specs/inline-spec.yaml", dispatcher=dispatcher), target)
    return target


def every_kind_for_targets() -> list[dict[str, Any]]:
    """:func:`every_kind_of_input` plus optional typed inputs, a static value and meshStack context: names valid for
    every target (GitLab variable keys are the strictest)."""
    return [
        *every_kind_of_input(),
        {"name": "ratio", "type": "number", "default": None},
        {"name": "debug", "type": "bool", "default": None},
        {"name": "extra_zones", "type": "list", "default": None},
        {"name": "motto", "value": 'say "hi" ${x} %{ y } `rm -rf /` $(touch MARKER)'},
        {"name": "workspace", "meshstack": "workspace"},
    ]


#: inline specs of the GitLab, Azure DevOps and webhook targets: fixed settings, renamed credentials, every kind of
#: input (the reference specs in generator/specs expose every setting instead)
TARGET_SPECS: dict[str, dict[str, Any]] = {
    "gitlab-variables-fixed": {
        "name": "gitlab-variables-fixed",
        "description": "GitLab CI/CD variables, a self-managed instance, everything fixed, a trigger token.",
        "target": "gitlab",
        "gitlab": {
            "api_url": "https://git.example.com/api/v4",
            "project": "platform/sub/infra",
            "values": "variables",
            "allow_secret_inputs": True,
        },
        "pipelines": {"apply": "release", "destroy": "teardown"},
        "auth": {"mode": "trigger_token", "trigger_token_env": "DEPLOY_TRIGGER", "token_env": "DEPLOY_READER"},
        "forward_run_url": True,
        "correlation_input": "meshpipe_id",
        "phase_input": None,
        "wait": {"enabled": True, "timeout_seconds": 60, "poll_interval_seconds": 1},
        "redispatch": "on_change",
        "inputs": every_kind_for_targets(),
    },
    "gitlab-inputs-typed": {
        "name": "gitlab-inputs-typed",
        "description": "GitLab spec:inputs with typed values; the project by numeric id.",
        "target": "gitlab",
        "gitlab": {"project": {"default": "4711"}, "allow_secret_inputs": True},
        "correlation_input": {"default": "meshpipe_id"},
        "inputs": every_kind_for_targets(),
    },
    "azure-fixed": {
        "name": "azure-fixed",
        "description": "Azure Pipelines with everything fixed and a PAT.",
        "target": "azure_devops",
        "azure_devops": {
            "org_url": "https://dev.azure.com/octo",
            "project": "Platform Team",
            "ref": "refs/heads/release",
            "allow_secret_inputs": True,
        },
        "pipelines": {"apply": 12, "destroy": 13},
        "auth": {"mode": "pat", "pat_env": "ADO_PAT"},
        "correlation_input": "meshpipe_id",
        "phase_input": "phase",
        "inputs": every_kind_for_targets(),
    },
    "webhook-local-token": {
        "name": "webhook-local-token",
        "description": "A webhook to a local receiver with a bearer token; typed values.",
        "target": "webhook",
        "webhook": {"url": "http://127.0.0.1:8080/hook"},
        "events": {"apply": "deploy", "destroy": "teardown"},
        "auth": {"secret_env": "HOOK_SECRET", "token_env": "HOOK_TOKEN"},
        "correlation_input": {"default": "meshpipe_id"},
        "inputs": every_kind_for_targets(),
    },
}


class Module:
    """A module copy with its terraform runner; variables go to an auto-loaded tfvars file, never to argv."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.tf = Terraform(workdir, env={**BASE_ENV, **(env or {})})
        self.tf.init()
        self.variables: dict[str, Any] = {"python": sys.executable}

    def set(self, **variables: Any) -> Module:
        """Set variables for the next command."""
        self.variables.update(variables)
        self.tf.write_vars(self.variables)
        return self

    def apply(self, *, check: bool = True, env: dict[str, str] | None = None) -> str:
        """``terraform apply``; returns the combined output."""
        self.tf.write_vars(self.variables)
        return self.tf.apply(check=check, extra_env=env).output

    def destroy(self, *, check: bool = True, env: dict[str, str] | None = None) -> str:
        """``terraform destroy``; returns the combined output."""
        self.tf.write_vars(self.variables)
        return self.tf.destroy(check=check, extra_env=env).output

    @property
    def state(self) -> str:
        """The raw state file."""
        return (self.tf.workdir / "terraform.tfstate").read_text(encoding="utf-8")
