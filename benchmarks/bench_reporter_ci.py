"""What ``meshpipe run step`` costs to start under each CI, and proof that a CI adapter adds no imports but itself.

Under the environment each CI gives a job (GitHub Actions, GitLab CI, Azure Pipelines, and none: a laptop), against
the fake meshStack on 127.0.0.1:

* ``seconds``: ``meshpipe run step bench --status SUCCEEDED`` (the development environment's console script; it
  sends its PATCH) next to ``python -c pass`` with the same interpreter, interleaved, min and median, ratio of the
  medians;
* ``imports``: the modules the command imports (``python -X importtime -m meshpipe ...``), how many more than
  ``python -c pass``, and the ones it imports beyond the run without CI: only that CI's adapter module
  (:mod:`meshpipe.report.ci` imports just the chosen one).

    python benchmarks/bench_reporter_ci.py [--reps 7] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from meshpipe.fakes.meshstack import FakeMeshStack  # noqa: E402

CIS = ("github", "gitlab", "azure", "none")
STEP = ["run", "step", "bench", "--status", "SUCCEEDED"]
IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+\d+ \|\s*(\S+)")


def ci_environment(ci: str, tmp: Path) -> dict[str, str]:
    """The variables ``ci`` sets in every job that ``meshpipe run`` reads (its state directory included)."""
    home = tmp / ci
    home.mkdir()
    if ci == "github":
        return {
            "GITHUB_ACTIONS": "true",
            "RUNNER_TEMP": str(home),
            "GITHUB_OUTPUT": str(home / "output"),
            "GITHUB_STEP_SUMMARY": str(home / "summary.md"),
            "GITHUB_REPOSITORY": "acme/bench",
            "GITHUB_RUN_ID": "1",
        }
    if ci == "gitlab":
        (home / "project").mkdir()
        return {
            "GITLAB_CI": "true",
            "CI_PROJECT_DIR": str(home / "project"),
            "CI_JOB_ID": "1",
            "CI_JOB_URL": "https://gitlab.example.com/acme/bench/-/jobs/1",
        }
    if ci == "azure":
        return {
            "TF_BUILD": "True",
            "AGENT_TEMPDIRECTORY": str(home),
            "BUILD_BUILDID": "1",
            "SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/",
            "SYSTEM_TEAMPROJECT": "bench",
        }
    return {"MESHPIPE_STATE_DIR": str(home)}


def imported(python: str, args: list[str], env: dict[str, str]) -> list[str]:
    """The modules ``python -X importtime ARGS`` imports, in order."""
    result = subprocess.run(
        [python, "-X", "importtime", *args], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return [match.group(1) for match in map(IMPORT_LINE.match, result.stderr.splitlines()) if match]


def _timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return time.perf_counter() - started


def _stats(samples: list[float]) -> dict[str, float]:
    return {"min": min(samples), "median": statistics.median(samples), "n": len(samples)}


def measure(reps: int) -> dict[str, Any]:
    """Every figure: per CI seconds and imports, and the ``python -c pass`` baseline."""
    python = sys.executable
    meshpipe = str(Path(python).parent / "meshpipe")
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    with FakeMeshStack() as fake, tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        envs: dict[str, dict[str, str]] = {}
        for ci in CIS:
            run = fake.create_run()
            env = {
                **base,
                **ci_environment(ci, tmp),
                "MESHSTACK_RUN_URL": run.url,
                "MESHSTACK_RUN_TOKEN": run.run_token,
            }
            subprocess.run([meshpipe, "run", "register", "--step", "bench=Benchmark"], env=env, check=True, **_QUIET)
            envs[ci] = env
        samples: dict[str, list[float]] = {name: [] for name in ("python -c pass", *CIS)}
        for round_number in range(reps + 1):  # the first round warms the page cache
            for key in samples:
                argv = [python, "-c", "pass"] if key == "python -c pass" else [meshpipe, *STEP]
                elapsed = _timed(argv, envs["none"] if key == "python -c pass" else envs[key])
                if round_number:
                    samples[key].append(elapsed)
        baseline_modules = set(imported(python, ["-c", "pass"], envs["none"]))
        modules = {ci: set(imported(python, ["-m", "meshpipe", *STEP], envs[ci])) for ci in CIS}
        fake.raise_errors()
        patches = fake.log(method="PATCH")
        if not patches or any(r.status != 200 for r in patches):
            raise SystemExit("bench_reporter_ci: a status PATCH failed")
    baseline = _stats(samples.pop("python -c pass"))
    results: dict[str, Any] = {"reps": reps, "baseline": {**baseline, "imports": len(baseline_modules)}}
    for ci, values in samples.items():
        figures = _stats(values)
        results[ci] = {
            **figures,
            "ratio": figures["median"] / baseline["median"],
            "imports": len(modules[ci]),
            "imports_over_baseline": len(modules[ci] - baseline_modules),
            "beyond_no_ci": sorted(modules[ci] - modules["none"]),
        }
    return results


_QUIET: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def main(argv: list[str] | None = None) -> int:
    """Run the measurements, print them, optionally write them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="interleaved measurements per CI (default 7)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    results = measure(args.reps)
    baseline = results["baseline"]
    print(f"python -c pass  median {baseline['median'] * 1000:6.1f} ms, {baseline['imports']} imports")
    for ci in CIS:
        figures = results[ci]
        print(
            f"run step {ci:<6} median {figures['median'] * 1000:6.1f} ms (min {figures['min'] * 1000:.1f}) "
            f"{figures['ratio']:.1f}x python -c pass; {figures['imports']} imports "
            f"(+{figures['imports_over_baseline']}); beyond no CI: {', '.join(figures['beyond_no_ci']) or 'none'}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
