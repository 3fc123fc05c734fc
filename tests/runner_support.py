"""Shared helpers for the runner emulation's integration tests: the team-bucket definition (sync or async), the
sandbox with the emulation, and what the fake GitHub's request log says about dispatches."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from meshpipe.sandbox import Sandbox
from meshpipe.sandbox_runs import BlockRuns

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "team-bucket"
PUBLISHED = EXAMPLE / "publish" / "definition.tf"
INPUTS = {"bucket_name": "alpha-dev-data"}

#: The pre-run script of the contract (issue 7 item 2), used while the published definition has none.
PRE_RUN_SCRIPT = """
        pre_run_script    = <<-EOT
          python3 -c '
          import json, os, sys
          run = json.load(sys.stdin)
          spec = run.get("spec") or {}
          block = spec.get("buildingBlock") or {}
          info = block.get("spec") or {}
          text = lambda v: v if isinstance(v, str) else None
          record = {"version": 1, "mode": sys.argv[1], "url": text(run["_links"]["self"]["href"]),
                    "uuid": text(run["metadata"]["uuid"]), "behavior": text(spec.get("behavior")),
                    "buildingBlockUuid": text(block.get("uuid")), "workspace": text(info.get("workspaceIdentifier")),
                    "project": text(info.get("projectIdentifier"))}
          fd = os.open(".meshpipe-run.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
          with os.fdopen(fd, "w") as handle:
              json.dump(record, handle)
          print("meshpipe: stored run", record["uuid"], "for", sys.argv[1], "in .meshpipe-run.json")
          ' "$1"
        EOT
"""


def published_has_pre_run_script() -> bool:
    """Whether the coordinator's `definition render` (pre-run script) has landed in the example."""
    return "pre_run_script" in PUBLISHED.read_text(encoding="utf-8")


def dispatcher_reads_run_file() -> bool:
    """Whether the generated module hands the dispatcher the run file (contract: `run_file` in its config)."""
    module = EXAMPLE / "module"
    return "run_file" in (module / "main.tf").read_text(encoding="utf-8") and "run_file" in (
        module / "dispatch.py"
    ).read_text(encoding="utf-8")


#: Why some assertions wait for other parts: the replay carries no run variables, so only the run file the pre-run
#: script writes can tell the dispatcher the APPLY (or sync DESTROY) run's URL.
NEEDS_RUN_FILE = "needs the templates' run_file and the dispatcher reading .meshpipe-run.json (issue 7 item 2)"


def definition_file(directory: Path, *, is_async: bool = True, pre_run_script: str | None = None) -> Path:
    """The published team-bucket definition, as sync or async; with the contract's pre-run script when it has none
    (or with ``pre_run_script`` instead, for tests that need another one)."""
    text = PUBLISHED.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(\s+async\s+=\s+)(true|false)$", lambda m: m.group(1) + str(is_async).lower(), text)
    if pre_run_script is not None:
        text = re.sub(r"(?ms)^\s+pre_run_script\s+=\s+<<-?(\w+)\n.*?^\s*\1\n", "", text)
        script = "\n".join("          " + line for line in pre_run_script.splitlines())
        insertion = f"        pre_run_script    = <<-EOT\n{script}\n        EOT\n"
    else:
        insertion = "" if "pre_run_script" in text else PRE_RUN_SCRIPT.lstrip("\n")
    text = re.sub(r"(?m)^(\s+ref_name\s+=.*\n)", lambda m: m.group(1) + insertion, text, count=1)
    path = directory / ("definition-async.tf" if is_async else "definition-sync.tf")
    path.write_text(text, encoding="utf-8")
    return path


def block_runs(box: Sandbox, tmp_path: Path, *, is_async: bool = True, **kwargs: Any) -> BlockRuns:
    """The emulation on ``box`` for the team-bucket definition, with per-run directories under ``tmp_path``."""
    work_root = tmp_path / "runner-work"
    work_root.mkdir(exist_ok=True)
    definition = definition_file(tmp_path, is_async=is_async, pre_run_script=kwargs.pop("pre_run_script", None))
    wiring = {"poll_interval_seconds": 1, **kwargs.pop("wiring", {})}
    return BlockRuns(box, definition=definition, work_root=work_root, wiring=wiring, timeout=120, **kwargs)


def dispatches(box: Sandbox, workflow: str) -> list[dict[str, Any]]:
    """The accepted dispatch bodies of ``workflow``, from the fake GitHub's request log."""
    path = rf"/actions/workflows/{re.escape(workflow)}/dispatches$"
    return [request.json() for request in box.github.log("POST", path) if request.status < 300]


def run_urls(box: Sandbox, workflow: str) -> list[str | None]:
    """The ``buildingBlockRunUrl`` each accepted dispatch of ``workflow`` carried."""
    return [(body.get("inputs") or {}).get("buildingBlockRunUrl") for body in dispatches(box, workflow)]
