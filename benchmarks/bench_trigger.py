"""What a Trigger Module costs next to the least a Terraform trigger can do, measured side by side in one run.

Every figure is a ratio against a baseline measured in the same run against the same fake GitHub on 127.0.0.1 (the
machine is shared, so absolute seconds mean little):

* ``apply+destroy``: the reference module vs the floor, a one-resource ``terraform_data`` module whose create- and
  destroy-time provisioners only ``curl`` the dispatch endpoint; interleaved repetitions, min and median. Twice for
  the module: ``python`` left at its default (``python3``, found through ``PATH`` — here a pyenv shim comes first), and
  ``python`` set to the interpreter itself.
* ``concurrent``: 20 loops of apply+destroy at once, dispatches per minute, module vs floor.
* ``ghes-correlation``: HTTP calls of one apply against a GitHub Enterprise Server with a correlation input (the
  baseline is the one POST).
* ``waiting``: a 7 s workflow with the default 10 s poll interval: the lag between the run's completion and the
  apply's end, and the GETs it took (goal: lag <= 1 s, calls <= duration/10 s + 6).

    python benchmarks/bench_trigger.py [--reps 7] [--concurrency 20] [--seconds 20] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from meshpipe.fakes.github import FakeGitHub  # noqa: E402
from meshpipe.terraform import Terraform  # noqa: E402

TOKEN = "ghp_benchmark_token_0123456789"
REPO = "bench/infra"
WAIT_WORKFLOW_SECONDS = 7.0

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


def _stats(samples: list[float]) -> dict[str, float]:
    return {"min": min(samples), "median": statistics.median(samples), "n": len(samples)}


def _cycle(tf: Terraform) -> float:
    started = time.perf_counter()
    tf.apply()
    tf.destroy()
    return time.perf_counter() - started


def _reference(fake: FakeGitHub, target: Path, env: dict[str, str], **variables: Any) -> Terraform:
    shutil.copytree(
        ROOT / "modules" / "github-workflow-trigger",
        target,
        ignore=shutil.ignore_patterns(".terraform*", "terraform.tfstate*"),
    )
    tf = Terraform(target, env=env)
    tf.write_vars(
        {
            "github_api_url": fake.api_url,
            "github_repository": REPO,
            "apply_workflow": "apply.yml",
            "destroy_workflow": "destroy.yml",
            **variables,
        }
    )
    tf.init()
    return tf


def _floor(fake: FakeGitHub, target: Path, env: dict[str, str]) -> Terraform:
    target.mkdir()
    (target / "main.tf").write_text(FLOOR_MAIN_TF, encoding="utf-8")
    tf = Terraform(target, env=env)
    tf.write_vars({"api_url": fake.api_url})
    tf.init()
    return tf


def interleaved(variants: dict[str, Terraform], reps: int) -> dict[str, dict[str, float]]:
    """apply+destroy of each variant in turn, ``reps`` rounds after one warm-up round."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(reps + 1):
        for name, tf in variants.items():
            elapsed = _cycle(tf)
            if round_number:
                samples[name].append(elapsed)
    return {name: _stats(values) for name, values in samples.items()}


def concurrent(make: Callable[[int], Terraform], loops: int, seconds: float, fake: FakeGitHub) -> float:
    """Dispatches per minute of ``loops`` apply+destroy loops running at once for about ``seconds``."""
    modules = [make(index) for index in range(loops)]
    before = len(fake.dispatches)
    deadline = time.monotonic() + seconds
    errors: list[BaseException] = []

    def loop(tf: Terraform) -> None:
        try:
            while time.monotonic() < deadline:
                _cycle(tf)
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=loop, args=(tf,), daemon=True) for tf in modules]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)
    elapsed = time.monotonic() - started
    if errors:
        raise SystemExit(f"a concurrent loop failed: {errors[0]}")
    return (len(fake.dispatches) - before) * 60.0 / elapsed


def ghes_calls(tmp: Path, env: dict[str, str]) -> dict[str, Any]:
    """HTTP calls of one apply against a GHES with a correlation input."""
    with FakeGitHub(flavour="ghes") as ghes:
        ghes.add_token(TOKEN)
        inputs = {"correlation_id": {"type": "string", "required": False}}
        ghes.add_workflow(REPO, "apply.yml", inputs=inputs, run_name="r ${{ inputs.correlation_id }}", duration=0.1)
        tf = _reference(
            ghes, tmp / "ghes", env, correlation_input="correlation_id", python=sys.executable, destroy_workflow=None
        )
        calls_before = len(ghes.log())
        tf.apply()
        calls = [f"{r.method} {r.path.split('?')[0].rsplit('/', 1)[-1]}" for r in ghes.log()[calls_before:]]
    return {"calls": len(calls), "baseline": 1, "detail": calls}


def waiting(fake: FakeGitHub, tmp: Path, env: dict[str, str]) -> dict[str, Any]:
    """Lag and GETs of an apply waiting for a 7 s workflow with the default 10 s poll interval."""
    fake.add_workflow(REPO, "wait.yml", duration=WAIT_WORKFLOW_SECONDS)
    tf = _reference(
        fake, tmp / "waiting", env, apply_workflow="wait.yml", wait_for_completion=True, python=sys.executable
    )
    calls_before = len(fake.log())
    tf.apply()
    ended = time.time()
    gets = sum(1 for r in fake.log()[calls_before:] if r.method == "GET")
    with fake.lock:
        (run,) = [r for r in fake.runs if r.workflow == "wait.yml"]
        completed = run.created + WAIT_WORKFLOW_SECONDS
    # From the run's completion in the fake to the end of terraform apply: the poll lag plus terraform's wrap-up.
    lag = ended - completed
    return {
        "workflow_seconds": WAIT_WORKFLOW_SECONDS,
        "lag_seconds": lag,
        "gets": gets,
        "calls_goal": WAIT_WORKFLOW_SECONDS / 10 + 6,
        "lag_goal_seconds": 1.0,
    }


def main(argv: list[str] | None = None) -> int:
    """Run every measurement, print the figures and write them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="interleaved apply+destroy rounds (default 7)")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent loops (default 20; 0 skips)")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each concurrent measurement")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if shutil.which("curl") is None:
        print("bench_trigger: curl not found (the floor module needs it)", file=sys.stderr)
        return 1
    results: dict[str, Any] = {}
    with FakeGitHub(flavour="github") as fake, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        fake.add_token(TOKEN)
        fake.add_workflow(REPO, "apply.yml", duration=0.1)
        fake.add_workflow(REPO, "destroy.yml", duration=0.1)
        env = {"GITHUB_TOKEN": TOKEN, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        variants = {
            "floor": _floor(fake, tmp / "floor", env),
            "module, python default (PATH)": _reference(fake, tmp / "default", env),
            "module, python = interpreter": _reference(fake, tmp / "direct", env, python=sys.executable),
        }
        cycles = interleaved(variants, args.reps)
        floor = cycles["floor"]["median"]
        results["apply_destroy"] = {
            name: {**figures, "ratio": figures["median"] / floor} for name, figures in cycles.items()
        }
        results["python3_on_path"] = shutil.which("python3")
        for name, figures in results["apply_destroy"].items():
            print(
                f"apply+destroy  {name:<32} median {figures['median']:.3f} s  min {figures['min']:.3f} s  "
                f"n={figures['n']}  ratio {figures['ratio']:.2f}x (goal <= 1.2x)"
            )
        if args.concurrency:
            floor_rate = concurrent(lambda i: _floor(fake, tmp / f"cf{i}", env), args.concurrency, args.seconds, fake)
            module_rate = concurrent(
                lambda i: _reference(fake, tmp / f"cm{i}", env), args.concurrency, args.seconds, fake
            )
            results["concurrent"] = {
                "loops": args.concurrency,
                "floor_per_minute": floor_rate,
                "module_per_minute": module_rate,
                "ratio": module_rate / floor_rate,
            }
            print(
                f"concurrent     {args.concurrency} loops: module {module_rate:.0f}/min, floor {floor_rate:.0f}/min, "
                f"ratio {module_rate / floor_rate:.2f}x (goal >= 0.8x)"
            )
        results["ghes_correlation"] = ghes_calls(tmp, env)
        print(
            f"ghes           {results['ghes_correlation']['calls']} HTTP calls: {results['ghes_correlation']['detail']}"
        )
        results["waiting"] = waiting(fake, tmp, env)
        print(
            f"waiting        lag {results['waiting']['lag_seconds']:.2f} s (goal <= 1 s), "
            f"{results['waiting']['gets']} GETs (goal <= {results['waiting']['calls_goal']:.0f})"
        )
        fake.raise_errors()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
