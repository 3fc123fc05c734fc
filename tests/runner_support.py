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


def definition_file(directory: Path, *, is_async: bool = True, pre_run_script: str | None = None) -> Path:
    """The published team-bucket definition (with the pre-run script `definition render` writes), as sync or async,
    or with ``pre_run_script`` instead of its own, for tests that need another one."""
    text = PUBLISHED.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(\s+async\s+=\s+)(true|false)$", lambda m: m.group(1) + str(is_async).lower(), text)
    if pre_run_script is not None:
        text = re.sub(r"(?ms)^\s+pre_run_script\s+=\s+<<-?(\w+)\n.*?^\s*\1\n", "", text)
        script = "\n".join("          " + line for line in pre_run_script.splitlines())
        insertion = f"        pre_run_script    = <<-EOT\n{script}\n        EOT\n"
    else:
        assert "pre_run_script" in text, f"{PUBLISHED} has no pre_run_script"
        insertion = ""
    text = re.sub(r"(?m)^(\s+ref_name\s+=.*\n)", lambda m: m.group(1) + insertion, text, count=1)
    path = directory / ("definition-async.tf" if is_async else "definition-sync.tf")
    path.write_text(text, encoding="utf-8")
    return path


def block_runs(box: Sandbox, tmp_path: Path, *, is_async: bool = True, **kwargs: Any) -> BlockRuns:
    """The emulation on ``box`` for the team-bucket definition, with per-run directories under ``tmp_path``."""
    work_root = tmp_path / "runner-work"
    work_root.mkdir(exist_ok=True)
    definition = definition_file(tmp_path, is_async=is_async, pre_run_script=kwargs.pop("pre_run_script", None))
    # A sync definition waits for the workflow (what `definition render` writes for one), so its conclusion counts.
    wiring = {"poll_interval_seconds": 1, "wait_for_completion": not is_async, **kwargs.pop("wiring", {})}
    return BlockRuns(box, definition=definition, work_root=work_root, wiring=wiring, timeout=120, **kwargs)


def dispatches(box: Sandbox, workflow: str) -> list[dict[str, Any]]:
    """The accepted dispatch bodies of ``workflow``, from the fake GitHub's request log."""
    path = rf"/actions/workflows/{re.escape(workflow)}/dispatches$"
    return [request.json() for request in box.github.log("POST", path) if request.status < 300]


def run_urls(box: Sandbox, workflow: str) -> list[str | None]:
    """The ``buildingBlockRunUrl`` each accepted dispatch of ``workflow`` carried."""
    return [(body.get("inputs") or {}).get("buildingBlockRunUrl") for body in dispatches(box, workflow)]
