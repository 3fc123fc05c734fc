"""Run every benchmark (``make bench``), collect the figures in ``benchmarks/results.json`` and quote them in README.

Each ``bench_*.py`` writes its figures as JSON (``--json``); this script merges them with the date and the machine's
load, and rewrites the README's performance block (:mod:`performance`), which a test keeps in step with the file.
Extra arguments go to each script.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from performance import RESULTS, update_readme  # noqa: E402

SCRIPTS = {
    "trigger": ["bench_trigger.py"],
    "reporter": ["bench_reporter.py"],
    "setup": ["bench_setup.py", "--cold"],
    "targets": ["bench_targets.py"],
    "reporter_ci": ["bench_reporter_ci.py"],
}


def main(argv: list[str]) -> int:
    """Run each benchmark with this interpreter; exit non-zero if any failed."""
    results: dict[str, object] = {
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the start",
    }
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (script, *options) in SCRIPTS.items():
            print(f"== {script}", flush=True)
            target = Path(tmp) / f"{name}.json"
            command = [sys.executable, str(HERE / script), *options, "--json", str(target), *argv]
            if subprocess.run(command, check=False).returncode != 0 or not target.exists():
                failed.append(script)
                continue
            results[name] = json.loads(target.read_text(encoding="utf-8"))
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    update_readme()
    print(f"wrote {RESULTS.relative_to(HERE.parent)} and the README's performance block")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
