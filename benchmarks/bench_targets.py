"""What each target's Trigger Module costs per dispatch, next to the least that sends the same request, in one run.

Per target (``github``, ``gitlab``, ``azure_devops``, ``webhook``), against that target's fake on 127.0.0.1, with
the committed reference module (``modules/<name>``, ``python`` set to this interpreter, a correlation input):

* ``requests``: the fake's request log for one apply, by method (expected: 1 POST, no GET when not waiting);
* ``lost_answer``: the same when the fake drops its answer to the dispatch POST after doing the work (the run exists,
  the client never heard): the requests the dispatcher needs to find that run again, and the runs that exist then
  (must be 1);
* ``apply``: ``terraform apply`` of the module vs the floor, a one-resource ``terraform_data`` module whose
  create-time ``local-exec`` sends the same POST with ``curl`` (webhook: signed with ``openssl``); interleaved
  rounds, each apply followed by an untimed destroy, min and median, ratio of the medians (the floor's requests
  restate the dispatchers': each ``dispatch_<target>.py`` cites the service's documentation for its request);
* ``demo``: ``meshpipe demo --target T`` wall time, min and median.

    python benchmarks/bench_targets.py [--reps 7] [--demo-reps 3] [--targets github,gitlab] [--json FILE]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from meshpipe.fakes._http import FakeServer  # noqa: E402
from meshpipe.fakes.azure_devops import FakeAzureDevOps  # noqa: E402
from meshpipe.fakes.github import FakeGitHub  # noqa: E402
from meshpipe.fakes.gitlab import FakeGitLab  # noqa: E402
from meshpipe.fakes.webhook import FakeWebhookReceiver  # noqa: E402
from meshpipe.terraform import Terraform  # noqa: E402

TARGETS = ("github", "gitlab", "azure_devops", "webhook")
#: benchmark-only credentials of the fakes
GITHUB_TOKEN = "ghp_benchmark_token_0123456789"
GITLAB_TOKEN = "glpat-benchmark-token-0123456789"
AZURE_PAT = "azdobenchmarkpat0000000000000000000000000000000001"
WEBHOOK_SECRET = "whsec-benchmark-0123456789"
REPO = "bench/infra"
PROJECT = "bench/infra"
AZURE_PROJECT = "bench"
CORRELATION = "meshpipe_correlation_id"
PHASE = "meshpipe_phase"
#: how long a dispatcher looks for the run of a lost answer (the fakes list it at once)
SETTLE_SECONDS = "5"

FLOOR_MAIN_TF = """\
variable "url" {
  type = string
}

resource "terraform_data" "this" {
  input = var.url

  provisioner "local-exec" {
    command     = "sh ${path.module}/floor.sh"
    environment = { DISPATCH_URL = var.url }
  }
}
"""
#: the floor's request: FLOOR_BODY with a fresh id for @ID@; the credential's header line (FLOOR_AUTH) goes to curl on
#: stdin (``-H @-``), never in argv; FLOOR_HEADERS are the target's other headers, one ``-H`` each
FLOOR_SH = """\
id=$(cat /proc/sys/kernel/random/uuid)
body=$(printf '%s' "$FLOOR_BODY" | sed "s/@ID@/$id/g")
set -- -H 'Content-Type: application/json'
IFS='|'
for header in $FLOOR_HEADERS; do set -- "$@" -H "$header"; done
printf '%s\\n' "$FLOOR_AUTH" | curl -fsS -o /dev/null -X POST -H @- "$@" --data-binary "$body" "$DISPATCH_URL"
"""
#: the webhook's floor signs like the dispatcher (``meshpipe.webhook``); the HMAC key goes to openssl as an argument:
#: acceptable for this benchmark-only key, never for a real one
WEBHOOK_FLOOR_SH = """\
id=$(cat /proc/sys/kernel/random/uuid)
body=$(printf '%s' "$FLOOR_BODY" | sed "s/@ID@/$id/g")
ts=$(date +%s)
sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$MESHPIPE_WEBHOOK_SECRET" | sed 's/^.* //')
curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' -H 'X-Meshpipe-Event: apply' \\
  -H "X-Meshpipe-Timestamp: $ts" -H "X-Meshpipe-Signature-256: sha256=$sig" -H "Idempotency-Key: $id" \\
  --data-binary "$body" "$DISPATCH_URL"
"""
#: the inputs every target's module sends here (no run object: no buildingBlockRunUrl)
FLOOR_INPUTS = {CORRELATION: "@ID@", PHASE: "apply"}


@dataclass
class Target:
    """A target's fake, set up with what its reference module needs, and how to drive and count it."""

    name: str
    module: str
    fake: FakeServer
    variables: dict[str, Any]
    env: dict[str, str]
    floor_url: str
    floor_body: dict[str, Any]
    floor_headers: tuple[str, ...]
    floor_auth: str
    dispatch_path: str
    runs: Callable[[], int]


def _github(stack: contextlib.ExitStack) -> Target:
    fake = stack.enter_context(FakeGitHub(flavour="github"))
    fake.add_token(GITHUB_TOKEN)
    inputs = {"correlation_id": {"type": "string", "required": False}}
    fake.add_workflow(REPO, "apply.yml", inputs=inputs, run_name="r ${{ inputs.correlation_id }}", duration=0.1)
    return Target(
        "github",
        "github-workflow-trigger",
        fake,
        {
            "github_api_url": fake.api_url,
            "github_repository": REPO,
            "apply_workflow": "apply.yml",
            "destroy_workflow": None,
            "correlation_input": "correlation_id",
        },
        {"GITHUB_TOKEN": GITHUB_TOKEN},
        f"{fake.api_url}/repos/{REPO}/actions/workflows/apply.yml/dispatches",
        {"ref": "main", "inputs": {"correlation_id": "@ID@"}},
        ("Accept: application/vnd.github+json", "X-GitHub-Api-Version: 2022-11-28"),
        f"Authorization: Bearer {GITHUB_TOKEN}",
        r"/dispatches$",
        lambda: len(fake.runs),
    )


def _ci_inputs() -> dict[str, dict[str, Any]]:
    return {
        CORRELATION: {"type": "string", "default": ""},
        PHASE: {"type": "string", "default": "apply"},
        "buildingBlockRunUrl": {"type": "string", "default": ""},
    }


def _gitlab(stack: contextlib.ExitStack) -> Target:
    fake = stack.enter_context(FakeGitLab())
    name = f"meshpipe $[[ inputs.{CORRELATION} ]]"
    fake.add_project(PROJECT, ci_inputs=_ci_inputs(), name_template=name, duration=0.1)
    fake.add_access_token(GITLAB_TOKEN, projects=[PROJECT], scopes=["api"])
    return Target(
        "gitlab",
        "gitlab-pipeline-trigger",
        fake,
        {"gitlab_api_url": fake.api_url, "gitlab_project": PROJECT},
        {"GITLAB_TOKEN": GITLAB_TOKEN},
        f"{fake.api_url}/projects/{quote(PROJECT, safe='')}/pipeline",
        {"ref": "main", "inputs": FLOOR_INPUTS},
        (),
        f"PRIVATE-TOKEN: {GITLAB_TOKEN}",
        r"/pipeline$",
        lambda: len(fake.pipelines_for(PROJECT)),
    )


def _azure_devops(stack: contextlib.ExitStack) -> Target:
    fake = stack.enter_context(FakeAzureDevOps())
    fake.add_pat(AZURE_PAT, scopes=["vso.build_execute"])
    name = f"deploy ${{{{ parameters.{CORRELATION} }}}}"
    pipeline = fake.add_pipeline(AZURE_PROJECT, "apply", parameters=_ci_inputs(), name_template=name, duration=0.1)
    basic = base64.b64encode(f":{AZURE_PAT}".encode()).decode()
    return Target(
        "azure_devops",
        "azure-pipelines-trigger",
        fake,
        {
            "azure_devops_org_url": fake.org_url,
            "azure_devops_project": AZURE_PROJECT,
            "apply_pipeline_id": pipeline,
        },
        {"AZURE_DEVOPS_PAT": AZURE_PAT},
        f"{fake.org_url}/{AZURE_PROJECT}/_apis/pipelines/{pipeline}/runs?api-version=7.1",
        {"resources": {"repositories": {"self": {"refName": "refs/heads/main"}}}, "templateParameters": FLOOR_INPUTS},
        ("Accept: application/json",),
        f"Authorization: Basic {basic}",
        rf"/_apis/pipelines/{pipeline}/runs$",
        lambda: len(fake.runs_for(AZURE_PROJECT, pipeline)),
    )


def _webhook(stack: contextlib.ExitStack) -> Target:
    fake = stack.enter_context(FakeWebhookReceiver(WEBHOOK_SECRET))
    return Target(
        "webhook",
        "webhook-trigger",
        fake,
        {"webhook_url": fake.url},
        {"MESHPIPE_WEBHOOK_SECRET": WEBHOOK_SECRET},
        fake.url,
        {"version": 1, "event": "apply", "phase": "apply", "module": "floor", "correlation_id": "@ID@", "inputs": {}},
        (),
        "",  # the reference module sends no bearer token by default
        f"^{re.escape(fake.path)}$",
        lambda: len(fake.jobs),
    )


FACTORIES: dict[str, Callable[[contextlib.ExitStack], Target]] = {
    "github": _github,
    "gitlab": _gitlab,
    "azure_devops": _azure_devops,
    "webhook": _webhook,
}


def _stats(samples: list[float]) -> dict[str, float]:
    return {"min": min(samples), "median": statistics.median(samples), "n": len(samples)}


def _base_env(target: Target) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MESHPIPE_DISPATCH_SETTLE_SECONDS": SETTLE_SECONDS,
        **target.env,
    }


def reference(target: Target, workdir: Path) -> Terraform:
    """The committed reference module of ``target``, copied to ``workdir``, pointed at the fake and initialised."""
    shutil.copytree(
        ROOT / "modules" / target.module, workdir, ignore=shutil.ignore_patterns(".terraform*", "terraform.tfstate*")
    )
    tf = Terraform(workdir, env=_base_env(target))
    tf.write_vars({**target.variables, "python": sys.executable})
    tf.init()
    return tf


def floor(target: Target, workdir: Path) -> Terraform:
    """The floor module of ``target``: one ``terraform_data`` whose ``local-exec`` sends the same POST."""
    workdir.mkdir()
    (workdir / "main.tf").write_text(FLOOR_MAIN_TF, encoding="utf-8")
    script = WEBHOOK_FLOOR_SH if target.name == "webhook" else FLOOR_SH
    (workdir / "floor.sh").write_text(script, encoding="utf-8")
    floor_env = {
        "FLOOR_AUTH": target.floor_auth,
        "FLOOR_BODY": json.dumps(target.floor_body, separators=(",", ":")),
        "FLOOR_HEADERS": "|".join(target.floor_headers),
    }
    tf = Terraform(workdir, env={**_base_env(target), **floor_env})
    tf.write_vars({"url": target.floor_url})
    tf.init()
    return tf


def requests_of(target: Target, tf: Terraform) -> dict[str, Any]:
    """The API requests (by method) and the runs that one apply leaves at the fake; destroyed afterwards."""
    before, runs_before = len(target.fake.log()), target.runs()
    tf.apply()
    methods = Counter(r.method for r in target.fake.log()[before:] if not r.path.startswith("/_fake"))
    runs = target.runs() - runs_before
    tf.destroy()
    return {"POST": methods.get("POST", 0), "GET": methods.get("GET", 0), "total": sum(methods.values()), "runs": runs}


def lost_answer(target: Target, tf: Terraform) -> dict[str, Any]:
    """:func:`requests_of` when the fake drops its answer to the dispatch POST after starting the run."""
    target.fake.add_fault(method="POST", path=target.dispatch_path, drop=True, after=True)
    return requests_of(target, tf)


def apply_times(variants: dict[str, Terraform], reps: int) -> dict[str, dict[str, float]]:
    """Timed applies of each variant in turn (each destroyed untimed), ``reps`` rounds after a warm-up round."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(reps + 1):
        for name, tf in variants.items():
            started = time.perf_counter()
            tf.apply()
            elapsed = time.perf_counter() - started
            tf.destroy()
            if round_number:
                samples[name].append(elapsed)
    return {name: _stats(values) for name, values in samples.items()}


def demo_times(target: str, reps: int) -> dict[str, float]:
    """Wall time of ``meshpipe demo --target`` (the development environment's console script)."""
    meshpipe = str(Path(sys.executable).parent / "meshpipe")
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        subprocess.run(
            [meshpipe, "demo", "--target", target],
            cwd=ROOT,
            check=True,
            timeout=600,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        samples.append(time.perf_counter() - started)
    return _stats(samples)


def measure(name: str, tmp: Path, reps: int, demo_reps: int) -> dict[str, Any]:
    """Every figure of one target."""
    with contextlib.ExitStack() as stack:
        target = FACTORIES[name](stack)
        module, base = reference(target, tmp / f"{name}-module"), floor(target, tmp / f"{name}-floor")
        figures: dict[str, Any] = {
            "requests": requests_of(target, module),
            "floor_requests": requests_of(target, base),
            "lost_answer": lost_answer(target, module),
        }
        if reps:
            times = apply_times({"floor": base, "module": module}, reps)
            figures["apply"] = {**times, "ratio": times["module"]["median"] / times["floor"]["median"]}
        target.fake.raise_errors()
    if demo_reps:
        figures["demo"] = demo_times(name, demo_reps)
    return figures


def _report(name: str, figures: dict[str, Any]) -> None:
    requests, lost = figures["requests"], figures["lost_answer"]
    print(
        f"{name:<13} requests {requests['POST']} POST {requests['GET']} GET, runs {requests['runs']}; "
        f"lost answer {lost['POST']} POST {lost['GET']} GET, runs {lost['runs']}"
    )
    if "apply" in figures:
        apply = figures["apply"]
        print(
            f"{'':<13} apply median {apply['module']['median']:.3f} s (min {apply['module']['min']:.3f}), "
            f"floor {apply['floor']['median']:.3f} s: {apply['ratio']:.2f}x"
        )
    if "demo" in figures:
        print(f"{'':<13} demo median {figures['demo']['median']:.2f} s (min {figures['demo']['min']:.2f})")


def main(argv: list[str] | None = None) -> int:
    """Run the measurements of the chosen targets, print them, optionally write them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="interleaved apply rounds (default 7; 0 skips)")
    parser.add_argument("--demo-reps", type=int, default=3, help="demo runs per target (default 3; 0 skips)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated (default: all four)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    missing = [tool for tool in ("curl", "openssl", "terraform") if shutil.which(tool) is None]
    if missing:
        print(f"bench_targets: {', '.join(missing)} not found (the floor modules need them)", file=sys.stderr)
        return 1
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            results[name] = measure(name, Path(tmp), args.reps, args.demo_reps)
            _report(name, results[name])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
