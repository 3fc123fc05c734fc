"""Time ``terraform apply`` + ``destroy`` of the reference Trigger Module against the fake GitHub.

The floor is a one-resource module that only curls the same dispatch endpoint (create- and destroy-time), measured
in the same run against the same server, so the ratio is what the module's safety (two resources, the Python
dispatcher, retries and correlation) costs over the least a Terraform trigger can do.

    python benchmarks/bench_trigger.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from meshpipe.fakes.github import FakeGitHub  # noqa: E402
from meshpipe.terraform import Terraform  # noqa: E402

TOKEN = "ghp_benchmark_token_0123456789"
REPO = "bench/infra"

CURL = (
    "curl -fsS -X POST -H \\\"Authorization: Bearer $GITHUB_TOKEN\\\" -H 'Accept: application/vnd.github+json' "
    "-H 'X-GitHub-Api-Version: 2022-11-28' -d '{\\\"ref\\\":\\\"main\\\"}'"
)
FLOOR_MAIN_TF = """\
variable "api_url" {
  type = string
}

resource "terraform_data" "this" {
  input = var.api_url

  provisioner "local-exec" {
    command = "CURL ${var.api_url}/repos/bench/infra/actions/workflows/apply.yml/dispatches"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "CURL ${self.input}/repos/bench/infra/actions/workflows/destroy.yml/dispatches"
  }
}
""".replace("CURL", CURL)


def cycle(tf: Terraform) -> float:
    """Seconds for one apply + destroy."""
    started = time.perf_counter()
    tf.apply()
    tf.destroy()
    return time.perf_counter() - started


def measure(name: str, tf: Terraform, runs: int, fake: FakeGitHub, expected: int) -> float:
    """Median of ``runs`` cycles; checks each cycle dispatched ``expected`` times."""
    cycle(tf)  # warm-up: page cache, terraform's plugin discovery
    samples = []
    for _ in range(runs):
        before = len(fake.dispatches)
        samples.append(cycle(tf))
        if len(fake.dispatches) - before != expected:
            raise SystemExit(f"{name}: expected {expected} dispatches per cycle, got {len(fake.dispatches) - before}")
    median = statistics.median(samples)
    print(f"{name:<28} median {median:6.3f} s  (min {min(samples):.3f}, max {max(samples):.3f}, n={runs})")
    return median


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the ratio reference / floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured apply+destroy cycles per module (default 5)")
    args = parser.parse_args(argv)
    if shutil.which("curl") is None:
        print("bench_trigger: curl not found (the floor module needs it)", file=sys.stderr)
        return 1
    with FakeGitHub(flavour="github") as fake, tempfile.TemporaryDirectory() as tmp:
        fake.add_token(TOKEN)
        fake.add_workflow(REPO, "apply.yml", duration=0.1)
        fake.add_workflow(REPO, "destroy.yml", duration=0.1)
        env = {"GITHUB_TOKEN": TOKEN}

        reference_dir = Path(tmp) / "reference"
        shutil.copytree(
            ROOT / "modules" / "github-workflow-trigger",
            reference_dir,
            ignore=shutil.ignore_patterns(".terraform*", "terraform.tfstate*"),
        )
        reference = Terraform(reference_dir, env=env)
        reference.write_vars(
            {
                "github_api_url": fake.api_url,
                "github_repository": REPO,
                "apply_workflow": "apply.yml",
                "destroy_workflow": "destroy.yml",
                "python": sys.executable,
            }
        )
        reference.init()

        floor_dir = Path(tmp) / "floor"
        floor_dir.mkdir()
        (floor_dir / "main.tf").write_text(FLOOR_MAIN_TF, encoding="utf-8")
        floor = Terraform(floor_dir, env=env)
        floor.write_vars({"api_url": fake.api_url})
        floor.init()

        steps: list[tuple[str, Callable[[], float]]] = [
            ("floor (curl, 1 resource)", lambda: measure("floor (curl, 1 resource)", floor, args.runs, fake, 2)),
            ("reference module", lambda: measure("reference module", reference, args.runs, fake, 2)),
        ]
        results = {name: run() for name, run in steps}
    ratio = results["reference module"] / results["floor (curl, 1 resource)"]
    print(f"ratio reference / floor: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
