"""What one ``meshpipe run step X --status SUCCEEDED`` costs as a process, next to the same PATCH sent by curl.

Measured side by side in one run against the fake meshStack on 127.0.0.1, interleaved, min and median:

* ``cli``: the ``meshpipe`` console script of the development virtual environment;
* ``action``: what the composite action runs — the committed zipapp ``action/meshpipe.pyz``, unpacked once (as the
  action does per job) and run with the system interpreter as ``python3 -I DIR``, no installed package;
* ``curl``: the baseline, one PATCH;
* meshcloud's official ``actions-send-status`` (a Node bundle) when ``MESHPIPE_BENCH_OFFICIAL_ACTION`` names its
  ``dist/index.js`` and ``node`` is on PATH; it cannot be fetched here, so without it the figure says so.

The top of ``python -X importtime`` for the command shows where the rest goes.

    python benchmarks/bench_reporter.py [--reps 7] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from meshpipe.fakes.meshstack import MEDIA_TYPE, FakeMeshStack  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


def _timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return time.perf_counter() - started


def _importtime(argv: list[str], env: dict[str, str], top: int) -> list[tuple[int, int, str]]:
    python, rest = argv[0], argv[1:]
    result = subprocess.run([python, "-X", "importtime", *rest], env=env, capture_output=True, text=True, check=True)
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match and len(match.group(3)) <= 3:  # top-level imports only (nested ones are in their parents)
            rows.append((int(match.group(1)), int(match.group(2)), match.group(4)))
    return sorted(rows, key=lambda row: row[1], reverse=True)[:top]


def main() -> int:
    """Run the benchmark, print the figures, optionally write them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="interleaved measurements per variant (default 7)")
    parser.add_argument("--top", type=int, default=10, help="rows of the import-time table (default 10)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    curl = shutil.which("curl")
    if curl is None:
        print("bench_reporter: curl is needed for the baseline", file=sys.stderr)
        return 1
    meshpipe = str(Path(sys.executable).parent / "meshpipe")
    official = os.environ.get("MESHPIPE_BENCH_OFFICIAL_ACTION")
    node = shutil.which("node")

    with FakeMeshStack() as fake, tempfile.TemporaryDirectory() as tmp:
        run = fake.create_run()
        bundle = Path(tmp) / "bundle"
        with zipfile.ZipFile(ROOT / "action" / "meshpipe.pyz") as archive:
            archive.extractall(bundle)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", tmp),
            "MESHPIPE_STATE_DIR": str(Path(tmp) / "state"),
            "MESHSTACK_RUN_URL": run.url,
            "MESHSTACK_RUN_TOKEN": run.run_token,
        }
        subprocess.run([meshpipe, "run", "register", "--step", "bench=Benchmark"], env=env, check=True)
        body = json.dumps({"steps": [{"id": "bench", "status": "SUCCEEDED"}]})
        headers = Path(tmp) / "headers"  # the token goes in a file, never in argv
        headers.write_text(f"Accept: {MEDIA_TYPE}\nContent-Type: {MEDIA_TYPE}\nAuthorization: Bearer {run.run_token}\n")
        variants: dict[str, list[str]] = {
            "curl": [
                curl,
                "-sS",
                "--fail",
                "-X",
                "PATCH",
                "-H",
                f"@{headers}",
                "--data",
                body,
                f"{run.url}/status/source/github",
            ],
            "cli": [meshpipe, "run", "step", "bench", "--status", "SUCCEEDED"],
            "action": [SYSTEM_PYTHON, "-I", str(bundle), "run", "step", "bench", "--status", "SUCCEEDED"],
        }
        official_note = "not measured: set MESHPIPE_BENCH_OFFICIAL_ACTION to actions-send-status' dist/index.js"
        if official and node:
            # What the runner gives a node action: INPUT_* variables, the event payload with buildingBlockRunUrl,
            # and the token file of meshcloud/actions-meshstack-auth in RUNNER_TEMP (src/inputs.ts, src/index.ts).
            runner_temp = Path(tmp) / "runner-temp"
            runner_temp.mkdir()
            (runner_temp / "meshstack_token.json").write_text(json.dumps({"token": run.run_token}))
            event = Path(tmp) / "event.json"
            event.write_text(json.dumps({"inputs": {"buildingBlockRunUrl": run.url}}))
            variants["official action"] = [node, official]
            env.update(
                {
                    "INPUT_STEP_ID": "bench",
                    "INPUT_STEP_STATUS": "SUCCEEDED",
                    "INPUT_OUTPUTS_JSON": "{}",
                    "RUNNER_TEMP": str(runner_temp),
                    "GITHUB_EVENT_PATH": str(event),
                    "GITHUB_REPOSITORY": "acme/bench",
                    "GITHUB_RUN_ID": "1",
                }
            )
            official_note = f"measured: node {official}"
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for round_number in range(args.reps + 1):  # the first round warms the page cache
            for name, argv in variants.items():
                elapsed = _timed(argv, env)
                if round_number:
                    samples[name].append(elapsed)
        fake.raise_errors()
        assert all(r.status == 200 for r in fake.log(method="PATCH")), "a PATCH failed"
        baseline = statistics.median(samples["curl"])
        results: dict[str, Any] = {"reps": args.reps, "official_action": official_note}
        for name, values in samples.items():
            median = statistics.median(values)
            results[name] = {"min": min(values), "median": median, "ratio_to_curl": median / baseline}
            print(
                f"run step  {name:<16} median {median * 1000:7.1f} ms  min {min(values) * 1000:7.1f} ms  "
                f"{median / baseline:5.1f}x curl"
            )
        if "official action" not in samples:
            print(f"run step  official action: {official_note}")
        print(f"\ntop-level imports of `meshpipe run step` (python -X importtime, top {args.top}):")
        print(f"{'self us':>9} {'cumul us':>9}  module")
        rows = _importtime([sys.executable, "-m", "meshpipe", *variants["cli"][1:]], env, args.top)
        for self_us, cumulative_us, module in rows:
            print(f"{self_us:9d} {cumulative_us:9d}  {module}")
        results["imports_ms"] = {module: cumulative / 1000 for _, cumulative, module in rows}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
