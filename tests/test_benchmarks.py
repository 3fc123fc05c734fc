"""The benchmarks (``make bench``): the README's performance block is what ``benchmarks/results.json`` renders, with a
row for every target and CI; every benchmark script runs from ``run.py``; and the measuring code paths work, run in
smoke mode (one repetition) against the fakes.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.generator.support import DISPATCH_PYTHON as PYTHON
from tests.generator.support import DISPATCH_SCRIPT as SCRIPT
from tests.generator.test_dispatch_integration import CANARY
from tests.generator.test_dispatch_startup import imported as dispatcher_imports

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def bench(name: str) -> ModuleType:
    """A module of ``benchmarks/`` (a directory of scripts, not a package)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return __import__(name)


def test_the_readme_block_is_what_results_json_renders_with_every_target_and_ci() -> None:
    performance = bench("performance")
    results: dict[str, Any] = json.loads(performance.RESULTS.read_text(encoding="utf-8"))
    text = performance.README.read_text(encoding="utf-8")
    quoted = text[text.index(performance.BEGIN) : text.index(performance.END) + len(performance.END)]
    assert quoted == performance.block(results)
    for target in bench("bench_targets").TARGETS:
        assert f"`{target}` target: requests per dispatch" in quoted
        assert f"`{target}` Trigger apply" in quoted and f"`meshpipe demo --target {target}`" in quoted
    for label in performance.CI_LABELS.values():
        assert f"`meshpipe run step` start-up, {label}" in quoted


def test_run_py_runs_every_benchmark_script() -> None:
    scripts = {script for script, *_ in bench("run").SCRIPTS.values()}
    assert scripts == {path.name for path in BENCHMARKS.glob("bench_*.py")}


@pytest.mark.terraform
def test_targets_smoke_one_post_per_dispatch_and_one_run_after_a_lost_answer(tmp_path: Path) -> None:
    targets = bench("bench_targets")
    output = tmp_path / "targets.json"
    assert targets.main(["--reps", "1", "--demo-reps", "0", "--json", str(output)]) == 0
    results = json.loads(output.read_text(encoding="utf-8"))
    assert list(results) == list(targets.TARGETS)
    for name, figures in results.items():
        one = {"POST": 1, "GET": 0, "total": 1, "runs": 1}
        assert figures["requests"] == one and figures["floor_requests"] == one, name
        assert figures["lost_answer"]["runs"] == 1, name  # found again (or deduplicated), never started twice
        assert figures["apply"]["module"]["n"] == 1 and figures["apply"]["ratio"] > 0, name
    # GitHub, GitLab and Azure DevOps look the run up; the webhook re-sends with the same Idempotency-Key
    assert results["gitlab"]["lost_answer"] == {"POST": 1, "GET": 1, "total": 2, "runs": 1}
    assert results["webhook"]["lost_answer"] == {"POST": 2, "GET": 0, "total": 2, "runs": 1}


def test_demo_smoke() -> None:
    figures = bench("bench_targets").demo_times("webhook", 1)
    assert figures["n"] == 1 and figures["median"] > 0


def test_reporter_ci_smoke_an_adapter_adds_no_import_but_itself() -> None:
    results = bench("bench_reporter_ci").measure(1)
    adapters = {"github": "meshpipe.report.actions", "gitlab": "meshpipe.report.ci_gitlab"}
    adapters["azure"] = "meshpipe.report.ci_azure"
    for ci, adapter in adapters.items():
        assert results[ci]["beyond_no_ci"] == [adapter], ci
        assert results[ci]["imports"] == results["none"]["imports"] + 1, ci
    assert results["none"]["beyond_no_ci"] == []
    assert results["baseline"]["imports"] < results["none"]["imports_over_baseline"]


def test_the_import_count_sees_what_sys_modules_sees(tmp_path: Path) -> None:
    """The import counter of the per-CI benchmark (``python -X importtime``) against the dispatcher's import probe
    (``sys.modules`` before and after): on a path that sends nothing, every module the probe sees is counted."""
    config = {"repository": "acme/infra", "workflow": None}
    probed = dispatcher_imports(tmp_path, "destroy", config, {"GITHUB_TOKEN": CANARY})
    env = {"PATH": os.environ.get("PATH", ""), "MESHPIPE_DISPATCH": json.dumps(config), "GITHUB_TOKEN": CANARY}
    counted = set(bench("bench_reporter_ci").imported(PYTHON, ["-I", "-S", str(SCRIPT), "destroy"], env))
    assert "dispatch_github" in probed
    # ``os.path`` is the name os gives posixpath in sys.modules, not an import of its own
    assert probed - {"os.path"} <= counted, sorted(probed - counted)
