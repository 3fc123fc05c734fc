"""How much does one ``meshpipe run step X --status SUCCEEDED`` cost next to the same PATCH sent by curl?

Both talk to the fake meshStack on 127.0.0.1 in the same run, alternating, and the medians are compared. The
remainder is Python start-up and imports, so the top of ``python -X importtime`` for that command is printed too.

    .venv/bin/python benchmarks/bench_reporter.py [--runs 20]
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
from pathlib import Path

from meshpipe.fakes.meshstack import MEDIA_TYPE, FakeMeshStack


def _timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _importtime(meshpipe_python: str, env: dict[str, str], top: int) -> list[tuple[int, int, str]]:
    result = subprocess.run(
        [meshpipe_python, "-X", "importtime", "-m", "meshpipe", "run", "step", "bench", "--status", "SUCCEEDED"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match and len(match.group(3)) <= 3:  # top-level imports only (nested ones are in their parents)
            rows.append((int(match.group(1)), int(match.group(2)), match.group(4)))
    return sorted(rows, key=lambda row: row[1], reverse=True)[:top]


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="measurements per variant (default 20)")
    parser.add_argument("--top", type=int, default=12, help="rows of the import-time table (default 12)")
    args = parser.parse_args()
    curl = shutil.which("curl")
    if curl is None:
        sys.exit("curl is needed for the comparison")
    meshpipe = str(Path(sys.executable).parent / "meshpipe")

    with FakeMeshStack() as fake, tempfile.TemporaryDirectory() as tmp:
        run = fake.create_run()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", tmp),
            "MESHSTACK_RUN_URL": run.url,
            "MESHSTACK_RUN_TOKEN": run.run_token,
        }
        subprocess.run([meshpipe, "run", "register", "--step", "bench=Benchmark"], env=env, check=True)
        body = json.dumps({"steps": [{"id": "bench", "status": "SUCCEEDED"}]})
        headers = Path(tmp) / "headers"  # the token goes in a file, never in argv
        headers.write_text(f"Accept: {MEDIA_TYPE}\nContent-Type: {MEDIA_TYPE}\nAuthorization: Bearer {run.run_token}\n")
        curl_argv = [curl, "-sS", "--fail", "-X", "PATCH", "-H", f"@{headers}", "--data", body,
                     f"{run.url}/status/source/github"]  # fmt: skip
        cli_argv = [meshpipe, "run", "step", "bench", "--status", "SUCCEEDED"]

        _timed(cli_argv, env), _timed(curl_argv, env)  # warm the page cache
        cli_times, curl_times = [], []
        for _ in range(args.runs):
            cli_times.append(_timed(cli_argv, env))
            curl_times.append(_timed(curl_argv, env))
        fake.raise_errors()
        assert all(r.status == 200 for r in fake.log(method="PATCH")), "a PATCH failed"

        cli_median, curl_median = statistics.median(cli_times), statistics.median(curl_times)
        print(f"runs per variant:           {args.runs}")
        print(f"meshpipe run step (median): {cli_median * 1000:7.1f} ms  (min {min(cli_times) * 1000:.1f})")
        print(f"curl PATCH (median):        {curl_median * 1000:7.1f} ms  (min {min(curl_times) * 1000:.1f})")
        print(f"ratio meshpipe / curl:      {cli_median / curl_median:7.1f}x")
        print(f"difference:                 {(cli_median - curl_median) * 1000:7.1f} ms")
        print()
        print(f"top-level imports of `meshpipe run step` by cumulative time (python -X importtime, top {args.top}):")
        print(f"{'self us':>9} {'cumul us':>9}  module")
        for self_us, cumulative_us, module in _importtime(sys.executable, env, args.top):
            print(f"{self_us:9d} {cumulative_us:9d}  {module}")


if __name__ == "__main__":
    main()
